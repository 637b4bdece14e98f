//! `POST /v1/messages/count_tokens`: the input tokens a Messages API body would cost,
//! estimated locally by [`crate::tokens`] — no CLI run, no upstream request, no quota. The
//! answer is the API's `{"input_tokens": N}`, marked as an estimate by the
//! `x-token-count-estimate` header (naming the tokenizer); errors come in the Messages
//! API's shape. The count runs on a blocking thread: tokenizing a body of several MiB
//! takes a second or two and must not hold up other connections.

use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response};
use serde_json::json;

use super::body::{self, BodyLimits};
use super::respond::{self, Dialect};
use super::{AppState, Body, Generation};
use crate::conversation::{ApiError, ErrorKind, json_object, required_model};
use crate::models::registry::{self, DEFAULT_IMAGE_TOKENS};
use crate::tokens;

/// The header that marks the count as an estimate; its value names the tokenizer.
pub const ESTIMATE_HEADER: &str = "x-token-count-estimate";

pub async fn count_tokens(
    state: &AppState,
    current: &Generation,
    request: Request<Incoming>,
) -> Response<Body> {
    let id = format!("req_{}", uuid::Uuid::new_v4().simple());
    let started = Instant::now();
    let (result, bytes_in) = count(state, current, request).await;
    let mut response = match &result {
        Ok(input_tokens) => {
            let mut response = respond::ok_json(&json!({ "input_tokens": input_tokens }));
            response
                .headers_mut()
                .insert(ESTIMATE_HEADER, HeaderValue::from_static(tokens::TOKENIZER));
            response
        }
        Err(error) => respond::error_in(Dialect::Anthropic, error),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("request-id", value.clone());
        response.headers_mut().insert("x-request-id", value);
    }
    tracing::info!(
        target: "claude_max_proxy::request",
        id = %id,
        endpoint = "count_tokens",
        status = response.status().as_u16(),
        input_tokens = result.as_ref().ok().copied(),
        bytes_in,
        duration_ms = started.elapsed().as_millis() as u64,
        "token count"
    );
    response
}

/// Reads, resolves the model and counts; also says how many body bytes came in.
async fn count(
    state: &AppState,
    current: &Generation,
    request: Request<Incoming>,
) -> (Result<u64, ApiError>, usize) {
    if let Err(error) = body::require_json(request.headers()) {
        return (Err(error), 0);
    }
    let limits = BodyLimits {
        max_bytes: current.settings.max_body_bytes,
        timeout: current.settings.body_read_timeout(),
    };
    let (bytes, reservation) = match body::read(request, limits, &state.body_budget).await {
        Ok(read) => read,
        Err(error) => return (Err(error), 0),
    };
    let bytes_in = bytes.len();
    let counted = async {
        let body = json_object(&bytes, "`model` and `messages`")?;
        let model = required_model(&body)?;
        let cli_model = current
            .catalog
            .resolve(&model)
            .ok_or_else(|| ApiError::model_not_found(&model))?;
        let image_cap =
            registry::lookup(cli_model).map_or(DEFAULT_IMAGE_TOKENS, |info| info.max_image_tokens);
        tokio::task::spawn_blocking(move || tokens::count_messages_body(&body, image_cap))
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorKind::Internal,
                    "The token count failed; retry the request.",
                )
            })?
    }
    .await;
    drop(reservation);
    (counted, bytes_in)
}
