//! The quota as Prometheus gauges, set when `/metrics` is scraped (see `crate::telemetry`).
//!
//! Labels are bounded: `window` is a short identifier (the book drops anything else and
//! keeps at most a couple dozen windows), `model` (only on `model_scoped` windows) is the
//! server's label, of which at most [`MAX_MODEL_LABELS`] distinct values are ever exported,
//! and `subscription_type` is one of a fixed list.

use std::collections::BTreeSet;
use std::sync::Mutex;

use metrics::{describe_gauge, gauge};

use super::{QuotaSnapshot, WindowState};

/// Distinct `model` label values exported over the daemon's lifetime.
const MAX_MODEL_LABELS: usize = 8;

/// The model labels exported so far.
static MODEL_LABELS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Registers the help texts.
pub fn describe() {
    describe_gauge!(
        "claude_max_proxy_quota_utilization",
        "Subscription window utilization as last reported (0..1)"
    );
    describe_gauge!(
        "claude_max_proxy_quota_resets_at_seconds",
        "When the subscription window resets (Unix time)"
    );
    describe_gauge!(
        "claude_max_proxy_quota_rejected",
        "1 while the window's last report said rejected"
    );
    describe_gauge!(
        "claude_max_proxy_quota_reported_at_seconds",
        "When the window's numbers were reported (Unix time; a rate_limit_event or the CLI's get_usage)"
    );
    describe_gauge!(
        "claude_max_proxy_plan_info",
        "1, labelled with the plan the CLI reports (subscription_type)"
    );
    describe_gauge!(
        "claude_max_proxy_quota_windows_visible",
        "1 when the CLI's login can see the plan's windows (get_usage rate_limits_available)"
    );
    describe_gauge!(
        "claude_max_proxy_usage_checked_at_seconds",
        "When the CLI last answered get_usage (Unix time)"
    );
    describe_gauge!(
        "claude_max_proxy_extra_usage_enabled",
        "1 when extra usage can pay for requests"
    );
    describe_gauge!(
        "claude_max_proxy_extra_usage_utilization",
        "Extra-usage spend of the billing period against its monthly limit (0..1)"
    );
    describe_gauge!(
        "claude_max_proxy_extra_usage_used_credits",
        "Extra usage spent this billing period, in minor units of the plan's currency (cents for USD)"
    );
    describe_gauge!(
        "claude_max_proxy_extra_usage_monthly_limit",
        "The monthly extra-usage limit, in minor units of the plan's currency"
    );
}

/// Sets every quota gauge from `quota`.
pub fn set(quota: &QuotaSnapshot) {
    for window in &quota.windows {
        let Some(labels) = labels(window) else {
            continue;
        };
        if let Some(utilization) = window.utilization {
            gauge!("claude_max_proxy_quota_utilization", &labels).set(utilization);
        }
        if let Some(reset) = window.resets_at {
            gauge!("claude_max_proxy_quota_resets_at_seconds", &labels).set(reset as f64);
        }
        let rejected = if window.status.as_deref() == Some("rejected") {
            1.0
        } else {
            0.0
        };
        gauge!("claude_max_proxy_quota_rejected", &labels).set(rejected);
        gauge!("claude_max_proxy_quota_reported_at_seconds", &labels).set(window.seen_at as f64);
    }
    let Some(plan) = &quota.plan else {
        return;
    };
    let plan_label: &'static str = match plan.subscription_type.as_deref() {
        Some("pro") => "pro",
        Some("max") => "max",
        Some("team") => "team",
        Some("enterprise") => "enterprise",
        Some(_) => "other",
        None => "none",
    };
    gauge!("claude_max_proxy_plan_info", "subscription_type" => plan_label).set(1.0);
    gauge!("claude_max_proxy_quota_windows_visible").set(if plan.rate_limits_available {
        1.0
    } else {
        0.0
    });
    gauge!("claude_max_proxy_usage_checked_at_seconds").set(plan.answered_at as f64);
    if let Some(extra) = &plan.extra_usage {
        gauge!("claude_max_proxy_extra_usage_enabled").set(if extra.is_enabled {
            1.0
        } else {
            0.0
        });
        if let Some(utilization) = extra.utilization {
            gauge!("claude_max_proxy_extra_usage_utilization").set(utilization);
        }
        if let Some(used) = extra.used_credits {
            gauge!("claude_max_proxy_extra_usage_used_credits").set(used);
        }
        if let Some(limit) = extra.monthly_limit {
            gauge!("claude_max_proxy_extra_usage_monthly_limit").set(limit);
        }
    }
}

/// The labels of one window's series; `None` when its model label is over the bound.
fn labels(window: &WindowState) -> Option<Vec<(&'static str, String)>> {
    let mut labels = vec![("window", window.window.clone())];
    if let Some(model) = &window.model {
        let mut known = match MODEL_LABELS.lock() {
            Ok(known) => known,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !known.contains(model) {
            if known.len() >= MAX_MODEL_LABELS {
                return None;
            }
            known.insert(model.clone());
        }
        labels.push(("model", model.clone()));
    }
    Some(labels)
}
