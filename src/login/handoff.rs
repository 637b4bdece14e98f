//! `claude-max-proxy login --cli`: a login that the official CLI owns.
//!
//! The token `login` stores has the inference scope only (what `claude setup-token` mints),
//! so the CLI running with it cannot see the plan's usage windows. The CLI's own login
//! (`claude auth login`) carries `user:profile` too, and the CLI refreshes it itself. This
//! runs the same official browser login as `login` (same client, authorize page and token
//! endpoint), asking for the scopes of the CLI's own login and no long lifetime, so the
//! token endpoint answers with a refresh token; that refresh token is handed to
//! `claude auth login` in `CLAUDE_CODE_OAUTH_REFRESH_TOKEN` with its scopes in
//! `CLAUDE_CODE_OAUTH_SCOPES` — the CLI's documented way to take over a login (CLI 2.1.332:
//! it refreshes the token, reads the profile and stores the credentials). From then on the
//! CLI owns the credentials (`~/.claude/.credentials.json` or the macOS keychain) and the
//! proxy stores none: a stored token would shadow the CLI's login, so it is removed.
//!
//! The refresh token travels in the child's environment only (never argv or logs), and
//! the child runs without our settings or other credentials in its environment.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::claude::locate::{self, Located};
use crate::config::Settings;
use crate::login::LoginError;
use crate::login::exchange::Minted;

/// The scopes of the CLI's own login that matter here (as `claude auth login` documents for
/// `CLAUDE_CODE_OAUTH_SCOPES`): the profile scope lets the CLI see the plan's windows.
pub const CLI_LOGIN_SCOPES: &str =
    "user:profile user:inference user:sessions:claude_code user:mcp_servers";

/// How long `claude auth login` may take to refresh the token and store the login.
const HAND_OVER_TIMEOUT: Duration = Duration::from_secs(120);

/// Variables that would give the CLI credentials other than the login it is handed.
const REMOVED_ENV: &[&str] = &[
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
];

/// The CLI this configuration's daemon runs.
pub fn cli(settings: &Settings) -> Result<std::path::PathBuf, LoginError> {
    match locate::locate_from_env(settings.cli_path.as_deref()) {
        Located::Found(path) => Ok(path),
        Located::Missing { searched } => Err(LoginError::CliLogin {
            reason: locate::missing_message(&searched),
        }),
    }
}

/// Hands `minted` to `<cli> auth login`; returns what the CLI printed on success.
pub async fn hand_over(cli: &Path, minted: &Minted) -> Result<String, LoginError> {
    let refresh = minted
        .refresh_token
        .as_deref()
        .ok_or(LoginError::CliLogin {
            reason: "the token endpoint gave no refresh token, so there is no login the CLI can \
                 keep and refresh"
                .to_string(),
        })?;
    let scopes = minted.scope.as_deref().unwrap_or(CLI_LOGIN_SCOPES);
    let mut command = tokio::process::Command::new(cli);
    command
        .args(["auth", "login"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("CLAUDE_CODE_OAUTH_REFRESH_TOKEN", refresh)
        .env("CLAUDE_CODE_OAUTH_SCOPES", scopes)
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .kill_on_drop(true);
    for name in REMOVED_ENV {
        command.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|n| n.starts_with(crate::config::ENV_PREFIX))
        {
            command.env_remove(&name);
        }
    }
    let child = command.spawn().map_err(|e| LoginError::CliLogin {
        reason: format!("cannot start {}: {e}", cli.display()),
    })?;
    let output = match tokio::time::timeout(HAND_OVER_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return Err(LoginError::CliLogin {
                reason: format!("waiting for `claude auth login` failed: {e}"),
            });
        }
        Err(_) => {
            return Err(LoginError::CliLogin {
                reason: format!(
                    "`claude auth login` did not finish within {} s",
                    HAND_OVER_TIMEOUT.as_secs()
                ),
            });
        }
    };
    let said = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| l.chars().filter(|c| !c.is_control()).take(300).collect())
            .collect::<Vec<String>>()
            .join(" ")
            .replace(refresh, "[redacted]")
    };
    if output.status.success() {
        Ok(said(&output.stdout))
    } else {
        Err(LoginError::CliLogin {
            reason: format!(
                "`claude auth login` failed ({}): {}",
                output.status,
                said(&output.stderr)
            ),
        })
    }
}
