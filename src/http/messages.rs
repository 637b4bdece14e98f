//! `POST /v1/messages` (the Anthropic Messages API) on the same runs as chat completions:
//! the body parsed by [`crate::anthropic`], one CLI run, then one `message` object or the
//! Messages API's event stream ([`super::messages_sse`]); every error in the Messages
//! API's shape. (`POST /v1/messages/count_tokens` is [`super::count_tokens`].)

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::answer;
use super::messages_sse::MessagesWriter;
use super::request_log::RequestLog;
use super::respond::Dialect;
use super::sse::{self, Timing};
use super::{AppState, Body, Live, respond, run};
use crate::anthropic;
use crate::openai::ApiError;

/// The error shape of this endpoint.
const DIALECT: Dialect = Dialect::Anthropic;
/// The endpoint label in logs and metrics.
const ENDPOINT: &str = "messages";

pub async fn create(state: &AppState, live: &Live, request: Request<Incoming>) -> Response<Body> {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
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
    let started = run::start(state, live, request, log, anthropic::parse_messages_request).await?;
    let run::Started { chat, rx, overage } = started;
    let mut log = log.take();
    let response = if chat.stream {
        let writer = MessagesWriter::new(id.to_string(), chat.model.clone());
        let timing = Timing::of(&live.settings);
        sse::respond(rx, writer, timing, log).await
    } else {
        let answer = answer::collect(rx, chat.model.clone(), &mut log).await?;
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
    run::decorate(response, overage, &chat.controls.ignored)
}
