//! `GET /`: gathers what the status page shows (the same facts as /health, the quota and
//! the last requests) and renders it with [`super::status_page`]. Same access rules as
//! /health. A read asks for fresh usage numbers in the background when they are old
//! (`quota_refresh_secs`); the page shows what is known now.

use hyper::Response;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};

use super::status_page::{self, ExtraUsageRow, QuotaRow, RecentRow, StatusView};
use crate::claude::locate::Located;
use crate::clock;
use crate::http::recent::RequestRecord;
use crate::http::{AppState, Body, Generation, respond};
use crate::quota::{self, QuotaSnapshot, Report};

/// How often the page reloads itself.
const REFRESH_SECS: u64 = 5;

pub fn page(state: &AppState, current: &Generation) -> Response<Body> {
    current.backend.usage_wanted();
    let view = view(state, current, clock::now());
    let mut response = Response::new(respond::full(status_page::render(&view)));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn view(state: &AppState, current: &Generation, now: i64) -> StatusView {
    let cli = current.backend.cli_state();
    let (cli_path, status) = match &cli.located {
        Located::Found(path) => (Some(path.display().to_string()), "ok"),
        Located::Missing { .. } => (None, "degraded"),
    };
    let listeners = state.listeners();
    let source = crate::login::auth_source_at(&current.settings, current.token_path.as_deref());
    let quota = current.backend.quota.snapshot();
    StatusView {
        version: crate::VERSION.to_string(),
        status: status.to_string(),
        uptime_secs: state.started.elapsed().as_secs(),
        container_url: listeners
            .addrs
            .first()
            .map(|a| format!("http://host.docker.internal:{}", a.port())),
        listeners: listeners.urls.clone(),
        cli_path,
        cli_version: cli.version,
        auth_source: source.kind().replace('-', " "),
        auth_warning: source.expiry_warning(now),
        in_flight: current.backend.answering(),
        queued: current.backend.limiter.queued(),
        max_concurrent: current.backend.limiter.max_concurrent(),
        warm: current.backend.pool.len(),
        live: current.backend.live.len(),
        parked: current.backend.live.parked(),
        using_overage: quota.last.as_ref().is_some_and(|l| l.using_overage),
        quota: quota_rows(&quota, now),
        plan: quota
            .plan
            .as_ref()
            .and_then(|p| p.subscription_type.as_deref())
            .map(quota::plan_name),
        quota_blind: quota::visibility::blind(source.kind(), quota.plan.as_ref())
            .map(|b| (b.reason, b.fix)),
        extra_usage: quota
            .plan
            .as_ref()
            .and_then(|p| p.extra_usage.as_ref())
            .map(|extra| ExtraUsageRow {
                utilization: extra.utilization,
                spent: quota::extra_usage_text(extra),
            }),
        quota_freshness: Some(quota::visibility::freshness(
            &quota,
            current.settings.quota_refresh_secs,
            now,
        )),
        recent: state
            .recent
            .newest_first()
            .iter()
            .map(|r| recent_row(r, now))
            .collect(),
        refresh_secs: REFRESH_SECS,
    }
}

fn quota_rows(quota: &QuotaSnapshot, now: i64) -> Vec<QuotaRow> {
    quota
        .windows
        .iter()
        .map(|w| QuotaRow {
            window: w.window.clone(),
            model: w.model.clone(),
            utilization: w.utilization,
            status: w.status.clone(),
            resets: w.resets_at.map(|reset| clock::local_moment(reset, now)),
            seen: format!(
                "{} ago {}",
                clock::span(now - w.seen_at),
                match w.source {
                    Report::GetUsage => "by the usage check",
                    Report::RateLimitEvent => "with an answer",
                }
            ),
        })
        .collect()
}

fn recent_row(record: &RequestRecord, now: i64) -> RecentRow {
    RecentRow {
        id: record.id.clone(),
        endpoint: record.endpoint.to_string(),
        model: record.model.clone(),
        status: record.status,
        outcome: record.outcome.to_string(),
        served: match (record.served, record.overage) {
            (how, true) if !how.is_empty() => format!("{how}, extra usage"),
            (_, true) => "extra usage".to_string(),
            (how, false) => how.to_string(),
        },
        ttft_ms: record.ttft_ms,
        duration_ms: record.duration_ms,
        prompt_tokens: record.prompt_tokens,
        completion_tokens: record.completion_tokens,
        at: if now - record.ended_at < clock::DAY {
            clock::local_time_of_day(record.ended_at)
        } else {
            clock::local_date_time(record.ended_at)
        },
    }
}
