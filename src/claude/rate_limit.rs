//! The CLI's `rate_limit_event` line: what Anthropic's `anthropic-ratelimit-unified-*`
//! response headers said about the subscription's windows (measured with CLI 2.1.332 in
//! subscription mode; in API-key mode the CLI prints none).
//!
//! Order, as measured: after `message_stop` (before `result`) for an answered request; right
//! after `system/init` and before the synthetic error message when the API refused with 429.
//! `status: rejected` with `isUsingOverage: true` means the request went through as extra
//! usage; `rejected` without it means the request was refused.

use serde_json::Value;

/// One window's state (`unifiedWindows.<name>`), or the representative one.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct WindowInfo {
    pub utilization: Option<f64>,
    /// Unix seconds.
    pub resets_at: Option<i64>,
    /// `allowed`, `allowed_warning`, `rejected`.
    pub status: Option<String>,
}

/// `rate_limit_info` of a `rate_limit_event`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RateLimitInfo {
    /// The overall status: `allowed`, `allowed_warning`, `rejected`.
    pub status: String,
    /// When the representative window resets (unix seconds).
    pub resets_at: Option<i64>,
    /// The representative window: `five_hour`, `seven_day`, `seven_day_opus`, …
    pub rate_limit_type: Option<String>,
    pub utilization: Option<f64>,
    /// This request is billed as extra usage.
    pub is_using_overage: bool,
    pub overage_status: Option<String>,
    pub overage_resets_at: Option<i64>,
    pub overage_disabled_reason: Option<String>,
    /// Every window the headers described, by name.
    pub windows: Vec<(String, WindowInfo)>,
}

impl RateLimitInfo {
    /// Parses `rate_limit_info`; `None` when it is not an object.
    pub fn from_value(info: &Value) -> Option<RateLimitInfo> {
        let object = info.as_object()?;
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
        let time = |key: &str| object.get(key).and_then(as_unix);
        let windows = object
            .get("unifiedWindows")
            .and_then(Value::as_object)
            .map(|windows| {
                windows
                    .iter()
                    .map(|(name, w)| (name.clone(), window(w)))
                    .collect()
            })
            .unwrap_or_default();
        Some(RateLimitInfo {
            status: text("status").unwrap_or_else(|| "allowed".to_string()),
            resets_at: time("resetsAt"),
            rate_limit_type: text("rateLimitType"),
            utilization: object.get("utilization").and_then(Value::as_f64),
            is_using_overage: object
                .get("isUsingOverage")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            overage_status: text("overageStatus"),
            overage_resets_at: time("overageResetsAt"),
            overage_disabled_reason: text("overageDisabledReason"),
            windows,
        })
    }

    /// Whether Anthropic refused this request for the limit (not served as extra usage).
    pub fn refused(&self) -> bool {
        self.status == "rejected" && !self.is_using_overage
    }
}

fn window(value: &Value) -> WindowInfo {
    WindowInfo {
        utilization: value.get("utilization").and_then(Value::as_f64),
        resets_at: value.get("resetsAt").and_then(as_unix),
        status: value
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// Unix seconds given as an integer or a float.
fn as_unix(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded event (tests/fixtures/claude-cli/k_rate_limit) parses with both windows.
    #[test]
    fn recorded_event_parses() {
        let text =
            crate::claude::events::recorded_fixture("k_rate_limit/stdout.jsonl").expect("fixture");
        let line = text
            .lines()
            .find(|l| l.contains("rate_limit_event"))
            .expect("a rate_limit_event line");
        let value: Value = serde_json::from_str(line).unwrap();
        let info = RateLimitInfo::from_value(&value["rate_limit_info"]).unwrap();
        assert_eq!(info.status, "allowed_warning");
        assert_eq!(info.rate_limit_type.as_deref(), Some("five_hour"));
        assert_eq!(info.resets_at, Some(1796315950));
        assert!(!info.refused());
        let names: Vec<&str> = info.windows.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["five_hour", "seven_day"]);
        assert_eq!(info.windows[1].1.utilization, Some(0.41));
    }

    #[test]
    fn rejected_is_refused_unless_billed_as_overage() {
        let refused = RateLimitInfo::from_value(
            &serde_json::json!({"status": "rejected", "isUsingOverage": false}),
        )
        .unwrap();
        assert!(refused.refused());
        let overage = RateLimitInfo::from_value(
            &serde_json::json!({"status": "rejected", "isUsingOverage": true,
                                "overageStatus": "allowed"}),
        )
        .unwrap();
        assert!(!overage.refused());
    }
}
