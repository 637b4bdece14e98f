//! `POST /v1/messages` (the Anthropic Messages API) on the same runs as chat completions:
//! the body parsed by [`crate::anthropic`], one CLI run, then one `message` object or the
//! Messages API's event stream ([`super::messages_sse`]); every error in the Messages
//! API's shape. `POST /v1/messages/count_tokens` is a 501 that says why.

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response};

use super::answer;
use super::messages_sse::MessagesWriter;
use super::request_log::RequestLog;
use super::respond::Dialect;
use super::sse::{self, Timing};
use super::{AppState, Body, Live, respond, run};
use crate::anthropic;
use crate::openai::{ApiError, ErrorKind};

/// The endpoint label in logs and metrics.
const ENDPOINT: &str = "messages";

pub async fn create(state: &AppState, live: &Live, request: Request<Incoming>) -> Response<Body> {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let mut log = RequestLog::new(id.clone(), ENDPOINT, state.recent.clone());
    let mut response = match answer(state, live, request, &id, &mut log).await {
        Ok(response) => response,
        Err(error) => {
            log.rejected(&error);
            respond::error_in(Dialect::Anthropic, &error)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("request-id", value.clone());
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
    let started = run::start(state, live, request, log, anthropic::parse_messages_request).await?;
    let chat = started.chat;
    let mut log = log.take();
    let response = if chat.stream {
        let writer = MessagesWriter::new(id.to_string(), chat.model.clone());
        let timing = Timing {
            hold: live.settings.stream_header_hold(),
            keepalive: live.settings.keepalive(),
        };
        sse::respond(started.rx, writer, timing, log).await
    } else {
        let answer = answer::collect(started.rx, chat.model.clone(), &mut log).await?;
        let message = anthropic::message(&anthropic::Whole {
            id,
            model: &answer.model,
            reasoning: &answer.reasoning,
            text: &answer.text,
            calls: &answer.calls,
            reason: answer.finish.reason,
            stop_sequence: answer.finish.stop_sequence.as_deref(),
            usage: &answer.finish.usage,
        });
        let mut response = respond::ok_json(&message);
        if answer.overage {
            respond::mark_overage(&mut response);
        }
        Ok(response)
    };
    let ignored = chat.controls.ignored.join(", ");
    response.map(|mut response| {
        if started.overage {
            respond::mark_overage(&mut response);
        }
        if !ignored.is_empty()
            && let Ok(value) = HeaderValue::from_str(&ignored)
        {
            response.headers_mut().insert("x-ignored-params", value);
        }
        response
    })
}

/// `POST /v1/messages/count_tokens`: the CLI can count tokens only by sending the request,
/// which would spend the subscription on every count; no made-up number instead.
pub fn count_tokens() -> Response<Body> {
    respond::error_in(
        Dialect::Anthropic,
        &ApiError::new(
            ErrorKind::NotImplemented,
            "Token counting is not available through claude-max-proxy: the claude CLI can \
             count a request's tokens only by sending it, which would spend your \
             subscription on every count. Estimate locally, or read `usage` from the \
             answer.",
        ),
    )
}
