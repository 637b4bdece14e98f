//! `POST /v1/responses` (the OpenAI Responses API) on the same runs as chat completions:
//! the body parsed by [`crate::responses`] (a `previous_response_id` continues a kept
//! conversation), one CLI run, then one `response` object or the Responses API's event
//! stream ([`super::responses_sse`]). With `store` (the default) the answer is kept in
//! memory for `previous_response_id`, for `GET` / `DELETE /v1/responses/{id}` and for
//! `GET /v1/responses/{id}/input_items`.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::answer;
use super::request_log::RequestLog;
use super::respond::Dialect;
use super::responses_sse::{Keep, ResponsesWriter};
use super::sse::{self, Timing};
use super::{AppState, Body, Live, respond, run};
use crate::openai::{ApiError, ErrorKind};
use crate::responses::{self, Echo, ListQuery, ResponsesMeta, Status, StoreLimits};

/// The error shape of this endpoint.
const DIALECT: Dialect = Dialect::OpenAi;
/// The endpoint label in logs and metrics.
const ENDPOINT: &str = "responses";

pub async fn create(state: &AppState, live: &Live, request: Request<Incoming>) -> Response<Body> {
    let id = format!("resp_{}", uuid::Uuid::new_v4().simple());
    let mut log = RequestLog::new(id.clone(), ENDPOINT, state.recent.clone());
    let result = answer(state, live, request, &id, &mut log).await;
    run::reply(result, &mut log, &id, DIALECT)
}

/// `GET /v1/responses/{id}`: a kept response object, as it was given.
pub fn retrieve(state: &AppState, live: &Live, id: &str) -> Response<Body> {
    match state.responses.response(id, kept_for(live)) {
        Some(response) => respond::ok_json(&response),
        None => respond::error_in(DIALECT, &not_kept(id)),
    }
}

/// `DELETE /v1/responses/{id}`: forgets a kept response (it can no longer be continued).
pub fn delete(state: &AppState, live: &Live, id: &str) -> Response<Body> {
    if state.responses.remove(id, kept_for(live)) {
        respond::ok_json(&serde_json::json!({"id": id, "object": "response", "deleted": true}))
    } else {
        respond::error_in(DIALECT, &not_kept(id))
    }
}

/// `GET /v1/responses/{id}/input_items`: the kept response's own input items, a page at a
/// time.
pub fn input_items(state: &AppState, live: &Live, id: &str, query: Option<&str>) -> Response<Body> {
    let listed = ListQuery::parse(query).and_then(|query| {
        state
            .responses
            .with_input_items(id, kept_for(live), |items| {
                responses::input_items_page(items, &query)
            })
            .unwrap_or_else(|| Err(not_kept(id)))
    });
    match listed {
        Ok(page) => respond::ok_json(&page),
        Err(error) => respond::error_in(DIALECT, &error),
    }
}

fn kept_for(live: &Live) -> Duration {
    Duration::from_secs(live.settings.responses_kept_secs)
}

fn store_limits(live: &Live) -> StoreLimits {
    StoreLimits {
        count: live.settings.responses_kept,
        bytes: usize::try_from(live.settings.responses_kept_mb.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
    }
}

fn not_kept(id: &str) -> ApiError {
    ApiError::new(
        ErrorKind::ResponseNotFound,
        format!(
            "Response with id '{id}' not found. This proxy keeps the last `responses_kept` \
             answers stored with `store: true` (within `responses_kept_mb`) for \
             `responses_kept_secs` seconds, in memory (a restart forgets them)."
        ),
    )
}

async fn answer(
    state: &AppState,
    live: &Live,
    request: Request<Incoming>,
    id: &str,
    log: &mut RequestLog,
) -> Result<Response<Body>, ApiError> {
    let max_age = kept_for(live);
    let mut meta = ResponsesMeta::default();
    let started = run::start(state, live, request, log, |body| {
        let request = responses::parse_responses_request(body, |previous| {
            state.responses.get(previous, max_age)
        })?;
        meta = request.meta;
        Ok(request.chat)
    })
    .await?;
    let mut request = meta;
    let run::Started { chat, rx, overage } = started;
    let (tools, tool_choice) = Echo::tools_of(&chat.tools, &request.custom_tools);
    let echo = Echo {
        id: id.to_string(),
        created_at: run::unix_now(),
        model: chat.model.clone(),
        instructions: request.instructions.clone(),
        previous_response_id: request.previous_response_id.clone(),
        store: request.store,
        metadata: request.metadata.clone(),
        max_output_tokens: chat.controls.max_tokens,
        tools,
        tool_choice,
        parallel_tool_calls: chat.tools.parallel,
        text_format: Echo::format_of(&chat.controls.format),
        reasoning_effort: chat.controls.effort.map(|e| e.as_arg()),
        custom_tools: std::mem::take(&mut request.custom_tools),
    };
    let keep = (request.store && live.settings.responses_kept > 0).then(|| Keep {
        store: state.responses.clone(),
        limits: store_limits(live),
        conversation: request.conversation(&chat),
        input_items: responses::with_ids(std::mem::take(&mut request.input_items)),
    });
    let mut log = log.take();
    let response = if chat.stream {
        let timing = Timing::of(&live.settings);
        sse::respond(rx, ResponsesWriter::new(echo, keep), timing, log).await
    } else {
        let answer = answer::collect(rx, chat.model.clone(), &mut log).await?;
        let echo = Echo {
            model: answer.model.clone(),
            ..echo
        };
        let output = responses::output_items(
            &answer.reasoning,
            &answer.text,
            &answer.calls,
            &echo.custom_tools,
        );
        let body = responses::response(
            &echo,
            Status::of(answer.finish.reason),
            &output,
            Some(&answer.finish.usage),
            None,
        );
        if let Some(keep) = keep {
            keep.answered(id, answer.text.clone(), answer.calls.clone(), body.clone());
        }
        let mut response = respond::ok_json(&body);
        if answer.overage {
            respond::mark_overage(&mut response);
        }
        Ok(response)
    };
    run::decorate(response, overage, &chat.controls.ignored)
}
