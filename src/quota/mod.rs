//! The subscription's quota as the CLI last reported it: one entry per window (five-hour,
//! weekly, weekly per model, extra usage) with its utilization, status and reset time, and
//! when it was seen. Runs feed it from `rate_limit_event` lines; `/health`, `/metrics`, the
//! status page and `claude-max-proxy status` read it.
//!
//! It also turns a refusal into the error a client sees: 429 with `Retry-After` until the
//! window resets and a message that says which window and when.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::claude::rate_limit::RateLimitInfo;
use crate::clock;
use crate::openai::{ApiError, ErrorKind};

/// One window as last reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowState {
    pub window: String,
    pub utilization: Option<f64>,
    pub status: String,
    /// Unix seconds.
    pub resets_at: Option<i64>,
    /// Unix seconds.
    pub seen_at: i64,
}

/// The overall state of the last report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Overall {
    pub status: String,
    /// The window that decides (`five_hour`, …).
    pub representative: Option<String>,
    pub resets_at: Option<i64>,
    pub using_overage: bool,
    pub overage_status: Option<String>,
    pub overage_resets_at: Option<i64>,
    pub seen_at: i64,
}

/// What `/health` shows under `quota`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QuotaSnapshot {
    /// Most used first.
    pub windows: Vec<WindowState>,
    pub last: Option<Overall>,
}

/// The latest quota reports.
#[derive(Debug, Default)]
pub struct QuotaBook {
    state: Mutex<QuotaSnapshot>,
}

impl QuotaBook {
    pub fn new() -> QuotaBook {
        QuotaBook::default()
    }

    /// Records a report seen at `now` (unix seconds).
    pub fn record(&self, info: &RateLimitInfo, now: i64) {
        let mut windows: BTreeMap<String, WindowState> = BTreeMap::new();
        for (name, window) in &info.windows {
            windows.insert(
                name.clone(),
                WindowState {
                    window: name.clone(),
                    utilization: window.utilization,
                    status: window.status.clone().unwrap_or_else(|| "allowed".into()),
                    resets_at: window.resets_at,
                    seen_at: now,
                },
            );
        }
        // Older CLIs report only the representative window.
        if let Some(name) = &info.rate_limit_type
            && !windows.contains_key(name)
        {
            windows.insert(
                name.clone(),
                WindowState {
                    window: name.clone(),
                    utilization: info.utilization,
                    status: info.status.clone(),
                    resets_at: info.resets_at,
                    seen_at: now,
                },
            );
        }
        let overall = Overall {
            status: info.status.clone(),
            representative: info.rate_limit_type.clone(),
            resets_at: info.resets_at,
            using_overage: info.is_using_overage,
            overage_status: info.overage_status.clone(),
            overage_resets_at: info.overage_resets_at,
            seen_at: now,
        };
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        for window in std::mem::take(&mut state.windows) {
            windows.entry(window.window.clone()).or_insert(window);
        }
        let mut list: Vec<WindowState> = windows.into_values().collect();
        list.sort_by(|a, b| {
            b.utilization
                .unwrap_or(0.0)
                .total_cmp(&a.utilization.unwrap_or(0.0))
                .then_with(|| a.window.cmp(&b.window))
        });
        state.windows = list;
        state.last = Some(overall);
    }

    pub fn snapshot(&self) -> QuotaSnapshot {
        match self.state.lock() {
            Ok(state) => state.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether the next request will likely be billed as extra usage: the last report said
    /// so and its window has not reset since.
    pub fn overage_expected(&self, now: i64) -> bool {
        self.snapshot().last.is_some_and(|last| {
            last.using_overage && last.resets_at.is_none_or(|reset| reset > now)
        })
    }
}

/// A window name in words.
pub fn window_name(window: &str) -> String {
    match window {
        "five_hour" => "5-hour".to_string(),
        "seven_day" => "weekly".to_string(),
        "seven_day_opus" => "weekly Opus".to_string(),
        "seven_day_sonnet" => "weekly Sonnet".to_string(),
        "overage" => "extra-usage".to_string(),
        other => other.replace('_', " "),
    }
}

/// The error for a request Anthropic refused for the limit: 429, `Retry-After` until the
/// window resets, and which window and when in the message.
pub fn limit_error(info: &RateLimitInfo, now: i64) -> ApiError {
    let window = info
        .rate_limit_type
        .as_deref()
        .map(window_name)
        .unwrap_or_else(|| "usage".to_string());
    let (when, retry) = match info.resets_at {
        Some(reset) => (
            format!("it resets at {}", clock::moment(reset, now)),
            (reset - now).max(1) as u64,
        ),
        None => ("its reset time was not reported".to_string(), 60),
    };
    let overage = match &info.overage_disabled_reason {
        Some(reason) => format!(" Extra usage is not available ({reason})."),
        None => String::new(),
    };
    ApiError::new(
        ErrorKind::RateLimited,
        format!(
            "The subscription's {window} limit is reached; {when}. Anthropic refuses requests \
             until then, so the proxy did not retry.{overage} `claude-max-proxy status` and \
             GET /health show every window."
        ),
    )
    .with_retry_after(retry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::rate_limit::WindowInfo;

    fn report(status: &str, five: f64, overage: bool) -> RateLimitInfo {
        RateLimitInfo {
            status: status.to_string(),
            resets_at: Some(10_000),
            rate_limit_type: Some("five_hour".into()),
            utilization: Some(five),
            is_using_overage: overage,
            windows: vec![
                (
                    "five_hour".into(),
                    WindowInfo {
                        utilization: Some(five),
                        resets_at: Some(10_000),
                        status: Some(status.into()),
                    },
                ),
                (
                    "seven_day".into(),
                    WindowInfo {
                        utilization: Some(0.41),
                        resets_at: Some(500_000),
                        status: Some("allowed".into()),
                    },
                ),
            ],
            ..RateLimitInfo::default()
        }
    }

    #[test]
    fn keeps_the_latest_report_per_window_most_used_first() {
        let book = QuotaBook::new();
        book.record(&report("allowed_warning", 0.87, false), 100);
        let snapshot = book.snapshot();
        assert_eq!(snapshot.windows[0].window, "five_hour");
        assert_eq!(snapshot.windows[0].utilization, Some(0.87));
        assert_eq!(snapshot.windows[1].window, "seven_day");
        let mut later = report("allowed", 0.2, false);
        later.windows.truncate(1);
        book.record(&later, 200);
        let snapshot = book.snapshot();
        assert_eq!(
            snapshot.windows[0].window, "seven_day",
            "kept from the earlier report"
        );
        assert_eq!(snapshot.windows[1].seen_at, 200);
        assert!(!book.overage_expected(300));
    }

    #[test]
    fn overage_is_expected_until_the_window_resets() {
        let book = QuotaBook::new();
        book.record(&report("rejected", 1.0, true), 100);
        assert!(book.overage_expected(200));
        assert!(!book.overage_expected(10_001));
    }

    #[test]
    fn a_refusal_says_which_window_and_when() {
        let error = limit_error(&report("rejected", 1.0, false), 10_000 - 3_600);
        assert_eq!(error.status(), 429);
        assert_eq!(error.retry_after, Some(3_600));
        assert!(error.message.contains("5-hour"), "{}", error.message);
        assert!(error.message.contains("in 1 h 0 min"), "{}", error.message);
    }
}
