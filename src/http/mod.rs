//! The HTTP side: one hyper service with a `match` router, bounded request bodies, and
//! every failure answered as an error object of the API the request came in on (OpenAI's,
//! or Anthropic's for `/v1/messages`).
//!
//! Every request passes the [`access`] checks (Host, then Origin) before anything else is
//! read, then the client API key, then its route.
//!
//! - [`state`]: the current configuration generation ([`Generation`]) and the observable
//!   daemon state.
//! - [`access`]: DNS-rebinding (Host) and cross-site (Origin) protection.
//! - [`auth`], [`cors`]: client API key and CORS headers for listed origins.
//! - [`body`]: JSON-only, size-, time- and budget-bounded request bodies.
//! - [`respond`]: body type and JSON/error response helpers.
//! - [`endpoint`]: the one handler of the three generation APIs (`crate::api`'s endpoints:
//!   chat completions, Messages, Responses) and of the kept responses; [`run`] starts the
//!   CLI run of every generation request; [`sse`] streams the answer with `stream: true`,
//!   [`answer`] gathers it whole; the API's own writer shapes both.
//! - [`models`], [`count_tokens`]: the model list and the token estimate.
//! - [`operator`]: the operator's wing — `/health`, the status page at `/`, `/metrics`, and
//!   what a caller without the key sees of them; [`recent`] keeps the requests the page
//!   lists.
//! - [`overage`]: extra usage, predicted from the last quota report.
//! - [`request_log`]: the one structured log line per chat request; [`shown`]: how a
//!   client's strings appear in it, on the status page and as metric labels.

pub mod access;
mod answer;
mod auth;
pub mod body;
mod cors;
mod count_tokens;
mod endpoint;
mod models;
mod operator;
mod overage;
mod recent;
mod request_log;
mod respond;
mod run;
mod shown;
mod sse;
mod state;

use std::convert::Infallible;
use std::sync::Arc;

use hyper::{Method, Request, Response, body::Incoming};

use crate::api::chat::Chat;
use crate::api::messages::Messages;
use crate::api::responses;
use crate::conversation::{ApiError, ErrorKind};

pub use respond::Body;
pub use state::{AppState, ConnectionCounts, Generation};

/// Routes one request. Never fails: errors become OpenAI error responses.
pub async fn handle(
    state: Arc<AppState>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let current = state.current();
    let dialect = respond::Dialect::of_request(request.uri().path(), request.headers());
    let authority = access::request_host(request.uri(), request.headers());
    if current.settings.check_host
        && let Err(error) = access::check_host(
            authority.as_deref(),
            &current.host_names,
            state.filter.as_ref(),
        )
    {
        tracing::info!(
            target: "claude_max_proxy::request",
            status = error.status(),
            "request refused: its Host does not name this proxy"
        );
        return Ok(respond::error_in(dialect, &error));
    }
    let origin = match access::check_origin(
        request.headers(),
        authority.as_deref(),
        &current.settings.cors_origins,
    ) {
        Ok(access::OriginVerdict::Cors(origin)) => Some(origin),
        Ok(access::OriginVerdict::NotCrossSite) => None,
        Err(error) => {
            tracing::info!(
                target: "claude_max_proxy::request",
                status = error.status(),
                "request refused: a web page's Origin that is not allowed"
            );
            return Ok(respond::error_in(dialect, &error));
        }
    };
    let preflight = request.method() == Method::OPTIONS;
    let mut response = match (&origin, preflight) {
        (Some(origin), true) => cors::preflight(origin.clone()),
        _ => route(&state, &current, request).await,
    };
    if let Some(origin) = origin
        && !response
            .headers()
            .contains_key(hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        cors::decorate(&mut response, origin);
    }
    Ok(response)
}

/// Paths that need the client API key when one is configured: everything but /health and
/// the status page (each shows a caller without the key only that the daemon is up, see
/// [`operator::keyless`]) and, with `metrics_requires_key = false`, /metrics.
fn is_protected(path: &str, current: &Generation) -> bool {
    match path {
        "/health" | "/" => false,
        "/metrics" => current.settings.metrics_requires_key,
        _ => true,
    }
}

async fn route(
    state: &AppState,
    current: &Generation,
    request: Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(&path);
    let method = request.method().clone();
    let dialect = respond::Dialect::of_request(path, request.headers());
    if is_protected(path, current)
        && let Some(key) = &current.api_key
        && let Err(error) = auth::check(request.headers(), key)
    {
        return respond::error_in(dialect, &error);
    }
    if let Some(response) = kept_responses(state, current, &request, &method, path, dialect) {
        return response;
    }
    let keyless = |page: bool| {
        current.api_key.as_deref().is_some_and(|key| {
            if page {
                !auth::check_page(request.headers(), key)
            } else {
                auth::check(request.headers(), key).is_err()
            }
        })
    };
    match (&method, path) {
        (&Method::GET | &Method::HEAD, "/health") if keyless(false) => {
            operator::keyless::health(current)
        }
        (&Method::GET | &Method::HEAD, "/") if keyless(true) => operator::keyless::page(),
        (&Method::GET | &Method::HEAD, "/health") => operator::health::health(state, current),
        (&Method::GET | &Method::HEAD, "/") => operator::status::page(state, current),
        (&Method::GET, "/metrics") => operator::metrics::metrics(state, current),
        (&Method::GET, "/v1/models" | "/models") => {
            models::list(current, request.uri().query(), dialect)
        }
        (&Method::GET, p) if p.starts_with("/v1/models/") => {
            models::retrieve(current, &p["/v1/models/".len()..], dialect)
        }
        (&Method::GET, p) if p.starts_with("/models/") => {
            models::retrieve(current, &p["/models/".len()..], dialect)
        }
        (&Method::POST, "/v1/chat/completions" | "/chat/completions") => {
            endpoint::serve(state, current, request, Chat).await
        }
        (&Method::POST, "/v1/messages") => endpoint::serve(state, current, request, Messages).await,
        (&Method::POST, "/v1/messages/count_tokens") => {
            count_tokens::count_tokens(state, current, request).await
        }
        (&Method::POST, "/v1/responses" | "/responses") => {
            let responses = endpoint::responses(state, current);
            endpoint::serve(state, current, request, responses).await
        }
        _ => not_served(&method, path, dialect),
    }
}

/// `GET` / `DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`; `None`
/// for any other path.
fn kept_responses(
    state: &AppState,
    current: &Generation,
    request: &Request<Incoming>,
    method: &Method,
    path: &str,
    dialect: respond::Dialect,
) -> Option<Response<Body>> {
    let kept_for = endpoint::kept_for(current);
    if let Some(id) = input_items_of(path) {
        return Some(match *method {
            Method::GET => endpoint::kept(responses::kept::input_items(
                &state.responses,
                id,
                kept_for,
                request.uri().query(),
            )),
            _ => method_not_allowed(dialect, method, path, "GET"),
        });
    }
    let id = response_id(path)?;
    Some(match *method {
        Method::GET => endpoint::kept(responses::kept::retrieve(&state.responses, id, kept_for)),
        Method::DELETE => endpoint::kept(responses::kept::delete(&state.responses, id, kept_for)),
        _ => method_not_allowed(dialect, method, path, "GET, DELETE"),
    })
}

/// What no route serves: a known path with another method (405 with `Allow`), or an
/// unknown path (404 naming what is served).
fn not_served(method: &Method, path: &str, dialect: respond::Dialect) -> Response<Body> {
    let allow = match path {
        "/health" | "/" => Some("GET, HEAD"),
        "/metrics" | "/v1/models" | "/models" => Some("GET"),
        p if p.starts_with("/v1/models/") || p.starts_with("/models/") => Some("GET"),
        "/v1/chat/completions"
        | "/chat/completions"
        | "/v1/responses"
        | "/responses"
        | "/v1/messages"
        | "/v1/messages/count_tokens" => Some("POST"),
        _ => None,
    };
    if let Some(allow) = allow {
        return method_not_allowed(dialect, method, path, allow);
    }
    respond::error_in(
        dialect,
        &ApiError::new(
            ErrorKind::NotFound,
            format!(
                "Unknown request URL: {method} {path}. This proxy serves GET /v1/models, \
                 POST /v1/chat/completions, POST /v1/messages (and \
                 /v1/messages/count_tokens), POST /v1/responses \
                 (GET and DELETE /v1/responses/{{id}}, GET /v1/responses/{{id}}/input_items), \
                 GET /health, GET /metrics and the status page at / (base URL: \
                 http://<host>:<port>/v1; Anthropic clients: http://<host>:<port>)."
            ),
        ),
    )
}

/// The `{id}` of `/v1/responses/{id}` (or `/responses/{id}`).
fn response_id(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/responses/")
        .or_else(|| path.strip_prefix("/responses/"))
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// The `{id}` of `/v1/responses/{id}/input_items`.
fn input_items_of(path: &str) -> Option<&str> {
    path.strip_suffix("/input_items").and_then(response_id)
}

fn method_not_allowed(
    dialect: respond::Dialect,
    method: &Method,
    path: &str,
    allow: &'static str,
) -> Response<Body> {
    let mut response = respond::error_in(
        dialect,
        &ApiError::new(
            ErrorKind::MethodNotAllowed,
            format!("{method} is not allowed on {path}; use {allow}."),
        ),
    );
    response.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static(allow),
    );
    response
}
