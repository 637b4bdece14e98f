//! `POST /v1/chat/completions`: read the bounded body, validate, resolve the model, start a
//! CLI run, then answer as one `chat.completion` or as an SSE stream.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use hyper::{Request, Response};
use tokio::sync::mpsc;

use super::request_log::RequestLog;
use super::{Body, Live, respond, sse};
use crate::openai::{ApiError, ChatCompletion, ErrorKind, parse_chat_request};
use crate::translate::outcome::Output;
use crate::translate::plan;

pub async fn completions(state: &Live, request: Request<Incoming>) -> Response<Body> {
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let mut response = match answer(state, request, &id).await {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(
                target: "claude_max_proxy::request",
                id = %id,
                status = error.status(),
                kind = ?error.kind,
                param = ?error.param,
                "chat completion rejected"
            );
            respond::error(&error)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn answer(
    state: &Live,
    request: Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let body = read_body(request, state.settings.max_body_bytes).await?;
    let chat = parse_chat_request(&body)?;
    let model_arg = state
        .catalog
        .resolve(&chat.model)
        .ok_or_else(|| ApiError::model_not_found(&chat.model))?;
    let run_plan = plan::plan(&chat, model_arg);
    let rx = state.backend.start(run_plan, chat.stream)?;
    let log = RequestLog::new(id.to_string(), chat.model.clone(), chat.stream, body.len());
    let created = unix_now();
    if chat.stream {
        sse::respond(
            rx,
            sse::StreamInfo {
                id: id.to_string(),
                created,
                model: chat.model.clone(),
                include_usage: chat.include_usage,
                hold: state.settings.stream_header_hold(),
                keepalive: state.settings.keepalive(),
            },
            log,
        )
        .await
    } else {
        collect(rx, id, created, chat.model, log).await
    }
}

/// Waits for the whole answer.
async fn collect(
    mut rx: mpsc::Receiver<Output>,
    id: &str,
    created: i64,
    requested_model: String,
    mut log: RequestLog,
) -> Result<Response<Body>, ApiError> {
    let mut model = requested_model;
    let mut content = String::new();
    while let Some(output) = rx.recv().await {
        match output {
            Output::Model(m) => model = m,
            Output::Text(text) => {
                log.first_token();
                content.push_str(&text);
            }
            Output::Retract(len) => {
                let keep = content.len().saturating_sub(len);
                if content.is_char_boundary(keep) {
                    content.truncate(keep);
                }
            }
            Output::Finished(finish) => {
                log.finished(finish.usage);
                let completion = ChatCompletion::new(
                    id.to_string(),
                    created,
                    model,
                    content,
                    finish.reason,
                    finish.usage,
                );
                return Ok(respond::ok_json(&completion));
            }
            Output::Failed(error) => {
                log.failed(error.status());
                return Err(error);
            }
        }
    }
    log.failed(500);
    Err(ended_without_answer())
}

pub fn ended_without_answer() -> ApiError {
    ApiError::new(
        ErrorKind::Internal,
        "The claude CLI run ended without an answer or an error (a bug in the proxy; please \
         report it with the daemon's log).",
    )
}

/// Reads the body, refusing more than `max` bytes (413) before and while collecting.
async fn read_body(request: Request<Incoming>, max: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "The request body is larger than {max} bytes (`max_body_bytes`). Send a \
                 shorter conversation or raise the limit."
            ),
        )
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    match Limited::new(request.into_body(), max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::invalid(
            "body",
            format!("Could not read the request body: {e}"),
        )),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
