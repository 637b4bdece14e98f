//! The holes an attacker or an unlucky user found, each reproduced against the real daemon
//! and the fake CLI: cross-site and DNS-rebinding requests, connections that never end, slow
//! and oversized bodies, reloads that doubled the CLI limit or dropped the listener, a killed
//! daemon's leftovers, a shared work root, a non-UTF-8 environment and double log lines.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, alive, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn chat(content: &str, stream: bool) -> Value {
    json!({"model": "claude-opus-4", "stream": stream,
           "messages": [{"role": "user", "content": content}]})
}

/// Sends one raw HTTP/1.1 request (closing the connection) and returns status and body.
fn raw(daemon: &Daemon, head: &str, body: &str) -> (u16, String) {
    let mut stream =
        StdTcpStream::connect(("127.0.0.1", daemon.port)).expect("connect to the daemon");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let request = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn error_code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn health(daemon: &Daemon) -> Value {
    daemon.health().await
}

/// A web page's "simple" cross-site POST (text/plain, foreign Origin) and a body that is not
/// JSON never reach the CLI; a plain JSON client still works.
#[tokio::test]
async fn cross_site_requests_never_reach_the_cli() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let host = format!("Host: 127.0.0.1:{}", daemon.port);
    let body = chat("hello", false).to_string();
    let (status, text) = raw(
        &daemon,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\n{host}\r\nOrigin: https://evil.example\r\nContent-Type: text/plain"
        ),
        &body,
    );
    assert_eq!(status, 403, "{text}");
    assert_eq!(error_code(&text), "origin_not_allowed");
    let (status, text) = raw(
        &daemon,
        &format!("POST /v1/chat/completions HTTP/1.1\r\n{host}\r\nContent-Type: text/plain"),
        &body,
    );
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("application/json"), "{text}");
    let (status, _) = raw(
        &daemon,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\n{host}\r\nOrigin: https://evil.example\r\nContent-Type: application/json"
        ),
        &body,
    );
    assert_eq!(status, 403);
    let (status, _) = raw(
        &daemon,
        &format!("GET /health HTTP/1.1\r\n{host}\r\nOrigin: https://evil.example"),
        "",
    );
    assert_eq!(status, 403, "a foreign page cannot read /health either");
    assert!(
        daemon.fake_records().is_empty(),
        "a refused request ran the CLI"
    );

    let (status, text) = raw(
        &daemon,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\n{host}\r\nOrigin: http://127.0.0.1:{}\r\nContent-Type: application/json",
            daemon.port
        ),
        &body,
    );
    assert_eq!(status, 200, "our own origin is fine: {text}");
    assert_eq!(daemon.fake_records().len(), 1);
}

/// A request whose Host is a foreign name (a DNS-rebinding page) is refused on every route;
/// `allowed_hosts` admits a name on purpose.
#[tokio::test]
async fn rebinding_host_names_are_refused_everywhere() {
    let daemon =
        Daemon::start(DaemonOptions::fake().config("allowed_hosts = [\"proxy.test\"]\n")).await;
    let foreign = format!("Host: rebind.attacker.example:{}", daemon.port);
    for head in [
        format!("GET /health HTTP/1.1\r\n{foreign}"),
        format!("GET /v1/models HTTP/1.1\r\n{foreign}"),
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\n{foreign}\r\nContent-Type: application/json"
        ),
    ] {
        let (status, text) = raw(&daemon, &head, &chat("hello", false).to_string());
        assert_eq!(status, 403, "{head}: {text}");
        assert_eq!(error_code(&text), "host_not_allowed");
        assert!(text.contains("allowed_hosts"), "{text}");
    }
    assert!(
        daemon.fake_records().is_empty(),
        "a refused request ran the CLI"
    );
    for name in ["proxy.test", "localhost", "host.docker.internal"] {
        let (status, text) = raw(
            &daemon,
            &format!("GET /health HTTP/1.1\r\nHost: {name}:{}", daemon.port),
            "",
        );
        assert_eq!(status, 200, "{name}: {text}");
    }
}

/// `check_host = false` is refused without an API key.
#[tokio::test]
async fn host_check_can_be_relaxed_only_with_a_key() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-max-proxy"))
        .args(["config", "show"])
        .env("CLAUDE_MAX_PROXY_CHECK_HOST", "false")
        .env_remove("CLAUDE_MAX_PROXY_API_KEY")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .await
        .expect("run config show");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("check_host"));
}

/// 250 connections that never send a byte, with a soft open-file limit of 200, do not stop
/// /health (the daemon raises the limit); they are closed after `connection_idle_secs`, and
/// so is a connection that sent only an HTTP/2 preface.
#[tokio::test]
async fn silent_connections_are_bounded_and_time_out() {
    let mut options = DaemonOptions::fake().config("connection_idle_secs = 2\n");
    options.nofile_soft = Some(200);
    let daemon = Daemon::start(options).await;
    let mut silent = Vec::new();
    for _ in 0..250 {
        silent.push(
            TcpStream::connect(("127.0.0.1", daemon.port))
                .await
                .expect("connect"),
        );
    }
    let mut h2 = TcpStream::connect(("127.0.0.1", daemon.port))
        .await
        .expect("connect h2");
    // The HTTP/2 preface and an empty SETTINGS frame, then nothing.
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("preface");
    let health = tokio::time::timeout(Duration::from_secs(5), health(&daemon))
        .await
        .expect("/health answered while 250 silent connections were open");
    assert!(
        health["connections"]["open"].as_u64().unwrap_or(0) >= 250,
        "{health}"
    );

    // Every silent connection is closed by the daemon within a few seconds.
    for stream in silent.iter_mut().chain(std::iter::once(&mut h2)) {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(read.is_ok(), "a silent connection was not closed");
    }
    let health = health_eventually(&daemon, |h| h["connections"]["open"].as_u64() == Some(1)).await;
    assert!(
        health["connections"]["timed_out"].as_u64().unwrap_or(0) >= 251,
        "{health}"
    );
}

async fn health_eventually(daemon: &Daemon, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let h = health(daemon).await;
        if check(&h) || tokio::time::Instant::now() >= deadline {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Over `max_connections`, new connections are closed at once and counted.
#[tokio::test]
async fn the_connection_cap_refuses_cheaply() {
    let daemon = Daemon::start(
        DaemonOptions::fake().config("max_connections = 3\nconnection_idle_secs = 30\n"),
    )
    .await;
    // Each held connection gets an answer, so the daemon has taken (and counts) all three
    // before the extra one arrives; keep-alive holds them open.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(("127.0.0.1", daemon.port))
            .await
            .expect("connect");
        let request = format!(
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            daemon.port
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
                .await
                .expect("a held connection was answered")
                .expect("read");
            assert!(n > 0, "a held connection was closed");
            answer.extend_from_slice(&buf[..n]);
        }
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
        held.push(stream);
    }
    let mut extra = TcpStream::connect(("127.0.0.1", daemon.port))
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the connection over the cap was not closed at once"
    );
    drop(held);
    let health =
        health_eventually(&daemon, |h| h["connections"]["refused"].as_u64() >= Some(1)).await;
    assert!(
        health["connections"]["refused"].as_u64() >= Some(1),
        "{health}"
    );
    assert_eq!(health["connections"]["max"], 3);
}

/// Bodies being read share `body_budget_bytes` (503 with Retry-After beyond it) and must
/// arrive within `body_read_timeout_secs` (408).
#[tokio::test]
async fn slow_and_large_bodies_are_bounded() {
    let daemon = Daemon::start(DaemonOptions::fake().config(
        "max_body_bytes = 1048576\nbody_budget_bytes = 1048576\nbody_read_timeout_secs = 2\n",
    ))
    .await;
    // A client that declares 900 kB, sends a little and stalls.
    let mut stalled = TcpStream::connect(("127.0.0.1", daemon.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n{{\"model\":",
        daemon.port
    );
    stalled.write_all(head.as_bytes()).await.expect("write");
    // The stalled upload holds its 900 kB of the budget before the next one comes.
    let reading = health_eventually(&daemon, |h| {
        h["body_bytes_reading"].as_u64() >= Some(900_000)
    })
    .await;
    assert!(
        reading["body_bytes_reading"].as_u64() >= Some(900_000),
        "{reading}"
    );

    let big = format!(
        "{{\"model\":\"claude-opus-4\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "x".repeat(800_000)
    );
    let response = reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let health = health(&daemon).await;
    assert!(
        health["body_bytes_reading"].as_u64() >= Some(900_000),
        "{health}"
    );

    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stalled.read_to_string(&mut answer))
        .await
        .expect("the stalled upload was not answered")
        .ok();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_read_timeout_secs"), "{answer}");
    let health = health_eventually(&daemon, |h| h["body_bytes_reading"] == 0).await;
    assert_eq!(health["body_bytes_reading"], 0);
    assert!(daemon.fake_records().is_empty());
}

/// With `max_concurrent = 1`, a reload never lets a second CLI start beside a running one,
/// /health keeps counting the old run, and a run from before the reload that shutdown ends
/// is reported as 503, not as a crashed CLI.
#[tokio::test]
async fn reload_keeps_the_concurrency_limit() {
    let daemon = Daemon::start(
        DaemonOptions::fake().config("max_concurrent = 1\nshutdown_grace_secs = 1\n"),
    )
    .await;
    let client = reqwest::Client::new();
    let first = tokio::spawn(
        client
            .post(daemon.url("/v1/chat/completions"))
            .json(&chat("@fake:hang", false))
            .send(),
    );
    assert!(eventually(Duration::from_secs(10), || daemon.fake_records().len() == 1).await);
    let reloads = |daemon: &Daemon| daemon.stderr().matches("configuration reloaded").count();
    for done in 1..=3 {
        support::send_signal(daemon.pid(), libc::SIGHUP);
        assert!(
            eventually(Duration::from_secs(10), || reloads(&daemon) == done).await,
            "reload {done} was not applied: {}",
            daemon.stderr()
        );
    }
    let second = tokio::spawn(
        client
            .post(daemon.url("/v1/chat/completions"))
            .json(&chat("hello", false))
            .send(),
    );
    // The second request arrives and waits: the one slot is still the first run's.
    let h = health_eventually(&daemon, |h| h["queued"] == 1).await;
    assert_eq!(h["queued"], 1, "{h}");
    assert_eq!(h["in_flight"], 1, "{h}");

    // Shutdown ends both; had the second run started at any time, it would have answered
    // (200) and its CLI would have left a record.
    let mut daemon = daemon;
    support::send_signal(daemon.pid(), libc::SIGTERM);
    let first = first.await.expect("join").expect("first response");
    assert_eq!(first.status(), 503, "{:?}", first.text().await);
    let second = second.await.expect("join").expect("second response");
    assert_eq!(second.status(), 503, "the queued request never ran");
    let status = daemon.terminate().await;
    assert!(status.success());
    assert_eq!(
        daemon.fake_records().len(),
        1,
        "a second CLI ran after reload"
    );
}

/// A reload to a port that is taken keeps the old listener (and says why).
#[tokio::test]
async fn reload_to_a_busy_port_keeps_listening() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("busy port");
    let busy_port = busy.local_addr().expect("addr").port();
    let mut options =
        DaemonOptions::fake().config(&format!("listen = [\"127.0.0.1\"]\nport = {port}\n"));
    options.no_default_listen = true;
    let daemon = Daemon::start(options).await;
    std::fs::write(
        daemon.config_path(),
        format!("listen = [\"127.0.0.1\"]\nport = {busy_port}\n"),
    )
    .expect("rewrite config");
    support::send_signal(daemon.pid(), libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || daemon
            .stderr()
            .contains("could not be bound"))
        .await,
        "{}",
        daemon.stderr()
    );
    let h = health(&daemon).await;
    assert_eq!(h["status"], "ok");
    assert_eq!(
        h["listeners"],
        json!([format!("http://127.0.0.1:{port}")]),
        "{h}"
    );
    drop(busy);
}

/// Starts a multi-turn request whose fake CLI starts a grandchild in its group, and waits
/// until both run: (cli pid, grandchild pid).
async fn start_cli_with_grandchild(
    daemon: &Daemon,
) -> (
    u32,
    u32,
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    let client = reqwest::Client::new();
    let multi_turn = json!({"model": "claude-opus-4", "stream": true, "messages": [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "@fake:grandchild"}]});
    let pending = tokio::spawn(
        client
            .post(daemon.url("/v1/chat/completions"))
            .json(&multi_turn)
            .send(),
    );
    assert!(
        eventually(Duration::from_secs(10), || daemon
            .fake_records()
            .iter()
            .any(|r| r["grandchild_pid"].as_u64().is_some()))
        .await
    );
    let record = daemon.fake_records().pop().expect("record");
    let cli = record["pid"].as_u64().expect("cli pid") as u32;
    let grandchild = record["grandchild_pid"].as_u64().expect("grandchild pid") as u32;
    (cli, grandchild, pending)
}

/// A daemon killed with SIGKILL takes its CLIs' whole process groups with it at once: its
/// guardian process reads the end of its pipe and kills every group still registered
/// (the CLI's parent-death signal ends the CLI but not its grandchild), then exits itself.
#[tokio::test]
async fn a_killed_daemon_takes_its_cli_groups_along() {
    let mut daemon = Daemon::start(DaemonOptions::fake()).await;
    let guardian = support::guardian_of(daemon.pid()).expect("the daemon starts a guardian");
    let (cli, grandchild, pending) = start_cli_with_grandchild(&daemon).await;

    support::send_signal(daemon.pid(), libc::SIGKILL);
    let _ = daemon.child.wait().await;
    let _ = pending.await;
    assert!(
        eventually(Duration::from_secs(5), || !alive(cli)).await,
        "the CLI outlived its daemon"
    );
    assert!(
        eventually(Duration::from_secs(5), || !alive(grandchild)).await,
        "the CLI's grandchild outlived the daemon"
    );
    assert!(
        eventually(Duration::from_secs(5), || !alive(guardian)).await,
        "the guardian outlived the daemon"
    );
}

/// When the guardian is gone (killed first), the CLIs started after it still die with
/// the daemon (their parent-death signal, set because no guardian runs) and the next start
/// kills what they left running (a grandchild) and removes the run directories and session
/// files.
#[tokio::test]
async fn a_killed_daemon_leaves_nothing_after_a_restart() {
    let mut first = Daemon::start(DaemonOptions::fake()).await;
    let guardian = support::guardian_of(first.pid()).expect("the daemon starts a guardian");
    support::send_signal(guardian, libc::SIGKILL);
    assert!(eventually(Duration::from_secs(5), || !alive(guardian)).await);

    let (cli, grandchild, pending) = start_cli_with_grandchild(&first).await;
    let projects = first.home.path().join(".claude/projects");
    assert!(run_dirs(first.work_dir.path()) == 1);
    assert!(entries(&projects) >= 1, "the session file was written");
    support::send_signal(first.pid(), libc::SIGKILL);
    let _ = first.child.wait().await;
    let _ = pending.await;
    assert!(
        eventually(Duration::from_secs(5), || !alive(cli)).await,
        "the CLI outlived its daemon"
    );
    assert!(
        alive(grandchild),
        "nothing but the sweep ends the grandchild"
    );

    let second = Daemon::start(
        DaemonOptions::fake()
            .env(
                "CLAUDE_MAX_PROXY_WORK_DIR",
                &first.work_dir.path().display().to_string(),
            )
            .env("HOME", &first.home.path().display().to_string()),
    )
    .await;
    assert!(
        eventually(Duration::from_secs(5), || !alive(grandchild)).await,
        "the restart left the killed daemon's grandchild running"
    );
    assert_eq!(
        run_dirs(first.work_dir.path()),
        0,
        "a stale run directory stayed"
    );
    assert_eq!(entries(&projects), 0, "a stale session directory stayed");
    assert!(
        eventually(Duration::from_secs(5), || second
            .stderr()
            .contains("earlier claude-max-proxy"))
        .await,
        "{}",
        second.stderr()
    );
}

fn run_dirs(root: &std::path::Path) -> usize {
    std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("run"))
                .count()
        })
        .unwrap_or(0)
}

fn entries(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// The default work root under `$XDG_RUNTIME_DIR` is used when it exists, and one that
/// others can enter is refused with a message.
#[tokio::test]
async fn a_shared_work_root_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let runtime = tempfile::tempdir().expect("runtime dir");
    let root = runtime.path().join("claude-max-proxy");
    std::fs::create_dir(&root).expect("root");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let home = tempfile::tempdir().expect("home");
    let daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-max-proxy"))
        .args(["--port", "0", "--listen", "127.0.0.1"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), daemon)
        .await
        .expect("the daemon started in a shared work root instead of refusing it")
        .expect("run daemon");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("open to other users"), "{stderr}");
    assert!(stderr.contains(&root.display().to_string()), "{stderr}");
}

/// A variable that is not UTF-8 does not stop the commands (it used to panic, exit 101).
#[tokio::test]
async fn a_non_utf8_environment_is_fine() {
    use std::os::unix::ffi::OsStrExt;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-max-proxy"))
        .args(["config", "show"])
        .env(
            "SOME_BINARY_VALUE",
            std::ffi::OsStr::from_bytes(b"\xff\xfe"),
        )
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .await
        .expect("run config show");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A failed request is logged once (one line, as for every request): refused before a
/// run, and failed by the CLI.
#[tokio::test]
async fn a_failed_request_is_logged_once() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let client = reqwest::Client::new();
    let bad_json = client
        .post(daemon.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json");
    let cli_error = client
        .post(daemon.url("/v1/chat/completions"))
        .json(&chat("@fake:api_error:500", false));
    for (request, status) in [(bad_json, 400), (cli_error, 502)] {
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), status);
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("request id")
            .to_string();
        assert!(eventually(Duration::from_secs(5), || daemon.stderr().contains(&id)).await);
        // A fence instead of a pause: once the run is over and a later request's line is
        // written, a second line for this one would have been written before it.
        health_eventually(&daemon, |h| h["in_flight"] == 0).await;
        let fence = client
            .post(daemon.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body("{fence")
            .send()
            .await
            .expect("send");
        let fence_id = fence.headers()["x-request-id"]
            .to_str()
            .expect("request id")
            .to_string();
        assert!(
            eventually(Duration::from_secs(5), || daemon
                .stderr()
                .contains(&fence_id))
            .await
        );
        let lines = daemon.stderr().lines().filter(|l| l.contains(&id)).count();
        assert_eq!(lines, 1, "{}", daemon.stderr());
    }
}
