//! The CLI's `get_usage` control request: what the plan's usage windows are, asked of the
//! CLI without any model request (measured with CLI 2.1.332, tests/fixtures/claude-cli/m_get_usage).
//!
//! The request is one stream-json line on the stdin of a `--input-format stream-json` process;
//! the answer is one `control_response` line with the same `request_id`. The CLI fetches the
//! numbers itself from Anthropic's usage endpoint (never from `ANTHROPIC_BASE_URL`), unless
//! `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC` is set, in which case it answers from its own
//! cache. This module owns the wire format only: the line to send and the answer as
//! [`PlanUsage`]. Which process asks, and when, is the runner's business.

use serde_json::{Value, json};

use crate::clock;

/// The `request_id` the daemon's usage request carries.
pub const REQUEST_ID: &str = "usage_1";

/// The `get_usage` control request line (newline-terminated).
pub fn request_line() -> Vec<u8> {
    let line = json!({"type": "control_request", "request_id": REQUEST_ID,
        "request": {"subtype": "get_usage"}});
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// One window as `get_usage` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageWindow {
    /// `five_hour`, `seven_day`, `seven_day_opus`, `seven_day_sonnet`,
    /// `seven_day_oauth_apps` or `model_scoped`.
    pub window: String,
    /// For `model_scoped`: the server's label of the model bucket (e.g. `Fable`).
    pub model: Option<String>,
    /// 0.0 ..= 1.0 (the CLI reports percent; converted here).
    pub utilization: Option<f64>,
    /// Unix seconds.
    pub resets_at: Option<i64>,
}

/// The extra-usage (overage) spend of the billing period.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtraUsage {
    /// Whether extra usage can pay for requests now.
    pub is_enabled: bool,
    /// The monthly limit, in minor units of `currency` (cents for USD).
    pub monthly_limit: Option<f64>,
    /// Spent this period, in minor units of `currency`.
    pub used_credits: Option<f64>,
    /// 0.0 ..= 1.0 of the monthly limit.
    pub utilization: Option<f64>,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: Option<String>,
}

/// What `get_usage` said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanUsage {
    /// `pro`, `max`, `team`, `enterprise`; `None` for an API key or a token that does not say.
    pub subscription_type: Option<String>,
    /// False when the plan's windows cannot be seen: an API key, a third-party provider, or a
    /// login without the `user:profile` scope (a `claude setup-token` token).
    pub rate_limits_available: bool,
    /// Whether the CLI had numbers at all (`rate_limits` not null).
    pub rate_limits_known: bool,
    /// Every non-null window, in the CLI's order (`model_scoped` last).
    pub windows: Vec<UsageWindow>,
    pub extra_usage: Option<ExtraUsage>,
}

/// Why a line was not a usable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError {
    /// Not our control_response (another line of output): keep reading.
    NotTheAnswer,
    /// The CLI refused the request (e.g. an older CLI without `get_usage`).
    Refused(String),
    /// The answer is not shaped as expected.
    Malformed(String),
}

/// The fixed windows, in the order they are shown.
const WINDOWS: [&str; 5] = [
    "five_hour",
    "seven_day",
    "seven_day_opus",
    "seven_day_sonnet",
    "seven_day_oauth_apps",
];

/// The most `model_scoped` rows kept (the server decides how many exist; a handful at most).
const MAX_MODEL_ROWS: usize = 8;
/// The longest model label kept, in characters.
const MAX_LABEL_CHARS: usize = 40;

/// Parses one stdout line: the answer to our `get_usage`, or why not.
pub fn parse_answer(line: &[u8]) -> Result<PlanUsage, UsageError> {
    let value: Value = serde_json::from_slice(line).map_err(|_| UsageError::NotTheAnswer)?;
    if value.get("type").and_then(Value::as_str) != Some("control_response") {
        return Err(UsageError::NotTheAnswer);
    }
    let response = &value["response"];
    if response.get("request_id").and_then(Value::as_str) != Some(REQUEST_ID) {
        return Err(UsageError::NotTheAnswer);
    }
    if response.get("subtype").and_then(Value::as_str) != Some("success") {
        let reason = response
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(UsageError::Refused(short(reason, 200)));
    }
    let usage = response
        .get("response")
        .filter(|u| u.is_object())
        .ok_or_else(|| UsageError::Malformed("the answer has no `response` object".into()))?;
    Ok(plan_usage(usage))
}

fn plan_usage(usage: &Value) -> PlanUsage {
    let limits = usage.get("rate_limits").filter(|l| l.is_object());
    let mut windows: Vec<UsageWindow> = Vec::new();
    if let Some(limits) = limits {
        for name in WINDOWS {
            if let Some(window) = limits.get(name).filter(|w| w.is_object()) {
                windows.push(UsageWindow {
                    window: name.to_string(),
                    model: None,
                    utilization: percent(window.get("utilization")),
                    resets_at: reset(window.get("resets_at")),
                });
            }
        }
        let rows = limits.get("model_scoped").and_then(Value::as_array);
        for row in rows.into_iter().flatten().take(MAX_MODEL_ROWS) {
            let Some(label) = row.get("display_name").and_then(Value::as_str) else {
                continue;
            };
            windows.push(UsageWindow {
                window: "model_scoped".to_string(),
                model: Some(clean_label(label)),
                utilization: percent(row.get("utilization")),
                resets_at: reset(row.get("resets_at")),
            });
        }
    }
    PlanUsage {
        subscription_type: usage
            .get("subscription_type")
            .and_then(Value::as_str)
            .map(|s| short(s, 32)),
        rate_limits_available: usage
            .get("rate_limits_available")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        rate_limits_known: limits.is_some(),
        windows,
        extra_usage: limits
            .and_then(|l| l.get("extra_usage"))
            .filter(|e| e.is_object())
            .map(extra_usage),
    }
}

fn extra_usage(value: &Value) -> ExtraUsage {
    ExtraUsage {
        is_enabled: value
            .get("is_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        monthly_limit: number(value.get("monthly_limit")),
        used_credits: number(value.get("used_credits")),
        utilization: percent(value.get("utilization")),
        currency: value
            .get("currency")
            .and_then(Value::as_str)
            .filter(|c| c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
            .map(str::to_ascii_uppercase),
    }
}

/// A finite, non-negative number.
fn number(value: Option<&Value>) -> Option<f64> {
    value
        .and_then(Value::as_f64)
        .filter(|n| n.is_finite() && *n >= 0.0)
}

/// Percent (0–100, as the CLI reports it) as a fraction.
fn percent(value: Option<&Value>) -> Option<f64> {
    number(value).map(|p| p / 100.0)
}

fn reset(value: Option<&Value>) -> Option<i64> {
    value.and_then(Value::as_str).and_then(clock::parse_rfc3339)
}

/// A server label as it may be shown and used as a metric label: printable, no markup
/// characters, bounded.
fn clean_label(label: &str) -> String {
    let cleaned: String = label
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if matches!(c, '<' | '>' | '"' | '\\' | '&') {
                '_'
            } else {
                c
            }
        })
        .take(MAX_LABEL_CHARS)
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() {
        "unnamed".to_string()
    } else {
        cleaned
    }
}

fn short(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::events::recorded_fixture;

    fn fixture(name: &str) -> Vec<u8> {
        let mut text = recorded_fixture(&format!("m_get_usage/{name}"))
            .expect("fixture")
            .into_bytes();
        // The recordings answered request_id "r2"; ours is REQUEST_ID.
        let text_str = String::from_utf8_lossy(&text).replace("\"r2\"", "\"usage_1\"");
        text = text_str.into_bytes();
        text
    }

    #[test]
    fn the_request_is_one_control_request_line() {
        let line = request_line();
        assert_eq!(line.last(), Some(&b'\n'));
        let value: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["request"]["subtype"], "get_usage");
        assert_eq!(value["request_id"], REQUEST_ID);
    }

    /// The recorded answer with every kind of window: percent becomes a fraction, the
    /// model-scoped row keeps its label, extra usage its minor units.
    #[test]
    fn recorded_windows_parse() {
        let usage = parse_answer(&fixture("credentials_file_tls_stand_in_model_scoped.json"))
            .expect("an answer");
        assert_eq!(usage.subscription_type.as_deref(), Some("max"));
        assert!(usage.rate_limits_available && usage.rate_limits_known);
        let names: Vec<(&str, Option<&str>)> = usage
            .windows
            .iter()
            .map(|w| (w.window.as_str(), w.model.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("five_hour", None),
                ("seven_day", None),
                ("seven_day_opus", None),
                ("seven_day_oauth_apps", None),
                ("model_scoped", Some("Fable")),
            ]
        );
        assert_eq!(usage.windows[0].utilization, Some(0.42));
        assert_eq!(
            usage.windows[0].resets_at,
            clock::parse_rfc3339("2026-12-04T21:02:44+00:00")
        );
        assert_eq!(usage.windows[4].utilization, Some(0.31));
        let extra = usage.extra_usage.expect("extra usage");
        assert!(extra.is_enabled);
        assert_eq!(extra.used_credits, Some(1234.0));
        assert_eq!(extra.monthly_limit, Some(5000.0));
        assert_eq!(extra.currency.as_deref(), Some("USD"));
        assert!((extra.utilization.unwrap_or(0.0) - 0.2468).abs() < 1e-9);
    }

    /// A setup-token login: nothing visible, and the answer says so.
    #[test]
    fn an_inference_only_token_sees_no_windows() {
        let usage = parse_answer(&fixture("env_token_inference_scope.json")).expect("an answer");
        assert!(!usage.rate_limits_available);
        assert!(!usage.rate_limits_known);
        assert!(usage.windows.is_empty());
        assert_eq!(usage.subscription_type, None);
        let offline =
            parse_answer(&fixture("credentials_file_profile_scope_offline.json")).expect("answer");
        assert!(offline.rate_limits_available && !offline.rate_limits_known);
    }

    #[test]
    fn other_lines_and_refusals_are_told_apart() {
        assert_eq!(
            parse_answer(b"{\"type\":\"system\"}"),
            Err(UsageError::NotTheAnswer)
        );
        assert_eq!(parse_answer(b"garbage"), Err(UsageError::NotTheAnswer));
        let other_id = br#"{"type":"control_response","response":{"subtype":"success","request_id":"init_0","response":{}}}"#;
        assert_eq!(parse_answer(other_id), Err(UsageError::NotTheAnswer));
        let refused = br#"{"type":"control_response","response":{"subtype":"error","request_id":"usage_1","error":"Unsupported control request subtype: get_usage"}}"#;
        assert!(
            matches!(parse_answer(refused), Err(UsageError::Refused(m)) if m.contains("Unsupported"))
        );
    }

    #[test]
    fn labels_are_bounded_and_safe() {
        assert_eq!(clean_label("Fable"), "Fable");
        assert_eq!(clean_label("<b>x\"y\n"), "_b_x_y");
        assert_eq!(clean_label("   "), "unnamed");
        assert_eq!(clean_label(&"a".repeat(100)).len(), MAX_LABEL_CHARS);
    }
}
