//! The plan's usage windows before the first request: the daemon asks the real CLI 2.1.332
//! (`get_usage` on a short-lived process of its own), the CLI asks Anthropic's usage
//! endpoint — here a local TLS stand-in (tests/support/tls_standin.rs) reached through
//! `HTTPS_PROXY` — and the windows reach /health, the status page (headless Chromium),
//! `claude-max-proxy status` and /metrics, with no request to the Messages API. A
//! setup-token login is told how to see its windows; the usage is asked at most once per
//! `quota_refresh_secs`; a bare upstream 429 names the used-up window from the usage; a
//! usage process that hangs neither blocks requests nor outlives its timeout.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use support::mock_anthropic::{Credential, MockAnthropic};
use support::tls_standin::{self, PROFILE_TOKEN, StandIn, iso, window};
use support::{Daemon, DaemonOptions, eventually};

/// The stored login of a `setup-token` style (inference scope only).
const SETUP_TOKEN: &str = "sk-ant-oat01-setup-token-style";

const MODELS: &str = "models = [\"claude-plain\", \"claude-err-429\", \"claude-quota-warn\"]\n";

/// Unix seconds now.
fn now() -> i64 {
    claude_max_proxy::clock::now()
}

/// When the stand-in's windows reset: the 5-hour one in 2 h 13 min (rounded to the minute),
/// the weekly ones in 3 days; fixed once per test run, so that every test compares the
/// same moment.
fn resets() -> (i64, i64) {
    static RESETS: std::sync::OnceLock<(i64, i64)> = std::sync::OnceLock::new();
    *RESETS.get_or_init(|| {
        let now = now();
        (
            now / 60 * 60 + 2 * 3600 + 13 * 60,
            now / 3600 * 3600 + 3 * 86_400,
        )
    })
}
fn five_hour_reset() -> i64 {
    resets().0
}
fn weekly_reset() -> i64 {
    resets().1
}

/// The usage endpoint's answer: five-hour 42 %, weekly 17 %, weekly Opus 63 %, OAuth apps
/// 8 %, a model-scoped weekly row "Fable" at 31 %, extra usage 12.34 of 50.00 USD.
fn usage_answer(five_hour_percent: f64) -> Value {
    let week = weekly_reset();
    json!({
        "five_hour": window(five_hour_percent, five_hour_reset()),
        "seven_day": window(17.0, week),
        "seven_day_opus": window(63.0, week),
        "seven_day_sonnet": null,
        "seven_day_oauth_apps": window(8.0, week),
        "limits": [{"kind": "weekly_scoped", "group": "weekly", "percent": 31.0,
                    "resets_at": iso(week), "severity": "normal", "is_active": false,
                    "scope": {"model": {"display_name": "Fable"}}}],
        "extra_usage": {"is_enabled": true, "monthly_limit": 5000, "used_credits": 1234,
                        "utilization": 24.68, "currency": "USD"},
    })
}

/// The real CLI against the mock Messages API, with Anthropic's other hosts answered by a
/// stand-in, and the usage check on every `refresh_secs`. `profile_login`: the CLI's own
/// claude.ai login with the profile scope in its HOME (true), or a token stored by
/// `claude-max-proxy login` (false).
async fn start(refresh_secs: u64, profile_login: bool) -> Option<(MockAnthropic, StandIn, Daemon)> {
    start_with(refresh_secs, profile_login, usage_answer(42.0)).await
}

/// [`start`] with the usage endpoint answering `usage`.
async fn start_with(
    refresh_secs: u64,
    profile_login: bool,
    usage: Value,
) -> Option<(MockAnthropic, StandIn, Daemon)> {
    let cli = support::real_claude()?;
    let mock = MockAnthropic::start().await;
    // The mock refuses credentials it was not told about: these logins are the test's own.
    mock.accept(Credential::OAuthToken(PROFILE_TOKEN.to_string()));
    mock.accept(Credential::OAuthToken(SETUP_TOKEN.to_string()));
    let standin = StandIn::start().await;
    standin.set_usage(usage);
    let mut options = DaemonOptions {
        cli: Some(cli),
        ..DaemonOptions::default()
    }
    .config(MODELS)
    .env("ANTHROPIC_BASE_URL", &mock.base_url())
    .env("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "0")
    // The harness turns the usage check off for every daemon; these tests are about it.
    .env(
        "CLAUDE_MAX_PROXY_QUOTA_REFRESH_SECS",
        &refresh_secs.to_string(),
    );
    for (key, value) in standin.cli_env() {
        options = options.env(&key, &value);
    }
    options = if profile_login {
        options.home_file(
            ".claude/.credentials.json",
            &tls_standin::credentials_json(),
        )
    } else {
        let stored = json!({"token": SETUP_TOKEN, "expires_at": now() + 300 * 86_400,
                            "created_at": now()});
        standin.refuse_usage_for(SETUP_TOKEN);
        options.home_file(
            ".local/share/claude-max-proxy/token.json",
            &stored.to_string(),
        )
    };
    let daemon = Daemon::start(options).await;
    Some((mock, standin, daemon))
}

/// /health once the usage check has answered (bounded: a cold CLI on a busy machine).
async fn health_with_usage(daemon: &Daemon) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let health = daemon.health().await;
        if health["quota"]["usage_check"]["answered_at"].is_i64() {
            return health;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the usage check never answered: {health}\n{}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn window_of<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["quota"]["windows"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["window"] == name))
        .unwrap_or_else(|| panic!("no {name} window: {health}"))
}

async fn status_output(daemon: &Daemon) -> String {
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
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A daemon that has served nothing shows every window of the plan — five-hour, weekly,
/// weekly Opus, OAuth apps, the model-scoped "Fable" — the plan and the extra-usage spend,
/// in /health, `status` and /metrics; the CLI asked the usage endpoint with the CLI's own
/// login, the Messages API saw nothing, and no CLI process is left.
#[tokio::test]
async fn a_daemon_that_served_nothing_shows_the_plans_windows() {
    let Some((mock, standin, daemon)) = start(60, true).await else {
        return;
    };
    let health = health_with_usage(&daemon).await;
    let quota = &health["quota"];
    assert_eq!(quota["subscription_type"], "max", "{health}");
    assert_eq!(quota["windows_visible"], true);
    assert!(quota["blind"].is_null());
    let five = window_of(&health, "five_hour");
    assert_eq!(five["utilization"], 0.42);
    assert_eq!(five["resets_at"], five_hour_reset());
    assert_eq!(five["source"], "get_usage");
    assert_eq!(window_of(&health, "seven_day")["utilization"], 0.17);
    assert_eq!(window_of(&health, "seven_day_opus")["utilization"], 0.63);
    assert_eq!(
        window_of(&health, "seven_day_oauth_apps")["utilization"],
        0.08
    );
    let fable = window_of(&health, "model_scoped");
    assert_eq!(fable["model"], "Fable");
    assert_eq!(fable["label"], "weekly Fable");
    assert_eq!(fable["utilization"], 0.31);
    assert_eq!(fable["resets_at"], weekly_reset());
    assert_eq!(
        quota["windows"].as_array().map(Vec::len),
        Some(5),
        "{health}"
    );
    assert_eq!(
        quota["extra_usage"]["text"],
        "12.34 of 50.00 USD spent this billing period"
    );

    assert!(
        mock.requests().is_empty(),
        "the usage check reached the Messages API: {:?}",
        mock.requests()
    );
    let usage: Vec<_> = standin
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/api/oauth/usage"))
        .collect();
    assert!(!usage.is_empty());
    assert!(
        usage
            .iter()
            .all(|s| s.authorization.as_deref() == Some(&format!("Bearer {PROFILE_TOKEN}"))),
        "{usage:?}"
    );

    let status = status_output(&daemon).await;
    assert!(status.contains("plan: Max"), "{status}");
    let five = status
        .lines()
        .find(|l| l.contains("5-hour"))
        .unwrap_or_else(|| panic!("no 5-hour line: {status}"));
    assert!(
        five.contains("42%") && five.contains("by the usage check"),
        "{five}"
    );
    let local = claude_max_proxy::clock::local_date_time(five_hour_reset());
    assert!(five.contains(&local), "{five} should name {local}");
    assert!(five.contains("(in 2 h 1"), "{five}");
    for (label, used) in [
        ("weekly Opus", "63%"),
        ("weekly OAuth apps", "8%"),
        ("weekly Fable", "31%"),
        ("extra usage", "25%"),
    ] {
        let line = status
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no {label} line: {status}"));
        assert!(line.contains(used), "{line}");
    }

    let metrics = reqwest::get(daemon.url("/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    for (series, value) in [
        (
            "claude_max_proxy_quota_utilization{window=\"model_scoped\",model=\"Fable\"}",
            0.31,
        ),
        (
            "claude_max_proxy_quota_utilization{window=\"five_hour\"}",
            0.42,
        ),
        ("claude_max_proxy_plan_info{subscription_type=\"max\"}", 1.0),
        ("claude_max_proxy_quota_windows_visible", 1.0),
        ("claude_max_proxy_extra_usage_used_credits", 1234.0),
    ] {
        assert_eq!(sample(&metrics, series), Some(value), "{series}\n{metrics}");
    }

    let pid = daemon.pid();
    assert!(
        eventually(Duration::from_secs(10), || support::descendants(pid)
            .is_empty())
        .await,
        "a usage process was left: {:?}",
        support::descendants(pid)
    );
}

/// Headless Chromium renders one bar per window (and one for extra usage) with its reset
/// in local time and "in N h M min", and says the plan.
#[tokio::test]
async fn the_status_page_draws_a_bar_per_window() {
    let Some(chromium) = tool("chromium") else {
        return;
    };
    let Some((_mock, _standin, daemon)) = start(60, true).await else {
        return;
    };
    health_with_usage(&daemon).await;
    let dom = dump_dom(&chromium, &daemon.url("/")).await;
    assert_eq!(dom.matches("class=\"quota-bar\"").count(), 6, "{dom}");
    for key in [
        "five_hour",
        "seven_day",
        "seven_day_opus",
        "seven_day_oauth_apps",
        "model_scoped",
        "extra_usage",
    ] {
        assert!(
            dom.contains(&format!("data-window=\"{key}\"")),
            "{key}: {dom}"
        );
    }
    assert!(dom.contains("7-day Fable"), "{dom}");
    assert!(dom.contains("Plan: <strong>Max</strong>"), "{dom}");
    let local = claude_max_proxy::clock::local_date_time(five_hour_reset());
    assert!(dom.contains(&format!("resets {local} (in 2 h 1")), "{dom}");
    assert!(dom.contains("12.34 of 50.00 USD"), "{dom}");
    assert!(dom.contains("id=\"quota-freshness\""), "{dom}");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page-plan.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().expect("profile");
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                "--window-size=1400,1500",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--screenshot={}", shot.display()))
            .arg(daemon.url("/"))
            .kill_on_drop(true)
            .output(),
    )
    .await;
    assert!(shot.exists(), "no screenshot at {}", shot.display());
}

/// A setup-token login (the kind `claude-max-proxy login` stores) cannot see the windows:
/// /health, the page and `status` say so with the fix, the usage endpoint is not asked with
/// that token, and the windows an answer's rate-limit headers report are still shown.
#[tokio::test]
async fn a_setup_token_login_is_told_how_to_see_its_windows() {
    let Some((mock, standin, daemon)) = start(60, false).await else {
        return;
    };
    let health = health_with_usage(&daemon).await;
    let quota = &health["quota"];
    assert_eq!(health["auth"]["source"], "stored-token", "{health}");
    assert_eq!(quota["windows_visible"], false, "{health}");
    assert!(quota["subscription_type"].is_null());
    let fix = quota["blind"]["fix"].as_str().unwrap_or_default();
    assert!(fix.contains("claude-max-proxy login --cli"), "{fix}");
    assert!(fix.contains("claude auth login"), "{fix}");
    assert_eq!(standin.usage_requests(), 0, "{:?}", standin.seen());

    let page = reqwest::get(daemon.url("/"))
        .await
        .expect("GET /")
        .text()
        .await
        .expect("page");
    assert!(page.contains("id=\"quota-blind\""), "{page}");
    assert!(page.contains("claude-max-proxy login --cli"), "{page}");
    let status = status_output(&daemon).await;
    assert!(status.contains("quota windows: not visible"), "{status}");
    assert!(
        status.contains("fix: Run `claude-max-proxy login --cli`"),
        "{status}"
    );

    let answered = reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(&json!({"model": "claude-quota-warn",
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(answered.status(), 200);
    let health = daemon.health().await;
    let five = window_of(&health, "five_hour");
    assert_eq!(five["source"], "rate_limit_event");
    assert_eq!(five["utilization"], 0.87);
    assert_eq!(health["quota"]["windows_visible"], false);
    assert_eq!(mock.message_requests().len(), 1);
}

/// The usage is asked at start and then at most once per `quota_refresh_secs` (3 s here),
/// however often the page is read: over ~10 s of refreshes every 200 ms, the stand-in sees
/// at most 1 + elapsed/3 usage processes (each CLI process asks /api/claude_cli/bootstrap
/// once) and more than one; the usage endpoint itself at most that often (the CLI keeps an
/// answer 60 s and gives that to a process asking sooner: measured with CLI 2.1.332).
#[tokio::test]
async fn the_usage_is_asked_at_most_once_per_interval() {
    let started = tokio::time::Instant::now();
    let Some((mock, standin, daemon)) = start(3, true).await else {
        return;
    };
    health_with_usage(&daemon).await;
    let reads_until = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut reads = 0;
    while tokio::time::Instant::now() < reads_until {
        let page = reqwest::get(daemon.url("/")).await.expect("GET /");
        assert_eq!(page.status(), 200);
        reads += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // An ask started before the reads ended may still be under way: let it finish.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let processes = standin
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/api/claude_cli/bootstrap"))
        .count();
    let most = 1 + (elapsed / 3.0).floor() as usize;
    let health = daemon.health().await;
    assert!(
        processes >= 2 && processes <= most,
        "{processes} usage processes over {elapsed:.1} s and {reads} page reads (at most \
         {most}): {}",
        health["quota"]
    );
    let endpoint = standin.usage_requests();
    assert!(
        (1..=processes).contains(&endpoint),
        "{endpoint} usage endpoint requests for {processes} processes"
    );
    assert!(mock.requests().iter().all(|r| !r.is_message_request()));
}

/// A bare upstream 429 (no rate-limit headers) names the used-up window the usage check
/// reported, with Retry-After until its reset.
#[tokio::test]
async fn a_bare_429_names_the_window_from_the_usage() {
    let Some((mock, _standin, daemon)) = start_with(60, true, usage_answer(100.0)).await else {
        return;
    };
    health_with_usage(&daemon).await;
    let refused = reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(&json!({"model": "claude-err-429",
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 429);
    let retry: i64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    let body: Value = refused.json().await.expect("json");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    let expected = five_hour_reset() - now();
    assert!(
        (retry - expected).abs() <= 5,
        "Retry-After {retry}, expected ~{expected}: {message}"
    );
    assert!(
        message.contains("5-hour") && message.contains("resets at"),
        "{message}"
    );
    assert_eq!(mock.message_requests().len(), 1);
}

/// A usage process that never answers (fake CLI) does not hold up requests, even with one
/// CLI slot, and is ended at its timeout with the reason in /health; nothing is left.
#[tokio::test]
async fn a_hung_usage_process_blocks_nothing_and_is_ended() {
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .config("max_concurrent = 1\n")
            .env("CLAUDE_MAX_PROXY_QUOTA_REFRESH_SECS", "60")
            .env("FAKE_CLAUDE_USAGE", "hang"),
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || daemon
            .fake_records()
            .iter()
            .any(|r| r["control_requests"][0] == "get_usage"))
        .await,
        "no usage process started"
    );
    let answered = tokio::time::timeout(
        Duration::from_secs(10),
        daemon.post_chat(&json!({"model": "claude-opus-4",
                                 "messages": [{"role": "user", "content": "hi"}]})),
    )
    .await
    .expect("the request waited for the usage process");
    assert_eq!(answered.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let error = loop {
        let health = daemon.health().await;
        if let Some(error) = health["quota"]["usage_check"]["error"].as_str() {
            break error.to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(error.contains("did not answer within"), "{error}");
    let pid = daemon.pid();
    assert!(
        eventually(Duration::from_secs(5), || support::descendants(pid)
            .is_empty())
        .await,
        "left: {:?}",
        support::descendants(pid)
    );
}

/// The value of the first sample line that starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(&format!("{series} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn dump_dom(chromium: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finished")
    .expect("run chromium");
    String::from_utf8_lossy(&output.stdout).into_owned()
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
