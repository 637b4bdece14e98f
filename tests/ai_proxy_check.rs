//! `ai-proxy-check` on the host against the real daemon with the fake CLI: one test per
//! stage and exit code, `--json`, `--quiet` and `--wait` with a daemon that starts late, and
//! the request stage through each API (`--api chat|messages|responses`).
//! `AI_PROXY_CHECK_CONTAINER` pins where the check thinks it runs (this machine may itself be
//! a container), since some diagnoses depend on it.
//!
//! The check is its own workspace crate (crates/ai-proxy-check), so Cargo gives this file
//! no `CARGO_BIN_EXE_ai-proxy-check`: [`check_binary`] builds it with cargo once per run.

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use support::{Daemon, DaemonOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// What one run of the check printed and returned.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn both(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// The `ai-proxy-check` binary of this workspace, built once per test run by
/// `cargo build -p ai-proxy-check` (the profile of this test: dev, or release under
/// `--release`); its path is the one cargo reports for the artifact, wherever the target
/// directory is.
fn build_check_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = std::process::Command::new(cargo);
        command
            .args(["build", "-p", "ai-proxy-check", "--bin", "ai-proxy-check"])
            .arg("--message-format=json-render-diagnostics")
            .current_dir(support::root())
            .stderr(std::process::Stdio::inherit());
        if !cfg!(debug_assertions) {
            command.arg("--release");
        }
        let output = command.output().expect("run cargo build -p ai-proxy-check");
        assert!(
            output.status.success(),
            "cargo build -p ai-proxy-check failed (its errors are above)"
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find_map(|message| {
                let is_check = message["target"]["name"] == "ai-proxy-check";
                let executable = message["executable"].as_str()?;
                is_check.then(|| PathBuf::from(executable))
            })
            .expect("cargo reported no ai-proxy-check executable")
    })
}

/// [`build_check_binary`] off the runtime's thread.
async fn check_binary() -> &'static PathBuf {
    tokio::task::spawn_blocking(build_check_binary)
        .await
        .expect("build ai-proxy-check")
}

/// Runs the check with `args` and exactly the environment `env` (plus PATH).
async fn check(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(check_binary().await);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AI_PROXY_CHECK_CONTAINER", "none")
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("ai-proxy-check did not finish within 60 s")
        .expect("run ai-proxy-check");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    eprintln!("--- ai-proxy-check {args:?} → {}\n{}", run.code, run.both());
    run
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A one-route HTTP server that answers every request with `status` and `body`.
async fn canned_server(status: &'static str, body: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

/// Every stage passes against the daemon, including a streamed completion.
#[tokio::test]
async fn success_with_chat() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let run = check(&["--chat"], &[("AI_PROXY_URL", &daemon.base_url)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    for stage in ["url", "resolve", "connect", "health", "models", "chat"] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{stage} ")))
            .unwrap_or_else(|| panic!("no {stage} line in {}", run.stdout));
        assert!(line.contains(" ok "), "{line}");
        assert!(
            line.contains(" ms ") || line.contains(" s "),
            "no timing: {line}"
        );
    }
    assert!(
        run.stdout
            .contains("claude-max-proxy 0.1.0, backend claude-cli")
    );
    assert!(run.stdout.contains("no client key"), "{}", run.stdout);
    assert!(run.stdout.contains("first token after"), "{}", run.stdout);
    assert!(run.stdout.contains("ok: the proxy answers from here"));
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    // An OpenAI base URL (…/v1) and `localhost` work as well; --quiet prints nothing.
    let v1 = format!("{}/v1", daemon.base_url.replace("127.0.0.1", "localhost"));
    let run = check(&["--quiet", "--url", &v1], &[]).await;
    assert_eq!((run.code, run.both().as_str()), (0, ""));
}

/// The `chat` stage's line of a text report.
fn chat_line(run: &Run) -> &str {
    run.stdout
        .lines()
        .find(|l| l.trim_start().starts_with("chat "))
        .unwrap_or_else(|| panic!("no chat line in {}", run.stdout))
}

/// `--api messages`: the request goes to /v1/messages with `x-api-key` (the daemon has a
/// key, so only that header lets it through) and `anthropic-version`, and the answer is read
/// as the Messages API's named events. `--api chat` is what `--chat` always did.
#[tokio::test]
async fn api_messages_streams_through_the_messages_api() {
    let daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_API_KEY", "right-key")).await;
    let env = [
        ("AI_PROXY_URL", daemon.base_url.as_str()),
        ("AI_PROXY_KEY", "right-key"),
    ];
    let run = check(&["--api", "messages"], &env).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let line = chat_line(&run);
    assert!(line.contains(" ok "), "{line}");
    assert!(line.contains("first token after"), "{line}");
    assert!(line.contains("via POST /v1/messages"), "{line}");
    assert!(line.contains("Hello from the fake"), "{line}");
    // The log line is written as the answer's body is dropped, just after the client has
    // it: wait for it rather than race it.
    assert!(
        support::eventually(std::time::Duration::from_secs(5), || daemon
            .stderr()
            .contains(r#"endpoint="messages""#))
        .await,
        "the daemon served it as a Messages request: {}",
        daemon.stderr()
    );
    let run = check(&["--api", "messages", "--json"], &env).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(value["stages"][5]["stage"], "chat");
    assert_eq!(value["stages"][5]["api"], "messages");
    assert!(value["stages"][5]["first_token_ms"].as_f64().is_some());
    let run = check(&["--api", "chat"], &env).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(!chat_line(&run).contains("via"), "{}", run.stdout);
}

/// `--api messages` reads the Messages API's errors: its 401 for the CLI's login, an
/// unknown model, and an `error` event after the stream started.
#[tokio::test]
async fn api_messages_failures_are_exit_10_with_the_fix() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let url = daemon.base_url.as_str();
    let run = check(
        &["--api", "messages", "--prompt", "hi @fake:not_logged_in"],
        &[("AI_PROXY_URL", url)],
    )
    .await;
    assert_eq!(run.code, 10, "{}", run.both());
    assert!(
        run.stderr.contains("error: POST /v1/messages answered 401"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("claude-max-proxy login"),
        "{}",
        run.stderr
    );
    let run = check(
        &["--api", "messages", "--model", "gpt-9"],
        &[("AI_PROXY_URL", url)],
    )
    .await;
    assert_eq!(run.code, 10, "{}", run.both());
    assert!(
        run.stderr
            .contains("POST /v1/messages answered 404 Not Found: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("does not serve this model"),
        "{}",
        run.stderr
    );
    let run = check(
        &["--api", "messages", "--prompt", "hi @fake:crash_midstream"],
        &[("AI_PROXY_URL", url)],
    )
    .await;
    assert_eq!(run.code, 10, "{}", run.both());
    assert!(
        run.stderr.contains("the stream failed after it started"),
        "{}",
        run.stderr
    );
}

/// `--api responses`: the request goes to /v1/responses (`input`, `stream: true`) and the
/// answer is read as the Responses API's events up to `response.completed`; a failure after
/// the start is its `response.failed`.
#[tokio::test]
async fn api_responses_streams_through_the_responses_api() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let url = daemon.base_url.as_str();
    let run = check(&["--api", "responses"], &[("AI_PROXY_URL", url)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let line = chat_line(&run);
    assert!(line.contains("via POST /v1/responses"), "{line}");
    assert!(line.contains("Hello from the fake"), "{line}");
    // The log line is written as the answer's body is dropped, just after the client has
    // it: wait for it rather than race it.
    assert!(
        support::eventually(std::time::Duration::from_secs(5), || daemon
            .stderr()
            .contains(r#"endpoint="responses""#))
        .await,
        "the daemon served it as a Responses request: {}",
        daemon.stderr()
    );
    let run = check(
        &["--api", "responses", "--prompt", "hi @fake:crash_midstream"],
        &[("AI_PROXY_URL", url)],
    )
    .await;
    assert_eq!(run.code, 10, "{}", run.both());
    assert!(
        run.stderr.contains("the stream failed after it started"),
        "{}",
        run.stderr
    );
}

/// Nothing listening: exit 5, "not running", and the doctor command.
#[tokio::test]
async fn refused_is_exit_5_with_the_fix() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let run = check(&[], &[("AI_PROXY_URL", &url)]).await;
    assert_eq!(run.code, 5, "{}", run.both());
    assert!(run.stdout.contains("connect  FAIL"), "{}", run.stdout);
    assert!(run.stderr.contains("connect failed (exit code 5)"));
    assert!(run.stderr.contains("not running"), "{}", run.stderr);
    assert!(
        run.stderr.contains("claude-max-proxy doctor"),
        "{}",
        run.stderr
    );
    // Inside a container, 127.0.0.1 is the container itself.
    let mut command_env = vec![("AI_PROXY_URL", url.as_str())];
    command_env.push(("AI_PROXY_CHECK_CONTAINER", "docker"));
    let run = check(&[], &command_env).await;
    assert_eq!(run.code, 5);
    assert!(
        run.stderr.contains("the container itself"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("http://host.docker.internal:"));
}

/// `host.docker.internal` unknown (as on Linux without host-gateway): exit 4 and the
/// extra_hosts line.
#[tokio::test]
async fn unresolvable_name_is_exit_4_with_extra_hosts() {
    let run = check(
        &["--timeout", "3s"],
        &[
            ("AI_PROXY_URL", "http://host.docker.internal:3456"),
            ("AI_PROXY_CHECK_CONTAINER", "docker"),
        ],
    )
    .await;
    assert_eq!(run.code, 4, "{}", run.both());
    assert!(run.stdout.contains("resolve  FAIL"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains(r#"extra_hosts: ["host.docker.internal:host-gateway"]"#),
        "{}",
        run.stderr
    );
}

/// With `api_key` set on the daemon, a wrong or missing AI_PROXY_KEY is exit 8; the right
/// one passes.
#[tokio::test]
async fn wrong_key_is_exit_8() {
    let daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_API_KEY", "right-key")).await;
    let url = daemon.base_url.as_str();
    let run = check(&[], &[("AI_PROXY_URL", url), ("AI_PROXY_KEY", "wrong-key")]).await;
    assert_eq!(run.code, 8, "{}", run.both());
    assert!(run.stdout.contains("models   FAIL"), "{}", run.stdout);
    assert!(
        run.stderr.contains("rejected AI_PROXY_KEY"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("client key required"), "{}", run.stdout);
    assert!(
        !run.both().contains("wrong-key"),
        "the key must not be printed"
    );
    let run = check(&[], &[("AI_PROXY_URL", url)]).await;
    assert_eq!(run.code, 8, "{}", run.both());
    assert!(
        run.stderr.contains("AI_PROXY_KEY is not set"),
        "{}",
        run.stderr
    );
    let run = check(
        &["--chat"],
        &[("AI_PROXY_URL", url), ("AI_PROXY_KEY", "right-key")],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.both());
}

/// `--json`: one object with every stage, or the failure with its code, cause and fix.
#[tokio::test]
async fn json_output() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let run = check(&["--json", "--chat"], &[("AI_PROXY_URL", &daemon.base_url)]).await;
    assert_eq!(run.code, 0);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(value["ok"], true);
    assert_eq!(value["exit_code"], 0);
    let stages: Vec<&str> = value["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["stage"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        stages,
        ["url", "resolve", "connect", "health", "models", "chat"]
    );
    assert_eq!(value["stages"][3]["version"], "0.1.0");
    assert!(value["stages"][4]["count"].as_u64().unwrap_or(0) > 0);
    assert!(value["stages"][5]["first_token_ms"].as_f64().is_some());

    let url = format!("http://127.0.0.1:{}", free_port());
    let run = check(&["--json"], &[("AI_PROXY_URL", &url)]).await;
    assert_eq!(run.code, 5);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(value["ok"], false);
    assert_eq!(value["failure"]["stage"], "connect");
    assert_eq!(value["failure"]["exit_code"], 5);
    assert_eq!(value["failure"]["problem"], "refused");
    assert!(
        value["failure"]["fix"]
            .as_str()
            .unwrap_or("")
            .contains("doctor")
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

/// `--wait` keeps trying while the daemon is down and passes once it listens.
#[tokio::test]
async fn wait_succeeds_when_the_daemon_starts_late() {
    // Built before the clock starts, so the check is surely running before the daemon.
    check_binary().await;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let waiting = tokio::spawn(async move {
        check(&["--wait", "40s", "--chat"], &[("AI_PROXY_URL", &url)]).await
    });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let options = DaemonOptions {
        no_default_listen: true,
        args: vec![
            "--port".into(),
            port.to_string(),
            "--listen".into(),
            "127.0.0.1".into(),
        ],
        ..DaemonOptions::fake()
    };
    let _daemon = Daemon::start(options).await;
    let run = waiting.await.expect("check task");
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        run.stderr.contains("attempt 1: connect failed"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("attempts)"), "{}", run.stdout);
    // Waiting cannot fix a bad URL: it fails at once, without retries.
    let run = check(&["--wait", "30s"], &[("AI_PROXY_URL", "ftp://x")]).await;
    assert_eq!(run.code, 3);
    assert!(!run.stderr.contains("attempt"), "{}", run.stderr);
}

/// A 5xx from /health is exit 7 and repeats what the daemon reported; a stranger on the
/// port is exit 7 too, named as not the proxy.
#[tokio::test]
async fn health_errors_are_exit_7() {
    let port = canned_server(
        "503 Service Unavailable",
        r#"{"error":{"message":"the claude CLI was not found (looked in PATH)","type":"server_error"}}"#,
    )
    .await;
    let url = format!("http://127.0.0.1:{port}");
    let run = check(&[], &[("AI_PROXY_URL", &url)]).await;
    assert_eq!(run.code, 7, "{}", run.both());
    assert!(
        run.stderr
            .contains("error: GET /health answered 503 Service Unavailable: the claude CLI"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("reported a problem"), "{}", run.stderr);
    let port = canned_server("404 Not Found", "no such page").await;
    let url = format!("http://127.0.0.1:{port}");
    let run = check(&[], &[("AI_PROXY_URL", &url)]).await;
    assert_eq!(run.code, 7, "{}", run.both());
    assert!(
        run.stderr.contains("is not claude-max-proxy"),
        "{}",
        run.stderr
    );
}

/// A TCP handshake that never completes (a full accept queue drops SYNs, like a firewall):
/// exit 6 and the allow rules.
#[tokio::test]
async fn connect_timeout_is_exit_6_with_the_firewall_rule() {
    // Backlog 0 and two unaccepted connections fill the accept queue.
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    socket.listen(0).expect("listen");
    let port = socket
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("inet")
        .port();
    let mut held = Vec::new();
    for _ in 0..4 {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(stream) => held.push(stream),
            Err(_) => break,
        }
    }
    let url = format!("http://127.0.0.1:{port}");
    let run = check(&["--timeout", "1s"], &[("AI_PROXY_URL", &url)]).await;
    if run.code == 7 {
        // This kernel completes handshakes past the backlog; the timeout cannot be staged.
        support::skip_or_fail("this network stack accepts past a full backlog");
        return;
    }
    assert_eq!(run.code, 6, "{}", run.both());
    assert!(run.stderr.contains("firewall"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "sudo ufw allow in on docker0 to any port {port} proto tcp"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("iptables -I INPUT"), "{}", run.stderr);
    drop(held);
}

/// Usage mistakes: bad flags are exit 2, a missing or bad URL exit 3.
#[tokio::test]
async fn usage_and_url_errors() {
    let run = check(&["--bogus"], &[]).await;
    assert_eq!(run.code, 2);
    let run = check(&["--api", "grpc"], &[]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("chat, messages or responses"),
        "{}",
        run.stderr
    );
    let run = check(&["--help"], &[]).await;
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Exit codes:"));
    assert!(run.stdout.contains("--api <API>"), "{}", run.stdout);
    let run = check(&[], &[]).await;
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("AI_PROXY_URL is not set"),
        "{}",
        run.stderr
    );
    let run = check(
        &[],
        &[("AI_PROXY_URL", "https://host.docker.internal:3456")],
    )
    .await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("use http://"), "{}", run.stderr);
}
