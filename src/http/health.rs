//! `GET /health`: liveness and what the daemon knows, without starting any model request.

use std::sync::atomic::Ordering;

use hyper::Response;
use serde_json::json;

use super::{AppState, Body, Live, respond};
use crate::claude::locate::Located;
use crate::config::AuthMode;

pub fn health(state: &AppState, live: &Live) -> Response<Body> {
    live.backend.usage_wanted();
    let cli = live.backend.cli_state();
    let (found, path) = match &cli.located {
        Located::Found(path) => (true, Some(path.display().to_string())),
        Located::Missing { .. } => (false, None),
    };
    let auth_mode = match live.settings.auth_mode {
        AuthMode::Subscription => "subscription",
        AuthMode::ApiKey => "api-key",
    };
    let source = crate::login::auth_source(&live.settings);
    let now = crate::login::clock::now();
    let mut auth = json!({"source": source.kind()});
    if let crate::login::AuthSource::StoredToken { path, token } = &source {
        auth["token_file"] = json!(path.display().to_string());
        auth["expires_at"] = json!(token.expires_at);
        auth["days_left"] = json!(token.days_left(now));
    }
    if let Some(warning) = source.expiry_warning(now) {
        auth["warning"] = json!(warning);
    }
    let body = json!({
        "status": if found { "ok" } else { "degraded" },
        "version": crate::VERSION,
        "backend": "claude-cli",
        "cli": {
            "found": found,
            "path": path,
            "version": cli.version,
        },
        "auth_mode": auth_mode,
        "auth": auth,
        "uptime_secs": state.started.elapsed().as_secs(),
        "in_flight": live.backend.answering(),
        "queued": live.backend.limiter.queued(),
        "max_concurrent": live.backend.limiter.max_concurrent(),
        "slots_held": live.backend.limiter.running(),
        "warm": live.backend.pool.len(),
        "live_conversations": live.backend.live.len(),
        "parked_tool_calls": live.backend.live.parked(),
        "served": {
            "cold": live.backend.served_cold.load(Ordering::Relaxed),
            "warm": live.backend.served_warm.load(Ordering::Relaxed),
            "live": live.backend.served_live.load(Ordering::Relaxed),
        },
        "client_auth": if live.api_key.is_some() { "api-key" } else { "none" },
        "listeners": state
            .listener_addrs()
            .into_iter()
            .map(crate::net::url_of)
            .collect::<Vec<_>>(),
        "rejected_connections": state.filter.rejected(),
        "connections": {
            "open": state.connections.open.load(Ordering::SeqCst),
            "max": state.connections.max.load(Ordering::SeqCst),
            "refused": state.connections.refused.load(Ordering::Relaxed),
            "timed_out": state.connections.timed_out.load(Ordering::Relaxed),
        },
        "body_bytes_reading": state.body_budget.used(),
        "quota": quota_json(
            &live.backend.quota.snapshot(),
            source.kind(),
            live.settings.quota_refresh_secs,
            crate::clock::now(),
        ),
    });
    respond::ok_json(&body)
}

/// The quota as /health shows it: each window with its reset also as "in N seconds" and
/// where its numbers came from, the plan and its extra-usage spend, whether this login can
/// see its windows (and the fix when not), and how fresh the numbers are.
pub fn quota_json(
    snapshot: &crate::quota::QuotaSnapshot,
    auth_kind: &str,
    refresh_secs: u64,
    now: i64,
) -> serde_json::Value {
    use crate::quota;
    let windows: Vec<serde_json::Value> = snapshot
        .windows
        .iter()
        .map(|w| {
            json!({
                "window": w.window,
                "model": w.model,
                "label": quota::window_label(&w.window, w.model.as_deref()),
                "utilization": w.utilization,
                "status": w.status,
                "resets_at": w.resets_at,
                "resets_in_secs": w.resets_at.map(|r| (r - now).max(0)),
                "seen_at": w.seen_at,
                "source": w.source,
            })
        })
        .collect();
    let plan = snapshot.plan.as_ref();
    let blind = quota::visibility::blind(auth_kind, plan);
    json!({
        "windows": windows,
        "status": snapshot.last.as_ref().map(|l| l.status.clone()),
        "representative": snapshot.last.as_ref().and_then(|l| l.representative.clone()),
        "using_overage": snapshot.last.as_ref().is_some_and(|l| l.using_overage),
        "overage_status": snapshot.last.as_ref().and_then(|l| l.overage_status.clone()),
        "seen_at": snapshot.last.as_ref().map(|l| l.seen_at),
        "subscription_type": plan.and_then(|p| p.subscription_type.clone()),
        "windows_visible": blind.is_none() && plan.is_some_and(|p| p.rate_limits_available),
        "blind": blind,
        "extra_usage": plan.and_then(|p| p.extra_usage.as_ref()).map(|extra| json!({
            "is_enabled": extra.is_enabled,
            "utilization": extra.utilization,
            "used_credits": extra.used_credits,
            "monthly_limit": extra.monthly_limit,
            "currency": extra.currency,
            "text": quota::extra_usage_text(extra),
        })),
        "usage_check": {
            "refresh_secs": refresh_secs,
            "asked_at": snapshot.checks.asked_at,
            "answered_at": snapshot.checks.answered_at,
            "asked": snapshot.checks.asked,
            "error": snapshot.checks.error,
            "text": quota::visibility::freshness(snapshot, refresh_secs, now),
        },
    })
}
