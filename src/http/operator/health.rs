//! `GET /health`: liveness and what the daemon knows, without starting any model request.
//!
//! The answer is serialized straight from borrowed, typed structs (no `serde_json::Value`
//! tree: building and dropping one was most of a /health request's cost). Its `quota` part,
//! the largest and the slowest to build, is kept serialized until the quota book changes or
//! the second turns ([`QuotaJsonCache`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use hyper::Response;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::claude::locate::Located;
use crate::config::AuthMode;
use crate::http::{AppState, Body, Generation, respond};
use crate::quota::{self, QuotaSnapshot, Report, visibility::Blind};

pub fn health(state: &AppState, current: &Generation) -> Response<Body> {
    current.backend.usage_wanted();
    let cli = current.backend.cli_state();
    let (found, path) = match &cli.located {
        Located::Found(path) => (true, Some(path.display().to_string())),
        Located::Missing { .. } => (false, None),
    };
    let source = crate::login::auth_source_at(&current.settings, current.token_path.as_deref());
    let now = crate::login::clock::now();
    let stored = match &source {
        crate::login::AuthSource::StoredToken { path, token } => Some(StoredTokenJson {
            token_file: path.display().to_string(),
            expires_at: token.expires_at,
            days_left: token.days_left(now),
        }),
        _ => None,
    };
    let quota = state.health_quota.json(
        &current.backend.quota,
        source.kind(),
        current.settings.quota_refresh_secs,
        crate::clock::now(),
    );
    let listeners = state.listeners();
    let body = HealthJson {
        status: if found { "ok" } else { "degraded" },
        version: crate::VERSION,
        backend: "claude-cli",
        cli: CliJson {
            found,
            path: path.as_deref(),
            version: cli.version.as_deref(),
        },
        auth_mode: match current.settings.auth_mode {
            AuthMode::Subscription => "subscription",
            AuthMode::ApiKey => "api-key",
        },
        auth: AuthJson {
            source: source.kind(),
            stored,
            warning: source.expiry_warning(now),
        },
        uptime_secs: state.started.elapsed().as_secs(),
        in_flight: current.backend.answering(),
        queued: current.backend.limiter.queued(),
        max_concurrent: current.backend.limiter.max_concurrent(),
        slots_held: current.backend.limiter.running(),
        warm: current.backend.pool.len(),
        live_conversations: current.backend.live.len(),
        parked_tool_calls: current.backend.live.parked(),
        served: ServedJson {
            cold: current.backend.served_cold.load(Ordering::Relaxed),
            warm: current.backend.served_warm.load(Ordering::Relaxed),
            live: current.backend.served_live.load(Ordering::Relaxed),
        },
        client_auth: if current.api_key.is_some() {
            "api-key"
        } else {
            "none"
        },
        listeners: &listeners.urls,
        rejected_connections: state.filter.rejected(),
        connections: ConnectionsJson {
            open: state.connections.open.load(Ordering::SeqCst),
            max: state.connections.max.load(Ordering::SeqCst),
            refused: state.connections.refused.load(Ordering::Relaxed),
            timed_out: state.connections.timed_out.load(Ordering::Relaxed),
        },
        body_bytes_reading: state.body_budget.used(),
        quota: &quota,
    };
    respond::ok_json(&body)
}

/// The /health answer.
#[derive(Serialize)]
struct HealthJson<'a> {
    /// `ok`, or `degraded` when the CLI is not found.
    status: &'static str,
    version: &'static str,
    backend: &'static str,
    cli: CliJson<'a>,
    auth_mode: &'static str,
    auth: AuthJson,
    uptime_secs: u64,
    in_flight: usize,
    queued: usize,
    max_concurrent: usize,
    slots_held: usize,
    warm: usize,
    live_conversations: usize,
    parked_tool_calls: usize,
    served: ServedJson,
    client_auth: &'static str,
    listeners: &'a [String],
    rejected_connections: u64,
    connections: ConnectionsJson,
    body_bytes_reading: usize,
    /// [`QuotaJson`], serialized.
    quota: &'a RawValue,
}

#[derive(Serialize)]
struct CliJson<'a> {
    found: bool,
    path: Option<&'a str>,
    version: Option<&'a str>,
}

/// The credentials in use; the stored token's fields only when it is the source.
#[derive(Serialize)]
struct AuthJson {
    source: &'static str,
    #[serde(flatten)]
    stored: Option<StoredTokenJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

#[derive(Serialize)]
struct StoredTokenJson {
    token_file: String,
    expires_at: Option<i64>,
    days_left: Option<i64>,
}

#[derive(Serialize)]
struct ServedJson {
    cold: u64,
    warm: u64,
    live: u64,
}

#[derive(Serialize)]
struct ConnectionsJson {
    open: usize,
    max: usize,
    refused: u64,
    timed_out: u64,
}

/// What a /health answer's `quota` was made from: the same inputs give the same text.
#[derive(Clone, Copy, Debug, PartialEq)]
struct QuotaInputs {
    book_version: u64,
    auth_kind: &'static str,
    refresh_secs: u64,
    /// Unix seconds (resets and ages are shown in whole seconds).
    now: i64,
}

/// /health's `quota`, serialized once per change of the book (or of the second) rather
/// than on every read: a monitor polling /health many times a second re-sends the same
/// text.
#[derive(Debug, Default)]
pub struct QuotaJsonCache {
    kept: Mutex<Option<(QuotaInputs, Arc<RawValue>)>>,
}

impl QuotaJsonCache {
    /// The `quota` part for these inputs, rendered again only when one of them changed.
    pub fn json(
        &self,
        book: &quota::QuotaBook,
        auth_kind: &'static str,
        refresh_secs: u64,
        now: i64,
    ) -> Arc<RawValue> {
        // Read before the snapshot: a change in between renders again next time.
        let inputs = QuotaInputs {
            book_version: book.version(),
            auth_kind,
            refresh_secs,
            now,
        };
        if let Ok(kept) = self.kept.lock()
            && let Some((key, json)) = kept.as_ref()
            && *key == inputs
        {
            return json.clone();
        }
        let snapshot = book.snapshot();
        let rendered = quota_json(&snapshot, auth_kind, refresh_secs, now);
        let json: Arc<RawValue> = match serde_json::value::to_raw_value(&rendered) {
            Ok(json) => Arc::from(json),
            Err(error) => {
                tracing::error!("could not serialize the quota for /health: {error}");
                return Arc::from(RawValue::NULL.to_owned());
            }
        };
        if let Ok(mut kept) = self.kept.lock() {
            *kept = Some((inputs, json.clone()));
        }
        json
    }
}

/// The quota as /health shows it.
#[derive(Serialize)]
struct QuotaJson<'a> {
    windows: Vec<WindowJson<'a>>,
    status: Option<&'a str>,
    representative: Option<&'a str>,
    using_overage: bool,
    overage_status: Option<&'a str>,
    seen_at: Option<i64>,
    subscription_type: Option<&'a str>,
    windows_visible: bool,
    blind: Option<Blind>,
    extra_usage: Option<ExtraUsageJson<'a>>,
    usage_check: UsageCheckJson<'a>,
}

#[derive(Serialize)]
struct WindowJson<'a> {
    window: &'a str,
    model: Option<&'a str>,
    label: String,
    utilization: Option<f64>,
    status: Option<&'a str>,
    resets_at: Option<i64>,
    resets_in_secs: Option<i64>,
    seen_at: i64,
    source: Report,
}

#[derive(Serialize)]
struct ExtraUsageJson<'a> {
    is_enabled: bool,
    utilization: Option<f64>,
    used_credits: Option<f64>,
    monthly_limit: Option<f64>,
    currency: Option<&'a str>,
    text: String,
}

#[derive(Serialize)]
struct UsageCheckJson<'a> {
    refresh_secs: u64,
    asked_at: Option<i64>,
    answered_at: Option<i64>,
    asked: u64,
    error: Option<&'a str>,
    text: String,
}

/// The quota as /health shows it: each window with its reset also as "in N seconds" and
/// where its numbers came from, the plan and its extra-usage spend, whether this login can
/// see its windows (and the fix when not), and how fresh the numbers are.
fn quota_json<'a>(
    snapshot: &'a QuotaSnapshot,
    auth_kind: &str,
    refresh_secs: u64,
    now: i64,
) -> QuotaJson<'a> {
    let windows = snapshot
        .windows
        .iter()
        .map(|w| WindowJson {
            window: &w.window,
            model: w.model.as_deref(),
            label: quota::window_label(&w.window, w.model.as_deref()),
            utilization: w.utilization,
            status: w.status.as_deref(),
            resets_at: w.resets_at,
            resets_in_secs: w.resets_at.map(|r| (r - now).max(0)),
            seen_at: w.seen_at,
            source: w.source,
        })
        .collect();
    let plan = snapshot.plan.as_ref();
    let last = snapshot.last.as_ref();
    let blind = quota::visibility::blind(auth_kind, plan);
    QuotaJson {
        windows,
        status: last.map(|l| l.status.as_str()),
        representative: last.and_then(|l| l.representative.as_deref()),
        using_overage: last.is_some_and(|l| l.using_overage),
        overage_status: last.and_then(|l| l.overage_status.as_deref()),
        seen_at: last.map(|l| l.seen_at),
        subscription_type: plan.and_then(|p| p.subscription_type.as_deref()),
        windows_visible: blind.is_none() && plan.is_some_and(|p| p.rate_limits_available),
        blind,
        extra_usage: plan
            .and_then(|p| p.extra_usage.as_ref())
            .map(|extra| ExtraUsageJson {
                is_enabled: extra.is_enabled,
                utilization: extra.utilization,
                used_credits: extra.used_credits,
                monthly_limit: extra.monthly_limit,
                currency: extra.currency.as_deref(),
                text: quota::extra_usage_text(extra),
            }),
        usage_check: UsageCheckJson {
            refresh_secs,
            asked_at: snapshot.checks.asked_at,
            answered_at: snapshot.checks.answered_at,
            asked: snapshot.checks.asked,
            error: snapshot.checks.error.as_deref(),
            text: quota::visibility::freshness(snapshot, refresh_secs, now),
        },
    }
}
