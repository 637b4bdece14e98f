//! Every input bounded (issue 20): what a client chooses — model names, tool lists, bodies of
//! tiny parts — and what the environment hands the daemon cannot grow its memory, forge its
//! log, stall its other connections or leave files behind; each case against the real daemon
//! (fake CLI unless said otherwise).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, eventually};

/// The `x-request-id` of a response.
fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_string()
}

async fn text_of(daemon: &Daemon, path: &str) -> String {
    reqwest::get(daemon.url(path))
        .await
        .expect("GET")
        .text()
        .await
        .expect("body")
}

/// Model names a client makes up (unique, 1 MB each) become no metric label and reach the
/// log and the status page cut short: /metrics and / stay small, the log lines short.
#[tokio::test]
async fn made_up_model_names_are_neither_labels_nor_kept_whole() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let client = reqwest::Client::new();
    let filler = "x".repeat(1 << 20);
    let mut ids = Vec::new();
    for i in 0..20 {
        let body = json!({"model": format!("made-up-{i}-{filler}"),
                          "messages": [{"role": "user", "content": "hi"}]});
        let response = client
            .post(daemon.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 404);
        ids.push(request_id(&response));
        let error: Value = response.json().await.expect("error body");
        let message = error["error"]["message"].as_str().unwrap_or("");
        assert!(message.len() < 1024, "the error echoes the name whole");
    }
    let served = json!({"model": "claude-opus-4",
        "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(daemon.post_chat(&served).await.status(), 200);

    let metrics = text_of(&daemon, "/metrics").await;
    assert!(
        metrics.len() < 64 * 1024,
        "/metrics is {} bytes",
        metrics.len()
    );
    assert!(!metrics.contains("made-up-"), "a made-up name is a label");
    assert!(metrics.contains(r#"model="unknown""#), "{metrics}");
    assert!(metrics.contains(r#"model="claude-opus-4""#), "{metrics}");

    let page = text_of(&daemon, "/").await;
    assert!(page.len() < 256 * 1024, "the page is {} bytes", page.len());
    assert!(
        page.contains("made-up-19-xxx"),
        "the page names the request"
    );
    assert!(!page.contains(&"x".repeat(100)));

    let last = ids.last().expect("ids").clone();
    assert!(eventually(Duration::from_secs(5), || daemon.stderr().contains(&last)).await);
    for id in &ids {
        let line = daemon
            .stderr()
            .lines()
            .find(|l| l.contains(id.as_str()))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no log line for {id}"));
        assert!(line.len() < 1024, "a log line of {} bytes", line.len());
    }
}

/// A model name with a newline and escape sequences cannot write a line of its own into
/// the text log, nor reach the terminal raw: it stays inside its request's line, escaped.
#[tokio::test]
async fn a_model_name_cannot_forge_log_lines() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    // Within the 64 characters the log keeps.
    let forged = "x\nINFO claude_max_proxy::request: id=FORGED status=200\u{1b}[2J\u{7}\r";
    let response = daemon
        .post_chat(&json!({"model": forged,
                           "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(response.status(), 404);
    let id = request_id(&response);
    assert!(eventually(Duration::from_secs(5), || daemon.stderr().contains(&id)).await);
    let log = daemon.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("FORGED")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains(&id), "a line of its own: {}", lines[0]);
    assert!(lines[0].contains(r"x\nINFO"), "{}", lines[0]);
    assert!(!log.contains('\u{1b}'), "an ESC byte reached the log");
    assert!(!log.contains('\u{7}') && !log.contains('\r'), "{log:?}");
}

/// One of our variables that is not UTF-8 stops the start with exit code 2, naming it: a
/// dropped `CLAUDE_MAX_PROXY_API_KEY` would run the daemon without a key, a dropped
/// `..._METRICS_REQUIRES_KEY` would leave /metrics open.
#[tokio::test]
async fn an_unreadable_variable_of_ours_stops_the_start() {
    use std::os::unix::ffi::OsStrExt;
    for name in [
        "CLAUDE_MAX_PROXY_API_KEY",
        "CLAUDE_MAX_PROXY_METRICS_REQUIRES_KEY",
    ] {
        let home = tempfile::tempdir().expect("home");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-max-proxy"))
            .args(["serve", "--port", "0", "--listen", "127.0.0.1"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("CLAUDE_MAX_PROXY_CLI_PATH", support::fake_claude())
            .env(name, std::ffi::OsStr::from_bytes(b"secret\xff"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the daemon");
        let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("the daemon started without {name}"))
            .expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(name), "{stderr}");
    }
}
