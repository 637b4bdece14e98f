//! End to end with the real CLI 2.1.332 (from the claude-agent-sdk wheel) against the mock
//! Messages API: the daemon → the official CLI → "Anthropic", in subscription mode (OAuth
//! token) and api-key mode. Asserts what reaches upstream and what the client gets.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::mock_anthropic::{MockAnthropic, RecordedRequest, mock_reply};
use support::{Daemon, DaemonOptions, chunk_text, descendants, eventually, sse_data};

const TOKEN: &str = "test-oauth-token";
const MODELS: &str = r#"models = ["sonnet", "claude-sonnet-4-5", "err-400", "err-401", "err-429",
  "err-529", "err-midstream", "claude-crawl-1", "claude-maxtok-1"]
"#;

enum Auth {
    Subscription,
    ApiKey,
}

async fn start(auth: Auth) -> Option<(MockAnthropic, Daemon)> {
    let cli = support::real_claude()?;
    let mock = MockAnthropic::start().await;
    let mut options = DaemonOptions {
        cli: Some(cli),
        ..DaemonOptions::default()
    }
    .config(MODELS)
    .env("ANTHROPIC_BASE_URL", &mock.base_url())
    .env("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "0");
    options = match auth {
        // The API key in the daemon's environment must not reach the CLI.
        Auth::Subscription => options
            .env("CLAUDE_CODE_OAUTH_TOKEN", TOKEN)
            .env("ANTHROPIC_API_KEY", "sk-should-be-removed"),
        Auth::ApiKey => options
            .env("CLAUDE_MAX_PROXY_AUTH_MODE", "api-key")
            .env("ANTHROPIC_API_KEY", "sk-test"),
    };
    Some((mock, Daemon::start(options).await))
}

async fn post(daemon: &Daemon, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .expect("POST")
}

fn user(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "stream_options": {"include_usage": stream},
           "messages": [{"role": "system", "content": "You are terse."},
                        {"role": "user", "content": text}]})
}

fn last_message_request(mock: &MockAnthropic) -> RecordedRequest {
    mock.message_requests()
        .pop()
        .expect("a Messages API request")
}

/// Subscription mode: the token reaches upstream as a Bearer header, no API key does;
/// plain and streamed content, usage, system prompt, no tools.
#[tokio::test]
async fn subscription_mode_plain_and_streaming() {
    let Some((mock, daemon)) = start(Auth::Subscription).await else {
        return;
    };

    let response = post(&daemon, &user("claude-sonnet-4-5", "Say hi", false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        mock_reply("Say hi")
    );
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["usage"]["prompt_tokens"], 42 + 3 + 5);
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    let request = last_message_request(&mock);
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        request.header("x-api-key"),
        None,
        "the API key must be removed"
    );
    assert_eq!(request.body["tools"], json!([]));
    let system: String = request.body["system"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect();
    assert!(system.contains("You are terse."), "{system}");

    let response = post(&daemon, &user("claude-sonnet-4-5", "Count to three", true)).await;
    assert_eq!(response.status(), 200);
    let data = sse_data(&response.text().await.unwrap());
    assert_eq!(chunk_text(&data), mock_reply("Count to three"));
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let usage: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["prompt_tokens"], 50);
    let finish: Value = serde_json::from_str(&data[data.len() - 3]).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
}

/// API-key mode: the key reaches upstream as x-api-key.
#[tokio::test]
async fn api_key_mode_sends_the_key() {
    let Some((mock, daemon)) = start(Auth::ApiKey).await else {
        return;
    };
    let response = post(&daemon, &user("claude-sonnet-4-5", "Say hi", false)).await;
    assert_eq!(response.status(), 200);
    let request = last_message_request(&mock);
    assert_eq!(request.header("x-api-key"), Some("sk-test"));
}

/// Earlier turns arrive upstream as separate user/assistant messages, in order.
#[tokio::test]
async fn multi_turn_reaches_upstream_as_real_turns() {
    let Some((mock, daemon)) = start(Auth::Subscription).await else {
        return;
    };
    let body = json!({"model": "claude-sonnet-4-5", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "My name is Bob."},
        {"role": "assistant", "content": "Nice to meet you, Bob."},
        {"role": "user", "content": "What is my name?"}]});
    let response = post(&daemon, &body).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        mock_reply("What is my name?")
    );

    let request = last_message_request(&mock);
    let messages = request.body["messages"].as_array().unwrap();
    // The real API may refuse an empty message: none may go upstream.
    for message in messages {
        let empty = match &message["content"] {
            Value::String(s) => s.trim().is_empty(),
            Value::Array(blocks) => {
                blocks.is_empty()
                    || blocks.iter().any(|b| {
                        b["type"] == "text"
                            && b["text"].as_str().is_some_and(|t| t.trim().is_empty())
                    })
            }
            _ => true,
        };
        assert!(!empty, "an empty message went upstream: {message}");
    }
    let turns: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            let text = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(blocks) => blocks
                    .iter()
                    .filter_map(|b| b["text"].as_str())
                    .next_back()
                    .unwrap_or("")
                    .to_string(),
                _ => String::new(),
            };
            (
                m["role"].as_str().unwrap_or("").to_string(),
                text.trim().to_string(),
            )
        })
        .collect();
    let expected = [
        ("user", "My name is Bob."),
        ("assistant", "Nice to meet you, Bob."),
        ("user", "What is my name?"),
    ];
    assert_eq!(turns.len(), 3, "{turns:?}");
    for ((role, text), (want_role, want_text)) in turns.iter().zip(expected) {
        assert_eq!(
            (role.as_str(), text.as_str()),
            (want_role, want_text),
            "{turns:?}"
        );
    }
    let projects = daemon.home.path().join(".claude/projects");
    let listing = || -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![projects.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                found.push(entry.path().display().to_string());
                if entry.path().is_dir() {
                    stack.push(entry.path());
                }
            }
        }
        found
    };
    let clean = eventually(Duration::from_secs(5), || listing().is_empty()).await;
    assert!(clean, "session files left: {:?}", listing());
}

/// Upstream errors map to OpenAI statuses.
#[tokio::test]
async fn upstream_errors_map_to_statuses() {
    let Some((_mock, daemon)) = start(Auth::Subscription).await else {
        return;
    };
    for (model, want) in [
        ("err-400", 400),
        ("err-401", 401),
        ("err-429", 429),
        ("err-529", 503),
    ] {
        let response = post(&daemon, &user(model, "hi", false)).await;
        let status = response.status().as_u16();
        let has_retry_after = response.headers().contains_key("retry-after");
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, want, "{model}: {body}");
        assert!(body["error"]["message"].is_string());
        if want == 429 {
            assert!(has_retry_after, "{model}");
        }
    }
    // The same as a stream: the failure comes before content, so the status is real.
    let response = post(&daemon, &user("err-429", "hi", true)).await;
    assert_eq!(response.status(), 429);
}

/// A mid-stream upstream failure: the streamed client never gets contradicting text; the
/// plain client gets the retried answer.
#[tokio::test]
async fn midstream_failure_never_contradicts() {
    let Some((_mock, daemon)) = start(Auth::Subscription).await else {
        return;
    };
    let response = post(&daemon, &user("err-midstream", "hi", true)).await;
    let data = sse_data(&response.text().await.unwrap());
    let text = chunk_text(&data);
    assert!(
        text == "partial" || mock_reply("hi").starts_with(&text),
        "contradicting text: {text:?}"
    );
    if text == "partial" {
        let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
        assert!(last["error"]["message"].is_string(), "{data:?}");
    }

    let response = post(&daemon, &user("err-midstream", "hi", false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], mock_reply("hi"));
}

/// max_tokens ends the answer with finish_reason length, and the CLI is not left to
/// continue: on its own it asks the model to go on three times
/// (tests/fixtures/claude-cli/v2.1.332/max_tokens), which would spend the subscription on
/// text nobody gets. Counted once the CLI is gone, not while it may still be asking. The
/// CLI sends its first continuation ~30 ms after the stop: on a slow machine that one may
/// leave before the daemon's SIGKILL lands; the others must not (left alone, the CLI makes
/// 4 requests; on SIGTERM it still sends the next one while it winds down).
#[tokio::test]
async fn max_tokens_is_length() {
    let Some((mock, daemon)) = start(Auth::Subscription).await else {
        return;
    };
    let response = post(&daemon, &user("claude-maxtok-1", "hi", false)).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "length", "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], mock_reply("hi"));
    let pid = daemon.pid();
    assert!(eventually(Duration::from_secs(10), || descendants(pid).is_empty()).await);
    let upstream = mock.message_requests().len();
    assert!(
        upstream <= 2,
        "{upstream} upstream requests: the CLI was left to ask for continuations"
    );
}

/// A client that disconnects mid-stream leaves no CLI process behind. The mock's `crawl`
/// answer takes ~14 s (2 s per delta): the CLI outlives the 5 s window unless the daemon
/// ends it.
#[tokio::test]
async fn disconnect_leaves_no_cli_process() {
    let Some((_mock, daemon)) = start(Auth::Subscription).await else {
        return;
    };
    let response = post(
        &daemon,
        &user("claude-crawl-1", "a long answer please", true),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let first = stream.next().await.expect("first frame").unwrap();
    assert!(!first.is_empty());
    let pid = daemon.pid();
    assert!(!descendants(pid).is_empty(), "the CLI should be running");
    drop(stream);
    assert!(
        eventually(Duration::from_secs(5), || descendants(pid).is_empty()).await,
        "left running: {:?}",
        descendants(pid)
    );
}
