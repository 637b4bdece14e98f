//! The quota part of `claude-max-proxy status`: asks the running daemon (its /health on a
//! local listener) what the CLI last reported about the subscription's windows, and prints
//! the plan, one line per window with its utilization, status and reset time in local time,
//! the extra-usage spend, why the login cannot see its windows (with the fix) when it
//! cannot, and how fresh the numbers are.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::clock;
use crate::config::Settings;
use crate::quota::plan_name;

/// How long `status` waits for the daemon.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);

/// Where this configuration's daemon answers locally, if a port is fixed.
fn health_url(settings: &Settings) -> Option<String> {
    if settings.port == 0 {
        return None;
    }
    let ips: Vec<IpAddr> = settings
        .listen
        .iter()
        .filter_map(|l| l.parse().ok())
        .collect();
    let ip = ips
        .iter()
        .find(|ip| ip.is_loopback())
        .or_else(|| ips.iter().find(|ip| !ip.is_unspecified()))
        .copied()
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let addr = std::net::SocketAddr::new(ip, settings.port);
    Some(format!("{}/health", crate::net::url_of(addr)))
}

/// The lines `status` prints about the quota.
pub async fn lines(settings: &Settings) -> Vec<String> {
    let Some(url) = health_url(settings) else {
        return vec!["quota: unknown (`port = 0`: ask the daemon's /health directly)".into()];
    };
    let client = match reqwest::Client::builder().timeout(ASK_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => return vec![format!("quota: unknown ({e})")],
    };
    // With a client key, /health shows the quota only to callers who send it.
    let mut ask = client.get(&url);
    if let Ok(Some(key)) = settings.client_api_key() {
        ask = ask.bearer_auth(key);
    }
    let health = match ask.send().await {
        Ok(response) => response.json::<Value>().await.ok(),
        Err(_) => None,
    };
    let Some(health) = health else {
        return vec![format!(
            "quota: unknown — the daemon does not answer at {url} (start it: it asks the \
             claude CLI for the plan's usage at start)"
        )];
    };
    format_quota(&health["quota"], clock::now())
}

/// The plan, one line per window (most used first), extra usage, visibility, freshness.
fn format_quota(quota: &Value, now: i64) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(plan) = quota["subscription_type"].as_str() {
        lines.push(format!("plan: {}", plan_name(plan)));
    }
    let windows = quota["windows"].as_array().cloned().unwrap_or_default();
    if let Some(reason) = quota["blind"]["reason"].as_str() {
        lines.push(format!("quota windows: not visible. {reason}"));
        if let Some(fix) = quota["blind"]["fix"].as_str() {
            lines.push(format!("  fix: {fix}"));
        }
    }
    if windows.is_empty() && quota["extra_usage"].is_null() {
        if quota["blind"].is_null() {
            lines.push(
                "quota: no report yet (the daemon asks the claude CLI at start and when it is \
                 read; every answer from Anthropic reports it too)"
                    .into(),
            );
        }
    } else {
        lines.push("quota (as reported by the claude CLI):".to_string());
    }
    for window in &windows {
        let name = window["label"]
            .as_str()
            .or_else(|| window["window"].as_str())
            .unwrap_or("?");
        let used = window["utilization"]
            .as_f64()
            .map(|u| format!("{:>3.0}%", u * 100.0))
            .unwrap_or_else(|| "   ?".into());
        let status = window["status"].as_str().unwrap_or("");
        let resets = match window["resets_at"].as_i64() {
            Some(reset) if reset > now => format!("resets {}", clock::local_moment(reset, now)),
            Some(reset) => format!("reset at {}", clock::local_moment(reset, now)),
            None => "reset time unknown".into(),
        };
        let by = match window["source"].as_str() {
            Some("get_usage") => " by the usage check",
            Some("rate_limit_event") => " with an answer",
            _ => "",
        };
        let seen = window["seen_at"]
            .as_i64()
            .map(|s| format!(", reported {} ago{by}", clock::span(now - s)))
            .unwrap_or_default();
        lines.push(format!("  {name:<18} {used}  {status:<15} {resets}{seen}"));
    }
    if let Some(text) = quota["extra_usage"]["text"].as_str() {
        let used = quota["extra_usage"]["utilization"]
            .as_f64()
            .map(|u| format!("{:>3.0}%", u * 100.0))
            .unwrap_or_else(|| "   ?".into());
        lines.push(format!("  {:<18} {used}  {text}", "extra usage"));
    }
    if quota["using_overage"].as_bool() == Some(true) {
        lines.push("  requests are being billed as extra usage (overage)".into());
    }
    if let Some(text) = quota["usage_check"]["text"].as_str() {
        lines.push(format!("  {text}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_line_per_window() {
        let quota = json!({"windows": [
            {"window": "five_hour", "label": "5-hour", "utilization": 0.87,
             "status": "allowed_warning", "resets_at": 10_000 + 3_600, "seen_at": 9_990,
             "source": "rate_limit_event"},
            {"window": "seven_day", "label": "weekly", "utilization": 0.41, "status": null,
             "resets_at": 10_000 + 3 * 86_400, "seen_at": 9_990, "source": "get_usage"}],
            "using_overage": false});
        let lines = format_quota(&quota, 10_000);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[2].contains("by the usage check"), "{}", lines[2]);
        assert!(
            lines[1].contains("5-hour") && lines[1].contains("87%"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("in 1 h 0 min"), "{}", lines[1]);
        assert!(
            lines[2].contains("weekly") && lines[2].contains("41%"),
            "{}",
            lines[2]
        );
        assert!(format_quota(&json!({"windows": []}), 0)[0].contains("no report yet"));
    }

    /// The plan, a model-scoped window, extra usage and the freshness line; a blind login
    /// gets its reason and fix instead of "no report yet".
    #[test]
    fn plan_extra_usage_and_blind_logins() {
        let quota = json!({"subscription_type": "max", "windows": [
            {"window": "model_scoped", "model": "Fable", "label": "weekly Fable",
             "utilization": 0.31, "status": null, "resets_at": 20_000, "seen_at": 9_000,
             "source": "get_usage"}],
            "extra_usage": {"utilization": 0.25, "text": "12.34 of 50.00 USD spent"},
            "usage_check": {"text": "Usage from the claude CLI's get_usage 1 min ago."}});
        let lines = format_quota(&quota, 10_000).join("\n");
        assert!(lines.contains("plan: Max"), "{lines}");
        assert!(
            lines.contains("weekly Fable") && lines.contains("31%"),
            "{lines}"
        );
        assert!(
            lines.contains("extra usage") && lines.contains("12.34 of 50.00 USD"),
            "{lines}"
        );
        assert!(lines.contains("get_usage 1 min ago"), "{lines}");
        let blind = json!({"windows": [], "blind": {"reason": "cannot see", "fix": "do this"}});
        let lines = format_quota(&blind, 0).join("\n");
        assert!(lines.contains("not visible. cannot see"), "{lines}");
        assert!(lines.contains("fix: do this"), "{lines}");
        assert!(!lines.contains("no report yet"), "{lines}");
    }

    #[test]
    fn the_daemon_is_asked_on_loopback() {
        let settings = Settings::default();
        assert_eq!(
            health_url(&settings).as_deref(),
            Some("http://127.0.0.1:3456/health")
        );
        let zero = Settings {
            port: 0,
            ..Settings::default()
        };
        assert!(health_url(&zero).is_none());
    }
}
