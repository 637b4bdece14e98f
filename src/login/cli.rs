//! The `login` (and `login --cli`), `logout` and `status` subcommands: what they print and
//! their exit codes.
//! `main` only dispatches here.
//!
//! Exit codes: 0 success (also "already logged in"); 1 failure (login failed, no usable
//! credentials, a file could not be removed); 3 this machine cannot run the browser login
//! (no Chrome found, no display): `--no-browser` works instead.

use crate::config::Settings;
use crate::exit::{Exit, Failure, Outcome};
use crate::login::clock;
use crate::login::flow::{self, Via};
use crate::login::probe::{self, CliLogin};
use crate::login::source::{AuthSource, EXPIRY_WARNING_DAYS, auth_source};
use crate::login::store::{self, StoredToken};

/// `claude-max-proxy login [--force] [--no-browser]`.
pub async fn login(settings: &Settings, force: bool, no_browser: bool) -> Outcome {
    {
        if !force && already_logged_in(settings).await {
            return Ok(Exit::Success);
        }
        let via = if no_browser { Via::Paste } else { Via::Browser };
        // The pasted-code flow talks to the user on stdout (the URL is what they need);
        // the browser flow only reports progress, on stderr.
        let result = match via {
            Via::Paste => flow::run(settings, via, &mut std::io::stdout()).await,
            Via::Browser => flow::run(settings, via, &mut std::io::stderr()).await,
        };
        match result {
            Ok(stored) => {
                println!(
                    "Logged in. The token is stored in {} ({}).",
                    stored.path.display(),
                    expiry_phrase(&stored.token, stored.token.created_at)
                );
                println!(
                    "The proxy uses it from the next request on, no restart needed. If auth \
                     breaks, delete that file (or run `claude-max-proxy logout`) and log in again."
                );
                if settings.auth_mode == crate::config::AuthMode::ApiKey {
                    println!(
                        "Note: auth_mode is \"api-key\", so the proxy uses the API key, not this \
                         token, until auth_mode is \"subscription\"."
                    );
                }
                Ok(Exit::Success)
            }
            Err(e) => {
                let exit = if e.exit_code() == Exit::NoBrowser.code() {
                    Exit::NoBrowser
                } else {
                    Exit::Failure
                };
                Err(Failure::new(exit, format!("login failed: {e}")))
            }
        }
    }
}

/// `claude-max-proxy login --cli [--force] [--no-browser]`: the claude CLI gets a login of
/// its own (see [`crate::login::handoff`]); the stored token, which would shadow it, goes.
pub async fn login_cli(settings: &Settings, force: bool, no_browser: bool) -> Outcome {
    let cli = crate::login::handoff::cli(settings)
        .map_err(|e| Failure::new(Exit::Failure, format!("login failed: {e}")))?;
    let cli_logged_in = matches!(
        probe::ask(&cli, probe::PROBE_TIMEOUT).await,
        CliLogin::LoggedIn { ref method } if method == "claude.ai"
    );
    if cli_logged_in && !force {
        println!(
            "The claude CLI is already logged in with its own claude.ai login; the proxy uses \
             it. `claude-max-proxy login --cli --force` logs it in again."
        );
    } else {
        let via = if no_browser { Via::Paste } else { Via::Browser };
        let grant = flow::Grant {
            scope: crate::login::handoff::CLI_LOGIN_SCOPES,
            lifetime: None,
        };
        let minted = match via {
            Via::Paste => flow::obtain(settings, via, grant, &mut std::io::stdout()).await,
            Via::Browser => flow::obtain(settings, via, grant, &mut std::io::stderr()).await,
        }
        .map_err(|e| {
            let exit = if e.exit_code() == Exit::NoBrowser.code() {
                Exit::NoBrowser
            } else {
                Exit::Failure
            };
            Failure::new(exit, format!("login failed: {e}"))
        })?;
        let said = crate::login::handoff::hand_over(&cli, &minted)
            .await
            .map_err(|e| Failure::new(Exit::Failure, format!("login failed: {e}")))?;
        println!(
            "The claude CLI took the login ({}); it keeps and refreshes it itself, with the \
             profile scope that shows the plan's usage windows.",
            if said.is_empty() { "done" } else { &said }
        );
    }
    match store::remove_token(settings) {
        Ok(Some(path)) => println!(
            "Removed the stored token {} so that the CLI's login is used.",
            path.display()
        ),
        Ok(None) => {}
        Err(e) => {
            return Err(Failure::new(
                Exit::Failure,
                format!(
                    "the claude CLI is logged in, but the stored token, which the proxy would \
                     still use, could not be removed: {e}; run `claude-max-proxy logout`"
                ),
            ));
        }
    }
    println!("The proxy uses the CLI's login from the next request on, no restart needed.");
    if settings.auth_mode == crate::config::AuthMode::ApiKey {
        println!(
            "Note: auth_mode is \"api-key\", so the proxy uses the API key until auth_mode is \
             \"subscription\"."
        );
    }
    Ok(Exit::Success)
}

/// Whether there is nothing to do: a stored token that is not near its end, or a CLI that
/// is logged in by itself. Says so.
async fn already_logged_in(settings: &Settings) -> bool {
    let now = clock::now();
    if let (Some(path), Some(token)) = (store::token_path(settings), store::load_token(settings))
        && token
            .days_left(now)
            .is_none_or(|d| d >= EXPIRY_WARNING_DAYS)
    {
        println!(
            "Already logged in: the stored token {} ({}). `claude-max-proxy login --force` \
             logs in again.",
            path.display(),
            expiry_phrase(&token, now)
        );
        return true;
    }
    match probe::cli_login(settings).await {
        CliLogin::LoggedIn { method } => {
            println!(
                "The claude CLI is already logged in (method: {method}); the proxy uses that \
                 login. Nothing to do. `claude-max-proxy login --force` stores a token for the \
                 proxy anyway."
            );
            true
        }
        CliLogin::NotLoggedIn => false,
        CliLogin::Unknown { reason } => {
            eprintln!(
                "claude-max-proxy: could not ask the claude CLI whether it is logged in ({reason}); logging in."
            );
            false
        }
    }
}

/// `claude-max-proxy logout [--all]`.
pub fn logout(settings: &Settings, all: bool) -> Outcome {
    let mut failed = false;
    let shown = |p: Option<std::path::PathBuf>| {
        p.map(|p| p.display().to_string())
            .unwrap_or_else(|| "(no state directory)".to_string())
    };
    match store::remove_token(settings) {
        Ok(Some(path)) => println!("Removed the stored token {}.", path.display()),
        Ok(None) => println!("No stored token at {}.", shown(store::token_path(settings))),
        Err(e) => {
            eprintln!(
                "claude-max-proxy: cannot remove {}: {e}",
                shown(store::token_path(settings))
            );
            failed = true;
        }
    }
    if all {
        match store::remove_profile(settings) {
            Ok(Some(path)) => println!("Removed the browser profile {}.", path.display()),
            Ok(None) => println!(
                "No browser profile at {}.",
                shown(store::profile_dir(settings))
            ),
            Err(e) => {
                eprintln!(
                    "claude-max-proxy: cannot remove {}: {e}",
                    shown(store::profile_dir(settings))
                );
                failed = true;
            }
        }
    }
    println!("The claude CLI's own login, if any, is untouched (`claude auth logout` ends it).");
    // Each failure was printed where it happened; the others were still tried.
    Ok(if failed { Exit::Failure } else { Exit::Success })
}

/// `claude-max-proxy status`: the credentials the proxy's CLI runs use.
pub async fn status(settings: &Settings) -> Outcome {
    let now = clock::now();
    let source = auth_source(settings);
    let token_file = store::token_path(settings)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(no state directory)".to_string());
    let mut usable = true;
    match &source {
        AuthSource::ApiKey { from } => {
            println!("auth source: API key (auth_mode = \"api-key\", key from {from})");
        }
        AuthSource::StoredToken { path, token } => {
            println!("auth source: stored token {}", path.display());
            println!(
                "  created {}, {}",
                clock::date(token.created_at),
                expiry_phrase(token, now)
            );
            usable = !token.is_expired(now);
        }
        AuthSource::EnvToken => {
            println!(
                "auth source: CLAUDE_CODE_OAUTH_TOKEN in the daemon's environment (expiry unknown)"
            );
        }
        AuthSource::CliLogin => {
            let answer = probe::cli_login(settings).await;
            match answer {
                CliLogin::LoggedIn { method } => {
                    println!("auth source: the claude CLI's own login (method: {method})");
                }
                CliLogin::NotLoggedIn => {
                    println!(
                        "auth source: none. The claude CLI is not logged in and no token is \
                         stored; run `claude-max-proxy login`."
                    );
                    usable = false;
                }
                CliLogin::Unknown { reason } => {
                    println!(
                        "auth source: the claude CLI's own login, if it has one (could not ask: \
                         {reason})"
                    );
                }
            }
        }
    }
    if !matches!(source, AuthSource::StoredToken { .. }) {
        println!("stored token: none ({token_file})");
    }
    if let Some(warning) = source.expiry_warning(now) {
        println!("warning: {warning}");
    }
    for line in super::daemon_quota::lines(settings).await {
        println!("{line}");
    }
    Ok(if usable { Exit::Success } else { Exit::Failure })
}

/// "expires 2027-11-26 09:30 UTC, 365 days left", "expired on …", or "no expiry given".
fn expiry_phrase(token: &StoredToken, now: i64) -> String {
    match (token.expires_at, token.days_left(now)) {
        (Some(at), Some(days)) if !token.is_expired(now) => {
            format!("expires {}, {days} days left", clock::date_time(at))
        }
        (Some(at), _) => format!("expired on {}", clock::date_time(at)),
        _ => "no expiry given".to_string(),
    }
}
