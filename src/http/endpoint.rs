//! The one handler of every generation endpoint (`crate::api`'s [`Endpoint`]s): start the
//! CLI run ([`super::run`]), then answer as the API's event stream ([`super::sse`]) or as its
//! whole answer — built by the same writer from the same outputs ([`super::answer`]) — with
//! the run's headers (`x-request-id`, `x-claude-overage`, `x-ignored-params`); every error in
//! the API's shape; one log line per request, however it ends.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::request_log::RequestLog;
use super::sse::{self, Timing};
use super::{AppState, Body, Generation, answer, respond, run};
use crate::api::Endpoint;
use crate::api::responses::{Responses, StoreLimits};
use crate::conversation::ApiError;

/// Serves one request of `endpoint`.
pub async fn serve<E: Endpoint>(
    state: &AppState,
    current: &Generation,
    request: Request<Incoming>,
    endpoint: E,
) -> Response<Body> {
    let id = format!("{}{}", E::ID_PREFIX, uuid::Uuid::new_v4().simple());
    let mut log = RequestLog::new(id.clone(), E::NAME, state.recent.clone());
    let result = answer(state, current, request, endpoint, &id, &mut log).await;
    run::reply(result, &mut log, &id, E::DIALECT)
}

async fn answer<E: Endpoint>(
    state: &AppState,
    current: &Generation,
    request: Request<Incoming>,
    mut endpoint: E,
    id: &str,
    log: &mut RequestLog,
) -> Result<Response<Body>, ApiError> {
    let started = run::start(state, current, request, log, |body| endpoint.parse(body)).await?;
    let run::Started {
        chat,
        rx,
        overage_predicted,
    } = started;
    let mut log = log.take();
    let writer = endpoint.writer(id, run::unix_now(), &chat);
    let response = if chat.stream {
        sse::respond(rx, writer, Timing::of(&current.settings), log).await
    } else {
        let whole = answer::whole(rx, writer, &mut log).await?;
        let mut response = respond::ok_json(&whole.body);
        if whole.billed_as_overage {
            respond::mark_overage(&mut response);
        }
        Ok(response)
    };
    run::decorate(response, overage_predicted, &chat.controls.ignored)
}

/// The Responses endpoint with the daemon's store and its settings.
pub fn responses(state: &AppState, current: &Generation) -> Responses {
    Responses::new(
        state.responses.clone(),
        kept_for(current),
        store_limits(current),
    )
}

/// How long a kept response may be read or continued (`responses_kept_secs`).
pub fn kept_for(current: &Generation) -> Duration {
    Duration::from_secs(current.settings.responses_kept_secs)
}

fn store_limits(current: &Generation) -> StoreLimits {
    StoreLimits {
        count: current.settings.responses_kept,
        bytes: usize::try_from(current.settings.responses_kept_mb.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
    }
}

/// Serves a read of the kept responses in the Responses API's shape.
pub fn kept(result: Result<serde_json::Value, ApiError>) -> Response<Body> {
    match result {
        Ok(value) => respond::ok_json(&value),
        Err(error) => respond::error_in(<Responses as Endpoint>::DIALECT, &error),
    }
}
