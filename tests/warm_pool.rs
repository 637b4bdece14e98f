//! The warm pool with the fake and the real CLI: a repeated setup's new conversation is served
//! by a process started ahead of time, another setup is not, later turns are not started ahead
//! (a `-p` process gives up on a silent stdin after 3 s), slots are given back when needed,
//! and reload and shutdown leave nothing running.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::mock_anthropic::{MockAnthropic, mock_reply};
use support::{Daemon, DaemonOptions, descendants, eventually};

fn warm(options: DaemonOptions) -> DaemonOptions {
    options.env("CLAUDE_MAX_PROXY_WARM", "1")
}

async fn chat(daemon: &Daemon, body: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

fn single(system: &str, text: &str) -> Value {
    json!({"model": "claude-opus-4", "messages": [
        {"role": "system", "content": system}, {"role": "user", "content": text}]})
}

fn multi(system: &str, text: &str) -> Value {
    json!({"model": "claude-opus-4", "messages": [
        {"role": "system", "content": system},
        {"role": "user", "content": "My name is Bob."},
        {"role": "assistant", "content": "Nice to meet you, Bob."},
        {"role": "user", "content": text}]})
}

async fn warm_count(daemon: &Daemon) -> u64 {
    let health: Value = reqwest::get(daemon.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["warm"].as_u64().unwrap_or(0)
}

/// Waits for exactly one pre-started CLI and returns its pid.
async fn the_warm_pid(daemon: &Daemon) -> u32 {
    let pid = daemon.pid();
    let mut found = None;
    for _ in 0..100 {
        let children = descendants(pid);
        if warm_count(daemon).await == 1 && children.len() == 1 {
            found = Some(children[0]);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    found.expect("one warm CLI process")
}

/// The same setup again is served by the process started ahead; another setup is not, and
/// the pool follows the setup used last.
#[tokio::test]
async fn repeated_setup_uses_the_warm_process() {
    let daemon = Daemon::start(warm(DaemonOptions::fake())).await;
    chat(&daemon, &single("Be brief.", "first")).await;
    let warm_pid = the_warm_pid(&daemon).await;

    let answer = chat(&daemon, &single("Be brief.", "second")).await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from the fake. You said: second"
    );
    let record = daemon
        .fake_records()
        .into_iter()
        .find(|r| r["user_text"] == "second")
        .expect("record");
    assert_eq!(
        record["pid"].as_u64(),
        Some(u64::from(warm_pid)),
        "served by the warm process"
    );
    assert_eq!(record["system_prompt"], "Be brief.");
    // /health and the request log say how each request was served.
    let health: Value = daemon.health().await;
    assert_eq!(
        health["served"],
        json!({"cold": 1, "warm": 1, "live": 0}),
        "{health}"
    );
    assert!(
        eventually(Duration::from_secs(3), || daemon
            .stderr()
            .contains("served=\"warm\"")
            || daemon.stderr().contains("served=warm"))
        .await,
        "{}",
        daemon.stderr()
    );

    // A different system prompt cannot use it (the prompt file is read at start).
    let next_warm = the_warm_pid(&daemon).await;
    chat(&daemon, &single("Be verbose.", "third")).await;
    let record = daemon
        .fake_records()
        .into_iter()
        .find(|r| r["user_text"] == "third")
        .expect("record");
    assert_ne!(record["pid"].as_u64(), Some(u64::from(next_warm)));
    assert_eq!(record["system_prompt"], "Be verbose.");
    assert!(
        eventually(Duration::from_secs(3), || !support::alive(next_warm)).await,
        "the stale warm process is ended"
    );
}

/// A later turn is neither served by a process started ahead nor makes one: a `-p` process
/// gives up on a stdin that brings no data within 3 s (the fake does as the real CLI does),
/// so one started ahead would be dead before most next turns. The new conversation's
/// process, which takes its prompt as a stream-json message, waits as long as it takes.
#[tokio::test]
async fn later_turns_are_not_started_ahead() {
    let daemon = Daemon::start(warm(DaemonOptions::fake())).await;
    chat(&daemon, &single("S", "first")).await;
    let warm_pid = the_warm_pid(&daemon).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let answer = chat(&daemon, &multi("S", "@fake:history What is my name?")).await;
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.contains(
            "user:My name is Bob.|assistant:Nice to meet you, Bob.|user:What is my name?"
        ),
        "{content}"
    );
    let record = daemon
        .fake_records()
        .into_iter()
        .find(|r| {
            r["stdin"]
                .as_str()
                .unwrap_or("")
                .contains("What is my name")
        })
        .unwrap();
    assert_ne!(record["pid"].as_u64(), Some(u64::from(warm_pid)));
    assert!(record["resume_id"].is_string(), "the later turn resumed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        descendants(daemon.pid()),
        vec![warm_pid],
        "nothing was started ahead for a later turn; the new conversation's process stays"
    );
    chat(&daemon, &single("S", "second")).await;
    let health = daemon.health().await;
    assert_eq!(health["served"]["warm"], 1, "{health}");
    assert_eq!(health["served"]["cold"], 2, "{health}");
}

/// Text input as the real CLI takes it: a `-p` process whose stdin stays silent for 3 s
/// exits with an error — why later turns are not started ahead.
#[tokio::test]
async fn the_real_cli_gives_up_on_a_silent_stdin_after_3_s() {
    let Some(cli) = support::real_claude() else {
        return;
    };
    let home = tempfile::tempdir().expect("home");
    let mut child = tokio::process::Command::new(cli)
        .args(["-p", "--output-format", "stream-json", "--verbose"])
        .args([
            "--setting-sources",
            "",
            "--tools",
            "",
            "--no-session-persistence",
        ])
        .env("HOME", home.path())
        .env("CLAUDE_CODE_OAUTH_TOKEN", "test-oauth-token")
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the CLI");
    let _stdin = child.stdin.take();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the CLI waited for stdin for more than 20 s")
        .expect("wait");
    assert!(!status.success());
    let mut stderr = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .await
        .expect("stderr");
    assert!(stderr.contains("no stdin data received in 3s"), "{stderr}");
}

/// A warm process gives its slot back when a request for another setup needs it: with one
/// slot held by a request that never ends and the other by the warm process, the request
/// for another setup is served at once (not after `queue_timeout_secs`), by a new CLI, and
/// the warm process is ended.
#[tokio::test]
async fn warm_process_yields_its_slot() {
    let daemon = Daemon::start(
        warm(DaemonOptions::fake())
            .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "2")
            .env("CLAUDE_MAX_PROXY_QUEUE_TIMEOUT_SECS", "5"),
    )
    .await;
    chat(&daemon, &single("A", "x")).await;
    let first_warm = the_warm_pid(&daemon).await;
    // A request of setup A takes that warm process and never ends; the pool starts
    // another one in the second slot.
    let holder = tokio::spawn(
        reqwest::Client::new()
            .post(daemon.url("/v1/chat/completions"))
            .json(&single("A", "@fake:hang hold"))
            .send(),
    );
    let pid = daemon.pid();
    let mut second_warm = None;
    for _ in 0..200 {
        let children = descendants(pid);
        if warm_count(&daemon).await == 1 && children.len() == 2 {
            second_warm = children.into_iter().find(|c| *c != first_warm);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second_warm = second_warm.expect("the hung request and a new warm process hold both slots");
    assert!(
        support::alive(first_warm),
        "the hung request runs on the first warm process"
    );
    assert_eq!(daemon.health().await["served"]["warm"], 1);

    // Another setup: only the warm process's slot can serve it.
    let response = daemon.post_chat(&single("B", "y")).await;
    assert_eq!(
        response.status(),
        200,
        "the request waited in the queue behind the warm process until queue_timeout_secs"
    );
    let answer: Value = response.json().await.expect("json");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from the fake. You said: y"
    );
    let record = daemon
        .fake_records()
        .into_iter()
        .find(|r| r["user_text"] == "y")
        .expect("record");
    assert_ne!(record["pid"].as_u64(), Some(u64::from(second_warm)));
    assert_eq!(record["system_prompt"], "B");
    assert!(
        eventually(Duration::from_secs(3), || !support::alive(second_warm)).await,
        "the warm process was ended for the other setup"
    );
    holder.abort();
}

/// Reload and shutdown end the warm processes.
#[tokio::test]
async fn reload_and_shutdown_end_warm_processes() {
    let mut daemon = Daemon::start(warm(DaemonOptions::fake()).config("warm = 1\n")).await;
    chat(&daemon, &single("A", "x")).await;
    let first = the_warm_pid(&daemon).await;
    support::send_signal(daemon.pid(), libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || !support::alive(first)).await,
        "reload keeps a stale warm process"
    );
    chat(&daemon, &single("A", "y")).await;
    let second = the_warm_pid(&daemon).await;
    // Ended by the shutdown itself, not by the parent-death signal at the daemon's exit.
    let status = daemon.terminate_ending(&[second]).await;
    assert!(status.success());
}

/// With the real CLI 2.1.332: processes started ahead answer new conversations, also after
/// waiting longer than a `-p` process would.
#[tokio::test]
async fn real_cli_serves_warm_requests() {
    let Some(cli) = support::real_claude() else {
        return;
    };
    let mock = MockAnthropic::start().await;
    let options = DaemonOptions {
        cli: Some(cli),
        ..DaemonOptions::default()
    }
    .env("ANTHROPIC_BASE_URL", &mock.base_url())
    .env("CLAUDE_CODE_OAUTH_TOKEN", "test-oauth-token")
    .env("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "0")
    .env("CLAUDE_MAX_PROXY_WARM", "1");
    let daemon = Daemon::start(options).await;
    let model = |body: Value| {
        let mut body = body;
        body["model"] = json!("claude-sonnet-4-5");
        body
    };
    chat(&daemon, &model(single("Be brief.", "one"))).await;
    let warm_pid = the_warm_pid(&daemon).await;
    let answer = chat(&daemon, &model(single("Be brief.", "two"))).await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        mock_reply("two")
    );
    assert!(eventually(Duration::from_secs(3), || !support::alive(warm_pid)).await);

    // A process started ahead waits for its message as long as it takes (a `-p` one would
    // have given up after 3 s).
    let second_pid = the_warm_pid(&daemon).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(support::alive(second_pid));
    let answer = chat(&daemon, &model(single("Be brief.", "three"))).await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        mock_reply("three")
    );
    let health = daemon.health().await;
    assert_eq!(health["served"]["warm"], 2, "{health}");
}

/// A new conversation offering client tools is served by a process started ahead with the
/// same tools (its MCP stub already connected): the turn still ends at the model's call
/// after one upstream request.
#[tokio::test]
async fn real_cli_serves_a_first_tool_turn_warm() {
    let Some((mock, daemon)) =
        support::real_cli_daemon_with("", &[("CLAUDE_MAX_PROXY_WARM", "1")]).await
    else {
        return;
    };
    let ask = |city: &str| {
        json!({"model": "claude-sonnet-4", "tools": [{"type": "function", "function": {
            "name": "get_weather", "parameters": {"type": "object",
            "properties": {"city": {"type": "string"}}}}}],
            "messages": [{"role": "user",
                "content": format!("weather?\nCALL get_weather {{\"city\":\"{city}\"}}")}]})
    };
    chat(&daemon, &ask("Oslo")).await;
    // (The process and its MCP stub: two descendants; the pool counts the process.)
    let mut ready = false;
    for _ in 0..200 {
        if warm_count(&daemon).await == 1 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "a process is started ahead with the tools");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let before = mock.message_requests().len();
    let answer = chat(&daemon, &ask("Rome")).await;
    let call = &answer["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather", "{answer}");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Rome\"}");
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        mock.message_requests().len(),
        before + 1,
        "one upstream request"
    );
    assert_eq!(daemon.health().await["served"]["warm"], 1);
}
