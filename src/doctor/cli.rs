//! Doctor checks for the official `claude` CLI: found where the daemon would look, answers
//! `--version`, and is logged in (or the daemon has other credentials).
//!
//! Which credentials the daemon would use is [`crate::login::auth_source`]'s answer (API
//! key, the token stored by `claude-max-proxy login`, `CLAUDE_CODE_OAUTH_TOKEN`, or the
//! CLI's own login); the CLI's own login is asked of the CLI itself with a time limit
//! ([`crate::login::probe`]: `claude auth status --json`).

use std::path::Path;

use super::Check;
use crate::claude::locate::{self, Located};
use crate::config::Settings;
use crate::login::{self, AuthSource, probe, probe::CliLogin};

/// The CLI checks, in order; later ones are skipped when the CLI is missing.
pub async fn checks(settings: &Settings) -> Vec<Check> {
    let path = match locate::locate_from_env(settings.cli_path.as_deref()) {
        Located::Found(path) => path,
        Located::Missing { searched } => {
            return vec![Check::fail(
                "claude CLI",
                "not found",
                locate::missing_message(&searched),
            )];
        }
    };
    let mut out = vec![Check::ok("claude CLI", path.display().to_string())];
    match locate::version(&path).await {
        Some(version) => out.push(Check::ok("CLI version", version)),
        None => out.push(Check::fail(
            "CLI version",
            format!("`{} --version` failed or did not answer", path.display()),
            format!(
                "run `{} --version` to see the error; reinstall Claude Code if it is broken \
                 (`npm install -g @anthropic-ai/claude-code`, or the native installer)",
                path.display()
            ),
        )),
    }
    out.push(login_check(settings, &path).await);
    out
}

async fn login_check(settings: &Settings, cli: &Path) -> Check {
    const NAME: &str = "login";
    let now = login::clock::now();
    let source = login::auth_source(settings);
    match &source {
        AuthSource::ApiKey { from } => {
            let has_key = settings.anthropic_api_key.is_some()
                || std::env::var_os("ANTHROPIC_API_KEY").is_some_and(|v| !v.is_empty());
            if has_key {
                Check::ok(NAME, format!("auth_mode = \"api-key\", key from {from}"))
            } else {
                Check::fail(
                    NAME,
                    "auth_mode = \"api-key\" but no key is set",
                    "set `anthropic_api_key` in the config file, or ANTHROPIC_API_KEY in the \
                     daemon's environment (or use auth_mode = \"subscription\")",
                )
            }
        }
        AuthSource::StoredToken { path, token } => {
            let expiry = match token.days_left(now) {
                Some(days) if !token.is_expired(now) => format!(", {days} day(s) left"),
                _ => String::new(),
            };
            match source.expiry_warning(now) {
                Some(warning) if token.is_expired(now) => {
                    Check::fail(NAME, warning, "claude-max-proxy login --force")
                }
                Some(warning) => Check::warn(NAME, warning, "claude-max-proxy login --force"),
                None => Check::ok(
                    NAME,
                    format!(
                        "the token stored by `claude-max-proxy login` ({}{expiry})",
                        path.display()
                    ),
                ),
            }
        }
        AuthSource::EnvToken => Check::ok(
            NAME,
            "CLAUDE_CODE_OAUTH_TOKEN is set in this shell and is passed to the CLI (a service \
             needs it in its own environment)",
        ),
        AuthSource::CliLogin => match probe::ask(cli, probe::PROBE_TIMEOUT).await {
            CliLogin::LoggedIn { method } => {
                Check::ok(NAME, format!("the CLI is logged in ({method})"))
            }
            CliLogin::NotLoggedIn => Check::fail(
                NAME,
                "the CLI is not logged in and no token is stored",
                "claude-max-proxy login   (a long-lived token, through Chrome)\n\
                 or log in the CLI itself, as the user the daemon runs as: claude auth login",
            ),
            CliLogin::Unknown { reason } => Check::warn(
                NAME,
                format!("could not ask the CLI: {reason}"),
                format!("run `{} auth status` to see its answer", cli.display()),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_cli_is_a_failure_with_the_install_command() {
        let settings = Settings {
            cli_path: Some("/nonexistent/claude".into()),
            ..Settings::default()
        };
        let checks = checks(&settings).await;
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].level, super::super::Level::Fail);
        assert!(checks[0].fix.as_deref().unwrap_or("").contains("cli_path"));
    }
}
