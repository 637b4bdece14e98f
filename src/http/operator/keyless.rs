//! What a caller without the key sees when a client API key is set (`api_key` or
//! `api_key_file`): that the daemon is up, nothing more. /health answers with its status,
//! version, backend and that a key is needed (enough for liveness probes, `doctor`, the
//! systemd watchdog and `ai-proxy-check` to recognize the proxy); the status page answers
//! 401 asking the browser for the key (as a Basic password, see
//! [`crate::http::auth::check_page`]); /metrics and /v1/* answer 401. The CLI path, login,
//! listeners, connections, quota, the last requests and their ids, and the metrics need
//! the key. Without a client key everything stays open, as the listeners and the source
//! filter already limit who can connect.

use hyper::Response;
use hyper::StatusCode;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use serde_json::json;

use crate::claude::locate::Located;
use crate::http::{Body, Generation, respond};

/// `GET /health` without the key: status, version, backend, and that the key is needed.
pub fn health(current: &Generation) -> Response<Body> {
    let found = matches!(current.backend.cli_state().located, Located::Found(_));
    respond::ok_json(&json!({
        "status": if found { "ok" } else { "degraded" },
        "version": crate::VERSION,
        "backend": "claude-cli",
        "client_auth": "api-key",
    }))
}

/// `GET /` without the key: 401, and the browser asks for it.
pub fn page() -> Response<Body> {
    let html = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "claude-max-proxy" }
            }
            body {
                h1 { "claude-max-proxy " (crate::VERSION) }
                p {
                    "This proxy has a client API key, and its status page needs it. Reload the \
                     page and enter the key as the password (any user name), or send it as "
                    code { "Authorization: Bearer <key>" }
                    "."
                }
            }
        }
    }
    .into_string();
    let mut response = Response::new(respond::full(html));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"claude-max-proxy status\", charset=\"UTF-8\""),
    );
    response
}
