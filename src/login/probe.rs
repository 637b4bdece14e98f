//! Asking the official CLI whether it is logged in by itself: `claude auth status --json`
//! (CLI 2.1.332: exit 0 and `{"loggedIn": true, "authMethod": "claude.ai", ...}` when
//! logged in, exit 1 and `"loggedIn": false, "authMethod": "none"` when not; other methods
//! are `oauth_token`, `api_key`, `api_key_helper`, `third_party`).
//!
//! The question is about the CLI's own login, so the variables that would answer it for
//! the CLI (`CLAUDE_CODE_OAUTH_TOKEN`, `ANTHROPIC_API_KEY`, `ANTHROPIC_AUTH_TOKEN`) and our
//! own `CLAUDE_MAX_PROXY_*` settings are removed from its environment. It runs with a
//! timeout and is killed if it overstays.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use crate::claude::locate::{self, Located};
use crate::config::Settings;

/// How long `claude auth status` may take (it answers in about 0.2 s, offline).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Environment variables that would make the CLI report credentials other than its login.
const REMOVED_ENV: &[&str] = &[
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
];

/// What the CLI said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliLogin {
    /// Logged in; `method` is the CLI's `authMethod` (e.g. `claude.ai`).
    LoggedIn {
        method: String,
    },
    NotLoggedIn,
    /// No answer: CLI missing, timed out or printed something else.
    Unknown {
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    logged_in: bool,
    auth_method: Option<String>,
}

/// Locates the CLI the daemon would use and asks it.
pub async fn cli_login(settings: &Settings) -> CliLogin {
    match locate::locate_from_env(settings.cli_path.as_deref()) {
        Located::Found(path) => ask(&path, PROBE_TIMEOUT).await,
        Located::Missing { .. } => CliLogin::Unknown {
            reason: "the claude CLI was not found (config key `cli_path`)".to_string(),
        },
    }
}

/// Runs `<cli> auth status --json` and reads its answer.
pub async fn ask(cli: &Path, timeout: Duration) -> CliLogin {
    let mut command = tokio::process::Command::new(cli);
    command
        .args(["auth", "status", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .kill_on_drop(true);
    for name in REMOVED_ENV {
        command.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|n| n.starts_with(crate::config::ENV_PREFIX))
        {
            command.env_remove(name);
        }
    }
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return CliLogin::Unknown {
                reason: format!("cannot run {}: {e}", cli.display()),
            };
        }
    };
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return CliLogin::Unknown {
                reason: format!("`claude auth status` failed: {e}"),
            };
        }
        Err(_) => {
            return CliLogin::Unknown {
                reason: format!(
                    "`claude auth status` did not answer within {} s",
                    timeout.as_secs()
                ),
            };
        }
    };
    parse(&output.stdout)
}

/// Reads the JSON the CLI printed.
fn parse(stdout: &[u8]) -> CliLogin {
    match serde_json::from_slice::<Status>(stdout) {
        Ok(Status {
            logged_in: true,
            auth_method,
        }) => CliLogin::LoggedIn {
            method: auth_method.unwrap_or_else(|| "unknown".to_string()),
        },
        Ok(Status {
            logged_in: false, ..
        }) => CliLogin::NotLoggedIn,
        Err(_) => CliLogin::Unknown {
            reason: "`claude auth status --json` printed no status (CLI too old?)".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_2_1_332_answers() {
        let logged_in =
            br#"{"loggedIn": true, "authMethod": "claude.ai", "apiProvider": "firstParty"}"#;
        assert_eq!(
            parse(logged_in),
            CliLogin::LoggedIn {
                method: "claude.ai".into()
            }
        );
        let out = br#"{"loggedIn": false, "authMethod": "none", "loginExpiresAt": null}"#;
        assert_eq!(parse(out), CliLogin::NotLoggedIn);
        assert!(matches!(parse(b"Not logged in."), CliLogin::Unknown { .. }));
    }

    #[tokio::test]
    async fn a_missing_cli_is_unknown() {
        let answer = ask(Path::new("/nonexistent/claude"), PROBE_TIMEOUT).await;
        assert!(matches!(answer, CliLogin::Unknown { .. }));
    }
}
