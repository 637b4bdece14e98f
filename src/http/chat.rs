//! `POST /v1/chat/completions`: start a CLI run ([`super::run`]), then answer as one
//! `chat.completion` or as an SSE stream of chunks ([`super::chat_sse`]). One log line per
//! request, however it ends.

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response};

use super::answer;
use super::chat_sse::ChatWriter;
use super::request_log::RequestLog;
use super::sse::{self, Timing};
use super::{AppState, Body, Live, respond, run};
use crate::openai::{ApiError, ChatCompletion, FunctionCall, ResponseToolCall, parse_chat_request};

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
    let started = run::start(state, live, request, log, parse_chat_request).await?;
    let chat = started.chat;
    let mut log = log.take();
    let created = run::unix_now();
    let response = if chat.stream {
        let writer = ChatWriter::new(
            id.to_string(),
            created,
            chat.model.clone(),
            chat.include_usage,
        );
        let timing = Timing {
            hold: live.settings.stream_header_hold(),
            keepalive: live.settings.keepalive(),
        };
        sse::respond(started.rx, writer, timing, log).await
    } else {
        let answer = answer::collect(started.rx, chat.model.clone(), &mut log).await?;
        let overage = answer.overage;
        let mut response = respond::ok_json(&completion(id, created, answer));
        if overage {
            respond::mark_overage(&mut response);
        }
        Ok(response)
    };
    let ignored = chat.controls.ignored.join(", ");
    response.map(|mut response| {
        if started.overage {
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

/// The `chat.completion` object of a whole answer.
fn completion(id: &str, created: i64, answer: answer::Answer) -> ChatCompletion {
    let calls = answer
        .calls
        .into_iter()
        .map(|call| ResponseToolCall {
            id: call.id,
            kind: "function",
            function: FunctionCall {
                name: call.name,
                arguments: call.arguments,
            },
        })
        .collect();
    let mut completion = ChatCompletion::new(
        id.to_string(),
        created,
        answer.model,
        answer.text,
        answer.finish.reason,
        answer.finish.usage,
    )
    .with_tool_calls(calls);
    if !answer.reasoning.is_empty()
        && let Some(choice) = completion.choices.first_mut()
    {
        choice.message.reasoning_content = Some(answer.reasoning);
    }
    completion
}
