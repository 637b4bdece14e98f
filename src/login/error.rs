//! [`LoginError`]: the ways a login fails that a caller (or the user) acts on differently.
//!
//! Every message says what happened and what to do next, and none carries a secret: no
//! token, code, verifier or state, and no pasted input.

use std::fmt;
use std::path::PathBuf;

/// A failed login. The `Display` text is complete and user-facing.
#[derive(Debug)]
pub enum LoginError {
    /// No Chrome/Chromium executable: what was searched, in order.
    NoBrowser { searched: Vec<String> },
    /// A headful browser cannot open here (Linux without `DISPLAY`/`WAYLAND_DISPLAY`).
    NoDisplay,
    /// The browser would not start or its DevTools connection failed.
    BrowserLaunch { executable: PathBuf, reason: String },
    /// The user closed the browser before the callback page was reached.
    BrowserClosed,
    /// The user (or the server) refused the authorization on the authorize page.
    Denied { reason: String },
    /// The state returned with the code is not the one we sent: the code is rejected.
    StateMismatch,
    /// The pasted text is not `code#state` (nor a callback URL).
    BadInput { reason: String },
    /// Standard input ended before a code was pasted.
    NoInput,
    /// The token endpoint refused the exchange or could not be reached.
    TokenEndpoint {
        status: Option<u16>,
        message: String,
    },
    /// The overall login limit (`login_timeout_secs`) passed.
    TimedOut { secs: u64 },
    /// No state directory (neither `state_dir`, `XDG_DATA_HOME` nor `HOME`).
    NoStateDir,
    /// The token could not be written, or randomness was unavailable.
    Io { what: String, reason: String },
    /// `login --cli`: the claude CLI did not take the login handed to it.
    CliLogin { reason: String },
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::TokenEndpoint { .. }
            | LoginError::TimedOut { .. }
            | LoginError::NoStateDir
            | LoginError::Io { .. }
            | LoginError::CliLogin { .. } => self.fmt_after_the_code(f),
            LoginError::NoBrowser { searched } => write!(
                f,
                "no Chrome or Chromium found; searched: {}. Point at a browser with the CHROME \
                 environment variable or the `chrome_path` config key \
                 (CLAUDE_MAX_PROXY_CHROME_PATH), or run `claude-max-proxy login --no-browser` \
                 to open the login URL on any machine and paste the code back",
                searched.join(", ")
            ),
            LoginError::NoDisplay => write!(
                f,
                "no graphical display here (DISPLAY and WAYLAND_DISPLAY are unset), so a browser \
                 window cannot open; run `claude-max-proxy login --no-browser` and open the URL \
                 on any machine"
            ),
            LoginError::BrowserLaunch { executable, reason } => write!(
                f,
                "could not start the browser {}: {reason}. If another browser window uses the \
                 claude-max-proxy profile, close it; or run `claude-max-proxy login --no-browser`",
                executable.display()
            ),
            LoginError::BrowserClosed => write!(
                f,
                "the browser was closed before the login finished; nothing was stored. Run \
                 `claude-max-proxy login` again"
            ),
            LoginError::Denied { reason } => write!(
                f,
                "the authorization was refused: {reason}. Nothing was stored; run \
                 `claude-max-proxy login` again"
            ),
            LoginError::StateMismatch => write!(
                f,
                "the code came back with a different state than this login sent, so it was \
                 rejected (it may belong to an older login attempt). Nothing was stored; run \
                 `claude-max-proxy login` again and use the code from that attempt"
            ),
            LoginError::BadInput { reason } => write!(
                f,
                "{reason}. Paste the whole code shown by the callback page (it looks like \
                 `code#state`), or the callback page's URL"
            ),
            LoginError::NoInput => write!(
                f,
                "standard input ended before a code was pasted; nothing was stored"
            ),
        }
    }
}

impl LoginError {
    /// What went wrong with the code or after it: the token endpoint, time, files, the CLI
    /// (the other kinds, on the way to the code, are written by `fmt` itself).
    fn fmt_after_the_code(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::TokenEndpoint {
                status: Some(status),
                message,
            } => write!(
                f,
                "the token endpoint refused the code (HTTP {status}): {message}. Run \
                 `claude-max-proxy login` again; a code works once and only briefly"
            ),
            LoginError::TokenEndpoint {
                status: None,
                message,
            } => write!(
                f,
                "could not reach the token endpoint: {message}. Check the network (and \
                 `oauth_token_url`), then run `claude-max-proxy login` again"
            ),
            LoginError::TimedOut { secs } => write!(
                f,
                "the login did not finish within {secs} s (config key `login_timeout_secs`); \
                 nothing was stored"
            ),
            LoginError::NoStateDir => write!(
                f,
                "no state directory: set `state_dir` in the config (or HOME / XDG_DATA_HOME)"
            ),
            LoginError::Io { what, reason } => write!(f, "{what}: {reason}"),
            LoginError::CliLogin { reason } => write!(
                f,
                "the claude CLI did not take the login: {reason}. Nothing was changed; run \
                 `claude auth login` yourself (it opens its own browser login), or \
                 `claude-max-proxy login --cli` again"
            ),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for LoginError {}

impl LoginError {
    /// The process exit code for this failure: 3 when the user can fix it by choosing
    /// another way to log in (no browser, no display), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            LoginError::NoBrowser { .. } | LoginError::NoDisplay => 3,
            _ => 1,
        }
    }
}
