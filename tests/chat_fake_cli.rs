//! Chat completions through the real daemon against the fake CLI: content, chunks, usage,
//! multi-turn through session files, the CLI's argv/env/files, and every failure mode
//! (API errors, crashes, garbage, hangs, abandoned blocks) mapped to the right status.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, chunk_text, descendants, eventually, sse_data};

fn chat_body(content: &str, stream: bool) -> Value {
    json!({
        "model": "claude-opus-4",
        "messages": [{"role": "user", "content": content}],
        "stream": stream,
        "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
    })
}

async fn post(daemon: &Daemon, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .expect("POST")
}

async fn post_json(daemon: &Daemon, body: &Value) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = post(daemon, body).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        headers,
    )
}

/// The user guide's non-streaming curl: content, model reported by the CLI, usage.
#[tokio::test]
async fn plain_completion_has_content_model_and_usage() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let (status, body, headers) = post_json(&daemon, &chat_body("안녕하세요!", false)).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(
        body["model"], "claude-opus-5-5",
        "the model the CLI reports"
    );
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["message"]["content"],
        "Hello from the fake. You said: 안녕하세요!"
    );
    assert_eq!(choice["finish_reason"], "stop");
    let usage = &body["usage"];
    assert_eq!(
        usage["prompt_tokens"],
        42 + 3 + 5,
        "cache reads and writes count as prompt"
    );
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
}

/// The guide's streaming curl: role first, deltas, finish, usage, [DONE].
#[tokio::test]
async fn streaming_chunks_follow_openai() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let response = post(&daemon, &chat_body("1부터 10까지 세어주세요", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let id = chunks[0]["id"].as_str().unwrap();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], id);
        assert_eq!(chunk["model"], "claude-opus-5-5");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        chunk_text(&data),
        "Hello from the fake. You said: 1부터 10까지 세어주세요"
    );
    assert!(chunks.len() > 4, "text arrives as several deltas");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"].as_array().unwrap().len(), 0);
    assert_eq!(usage["usage"]["prompt_tokens"], 50);
    for chunk in &chunks[..chunks.len() - 1] {
        assert!(
            chunk["usage"].is_null(),
            "usage is null until the last chunk"
        );
    }
}

/// What the CLI is given: print mode flags, prompt on stdin (not argv), a 0600 system prompt
/// file, no API key in subscription mode, retries set, nothing left behind.
#[tokio::test]
async fn cli_invocation_is_safe_and_clean() {
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .env("ANTHROPIC_API_KEY", "sk-must-not-reach-cli")
            .env("ANTHROPIC_AUTH_TOKEN", "must-not-reach-cli")
            .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
            .env("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "1"),
    )
    .await;
    let body = json!({
        "model": "claude-sonnet-4",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "@fake:system secret prompt text"}
        ]
    });
    let (status, response, _) = post_json(&daemon, &body).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(
        response["choices"][0]["message"]["content"],
        "You are terse."
    );

    let record = daemon.fake_records().pop().expect("a CLI run");
    let args: Vec<&str> = record["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for flag in [
        "-p",
        "--no-session-persistence",
        "--strict-mcp-config",
        "--include-partial-messages",
    ] {
        assert!(args.contains(&flag), "{flag} missing: {args:?}");
    }
    assert!(!args.contains(&"--bare"));
    assert!(
        !args.iter().any(|a| a.contains("secret prompt")),
        "prompt must not be in argv"
    );
    assert!(
        record["stdin"]
            .as_str()
            .unwrap()
            .contains("secret prompt text")
    );
    assert_eq!(record["system_prompt_file_mode"], "600");
    let env = &record["env"];
    assert!(env["ANTHROPIC_API_KEY"].is_null(), "{env}");
    assert!(env["ANTHROPIC_AUTH_TOKEN"].is_null(), "{env}");
    assert_eq!(env["ANTHROPIC_BASE_URL"], "http://127.0.0.1:9");
    assert_eq!(env["CLAUDE_CODE_MAX_RETRIES"], "1");
    assert_eq!(env["DISABLE_TELEMETRY"], "1");
    assert_eq!(env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"], "1");

    // The per-run directory (with the system prompt file) is gone.
    let work_dir = daemon.work_dir.path().to_path_buf();
    let empty = support::eventually(Duration::from_secs(5), || {
        std::fs::read_dir(&work_dir)
            .map(|d| d.count() == 0)
            .unwrap_or(false)
    })
    .await;
    assert!(
        empty,
        "per-run directories left behind in {}",
        work_dir.display()
    );
}

/// Earlier turns are written as a session file the CLI resumes; the file is removed after.
#[tokio::test]
async fn multi_turn_resumes_a_synthesized_session() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let body = json!({
        "model": "claude-opus-4",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "My name is Bob."},
            {"role": "assistant", "content": "Nice to meet you, Bob."},
            {"role": "user", "content": "@fake:history What is my name?"}
        ]
    });
    let (status, response, _) = post_json(&daemon, &body).await;
    assert_eq!(status, 200, "{response}");
    let content = response["choices"][0]["message"]["content"]
        .as_str()
        .unwrap();
    let bob = content.find("user:My name is Bob.").expect(content);
    let nice = content
        .find("assistant:Nice to meet you, Bob.")
        .expect(content);
    let question = content.find("user:What is my name?").expect(content);
    assert!(bob < nice && nice < question, "{content}");

    let record = daemon.fake_records().pop().unwrap();
    let args: Vec<&str> = record["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let i = args
        .iter()
        .position(|a| *a == "--resume")
        .expect("--resume");
    assert_eq!(args[i + 2], "--fork-session");
    let kinds: Vec<&str> = record["session_file_lines"]
        .as_array()
        .expect("session lines")
        .iter()
        .filter_map(|l| l["type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["user", "attachment", "attachment", "assistant"],
        "the turns, and the first turn's environment and date as the CLI records them"
    );
    assert!(
        !record["stdin"].as_str().unwrap().contains("Bob."),
        "history is not flattened"
    );

    // Removed right after the run (the response may arrive a moment before).
    let projects = daemon.home.path().join(".claude/projects");
    let leftover = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&projects)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let clean = support::eventually(Duration::from_secs(5), || leftover().is_empty()).await;
    assert!(clean, "session files must be removed: {:?}", leftover());
}

/// When the CLI rejects the session, the request is retried once with a flattened history.
#[tokio::test]
async fn rejected_session_falls_back_to_flattening() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let body = json!({
        "model": "claude-opus-4",
        "messages": [
            {"role": "user", "content": "My name is Bob."},
            {"role": "assistant", "content": "Nice to meet you, Bob."},
            {"role": "user", "content": "@fake:no_resume What is my name?"}
        ]
    });
    let (status, response, _) = post_json(&daemon, &body).await;
    assert_eq!(status, 200, "{response}");
    let records = daemon.fake_records();
    assert_eq!(records.len(), 2, "one rejected resume, one flattened run");
    let last = &records[1];
    let stdin = last["stdin"].as_str().unwrap();
    assert!(
        stdin.contains("My name is Bob.") && stdin.contains("Nice to meet you, Bob."),
        "{stdin}"
    );
    assert!(
        !last["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--resume")
    );
}

/// `history = "flatten"` puts the transcript into the prompt without a session file.
#[tokio::test]
async fn flatten_mode_is_configurable() {
    let daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_HISTORY", "flatten")).await;
    let body = json!({
        "model": "claude-opus-4",
        "messages": [
            {"role": "user", "content": "My name is Bob."},
            {"role": "assistant", "content": "Hi Bob."},
            {"role": "user", "content": "What is my name?"}
        ]
    });
    let (status, _, _) = post_json(&daemon, &body).await;
    assert_eq!(status, 200);
    let record = daemon.fake_records().pop().unwrap();
    assert!(
        record["stdin"]
            .as_str()
            .unwrap()
            .contains("My name is Bob.")
    );
    assert!(
        !record["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--resume")
    );
}

/// Upstream errors reported by the CLI map to OpenAI statuses, with Retry-After for 429.
#[tokio::test]
async fn api_errors_map_to_statuses() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    for (scenario, want) in [
        ("api_error:400", 400),
        ("api_error:401", 401),
        ("not_logged_in", 401),
        ("api_error:429", 429),
        ("api_error:529", 503),
        ("api_error:500", 502),
    ] {
        let (status, body, headers) =
            post_json(&daemon, &chat_body(&format!("@fake:{scenario}"), false)).await;
        assert_eq!(status, want, "{scenario}: {body}");
        assert!(body["error"]["message"].is_string(), "{scenario}: {body}");
        if want == 401 {
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("claude-max-proxy login"), "{message}");
        }
        if want == 429 {
            assert!(headers.contains_key("retry-after"), "{scenario}");
        }
    }
    // The daemon survives all of them.
    let (status, _, _) = post_json(&daemon, &chat_body("still alive?", false)).await;
    assert_eq!(status, 200);
}

/// A stream that fails before any content gets a real HTTP status, not a 200.
#[tokio::test]
async fn early_stream_failure_has_a_real_status() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let response = post(&daemon, &chat_body("@fake:api_error:429", true)).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
}

/// A crash mid-stream becomes an error event and the stream ends (no [DONE]).
#[tokio::test]
async fn crash_mid_stream_is_an_error_event() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let response = post(&daemon, &chat_body("@fake:crash_midstream", true)).await;
    assert_eq!(response.status(), 200);
    let data = sse_data(&response.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    let message = last["error"]["message"].as_str().expect("error event");
    assert!(
        message.contains("code 3") && message.contains("simulated crash"),
        "{message}"
    );
    assert!(!data.contains(&"[DONE]".to_string()));
    assert!(
        !chunk_text(&data).is_empty(),
        "the partial text was streamed"
    );
}

/// Non-streaming crashes, garbage and early exits are 502 with what happened.
#[tokio::test]
async fn broken_cli_output_is_502() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    for scenario in ["crash_midstream", "garbage", "exit_early", "exit_code:7"] {
        let (status, body, _) =
            post_json(&daemon, &chat_body(&format!("@fake:{scenario}"), false)).await;
        assert_eq!(status, 502, "{scenario}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("claude CLI"), "{scenario}: {message}");
    }
    let (_, body, _) = post_json(&daemon, &chat_body("@fake:garbage", false)).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stream-json"),
        "{body}"
    );
}

/// A hanging CLI hits the first-token timeout: 504, and its process is gone.
#[tokio::test]
async fn hang_times_out_with_504_and_no_leftover() {
    let daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_FIRST_TOKEN_TIMEOUT_SECS", "1"))
            .await;
    let (status, body, _) = post_json(&daemon, &chat_body("@fake:hang", false)).await;
    assert_eq!(status, 504, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("first_token_timeout_secs")
    );
    let pid = daemon.pid();
    assert!(
        support::eventually(Duration::from_secs(5), || support::descendants(pid)
            .is_empty())
        .await,
        "CLI still running: {:?}",
        support::descendants(pid)
    );
}

/// Abandoned blocks: a retry that repeats the sent prefix continues it; one that contradicts
/// it ends with an error instead of contradicting text.
#[tokio::test]
async fn abandoned_blocks_never_contradict() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let response = post(&daemon, &chat_body("@fake:abandoned_prefix hi", true)).await;
    let data = sse_data(&response.text().await.unwrap());
    assert_eq!(chunk_text(&data), "Hello from the fake. You said: hi");
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));

    let response = post(&daemon, &chat_body("@fake:abandoned hi", true)).await;
    let data = sse_data(&response.text().await.unwrap());
    assert_eq!(
        chunk_text(&data),
        "partial",
        "nothing after the abandoned text"
    );
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{last}");

    // Without streaming, the retried answer is simply the answer.
    let (status, body, _) = post_json(&daemon, &chat_body("@fake:abandoned hi", false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from the fake. You said: hi"
    );
}

/// Stop reasons map to finish reasons.
#[tokio::test]
async fn finish_reasons_map() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    for (scenario, want) in [
        ("maxtok", "length"),
        ("refusal", "content_filter"),
        ("ok", "stop"),
    ] {
        let (status, body, _) =
            post_json(&daemon, &chat_body(&format!("@fake:{scenario} x"), false)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["choices"][0]["finish_reason"], want, "{scenario}");
    }
}

/// The first max_tokens stop completes the answer and the CLI is killed there, not waited
/// for nor kept for the conversation's next turn: the real CLI would go on asking the model
/// to continue (the fake replays that recording, tests/fixtures/claude-cli/v2.1.332/
/// max_tokens, to its end and exit code 1 when left alone).
#[tokio::test]
async fn max_tokens_kills_the_cli_at_the_stop() {
    let daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_LIVE_SESSIONS", "2")).await;
    let (status, body, _) = post_json(&daemon, &chat_body("@fake:maxtok hi", false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    let pid = daemon.pid();
    assert!(eventually(Duration::from_secs(5), || descendants(pid).is_empty()).await);
    let record = daemon.fake_records().remove(0);
    assert_eq!(
        record["phase"], "running",
        "the CLI replayed its continuations to the end instead of being killed: {record}"
    );
    assert_eq!(daemon.health().await["live_conversations"], 0);
}

/// A slow start opens the stream after the header hold and keeps it alive with comments.
#[tokio::test]
async fn slow_start_streams_keepalives_then_content() {
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .env("CLAUDE_MAX_PROXY_STREAM_HEADER_HOLD_MS", "100")
            .env("CLAUDE_MAX_PROXY_KEEPALIVE_SECS", "1"),
    )
    .await;
    let started = std::time::Instant::now();
    let response = post(&daemon, &chat_body("@fake:slow_start:2500 hi", true)).await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "headers are not held past the hold"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains(": keep-alive"), "{body}");
    assert_eq!(
        chunk_text(&sse_data(&body)),
        "Hello from the fake. You said: hi"
    );
}
