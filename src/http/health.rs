//! `GET /health`: liveness and what the daemon knows, without starting any model request.

use hyper::Response;
use serde_json::json;

use super::{AppState, Body, respond};
use crate::claude::locate::Located;
use crate::config::AuthMode;

pub fn health(state: &AppState) -> Response<Body> {
    let cli = state.backend.cli_state();
    let (found, path) = match &cli.located {
        Located::Found(path) => (true, Some(path.display().to_string())),
        Located::Missing { .. } => (false, None),
    };
    let auth_mode = match state.settings.auth_mode {
        AuthMode::Subscription => "subscription",
        AuthMode::ApiKey => "api-key",
    };
    let body = json!({
        "status": if found { "ok" } else { "degraded" },
        "version": crate::VERSION,
        "backend": "claude-cli",
        "cli": {
            "found": found,
            "path": path,
            "version": cli.version,
        },
        "auth_mode": auth_mode,
        "uptime_secs": state.started.elapsed().as_secs(),
        "in_flight": state.backend.limiter.running(),
        "queued": state.backend.limiter.queued(),
        "max_concurrent": state.backend.limiter.max_concurrent(),
    });
    respond::ok_json(&body)
}
