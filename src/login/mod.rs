//! `claude-max-proxy login / logout / status`: getting a long-lived subscription token for
//! the CLI, storing it safely, and telling which credentials the proxy uses.
//!
//! The login is the OAuth authorization-code flow with PKCE that the official CLI's
//! `claude setup-token` runs (inference-only scope, one-year token): we open the authorize
//! page in Chrome/Chromium (chromiumoxide, headful, with a persistent profile in the state
//! directory so the next login is one click), wait until the browser reaches the callback
//! page, read `code#state` from it, check the state, exchange the code at the token
//! endpoint and store the token (0700 directory, 0600 file, written atomically). Without a
//! browser (`--no-browser`) the user opens the URL anywhere and pastes `code#state`.
//!
//! This module owns the flow and the token file. It never talks to the Messages API: the
//! daemon hands the stored token to the official CLI as `CLAUDE_CODE_OAUTH_TOKEN` (see
//! [`load_token`], cheap enough to call per request). The token never appears in argv,
//! logs or error messages; [`StoredToken`]'s `Debug` hides it.
//!
//! Layout:
//! - [`pkce`]: verifier, challenge, state, the authorize URL, parsing `code#state`.
//! - [`exchange`]: the token endpoint (HTTPS with reqwest + rustls).
//! - [`store`]: [`StoredToken`], the token file and the browser profile directory.
//! - [`chrome`]: finding a Chrome/Chromium executable (and saying where we looked).
//! - [`browser`]: driving the browser to the callback page.
//! - [`manual`]: the `--no-browser` flow (print the URL, read the pasted code).
//! - [`probe`]: asking the CLI whether it is logged in itself (`claude auth status`).
//! - [`source`]: which credentials the daemon uses, for `status` and `/health`.
//! - [`flow`]: one login from PKCE to the stored file (or to the minted tokens).
//! - [`handoff`]: `login --cli`, the same login with the CLI's own scopes handed to
//!   `claude auth login`, so that the CLI owns and refreshes it (and sees the plan's
//!   usage windows, which an inference-only token cannot).
//! - [`cli`]: the `login`, `logout` and `status` subcommands (printing, exit codes).
//! - [`clock`]: re-exported from the crate root (Unix time and UTC dates).
//! - [`error`]: [`LoginError`], the failures callers branch on.
//!
//! Defaults of the OAuth settings (`oauth_*` config keys), checked on 2026-11-26 against:
//! - the official CLI 2.1.332 itself (`claude_agent_sdk/_bundled/claude`): its constants
//!   `CLAUDE_AI_AUTHORIZE_URL: "https://claude.com/cai/oauth/authorize"`,
//!   `TOKEN_URL: "https://platform.claude.com/v1/oauth/token"`,
//!   `MANUAL_REDIRECT_URL: "https://platform.claude.com/oauth/code/callback"`,
//!   `CLIENT_ID: "9d1c250a-e61b-44d9-88ed-5944d1962f5e"`; `setup-token` calls
//!   `startOAuthFlow(…, {loginWithClaudeAi: true, inferenceOnly: true, expiresIn: 31536000})`,
//!   where `inferenceOnly` makes the scope `user:inference`; the authorize URL carries
//!   `code=true, client_id, response_type=code, redirect_uri, scope, code_challenge,
//!   code_challenge_method=S256, state`, and the exchange is a JSON POST of `grant_type,
//!   code, redirect_uri, client_id, code_verifier, state, expires_in`;
//! - public write-ups that agree: github.com/lobu-ai/lobu pull request 345 ("Anthropic moved
//!   them off claude.ai / console.anthropic.com": authorize `claude.com/cai/oauth/authorize`,
//!   redirect `platform.claude.com/oauth/code/callback`, token
//!   `platform.claude.com/v1/oauth/token`, `code=true`, `expires_in: 31536000`), and the
//!   docs.rs source of `link-assistant-router` (`claude_auth.rs`: the same URLs, and
//!   `user:inference` as "the scope requested by `setup-token`").
//!
//! Older third-party code still uses `claude.ai/oauth/authorize` and
//! `console.anthropic.com/...`; those hosts were retired, which is why they are config keys.

pub mod browser;
pub mod chrome;
pub mod cli;
mod daemon_quota;
pub use crate::clock;
pub mod error;
pub mod exchange;
pub mod flow;
pub mod handoff;
pub mod manual;
pub mod pkce;
pub mod probe;
pub mod source;
pub mod store;

pub use error::LoginError;
pub use source::{AuthSource, EXPIRY_WARNING_DAYS, auth_source, auth_source_at};
pub use store::{StoredToken, load_token, token_path};

/// Environment switch for tests and CI: `1` runs the browser headless (no window).
pub const HEADLESS_ENV: &str = "CLAUDE_MAX_PROXY_LOGIN_HEADLESS";
