//! `GET /metrics`: the Prometheus exposition (see [`crate::telemetry`]). On by default on
//! the same listeners as the API (`metrics = false` turns it off); open like /health unless
//! `metrics_requires_key = true`.

use std::sync::atomic::Ordering;

use hyper::Response;
use hyper::header::{CONTENT_TYPE, HeaderValue};

use crate::conversation::{ApiError, ErrorKind};
use crate::http::{AppState, Body, Generation, respond};
use crate::telemetry::{self, Scrape};

pub fn metrics(state: &AppState, current: &Generation) -> Response<Body> {
    let Some(handle) = state.metrics.as_ref().filter(|_| current.settings.metrics) else {
        return respond::error(&ApiError::new(
            ErrorKind::NotFound,
            "Metrics are off on this proxy (`metrics = false` in the config).",
        ));
    };
    current.backend.usage_wanted();
    let scrape = Scrape {
        cli_processes: current.backend.limiter.running(),
        queued: current.backend.limiter.queued(),
        warm: current.backend.pool.len(),
        quota: current.backend.quota.snapshot(),
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
