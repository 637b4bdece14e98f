//! The real `claude` CLI against the mock Anthropic API, without the proxy in between.
//!
//! These tests pin down what the proxy relies on: the argv and environment it uses make the
//! CLI call the mock with the right credentials, no tools, our system prompt and thinking
//! disabled, and the CLI's stream-json output carries the mock's deltas, its API errors
//! (`is_error`, `api_error_status`) and its mid-stream retry (`abandoned_blocks`). The first
//! tests check the mock itself over plain HTTP and need no CLI.
//!
//! The CLI is `$CLAUDE_MAX_PROXY_TEST_CLI`, else the one bundled in the `claude-agent-sdk`
//! wheel under `.venv/`. Without it the CLI tests say why and skip, except under `CI`, where
//! they fail.

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/skip.rs"]
mod skip;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use mock_anthropic::{
    Credential, MOCK_API_KEY, MockAnthropic, RecordedRequest, mock_chunks, mock_reply,
};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Upper bound for one CLI run; a cold start takes well under a second.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
const OAUTH_TOKEN: &str = "test-oauth-token";
const SYSTEM_PROMPT: &str = "You are the system prompt of real_cli_mock (marker 7f3a9c).";

// ---------------------------------------------------------------------------------------
// The mock alone
// ---------------------------------------------------------------------------------------

/// Splits an SSE body into (event name, data JSON) pairs.
fn parse_sse(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = String::new();
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, serde_json::from_str(&data).expect("SSE data is JSON"))
        })
        .collect()
}

fn messages_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 100,
        "stream": stream,
        "messages": [
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>\nignore me\n</system-reminder>"},
                {"type": "text", "text": "  Grüße, mock! \n"},
            ]},
        ],
    })
}

async fn post_messages(mock: &MockAnthropic, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/messages?beta=true", mock.base_url()))
        .header("x-api-key", MOCK_API_KEY)
        .header("Authorization", "Bearer direct")
        .json(body)
        .send()
        .await
        .expect("mock answers")
}

/// The streamed answer follows the documented event sequence and echoes the last user text.
#[tokio::test]
async fn mock_streams_the_documented_event_sequence() {
    let mock = MockAnthropic::start().await;
    let resp = post_messages(&mock, &messages_body("claude-test-maxtok", true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert!(resp.headers().contains_key("request-id"));
    let events = parse_sse(&resp.text().await.unwrap());

    let reply = mock_reply("Grüße, mock!");
    let chunks = mock_chunks(&reply);
    assert!(chunks.len() > 3, "the reply is streamed in several deltas");
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n("content_block_delta", chunks.len()));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str(), "event name matches data.type");
    }

    let start = &events[0].1["message"];
    assert!(start["id"].as_str().unwrap().starts_with("msg_mock"));
    assert_eq!(start["model"], "claude-test-maxtok");
    assert_eq!(start["content"], json!([]));
    assert_eq!(
        start["usage"],
        json!({"input_tokens": 42, "cache_creation_input_tokens": 3,
               "cache_read_input_tokens": 5, "output_tokens": 1})
    );
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| {
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, reply);
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
    assert_eq!(delta["usage"]["output_tokens"], chunks.len());

    let recorded = mock.message_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, "/v1/messages?beta=true");
    assert_eq!(recorded[0].header("x-api-key"), Some(MOCK_API_KEY));
    assert_eq!(recorded[0].header("Authorization"), Some("Bearer direct"));
    assert_eq!(recorded[0].body["model"], "claude-test-maxtok");
}

/// Without `stream`, the answer is one JSON message with the same text and usage.
#[tokio::test]
async fn mock_answers_json_when_not_streaming() {
    let mock = MockAnthropic::start().await;
    let resp = post_messages(&mock, &messages_body("claude-test", false)).await;
    assert_eq!(resp.status(), 200);
    let msg: Value = resp.json().await.unwrap();
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["role"], "assistant");
    assert_eq!(msg["model"], "claude-test");
    assert_eq!(msg["stop_reason"], "end_turn");
    assert_eq!(
        msg["content"],
        json!([{"type": "text", "text": mock_reply("Grüße, mock!")}])
    );
    assert_eq!(msg["usage"]["input_tokens"], 42);
}

/// The `err-NNN` models answer with the API's error statuses, bodies and headers.
#[tokio::test]
async fn mock_error_models() {
    let mock = MockAnthropic::start().await;
    for (model, status, kind) in [
        ("err-400", 400, "invalid_request_error"),
        ("x-err-401", 401, "authentication_error"),
        ("err-429", 429, "rate_limit_error"),
        ("err-500", 500, "api_error"),
        ("err-529", 529, "overloaded_error"),
    ] {
        let resp = post_messages(&mock, &messages_body(model, true)).await;
        assert_eq!(resp.status().as_u16(), status, "{model}");
        assert!(resp.headers().contains_key("request-id"), "{model}");
        if status == 429 {
            assert_eq!(resp.headers()["retry-after"], "7");
        }
        let id = resp.headers()["request-id"].to_str().unwrap().to_owned();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], kind, "{model}");
        assert_eq!(
            body["request_id"], id,
            "the body names the request-id header's id"
        );
    }
}

/// Like the API, the mock wants credentials: none is a 401 `authentication_error` (with its
/// `request_id`), a key or token it does not know too; one added with `accept` is served.
#[tokio::test]
async fn mock_checks_credentials() {
    let mock = MockAnthropic::start().await;
    let url = format!("{}/v1/messages", mock.base_url());
    let client = reqwest::Client::new();
    let body = messages_body("claude-test", false);
    let refusal = |resp: reqwest::Response| async move {
        assert_eq!(resp.status(), 401);
        let id = resp.headers()["request-id"].to_str().unwrap().to_owned();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "authentication_error");
        assert_eq!(body["request_id"], id);
        body["error"]["message"].as_str().unwrap().to_owned()
    };
    let none = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(refusal(none).await, "x-api-key header is required");
    let wrong_key = client.post(&url).header("x-api-key", "sk-other");
    let wrong_key = wrong_key.json(&body).send().await.unwrap();
    assert_eq!(refusal(wrong_key).await, "invalid x-api-key");
    let wrong_token = client.post(&url).bearer_auth("other-token");
    let wrong_token = wrong_token.json(&body).send().await.unwrap();
    assert_eq!(refusal(wrong_token).await, "Invalid bearer token");

    mock.accept(Credential::OAuthToken("other-token".to_owned()));
    let accepted = client.post(&url).bearer_auth("other-token");
    let accepted = accepted.json(&body).send().await.unwrap();
    assert_eq!(accepted.status(), 200);
    let harness = client.post(&url).bearer_auth(OAUTH_TOKEN);
    assert_eq!(harness.json(&body).send().await.unwrap().status(), 200);
    assert_eq!(
        mock.message_requests().len(),
        5,
        "refused requests are recorded too"
    );
}

/// `err-midstream` breaks the stream with an SSE error, but answers a non-streaming retry.
#[tokio::test]
async fn mock_midstream_error() {
    let mock = MockAnthropic::start().await;
    let resp = post_messages(&mock, &messages_body("err-midstream", true)).await;
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(events[2].1["delta"]["text"], "partial");
    assert_eq!(events[3].1["error"]["type"], "overloaded_error");

    let resp = post_messages(&mock, &messages_body("err-midstream", false)).await;
    assert_eq!(resp.status(), 200);
    let msg: Value = resp.json().await.unwrap();
    assert_eq!(msg["content"][0]["text"], mock_reply("Grüße, mock!"));
}

/// Other paths get a 404 `not_found_error` and are recorded, but are not message requests.
#[tokio::test]
async fn mock_unknown_paths_are_404_and_recorded() {
    let mock = MockAnthropic::start().await;
    let client = reqwest::Client::new();
    let resp = client.head(mock.base_url()).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = client
        .get(format!("{}/api/oauth/profile", mock.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found_error");
    let resp = client
        .post(format!("{}/v1/messages/count_tokens", mock.base_url()))
        .header("x-api-key", MOCK_API_KEY)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let seen: Vec<(String, String)> = mock
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        seen,
        [
            ("HEAD".to_owned(), "/".to_owned()),
            ("GET".to_owned(), "/api/oauth/profile".to_owned()),
            ("POST".to_owned(), "/v1/messages/count_tokens".to_owned()),
        ]
    );
    assert_eq!(mock.requests()[2].body, Value::Null);
    assert!(mock.message_requests().is_empty());
}

/// `slow` paces the deltas, and a client hanging up does not disturb the mock.
#[tokio::test]
async fn mock_slow_model_paces_deltas() {
    let mock = MockAnthropic::start().await;
    let started = std::time::Instant::now();
    let mut resp = post_messages(&mock, &messages_body("claude-slow", true)).await;
    let mut seen = String::new();
    while !seen.contains("content_block_delta") {
        let chunk = resp.chunk().await.unwrap().expect("stream still open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
    drop(resp);
    let resp = post_messages(&mock, &messages_body("claude-test", false)).await;
    assert_eq!(resp.status(), 200);
}

// ---------------------------------------------------------------------------------------
// The real CLI against the mock
// ---------------------------------------------------------------------------------------

/// The real CLI, or `None` after saying why the test skips (a panic under `CI`).
fn locate_cli() -> Option<PathBuf> {
    let candidate = match std::env::var_os("CLAUDE_MAX_PROXY_TEST_CLI") {
        Some(path) => PathBuf::from(path),
        None => bundled_cli().unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".venv/lib/python3.11/site-packages/claude_agent_sdk/_bundled/claude")
        }),
    };
    if candidate.is_file() {
        return Some(candidate);
    }
    let why = format!(
        "real claude CLI not found at {} (set CLAUDE_MAX_PROXY_TEST_CLI, or \
         `pip install claude-agent-sdk==0.2.189` into .venv)",
        candidate.display()
    );
    skip::skip_or_fail(&why);
    None
}

/// The CLI bundled in the claude-agent-sdk wheel under `.venv/lib/python3.*/`.
fn bundled_cli() -> Option<PathBuf> {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    std::fs::read_dir(lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| {
            e.path()
                .join("site-packages/claude_agent_sdk/_bundled/claude")
        })
        .find(|p| p.is_file())
}

/// How the CLI authenticates to the mock.
enum Auth {
    /// `ANTHROPIC_API_KEY` (API-key mode).
    ApiKey(&'static str),
    /// `CLAUDE_CODE_OAUTH_TOKEN` and no API key (subscription mode).
    OAuth(&'static str),
}

/// What one CLI run printed.
struct CliRun {
    status: ExitStatus,
    /// Every stdout line, parsed (the CLI prints one JSON object per line).
    events: Vec<Value>,
    stderr: String,
}

impl CliRun {
    /// The `result` event, which ends every run.
    fn result(&self) -> &Value {
        self.events
            .iter()
            .rev()
            .find(|e| e["type"] == "result")
            .unwrap_or_else(|| panic!("no result event; stderr: {}", self.stderr))
    }

    /// The inner events of the `stream_event` lines.
    fn stream_events(&self) -> impl Iterator<Item = &Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == "stream_event")
            .map(|e| &e["event"])
    }

    /// The concatenated `text_delta`s.
    fn streamed_text(&self) -> String {
        self.stream_events()
            .filter(|e| e["type"] == "content_block_delta" && e["delta"]["type"] == "text_delta")
            .filter_map(|e| e["delta"]["text"].as_str())
            .collect()
    }

    /// The text of the last `assistant` message.
    fn last_assistant_text(&self) -> String {
        let msg = self
            .events
            .iter()
            .rev()
            .find(|e| e["type"] == "assistant")
            .expect("an assistant event");
        msg["message"]["content"]
            .as_array()
            .expect("assistant content is an array")
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect()
    }
}

/// Runs the CLI the way the proxy does: tools off, no settings, system prompt from a file,
/// prompt on stdin, a fresh `HOME`, and only the environment given here.
async fn run_cli(
    cli: &Path,
    mock: &MockAnthropic,
    auth: Auth,
    model: &str,
    prompt: &str,
) -> CliRun {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let system_file = dir.path().join("system-prompt.txt");
    std::fs::write(&system_file, SYSTEM_PROMPT).unwrap();

    let mut cmd = Command::new(cli);
    cmd.args([
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
        "--tools",
        "",
        "--setting-sources",
        "",
        "--strict-mcp-config",
        "--no-session-persistence",
        "--thinking",
        "disabled",
        "--model",
        model,
        "--system-prompt-file",
    ])
    .arg(&system_file)
    .current_dir(&work)
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("HOME", &home)
    .env("ANTHROPIC_BASE_URL", mock.base_url())
    .env("CLAUDE_CODE_MAX_RETRIES", "0")
    .env("DISABLE_TELEMETRY", "1")
    .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    match auth {
        Auth::ApiKey(key) => cmd.env("ANTHROPIC_API_KEY", key),
        Auth::OAuth(token) => cmd.env("CLAUDE_CODE_OAUTH_TOKEN", token),
    };

    let mut child = cmd.spawn().expect("spawn the claude CLI");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(prompt.as_bytes()).await.unwrap();
    drop(stdin); // EOF: the prompt is complete
    let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("CLI run with model {model} took over {RUN_TIMEOUT:?}"))
        .expect("wait for the CLI");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let events = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}\nstderr: {stderr}"))
        })
        .collect();
    CliRun {
        status: output.status,
        events,
        stderr,
    }
}

/// `method path` of every request the CLI made that was not a Messages call.
fn other_requests(mock: &MockAnthropic) -> Vec<String> {
    mock.requests()
        .iter()
        .filter(|r| !r.is_message_request())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The texts of the request's `system` blocks.
fn system_texts(req: &RecordedRequest) -> Vec<&str> {
    match &req.body["system"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
        _ => Vec::new(),
    }
}

/// API-key mode: the key, no tools, our system prompt and no thinking reach the API, and the
/// stdout deltas spell the mock's reply.
#[tokio::test]
async fn cli_api_key_mode_streams_the_mock_reply() {
    let Some(cli) = locate_cli() else { return };
    let mock = MockAnthropic::start().await;
    let prompt = "Say hi to the mock";
    let run = run_cli(
        &cli,
        &mock,
        Auth::ApiKey("sk-test"),
        "claude-sonnet-4-5",
        prompt,
    )
    .await;
    eprintln!("other requests: {:?}", other_requests(&mock));
    assert!(
        run.status.success(),
        "exit {}; stderr: {}",
        run.status,
        run.stderr
    );

    let reply = mock_reply(prompt);
    assert_eq!(run.streamed_text(), reply);
    assert!(
        run.stream_events()
            .filter(|e| e["type"] == "content_block_delta")
            .count()
            > 1,
        "the reply arrives in several deltas"
    );
    let result = run.result();
    assert_eq!(result["is_error"], false);
    assert_eq!(result["result"], reply.as_str());
    assert_eq!(result["stop_reason"], "end_turn");

    let requests = mock.message_requests();
    assert_eq!(requests.len(), 1, "one Messages call: {requests:#?}");
    let req = &requests[0];
    assert_eq!(req.header("x-api-key"), Some("sk-test"));
    assert_eq!(req.header("authorization"), None);
    assert_eq!(req.body["model"], "claude-sonnet-4-5");
    assert_eq!(req.body["stream"], true);
    assert!(
        req.body.get("tools").is_none_or(|t| t == &json!([])),
        "no tools: {}",
        req.body["tools"]
    );
    assert!(
        system_texts(req).iter().any(|t| t.contains(SYSTEM_PROMPT)),
        "system prompt file reached the API: {:?}",
        system_texts(req)
    );
    assert_eq!(
        req.body["thinking"],
        json!({"type": "disabled"}),
        "--thinking disabled"
    );
}

/// Subscription mode: `CLAUDE_CODE_OAUTH_TOKEN` reaches the API as a bearer token.
#[tokio::test]
async fn cli_oauth_mode_sends_the_bearer_token() {
    let Some(cli) = locate_cli() else { return };
    let mock = MockAnthropic::start().await;
    let prompt = "Hello over OAuth";
    let run = run_cli(
        &cli,
        &mock,
        Auth::OAuth(OAUTH_TOKEN),
        "claude-sonnet-4-5",
        prompt,
    )
    .await;
    eprintln!("other requests: {:?}", other_requests(&mock));
    assert!(
        run.status.success(),
        "exit {}; stderr: {}",
        run.status,
        run.stderr
    );
    assert_eq!(run.result()["result"], mock_reply(prompt).as_str());

    let requests = mock.message_requests();
    assert!(!requests.is_empty());
    for req in &requests {
        let bearer = format!("Bearer {OAUTH_TOKEN}");
        assert_eq!(req.header("authorization"), Some(bearer.as_str()));
        assert_eq!(req.header("x-api-key"), None);
        assert!(
            req.header("anthropic-beta")
                .is_some_and(|b| b.contains("oauth-2025-04-20")),
            "oauth beta header: {:?}",
            req.header("anthropic-beta")
        );
    }
}

/// HTTP errors end the run with `is_error` and the upstream status.
#[tokio::test]
async fn cli_reports_api_errors() {
    let Some(cli) = locate_cli() else { return };
    for (model, status) in [("err-400", 400), ("err-529", 529)] {
        let mock = MockAnthropic::start().await;
        let run = run_cli(&cli, &mock, Auth::ApiKey("sk-test"), model, "Say hi").await;
        eprintln!(
            "{model}: {} message request(s), other requests: {:?}",
            mock.message_requests().len(),
            other_requests(&mock)
        );
        assert!(!run.status.success(), "{model}: exit {}", run.status);
        let result = run.result();
        assert_eq!(result["is_error"], true, "{model}: {result}");
        assert_eq!(result["api_error_status"], status, "{model}: {result}");
        assert!(
            result["result"]
                .as_str()
                .is_some_and(|r| r.starts_with(&format!("API Error: {status}"))),
            "{model}: {}",
            result["result"]
        );
        // CLAUDE_CODE_MAX_RETRIES=0 holds for 529; a 400 is retried once regardless, with
        // the `thinking-token-count-…` beta dropped.
        let calls = mock.message_requests().len();
        let expected = if status == 400 { 2 } else { 1 };
        assert_eq!(calls, expected, "{model}: Messages calls");
    }
}

/// A stream broken mid-answer: the CLI abandons the streamed blocks, retries without
/// streaming and ends with the full answer.
#[tokio::test]
async fn cli_retries_a_broken_stream_without_streaming() {
    let Some(cli) = locate_cli() else { return };
    let mock = MockAnthropic::start().await;
    let prompt = "Break the stream";
    let run = run_cli(
        &cli,
        &mock,
        Auth::ApiKey("sk-test"),
        "err-midstream",
        prompt,
    )
    .await;
    assert!(
        run.status.success(),
        "exit {}; stderr: {}",
        run.status,
        run.stderr
    );

    assert_eq!(run.streamed_text(), "partial");
    let abandoned = run
        .events
        .iter()
        .find(|e| e["type"] == "stream_event" && e.get("abandoned_blocks").is_some())
        .expect("a stream_event with abandoned_blocks");
    assert_eq!(abandoned["abandoned_blocks"]["from_block_index"], 0);

    let reply = mock_reply(prompt);
    assert_eq!(run.last_assistant_text(), reply);
    let result = run.result();
    assert_eq!(result["is_error"], false);
    assert_eq!(result["result"], reply.as_str());

    let streams: Vec<bool> = mock
        .message_requests()
        .iter()
        .map(|r| r.body["stream"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(
        streams,
        [true, false],
        "streamed, then retried without streaming"
    );
}

/// `stop_reason: max_tokens` is not the end for the CLI: it asks the model to resume three
/// times, printing each nudge as a `user` event, then gives up with an `is_error` result that
/// has no `api_error_status`.
#[tokio::test]
async fn cli_resumes_after_max_tokens_then_gives_up() {
    let Some(cli) = locate_cli() else { return };
    let mock = MockAnthropic::start().await;
    let prompt = "Fill the output";
    let run = run_cli(
        &cli,
        &mock,
        Auth::ApiKey("sk-test"),
        "claude-maxtok",
        prompt,
    )
    .await;
    assert!(!run.status.success(), "exit {}", run.status);

    let requests = mock.message_requests();
    assert_eq!(requests.len(), 4, "the first call and three resumptions");
    let nudges = run
        .events
        .iter()
        .filter(|e| e["type"] == "user")
        .filter(|e| {
            e["message"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Output token limit hit"))
        })
        .count();
    assert_eq!(nudges, 3);
    let stops: Vec<&Value> = run
        .stream_events()
        .filter(|e| e["type"] == "message_delta")
        .map(|e| &e["delta"]["stop_reason"])
        .collect();
    assert_eq!(stops, [&json!("max_tokens"); 4]);
    assert_eq!(
        run.streamed_text().matches(&mock_reply(prompt)).count(),
        1,
        "the first answer is streamed once; the resumptions echo the nudge"
    );

    let result = run.result();
    assert_eq!(result["is_error"], true, "{result}");
    assert_eq!(result["api_error_status"], Value::Null);
    assert_eq!(result["terminal_reason"], "api_error");
    assert!(
        result["result"]
            .as_str()
            .is_some_and(|r| r.contains("output token maximum")),
        "{}",
        result["result"]
    );
}
