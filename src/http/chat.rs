//! `POST /v1/chat/completions`: check the body is JSON, read it within the limits,
//! validate, resolve the model, start a CLI run, then answer as one `chat.completion` or
//! as an SSE stream. One log line per request, however it ends.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response};
use tokio::sync::mpsc;

use super::body::{self, BodyLimits};
use super::overage;
use super::request_log::RequestLog;
use super::{AppState, Body, Live, respond, sse};
use crate::openai::{
    ApiError, ChatCompletion, ChatRequest, FunctionCall, ResponseToolCall, parse_chat_request,
};
use crate::translate::outcome::Output;
use crate::translate::plan;

/// The endpoint label in logs and metrics.
const ENDPOINT: &str = "chat_completions";

pub async fn completions(
    state: &AppState,
    live: &Live,
    request: Request<Incoming>,
) -> Response<Body> {
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let mut log = RequestLog::new(id.clone(), ENDPOINT, state.recent.clone());
    let mut response = match answer(state, live, request, &id, &mut log).await {
        Ok(response) => response,
        Err(error) => {
            log.rejected(&error);
            respond::error(&error)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn answer(
    state: &AppState,
    live: &Live,
    request: Request<Incoming>,
    id: &str,
    log: &mut RequestLog,
) -> Result<Response<Body>, ApiError> {
    body::require_json(request.headers())?;
    let limits = BodyLimits {
        max_bytes: live.settings.max_body_bytes,
        timeout: live.settings.body_read_timeout(),
    };
    let (bytes, reservation) = body::read(request, limits, &state.body_budget).await?;
    log.bytes_in = bytes.len();
    let chat = parse_chat_request(&bytes)?;
    check_image_sizes(&chat, live.settings.max_image_bytes)?;
    drop(reservation);
    drop(bytes);
    log.model = chat.model.clone();
    log.stream = chat.stream;
    let model_arg = live
        .catalog
        .resolve(&chat.model)
        .ok_or_else(|| ApiError::model_not_found(&chat.model))?;
    let overage = overage::check(live)?;
    let run_plan = plan::plan_request(&chat, model_arg)?;
    let rx = live.backend.start(run_plan, chat.stream)?;
    if overage {
        log.overage();
    }
    let log = log.take();
    let created = unix_now();
    let response = if chat.stream {
        sse::respond(
            rx,
            sse::StreamInfo {
                id: id.to_string(),
                created,
                model: chat.model.clone(),
                include_usage: chat.include_usage,
                hold: live.settings.stream_header_hold(),
                keepalive: live.settings.keepalive(),
            },
            log,
        )
        .await
    } else {
        collect(rx, id, created, chat.model, log).await
    };
    let ignored = chat.controls.ignored.join(", ");
    response.map(|mut response| {
        if overage {
            respond::mark_overage(&mut response);
        }
        // Parameters that had no effect, so a client can tell (e.g. temperature).
        if !ignored.is_empty()
            && let Ok(value) = HeaderValue::from_str(&ignored)
        {
            response.headers_mut().insert("x-ignored-params", value);
        }
        response
    })
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
    let mut overage = false;
    let mut calls: Vec<ResponseToolCall> = Vec::new();
    while let Some(output) = rx.recv().await {
        match output {
            Output::Model(m) => model = m,
            Output::Served(how) => log.served(how),
            Output::ToolCall { index, id, name } => {
                log.first_token();
                if index == calls.len() {
                    calls.push(ResponseToolCall {
                        id,
                        kind: "function",
                        function: FunctionCall {
                            name,
                            arguments: String::new(),
                        },
                    });
                }
            }
            Output::ToolArgs { index, arguments } => {
                if let Some(call) = calls.get_mut(index) {
                    call.function.arguments.push_str(&arguments);
                }
            }
            Output::Overage => {
                overage = true;
                log.overage();
            }
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
                )
                .with_tool_calls(std::mem::take(&mut calls));
                let mut response = respond::ok_json(&completion);
                if overage {
                    respond::mark_overage(&mut response);
                }
                return Ok(response);
            }
            Output::Failed(error) => {
                log.failed(error.status());
                return Err(error);
            }
        }
    }
    log.failed(500);
    Err(respond::ended_without_answer())
}

/// Refuses images over `max_image_bytes` (decoded size), naming the message.
fn check_image_sizes(chat: &ChatRequest, max: usize) -> Result<(), ApiError> {
    for (i, message) in chat.messages.iter().enumerate() {
        if let Some(image) = message.images.iter().find(|img| img.decoded_len() > max) {
            return Err(ApiError::invalid(
                format!("messages[{i}].content"),
                format!(
                    "An image is {} bytes; at most {max} are accepted (`max_image_bytes`). \
                     Send a smaller image.",
                    image.decoded_len()
                ),
            ));
        }
    }
    Ok(())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
