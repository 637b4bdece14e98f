//! The HTTP side: one hyper service with a `match` router, bounded request bodies, and
//! every failure answered as an OpenAI error object.
//!
//! - [`respond`]: body type and JSON/error response helpers.
//! - [`health`], [`models`], [`chat`]: one handler per route.
//! - [`sse`]: the streaming body for `stream: true`.
//! - [`request_log`]: the one structured log line per chat request.

mod chat;
mod health;
mod models;
mod request_log;
mod respond;
mod sse;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use hyper::{Method, Request, Response, body::Incoming};

use crate::config::Settings;
use crate::models::Catalog;
use crate::openai::{ApiError, ErrorKind};
use crate::runner::Backend;

pub use respond::Body;

/// What every handler can see.
#[derive(Debug)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub catalog: Catalog,
    pub backend: Arc<Backend>,
    pub started: Instant,
}

/// Routes one request. Never fails: errors become OpenAI error responses.
pub async fn handle(
    state: Arc<AppState>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_string();
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(&path);
    let method = request.method().clone();
    let response = match (&method, path) {
        (&Method::GET | &Method::HEAD, "/health") => health::health(&state),
        (&Method::GET, "/v1/models" | "/models") => models::list(&state),
        (&Method::GET, p) if p.starts_with("/v1/models/") => {
            models::retrieve(&state, &p["/v1/models/".len()..])
        }
        (&Method::GET, p) if p.starts_with("/models/") => {
            models::retrieve(&state, &p["/models/".len()..])
        }
        (&Method::POST, "/v1/chat/completions" | "/chat/completions") => {
            chat::completions(&state, request).await
        }
        (_, "/health") => method_not_allowed(&method, path, "GET, HEAD"),
        (_, "/v1/models" | "/models") => method_not_allowed(&method, path, "GET"),
        (_, p) if p.starts_with("/v1/models/") || p.starts_with("/models/") => {
            method_not_allowed(&method, path, "GET")
        }
        (_, "/v1/chat/completions" | "/chat/completions") => {
            method_not_allowed(&method, path, "POST")
        }
        _ => respond::error(&ApiError::new(
            ErrorKind::NotFound,
            format!(
                "Unknown request URL: {method} {path}. This proxy serves GET /v1/models, \
                 POST /v1/chat/completions and GET /health (base URL: http://<host>:<port>/v1)."
            ),
        )),
    };
    Ok(response)
}

fn method_not_allowed(method: &Method, path: &str, allow: &'static str) -> Response<Body> {
    let mut response = respond::error(&ApiError::new(
        ErrorKind::MethodNotAllowed,
        format!("{method} is not allowed on {path}; use {allow}."),
    ));
    response.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static(allow),
    );
    response
}
