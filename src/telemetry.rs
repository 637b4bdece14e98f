//! Prometheus metrics: what `GET /metrics` exposes, recorded with the `metrics` facade and
//! rendered by `metrics-exporter-prometheus` (classic text exposition).
//!
//! Events are recorded where they happen (a finished request, a CLI result, a warm-pool
//! lookup); states (processes, queue, quota, connections, the daemon's memory and open
//! descriptors) are read when a scrape arrives, so the request path pays nothing for them.
//! The quota's gauges are `crate::quota::gauges`.
//! Without an installed recorder (unit tests, other commands) every call is a no-op.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::claude::events::ResultEvent;
use crate::quota::QuotaSnapshot;

/// Histogram buckets, in seconds, for time to first token and request duration.
const BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0,
];

/// Installs the process-wide recorder; `None` (metrics off) if one is installed already.
pub fn install() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .ok()?
        .install_recorder()
        .ok()?;
    describe();
    Some(handle)
}

fn describe() {
    describe_counter!(
        "claude_max_proxy_requests_total",
        "API requests by endpoint, model, HTTP status and outcome (ok, error, rejected, client_gone)"
    );
    describe_histogram!(
        "claude_max_proxy_time_to_first_token_seconds",
        metrics::Unit::Seconds,
        "From request arrival to the first content"
    );
    describe_histogram!(
        "claude_max_proxy_request_duration_seconds",
        metrics::Unit::Seconds,
        "From request arrival to its end"
    );
    describe_gauge!(
        "claude_max_proxy_cli_processes",
        "claude CLI processes running"
    );
    describe_gauge!(
        "claude_max_proxy_queued_requests",
        "Requests waiting for a CLI slot"
    );
    describe_gauge!(
        "claude_max_proxy_warm_processes",
        "Pre-started CLI processes waiting"
    );
    describe_counter!(
        "claude_max_proxy_warm_pool_hits_total",
        "Requests served by a warm CLI"
    );
    describe_counter!(
        "claude_max_proxy_warm_pool_misses_total",
        "Requests that started a CLI cold while the warm pool was on"
    );
    describe_counter!(
        "claude_max_proxy_tokens_total",
        "Tokens by model and kind (input, output, cache_read, cache_creation)"
    );
    crate::quota::gauges::describe();
    describe_gauge!(
        "claude_max_proxy_api_equivalent_cost_usd",
        "API-price equivalent of what was served since start (the CLI's total_cost_usd summed)"
    );
    describe_counter!(
        "claude_max_proxy_rejected_connections_total",
        "Connections refused by the source filter or over max_connections"
    );
    describe_gauge!(
        "process_resident_memory_bytes",
        "The daemon's resident memory"
    );
    describe_gauge!("process_open_fds", "The daemon's open file descriptors");
}

/// One finished API request. `model` is a served model id or `unknown`, never a name a
/// client made up: labels live as long as the daemon.
pub fn request(
    endpoint: &'static str,
    model: &str,
    status: u16,
    outcome: &'static str,
    first_token: Option<Duration>,
    duration: Duration,
) {
    counter!(
        "claude_max_proxy_requests_total",
        "endpoint" => endpoint,
        "model" => model.to_string(),
        "status" => status.to_string(),
        "outcome" => outcome
    )
    .increment(1);
    if let Some(ttft) = first_token {
        histogram!("claude_max_proxy_time_to_first_token_seconds", "endpoint" => endpoint)
            .record(ttft.as_secs_f64());
    }
    histogram!("claude_max_proxy_request_duration_seconds", "endpoint" => endpoint)
        .record(duration.as_secs_f64());
}

/// The `model` label of tokens the CLI reports for a model the registry does not know.
const OTHER_MODEL: &str = "other";

/// Tokens and the API-price equivalent of one CLI run.
/// `cost_reported` is what the same process reported before (its `total_cost_usd` counts
/// the whole process, which a kept process spends over several requests); it is updated.
pub fn usage(result: &ResultEvent, cost_reported: &mut f64) {
    for usage in &result.model_usage {
        // The CLI names the model that did the work; as a label it is the registry's id for
        // it (a bounded set), never the string as given (a made-up date suffix, say).
        let model =
            crate::models::registry::lookup(&usage.model).map_or(OTHER_MODEL, |info| info.id);
        for (kind, tokens) in [
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_input_tokens),
            ("cache_creation", usage.cache_creation_input_tokens),
        ] {
            counter!("claude_max_proxy_tokens_total", "model" => model, "kind" => kind)
                .increment(tokens);
        }
    }
    if let Some(cost) = result.cost_usd.filter(|c| c.is_finite() && *c > 0.0) {
        let step = cost - *cost_reported;
        if step > 0.0 {
            gauge!("claude_max_proxy_api_equivalent_cost_usd").increment(step);
        }
        *cost_reported = cost;
    }
}

/// One warm-pool lookup (only while the pool is on).
pub fn warm_pool(hit: bool) {
    if hit {
        counter!("claude_max_proxy_warm_pool_hits_total").increment(1);
    } else {
        counter!("claude_max_proxy_warm_pool_misses_total").increment(1);
    }
}

/// The states a scrape reads.
#[derive(Debug, Default)]
pub struct Scrape {
    pub cli_processes: usize,
    pub queued: usize,
    pub warm: usize,
    pub quota: QuotaSnapshot,
    pub rejected_by_filter: u64,
    pub refused_over_cap: u64,
}

/// Sets the state gauges and renders the exposition.
pub fn render(handle: &PrometheusHandle, scrape: &Scrape) -> String {
    gauge!("claude_max_proxy_cli_processes").set(scrape.cli_processes as f64);
    gauge!("claude_max_proxy_queued_requests").set(scrape.queued as f64);
    gauge!("claude_max_proxy_warm_processes").set(scrape.warm as f64);
    crate::quota::gauges::set(&scrape.quota);
    counter!("claude_max_proxy_rejected_connections_total", "reason" => "source_filter")
        .absolute(scrape.rejected_by_filter);
    counter!("claude_max_proxy_rejected_connections_total", "reason" => "connection_cap")
        .absolute(scrape.refused_over_cap);
    if let Some(rss) = resident_bytes() {
        gauge!("process_resident_memory_bytes").set(rss as f64);
    }
    if let Some(fds) = open_fds() {
        gauge!("process_open_fds").set(fds as f64);
    }
    handle.render()
}

/// Resident memory from /proc/self/statm (pages × page size).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// Open descriptors: the entries of /proc/self/fd.
fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}
