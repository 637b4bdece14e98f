//! One login, from the PKCE secrets to the stored file: get a code (browser or pasted),
//! check its state, exchange it, store the token ([`run`]); or the same up to the minted
//! tokens for another scope and lifetime ([`obtain`], which `login --cli` hands to the CLI).
//! Bounded by `login_timeout_secs` overall.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use crate::config::Settings;
use crate::login::browser::{self, Launch};
use crate::login::chrome::{self, Search};
use crate::login::pkce::{self, Attempt, Returned};
use crate::login::store::{self, StoredToken};
use crate::login::{HEADLESS_ENV, LoginError, clock, exchange, manual};

/// How the code is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Chrome/Chromium driven by us.
    Browser,
    /// The user pastes `code#state` on standard input.
    Paste,
}

/// A finished login.
#[derive(Debug)]
pub struct Stored {
    pub path: PathBuf,
    pub token: StoredToken,
}

/// What a login asks the authorization server for.
#[derive(Clone, Copy, Debug)]
pub struct Grant<'a> {
    /// Space-separated scopes.
    pub scope: &'a str,
    /// `expires_in` of the token exchange; `None`: the server's default, with a refresh
    /// token.
    pub lifetime: Option<i64>,
}

/// Runs one login of the kind `setup-token` makes (`oauth_scope`, one year) and stores the
/// token. Progress and instructions go to `out`.
pub async fn run(settings: &Settings, via: Via, out: &mut dyn Write) -> Result<Stored, LoginError> {
    let grant = Grant {
        scope: &settings.oauth_scope,
        lifetime: Some(exchange::REQUESTED_LIFETIME_SECS),
    };
    let minted = obtain(settings, via, grant, out).await?;
    let now = clock::now();
    let token = StoredToken {
        token: minted.access_token,
        expires_at: minted.expires_in.map(|secs| now.saturating_add(secs)),
        created_at: now,
    };
    let path = store::save_token(settings, &token)?;
    Ok(Stored { path, token })
}

/// Runs one login for `grant` up to the minted tokens (nothing stored).
pub async fn obtain(
    settings: &Settings,
    via: Via,
    grant: Grant<'_>,
    out: &mut dyn Write,
) -> Result<exchange::Minted, LoginError> {
    let timeout_secs = settings.login_timeout_secs;
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let attempt = Attempt::new()?;
    let authorize_url = pkce::authorize_url(settings, &attempt, grant.scope)?;
    let returned = match via {
        Via::Paste => manual::obtain_code(&authorize_url, out, deadline, timeout_secs).await?,
        Via::Browser => with_browser(settings, &attempt, &authorize_url, out, deadline).await?,
    };
    if !bool::from(returned.state.as_bytes().ct_eq(attempt.state.as_bytes())) {
        return Err(LoginError::StateMismatch);
    }
    let _ = writeln!(
        out,
        "Got the authorization code; exchanging it for a token…"
    );
    let exchanged = exchange::exchange(settings, &attempt, &returned, grant.lifetime);
    match tokio::time::timeout_at(deadline, exchanged).await {
        Ok(minted) => minted,
        Err(_) => Err(LoginError::TimedOut { secs: timeout_secs }),
    }
}

async fn with_browser(
    settings: &Settings,
    attempt: &Attempt,
    authorize_url: &Url,
    out: &mut dyn Write,
    deadline: Instant,
) -> Result<Returned, LoginError> {
    let env_chrome = std::env::var_os("CHROME");
    let path_var = std::env::var_os("PATH");
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let executable = chrome::find(&Search {
        configured: settings.chrome_path.as_deref(),
        env_chrome: env_chrome.as_deref(),
        path_var: path_var.as_deref(),
        home: home.as_deref(),
    })?;
    let headless = std::env::var(HEADLESS_ENV).is_ok_and(|v| v == "1" || v == "true");
    if !headless && !browser::has_display() {
        return Err(LoginError::NoDisplay);
    }
    let profile_dir = store::profile_dir(settings).ok_or(LoginError::NoStateDir)?;
    store::ensure_private_dir(&profile_dir).map_err(|e| LoginError::Io {
        what: format!(
            "cannot create the browser profile {}",
            profile_dir.display()
        ),
        reason: e.to_string(),
    })?;
    let redirect_uri = Url::parse(&settings.oauth_redirect_uri).map_err(|e| LoginError::Io {
        what: "`oauth_redirect_uri` is not a URL".to_string(),
        reason: e.to_string(),
    })?;
    let launch = Launch {
        executable,
        profile_dir,
        headless,
        no_sandbox: browser::running_as_root(),
    };
    let _ = writeln!(
        out,
        "Opening {} for the Claude login. Log in and authorize; this finishes by itself \
         (limit {} s). Closing the browser aborts. No window? Stop with Ctrl-C and run \
         `claude-max-proxy login --no-browser`.",
        launch.executable.display(),
        settings.login_timeout_secs,
    );
    let _ = out.flush();
    browser::obtain_code(
        &launch,
        authorize_url,
        &redirect_uri,
        &attempt.state,
        deadline,
        settings.login_timeout_secs,
    )
    .await
}
