//! `POST /v1/chat/completions`: start a CLI run ([`super::run`]), then answer as one
//! `chat.completion` or as an SSE stream of chunks ([`super::chat_sse`]). One log line per
//! request, however it ends.

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::answer;
use super::chat_sse::ChatWriter;
use super::request_log::RequestLog;
use super::respond::Dialect;
use super::sse::{self, Timing};
use super::{AppState, Body, Live, respond, run};
use crate::openai::{ApiError, ChatCompletion, FunctionCall, ResponseToolCall, parse_chat_request};

/// The error shape of this endpoint.
const DIALECT: Dialect = Dialect::OpenAi;
/// The endpoint label in logs and metrics.
const ENDPOINT: &str = "chat_completions";

pub async fn completions(
    state: &AppState,
    live: &Live,
    request: Request<Incoming>,
) -> Response<Body> {
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let mut log = RequestLog::new(id.clone(), ENDPOINT, state.recent.clone());
    let result = answer(state, live, request, &id, &mut log).await;
    run::reply(result, &mut log, &id, DIALECT)
}

async fn answer(
    state: &AppState,
    live: &Live,
    request: Request<Incoming>,
    id: &str,
    log: &mut RequestLog,
) -> Result<Response<Body>, ApiError> {
    let started = run::start(state, live, request, log, parse_chat_request).await?;
    let run::Started { chat, rx, overage } = started;
    let mut log = log.take();
    let created = run::unix_now();
    let response = if chat.stream {
        let writer = ChatWriter::new(
            id.to_string(),
            created,
            chat.model.clone(),
            chat.include_usage,
        );
        let timing = Timing::of(&live.settings);
        sse::respond(rx, writer, timing, log).await
    } else {
        let answer = answer::collect(rx, chat.model.clone(), &mut log).await?;
        let overage = answer.overage;
        let mut response = respond::ok_json(&completion(id, created, answer));
        if overage {
            respond::mark_overage(&mut response);
        }
        Ok(response)
    };
    run::decorate(response, overage, &chat.controls.ignored)
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
