//! The quota part of `claude-max-proxy status`: asks the running daemon (its /health on a
//! local listener) what the CLI last reported about the subscription's windows, and prints
//! one line per window with its utilization, status and reset time in local time.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::clock;
use crate::config::Settings;
use crate::quota::window_name;

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
            "quota: unknown — the daemon does not answer at {url} (start it; the quota \
             arrives with its first answer)"
        )];
    };
    format_quota(&health["quota"], clock::now())
}

/// One line per window, most used first.
fn format_quota(quota: &Value, now: i64) -> Vec<String> {
    let windows = quota["windows"].as_array().cloned().unwrap_or_default();
    if windows.is_empty() {
        return vec![
            "quota: no report yet (it arrives with the daemon's first answer from Anthropic)"
                .into(),
        ];
    }
    let mut lines = vec!["quota (as last reported by the claude CLI):".to_string()];
    for window in &windows {
        let name = window_name(window["window"].as_str().unwrap_or("?"));
        let used = window["utilization"]
            .as_f64()
            .map(|u| format!("{:>3.0}%", u * 100.0))
            .unwrap_or_else(|| "   ?".into());
        let status = window["status"].as_str().unwrap_or("?");
        let resets = match window["resets_at"].as_i64() {
            Some(reset) if reset > now => format!("resets {}", clock::local_moment(reset, now)),
            Some(reset) => format!("reset at {}", clock::local_moment(reset, now)),
            None => "reset time unknown".into(),
        };
        let seen = window["seen_at"]
            .as_i64()
            .map(|s| format!(", reported {} ago", clock::span(now - s)))
            .unwrap_or_default();
        lines.push(format!("  {name:<14} {used}  {status:<15} {resets}{seen}"));
    }
    if quota["using_overage"].as_bool() == Some(true) {
        lines.push("  requests are being billed as extra usage (overage)".into());
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
            {"window": "five_hour", "utilization": 0.87, "status": "allowed_warning",
             "resets_at": 10_000 + 3_600, "seen_at": 9_990},
            {"window": "seven_day", "utilization": 0.41, "status": "allowed",
             "resets_at": 10_000 + 3 * 86_400, "seen_at": 9_990}],
            "using_overage": false});
        let lines = format_quota(&quota, 10_000);
        assert_eq!(lines.len(), 3, "{lines:?}");
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
