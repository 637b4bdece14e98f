//! The subscription's quota, the Prometheus metrics and the status page, with the real CLI
//! 2.1.332 against the mock Messages API sending the `anthropic-ratelimit-unified-*`
//! headers: utilization and reset reach /health, `claude-max-proxy status` and /metrics; a
//! rejected window is a 429 with the right Retry-After at once; extra usage is marked and can
//! be refused; `promtool` accepts the exposition, a real Prometheus scrapes it, and headless
//! Chromium renders the page.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use support::mock_anthropic::MockAnthropic;
use support::{Daemon, DaemonOptions, eventually};

const MODELS: &str = "models = [\"claude-quota-warn\", \"claude-quota-rejected\", \
                      \"claude-quota-overage\", \"claude-plain\"]\n";

/// The daemon with the real CLI in subscription mode (the CLI reports rate limits only
/// there), pointed at a fresh mock.
async fn start(extra_config: &str) -> Option<(MockAnthropic, Daemon)> {
    let cli = support::real_claude()?;
    let mock = MockAnthropic::start().await;
    let options = DaemonOptions {
        cli: Some(cli),
        ..DaemonOptions::default()
    }
    .config(&format!("{MODELS}{extra_config}"))
    .env("ANTHROPIC_BASE_URL", &mock.base_url())
    .env("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "2")
    .env("CLAUDE_CODE_OAUTH_TOKEN", "test-oauth-token");
    Some((mock, Daemon::start(options).await))
}

async fn ask(daemon: &Daemon, model: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("POST")
}

async fn metrics_text(daemon: &Daemon) -> String {
    let response = reqwest::get(daemon.url("/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics text")
}

/// The value of the first sample line that starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A report of 87 % of the five-hour window and 41 % of the week reaches /health, the
/// `status` command (reset in local time) and /metrics.
#[tokio::test]
async fn quota_reaches_health_status_and_metrics() {
    let Some((mock, daemon)) = start("").await else {
        return;
    };
    assert_eq!(ask(&daemon, "claude-quota-warn").await.status(), 200);
    let health = daemon.health().await;
    let windows = health["quota"]["windows"]
        .as_array()
        .expect("quota windows");
    assert_eq!(windows.len(), 2, "{health}");
    assert_eq!(windows[0]["window"], "five_hour");
    assert_eq!(windows[0]["utilization"], 0.87);
    assert_eq!(windows[0]["status"], "allowed_warning");
    assert_eq!(windows[0]["resets_at"], mock.five_hour_reset());
    assert_eq!(windows[1]["window"], "seven_day");
    assert_eq!(windows[1]["resets_at"], mock.weekly_reset());

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-max-proxy"))
        .args([
            "status",
            "--port",
            &daemon.port.to_string(),
            "--listen",
            "127.0.0.1",
        ])
        .env("HOME", daemon.home.path())
        .env("XDG_CONFIG_HOME", daemon.home.path().join("none"))
        .env("CLAUDE_MAX_PROXY_CLI_PATH", "/nonexistent/claude")
        .output()
        .await
        .expect("run status");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let five = stdout
        .lines()
        .find(|l| l.contains("5-hour"))
        .unwrap_or_else(|| panic!("no 5-hour line: {stdout}"));
    assert!(
        five.contains("87%") && five.contains("allowed_warning"),
        "{five}"
    );
    let local = claude_max_proxy::clock::local_date_time(mock.five_hour_reset());
    assert!(five.contains(&local), "{five} should name {local}");
    assert!(
        stdout.contains("weekly") && stdout.contains("41%"),
        "{stdout}"
    );

    let text = metrics_text(&daemon).await;
    assert_eq!(
        sample(
            &text,
            "claude_max_proxy_quota_utilization{window=\"five_hour\"}"
        ),
        Some(0.87),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "claude_max_proxy_quota_resets_at_seconds{window=\"seven_day\"}"
        ),
        Some(mock.weekly_reset() as f64)
    );
    let requests = text
        .lines()
        .find(|l| {
            l.starts_with("claude_max_proxy_requests_total{")
                && l.contains("model=\"claude-quota-warn\"")
                && l.contains("status=\"200\"")
                && l.contains("outcome=\"ok\"")
        })
        .unwrap_or_else(|| panic!("no request counter: {text}"));
    assert!(requests.ends_with(" 1"), "{requests}");
    assert!(text.contains("claude_max_proxy_tokens_total{"), "{text}");
    assert!(
        text.contains("claude_max_proxy_api_equivalent_cost_usd "),
        "{text}"
    );
    assert!(text.contains("claude_max_proxy_time_to_first_token_seconds_bucket{"));
    assert!(text.contains("process_resident_memory_bytes "));
}

/// A rejected five-hour window is a 429 at once: Retry-After until the reset, a message
/// naming the window, one upstream request and no CLI left.
#[tokio::test]
async fn a_rejected_window_is_429_with_retry_after() {
    let Some((mock, daemon)) = start("").await else {
        return;
    };
    let before = claude_max_proxy::clock::now();
    let response = ask(&daemon, "claude-quota-rejected").await;
    let after = claude_max_proxy::clock::now();
    assert_eq!(response.status(), 429);
    let retry: i64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    // Seconds until the reset the mock announced, counted at some moment of the request
    // (rounded up, hence the one second of slack).
    let reset = mock.five_hour_reset();
    assert!(
        (reset - after..=reset - before + 1).contains(&retry),
        "Retry-After {retry}, expected the {}..={} s left until {reset}",
        reset - after,
        reset - before + 1
    );
    let body: Value = response.json().await.expect("json");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("5-hour") && message.contains("resets at"),
        "{message}"
    );
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(
        mock.message_requests().len(),
        1,
        "the CLI retried a refused request"
    );
    let pid = daemon.pid();
    assert!(
        eventually(Duration::from_secs(5), || support::descendants(pid)
            .is_empty())
        .await
    );
    let health = daemon.health().await;
    assert_eq!(health["quota"]["windows"][0]["status"], "rejected");
}

/// A request served as extra usage carries `x-claude-overage: true`, and so does the next
/// one (predicted); with `refuse_overage = true` the next one is refused before any CLI runs.
#[tokio::test]
async fn extra_usage_is_marked_and_can_be_refused() {
    let Some((mock, daemon)) = start("").await else {
        return;
    };
    let first = ask(&daemon, "claude-quota-overage").await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-claude-overage"], "true");
    assert_eq!(daemon.health().await["quota"]["using_overage"], true);
    let next = ask(&daemon, "claude-plain").await;
    assert_eq!(next.status(), 200);
    assert_eq!(next.headers()["x-claude-overage"], "true");
    drop(mock);

    let Some((mock, strict)) = start("refuse_overage = true\n").await else {
        return;
    };
    assert_eq!(ask(&strict, "claude-quota-overage").await.status(), 200);
    let refused = ask(&strict, "claude-plain").await;
    assert_eq!(refused.status(), 402);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("refuse_overage"),
        "{body}"
    );
    assert_eq!(
        mock.message_requests().len(),
        1,
        "the refused request reached upstream"
    );
}

/// `promtool check metrics` (Debian's prometheus package) accepts the exposition, with the
/// quota gauges of a `get_usage` answer in it: every window (the model-scoped one labelled
/// with its model), the plan, visibility, extra usage and when the CLI answered.
#[tokio::test]
async fn promtool_accepts_the_exposition() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let answer = tempfile::NamedTempFile::new().expect("usage answer file");
    let reset = |days: i64| {
        let at = claude_max_proxy::clock::now() + days * 86_400;
        format!("{}T00:00:00+00:00", claude_max_proxy::clock::date(at))
    };
    let usage = json!({"subscription_type": "max", "rate_limits_available": true,
        "rate_limits": {
            "five_hour": {"utilization": 42, "resets_at": reset(1)},
            "seven_day": {"utilization": 17, "resets_at": reset(3)},
            "seven_day_opus": {"utilization": 63, "resets_at": reset(3)},
            "seven_day_sonnet": null,
            "seven_day_oauth_apps": {"utilization": 8, "resets_at": reset(3)},
            "model_scoped": [{"display_name": "Fable", "utilization": 31, "resets_at": reset(3)}],
            "extra_usage": {"is_enabled": true, "monthly_limit": 5000, "used_credits": 1234,
                            "utilization": 24.68, "currency": "USD"}}});
    std::fs::write(answer.path(), usage.to_string()).expect("write the answer");
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .env("CLAUDE_MAX_PROXY_QUOTA_REFRESH_SECS", "60")
            .env(
                "FAKE_CLAUDE_USAGE_FILE",
                &answer.path().display().to_string(),
            ),
    )
    .await;
    ask(&daemon, "claude-opus-4").await;
    assert!(
        eventually(Duration::from_secs(20), || daemon
            .fake_records()
            .iter()
            .any(|r| r["control_requests"][0] == "get_usage"))
        .await
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = metrics_text(&daemon).await;
        if text.contains("claude_max_proxy_plan_info") {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (series, value) in [
        (
            "claude_max_proxy_quota_utilization{window=\"five_hour\"}",
            0.42,
        ),
        (
            "claude_max_proxy_quota_utilization{window=\"model_scoped\",model=\"Fable\"}",
            0.31,
        ),
        (
            "claude_max_proxy_quota_utilization{window=\"seven_day_oauth_apps\"}",
            0.08,
        ),
        ("claude_max_proxy_plan_info{subscription_type=\"max\"}", 1.0),
        ("claude_max_proxy_quota_windows_visible", 1.0),
        ("claude_max_proxy_extra_usage_used_credits", 1234.0),
        ("claude_max_proxy_extra_usage_monthly_limit", 5000.0),
    ] {
        assert_eq!(
            sample(&text, &format!("{series} ")),
            Some(value),
            "{series}\n{text}"
        );
    }
    assert!(
        text.contains("claude_max_proxy_usage_checked_at_seconds "),
        "{text}"
    );
    assert!(
        text.contains("claude_max_proxy_quota_reported_at_seconds{window=\"seven_day\"}"),
        "{text}"
    );
    let mut child = tokio::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).await.expect("write");
    drop(stdin);
    let output = child.wait_with_output().await.expect("promtool output");
    assert!(
        output.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A real Prometheus server scrapes the daemon, and its query API returns the request
/// counter.
#[tokio::test]
async fn prometheus_scrapes_the_daemon() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    assert_eq!(ask(&daemon, "claude-opus-4").await.status(), 200);
    let dir = tempfile::tempdir().expect("prometheus dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: claude-max-proxy\n    \
             static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            daemon.port
        ),
    )
    .expect("write config");
    let port = free_port();
    let mut server = tokio::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");
    let query =
        format!("http://127.0.0.1:{port}/api/v1/query?query=claude_max_proxy_requests_total");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let result = loop {
        let answer: Option<Value> = match reqwest::get(&query).await {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        let found = answer
            .as_ref()
            .and_then(|a| a["data"]["result"].as_array())
            .filter(|r| !r.is_empty())
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Prometheus never returned the counter: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(result[0]["metric"]["endpoint"], "chat_completions");
    assert_eq!(result[0]["value"][1], "1");
    let _ = server.kill().await;
}

/// `metrics = false` turns the endpoint off; with a key, `metrics_requires_key` (the
/// default) puts it behind the key, as the page is; `false` opens it to keyless scrapers.
#[tokio::test]
async fn metrics_access_follows_the_config() {
    let off = Daemon::start(DaemonOptions::fake().config("metrics = false\n")).await;
    assert_eq!(
        reqwest::get(off.url("/metrics"))
            .await
            .expect("GET")
            .status(),
        404
    );
    let keyed = Daemon::start(
        DaemonOptions::fake().config("api_key = \"k1\"\nmetrics_requires_key = true\n"),
    )
    .await;
    assert_eq!(
        reqwest::get(keyed.url("/metrics"))
            .await
            .expect("GET")
            .status(),
        401
    );
    let with_key = reqwest::Client::new()
        .get(keyed.url("/metrics"))
        .bearer_auth("k1")
        .send()
        .await
        .expect("GET");
    assert_eq!(with_key.status(), 200);
    assert_eq!(
        reqwest::get(keyed.url("/")).await.expect("GET").status(),
        401
    );
    let open = Daemon::start(
        DaemonOptions::fake().config("api_key = \"k1\"\nmetrics_requires_key = false\n"),
    )
    .await;
    assert_eq!(
        reqwest::get(open.url("/metrics"))
            .await
            .expect("GET")
            .status(),
        200
    );
}

/// Headless Chromium renders the status page: no console errors, one quota bar per window,
/// the request table with the request made; a screenshot goes to target/status-page.png.
#[tokio::test]
async fn the_status_page_renders_in_chromium() {
    let Some(chromium) = tool("chromium") else {
        return;
    };
    let Some((_mock, daemon)) = start("").await else {
        return;
    };
    assert_eq!(ask(&daemon, "claude-quota-warn").await.status(), 200);
    let profile = tempfile::tempdir().expect("profile");
    let run = |extra: &[String]| {
        let mut command = tokio::process::Command::new(&chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1400,1150",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(daemon.url("/"))
            .kill_on_drop(true);
        command
    };
    let dumped = tokio::time::timeout(
        Duration::from_secs(60),
        run(&["--dump-dom".to_string()]).output(),
    )
    .await
    .expect("chromium finished")
    .expect("run chromium");
    let dom = String::from_utf8_lossy(&dumped.stdout);
    let stderr = String::from_utf8_lossy(&dumped.stderr);
    assert!(!stderr.contains("CONSOLE"), "console messages: {stderr}");
    assert!(!stderr.contains("Uncaught"), "{stderr}");
    assert_eq!(dom.matches("class=\"quota-bar\"").count(), 2, "{dom}");
    assert!(dom.contains("id=\"recent\""), "{dom}");
    assert!(dom.contains("claude-quota-warn"), "{dom}");
    assert!(!dom.contains("<script"), "the page needs no script");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        run(&[format!("--screenshot={}", shot.display())]).output(),
    )
    .await;
    assert!(shot.exists(), "no screenshot at {}", shot.display());
}

/// A tool on PATH (or in /usr/bin); skips (fails in CI) without it.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        support::skip_or_fail(&format!(
            "{name} is not installed (Debian's package; .ci/run installs it)"
        ));
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
