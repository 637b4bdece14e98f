//! claude-max-proxy: an OpenAI-compatible API over the official `claude` CLI.
//!
//! Layout:
//! - [`config`]: the effective settings (defaults < file < env < flags) and where each came from.
//! - [`clock`]: Unix time and UTC dates without a date crate.
//! - [`defer_hook`]: the hidden `defer-hook` subcommand: the PreToolUse hook of tool runs.
//! - [`mcp_stub`]: the hidden `mcp-stub` subcommand: the MCP server listing a request's client tools.
//! - [`models`]: the model catalog: which ids we expose and what the CLI is asked for, and
//!   what the CLI knows of each model (family, context window, output limit).
//! - [`tokens`]: the local token estimate behind `POST /v1/messages/count_tokens`.
//! - [`net`]: network facts: CIDR blocks, Docker bridges, the source filter, port holders.
//! - [`conversation`]: what every API is parsed into and answered from: the one request
//!   shape ([`conversation::ChatRequest`]), attachments, tools and their results, generation
//!   controls, limits, finish and usage, and [`conversation::ApiError`].
//! - [`api`]: the three APIs, each owning its parsing, its stream and whole answers, ids and
//!   error shape: [`api::chat`] (OpenAI chat completions), [`api::messages`] (Anthropic
//!   Messages), [`api::responses`] (OpenAI Responses, with the memory behind
//!   `previous_response_id`).
//! - [`claude`]: the CLI: locating it, building its argv/env, spawning it in its own process
//!   group, its stream-json events and the session files that carry earlier turns.
//! - [`quota`]: the subscription's windows as the CLI last reported them.
//! - [`translate`]: OpenAI request → CLI run plan; CLI events → OpenAI content and errors.
//! - [`http`]: the hyper service: routing, body limits, JSON and SSE responses.
//! - [`login`]: `login` / `logout` / `status`: the Chrome-driven OAuth login, the token
//!   store (handed to the CLI as `CLAUDE_CODE_OAUTH_TOKEN`) and the auth source in use.
//! - [`runner`]: one CLI run from queue ticket to reaped process group; the limiter, the
//!   warm pool and the work root, for the daemon's lifetime.
//! - [`daemon`]: listeners, connections, sd-notify, signals, reload, shutdown.
//! - [`telemetry`]: the Prometheus metrics behind `GET /metrics`.
//! - [`service`]: `service install|uninstall|status`: the systemd user unit / launchd agent,
//!   rendered from the templates in `systemd/` and `launchd/`.
//! - [`doctor`]: `doctor`: CLI, login, config, listeners, Docker networking, firewall and
//!   service checks, each with its fix.
//! - [`exit`]: every command's exit codes and the failure `main` prints.
//!
//! Errors: plumbing uses the boxed [`Error`]; errors a client sees are [`conversation::ApiError`],
//! rendered in the shape of the API the request came in on.

pub mod api;
pub mod claude;
pub mod clock;
pub mod config;
pub mod conversation;
pub mod daemon;
pub mod defer_hook;
pub mod doctor;
pub mod exit;
pub mod http;
pub mod login;
pub mod mcp_stub;
pub mod models;
pub mod net;
pub mod quota;
pub mod runner;
pub mod service;
pub mod telemetry;
pub mod tokens;
pub mod translate;

/// Boxed error for plumbing (startup, I/O) where callers only report, never branch.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result with the crate's boxed [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The crate version, reported by `/health` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
