//! The warm pool with the fake and the real CLI: a repeated setup is served by a process
//! started ahead of time (single- and multi-turn), another setup is not, slots are given
//! back when needed, and reload and shutdown leave nothing running.

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

/// Multi-turn requests are served warm too: the session file is written after the start.
#[tokio::test]
async fn multi_turn_is_served_warm() {
    let daemon = Daemon::start(warm(DaemonOptions::fake())).await;
    chat(&daemon, &multi("S", "first")).await;
    let warm_pid = the_warm_pid(&daemon).await;
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
    assert_eq!(record["pid"].as_u64(), Some(u64::from(warm_pid)));
}

/// A warm process gives its slot back when a request for another setup needs it.
#[tokio::test]
async fn warm_process_yields_its_slot() {
    let daemon =
        Daemon::start(warm(DaemonOptions::fake()).env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "2"))
            .await;
    chat(&daemon, &single("A", "x")).await;
    the_warm_pid(&daemon).await;
    // Two concurrent requests of another setup need both slots.
    let url = daemon.url("/v1/chat/completions");
    let tasks: Vec<_> = (0..2)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&single("B", &format!("@fake:slow:100 y{i}")))
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 200);
    }
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
    let status = daemon.terminate().await;
    assert!(status.success());
    assert!(!support::alive(second), "shutdown leaves a warm process");
}

/// With the real CLI 2.1.332: warm processes answer single- and multi-turn requests, and the
/// earlier turns still reach upstream as real turns.
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

    chat(&daemon, &model(multi("Be brief.", "first"))).await;
    the_warm_pid(&daemon).await;
    let answer = chat(&daemon, &model(multi("Be brief.", "What is my name?"))).await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        mock_reply("What is my name?")
    );
    let request = mock.message_requests().pop().unwrap();
    let roles: Vec<&str> = request.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, vec!["user", "assistant", "user"]);
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
