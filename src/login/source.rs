//! Which credentials a CLI run started by the daemon uses, decided the way the daemon
//! decides it: API-key mode → the key; else a stored token (handed over as
//! `CLAUDE_CODE_OAUTH_TOKEN`); else a `CLAUDE_CODE_OAUTH_TOKEN` in the daemon's own
//! environment (passed through); else whatever login the CLI has itself.
//!
//! [`auth_source`] is cheap and asks no process, so `/health` can call it per request;
//! `status` adds the CLI's own answer (see [`crate::login::probe`]) when it matters.

use std::path::{Path, PathBuf};

use crate::config::{AuthMode, Settings};
use crate::login::store::{self, StoredToken};

/// Fewer days than this before the stored token expires → a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// The credentials in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthSource {
    /// `auth_mode = "api-key"`; `from` names the setting or variable.
    ApiKey { from: &'static str },
    /// The token stored by `claude-max-proxy login`.
    StoredToken { path: PathBuf, token: StoredToken },
    /// `CLAUDE_CODE_OAUTH_TOKEN` set for the daemon itself.
    EnvToken,
    /// None of ours: the CLI's own login (which may be missing).
    CliLogin,
}

impl AuthSource {
    /// Short name for `/health` and logs: `api-key`, `stored-token`, `env-token`, `cli-login`.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthSource::ApiKey { .. } => "api-key",
            AuthSource::StoredToken { .. } => "stored-token",
            AuthSource::EnvToken => "env-token",
            AuthSource::CliLogin => "cli-login",
        }
    }

    /// A warning about the stored token's expiry, if one is due at `now`.
    pub fn expiry_warning(&self, now: i64) -> Option<String> {
        let AuthSource::StoredToken { path, token } = self else {
            return None;
        };
        let days = token.days_left(now)?;
        if token.is_expired(now) {
            Some(format!(
                "the stored token ({}) has expired; run `claude-max-proxy login`",
                path.display()
            ))
        } else if days < EXPIRY_WARNING_DAYS {
            Some(format!(
                "the stored token ({}) expires in {days} day(s); run `claude-max-proxy login --force` \
                 to renew it",
                path.display()
            ))
        } else {
            None
        }
    }
}

/// The source a CLI run would use now (reads the token file; starts no process).
pub fn auth_source(settings: &Settings) -> AuthSource {
    auth_source_at(settings, store::token_path(settings).as_deref())
}

/// [`auth_source`] with the stored token's path already worked out (the daemon does it
/// once per configuration, not on every /health).
pub fn auth_source_at(settings: &Settings, token_path: Option<&Path>) -> AuthSource {
    if settings.auth_mode == AuthMode::ApiKey {
        let from = if settings.anthropic_api_key.is_some() {
            "anthropic_api_key"
        } else {
            "ANTHROPIC_API_KEY"
        };
        return AuthSource::ApiKey { from };
    }
    if let Some(path) = token_path
        && let Some(token) = store::read_token_file(path)
    {
        return AuthSource::StoredToken {
            path: path.to_path_buf(),
            token,
        };
    }
    if std::env::var_os("CLAUDE_CODE_OAUTH_TOKEN").is_some_and(|v| !v.is_empty()) {
        return AuthSource::EnvToken;
    }
    AuthSource::CliLogin
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::clock::DAY;

    #[test]
    fn api_key_mode_wins_then_the_stored_token() {
        let tmp = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            state_dir: Some(tmp.path().to_path_buf()),
            auth_mode: AuthMode::ApiKey,
            anthropic_api_key: Some("sk-x".into()),
            ..Settings::default()
        };
        assert_eq!(
            auth_source(&settings),
            AuthSource::ApiKey {
                from: "anthropic_api_key"
            }
        );
        settings.auth_mode = AuthMode::Subscription;
        let token = StoredToken {
            token: "t".into(),
            expires_at: Some(100 * DAY),
            created_at: 0,
        };
        store::save_token(&settings, &token).unwrap();
        let source = auth_source(&settings);
        assert_eq!(source.kind(), "stored-token");
        assert_eq!(source.expiry_warning(0), None);
        let soon = source.expiry_warning(90 * DAY).unwrap();
        assert!(soon.contains("expires in 10 day(s)"), "{soon}");
        let gone = source.expiry_warning(100 * DAY).unwrap();
        assert!(gone.contains("expired"), "{gone}");
    }
}
