//! `GET /metrics`: the Prometheus exposition (see [`crate::telemetry`]). On by default on
//! the same listeners as the API (`metrics = false` turns it off); open like /health unless
//! `metrics_requires_key = true`.

use std::sync::atomic::Ordering;

use hyper::Response;
use hyper::header::{CONTENT_TYPE, HeaderValue};

use super::{AppState, Body, Live, respond};
use crate::conversation::{ApiError, ErrorKind};
use crate::telemetry::{self, Scrape};

pub fn metrics(state: &AppState, live: &Live) -> Response<Body> {
    let Some(handle) = state.metrics.as_ref().filter(|_| live.settings.metrics) else {
        return respond::error(&ApiError::new(
            ErrorKind::NotFound,
            "Metrics are off on this proxy (`metrics = false` in the config).",
        ));
    };
    live.backend.usage_wanted();
    let scrape = Scrape {
        cli_processes: live.backend.limiter.running(),
        queued: live.backend.limiter.queued(),
        warm: live.backend.pool.len(),
        quota: live.backend.quota.snapshot(),
        rejected_by_filter: state.filter.rejected(),
        refused_over_cap: state.connections.refused.load(Ordering::Relaxed),
    };
    let mut response = Response::new(respond::full(telemetry::render(handle, &scrape)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
