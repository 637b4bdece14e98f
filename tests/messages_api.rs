//! `POST /v1/messages` (the Anthropic Messages API) through the real CLI 2.1.332 and the
//! mock Messages API: the `message` object and the named event stream, a tool_use /
//! tool_result round trip with matching ids upstream, thinking blocks, errors in the
//! Messages API's shape with its statuses, `x-api-key` authentication; then the official
//! `anthropic` Python SDK (tests/python_anthropic/) and the real `claude` CLI as a client.

mod support;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions};

fn post(daemon: &Daemon, path: &str, body: &Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(daemon.url(path))
        .header("anthropic-version", "2023-06-01")
        .json(body)
}

fn weather_tool() -> Value {
    json!([{"name": "get_weather", "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]}}])
}

/// A plain answer: the message object with the mock's text, its usage counted the
/// Messages API's way, and Claude Code's billing-header block kept out of the prompt.
#[tokio::test]
async fn a_message_comes_back_whole_and_streamed() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let body = json!({"model": "claude-sonnet-4", "max_tokens": 200,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332; cc_entrypoint=cli"},
                   {"type": "text", "text": "You are terse."}],
        "messages": [{"role": "user", "content": "hello there"}]});
    let response = post(&daemon, "/v1/messages?beta=true", &body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("request-id"));
    let message: Value = response.json().await.expect("json");
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert!(message["id"].as_str().expect("id").starts_with("msg_"));
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": support::mock_anthropic::mock_reply("hello there")}])
    );
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(
        message["usage"]["input_tokens"],
        support::mock_anthropic::MOCK_INPUT_TOKENS
    );
    assert_eq!(
        message["usage"]["cache_read_input_tokens"],
        support::mock_anthropic::MOCK_CACHE_READ_INPUT_TOKENS
    );
    let upstream = &mock.message_requests()[0].body;
    let system = upstream["system"].to_string();
    assert!(system.contains("You are terse."), "{system}");
    assert_eq!(
        system.matches("x-anthropic-billing-header").count(),
        1,
        "only the CLI's own billing header goes upstream: {system}"
    );

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let response = post(&daemon, "/v1/messages", &streamed)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "an event stream"
    );
    let events = support::named_events(&response.text().await.expect("body"));
    assert_eq!(
        support::messages_event_sequence(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, support::mock_anthropic::mock_reply("hello there"));
    assert!(
        events
            .iter()
            .filter(|(n, _)| n == "content_block_delta")
            .count()
            > 1,
        "text arrives in pieces"
    );
    let (_, delta) = &events[events.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(
        delta["usage"]["output_tokens"]
            .as_u64()
            .expect("output_tokens")
            > 0
    );
}

/// A text block, then a tool_use (or a thinking block, then the text): the whole event
/// sequence of a two-block answer, runs of deltas collapsed.
const TWO_BLOCKS: [&str; 10] = [
    "message_start",
    "ping",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
];

/// tool_use comes back with stop_reason tool_use after one upstream request, streamed as
/// input_json_delta; the tool_result goes upstream with the same id.
#[tokio::test]
async fn a_tool_round_trip_keeps_the_ids() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let ask = json!({"model": "claude-sonnet-4", "max_tokens": 300, "tools": weather_tool(),
        "messages": [{"role": "user",
                      "content": "weather?\nCALL get_weather {\"city\":\"Paris\"}"}]});
    let message: Value = post(&daemon, "/v1/messages", &ask)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    assert_eq!(message["stop_reason"], "tool_use", "{message}");
    let call = message["content"]
        .as_array()
        .expect("content")
        .iter()
        .find(|b| b["type"] == "tool_use")
        .cloned()
        .expect("a tool_use block");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"city": "Paris"}));
    assert_eq!(mock.message_requests().len(), 1, "one upstream request");
    let id = call["id"].as_str().expect("id").to_string();

    let mut streamed = ask.clone();
    streamed["stream"] = json!(true);
    let body = post(&daemon, "/v1/messages", &streamed)
        .send()
        .await
        .expect("POST")
        .text()
        .await
        .expect("body");
    let events = support::named_events(&body);
    assert_eq!(support::messages_event_sequence(&events), TWO_BLOCKS);
    let start = events
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .expect("a tool_use block starts");
    assert_eq!(start.1["content_block"]["name"], "get_weather");
    let json_text: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json_text).expect("input JSON"),
        json!({"city": "Paris"})
    );

    let mut answer = ask.clone();
    answer["messages"].as_array_mut().expect("messages").extend([
        json!({"role": "assistant", "content": message["content"].clone()}),
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": [{"type": "text", "text": "sunny"}]}]}),
    ]);
    let before = mock.message_requests().len();
    let message: Value = post(&daemon, "/v1/messages", &answer)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    assert_eq!(message["stop_reason"], "end_turn", "{message}");
    assert_eq!(
        message["content"][0]["text"],
        format!("Results: {id}=sunny")
    );
    let requests = mock.message_requests();
    assert_eq!(requests.len(), before + 1, "one upstream request");
    let upstream = requests[before].body["messages"].to_string();
    assert!(
        upstream.contains(&format!("\"tool_use_id\":\"{id}\"")),
        "{upstream}"
    );
}

/// Thinking asked for is thinking sent back: a thinking block in the message, thinking
/// deltas in the stream; chat completions get it as `reasoning_content`.
#[tokio::test]
async fn thinking_comes_back_as_thinking_blocks_and_reasoning_content() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let ask = json!({"model": "claude-sonnet-4", "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "ponder this"}]});
    let message: Value = post(&daemon, "/v1/messages", &ask)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    assert_eq!(message["content"][0]["type"], "thinking", "{message}");
    assert_eq!(
        message["content"][0]["thinking"],
        "Thinking about: ponder this"
    );
    assert_eq!(
        message["content"][1]["text"],
        support::mock_anthropic::mock_reply("ponder this")
    );
    assert_ne!(
        mock.message_requests()[0].body["thinking"]["type"],
        "disabled"
    );

    let mut streamed = ask.clone();
    streamed["stream"] = json!(true);
    let body = post(&daemon, "/v1/messages", &streamed)
        .send()
        .await
        .expect("POST")
        .text()
        .await
        .expect("body");
    let events = support::named_events(&body);
    assert_eq!(support::messages_event_sequence(&events), TWO_BLOCKS);
    let thought: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["thinking"].as_str())
        .collect();
    assert_eq!(thought, "Thinking about: ponder this");
    let blocks: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .filter_map(|(_, d)| d["content_block"]["type"].as_str())
        .collect();
    assert_eq!(blocks, ["thinking", "text"]);

    let chat = daemon
        .post_chat(
            &json!({"model": "claude-sonnet-4", "reasoning_effort": "high",
            "messages": [{"role": "user", "content": "ponder that"}]}),
        )
        .await
        .json::<Value>()
        .await
        .expect("json");
    let reply = &chat["choices"][0]["message"];
    assert_eq!(
        reply["reasoning_content"], "Thinking about: ponder that",
        "{chat}"
    );
    assert_eq!(
        reply["content"],
        support::mock_anthropic::mock_reply("ponder that")
    );
    let plain = daemon
        .post_chat(&json!({"model": "claude-sonnet-4",
            "messages": [{"role": "user", "content": "quick one"}]}))
        .await
        .json::<Value>()
        .await
        .expect("json");
    assert!(
        plain["choices"][0]["message"]
            .get("reasoning_content")
            .is_none(),
        "no thinking unless asked: {plain}"
    );
}

/// Errors take the Messages API's shape and statuses, before any CLI runs where the request
/// is at fault; `x-api-key` is checked like a bearer token.
#[tokio::test]
async fn errors_take_the_messages_api_shape() {
    let daemon = Daemon::start(DaemonOptions::fake().config("api_key = \"sekrit\"\n")).await;
    let ok_key = |b: reqwest::RequestBuilder| b.header("x-api-key", "sekrit");
    let cases = [
        (
            ok_key(post(
                &daemon,
                "/v1/messages",
                &json!({"model": "claude-opus-4",
                "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}),
            )),
            400,
            "invalid_request_error",
        ),
        (
            ok_key(post(
                &daemon,
                "/v1/messages",
                &json!({"model": "gpt-9",
                "messages": [{"role": "user", "content": "hi"}]}),
            )),
            404,
            "not_found_error",
        ),
        (
            post(
                &daemon,
                "/v1/messages",
                &json!({"model": "claude-opus-4",
                "messages": [{"role": "user", "content": "hi"}]}),
            )
            .header("x-api-key", "wrong"),
            401,
            "authentication_error",
        ),
        (
            ok_key(post(
                &daemon,
                "/v1/messages",
                &json!({"model": "claude-opus-4",
                "tools": [{"type": "bash_20250124", "name": "bash"}],
                "messages": [{"role": "user", "content": "hi"}]}),
            )),
            400,
            "invalid_request_error",
        ),
        (
            ok_key(post(
                &daemon,
                "/v1/messages/count_tokens",
                &json!({"model": "claude-opus-4", "messages": []}),
            )),
            400,
            "invalid_request_error",
        ),
    ];
    for (request, status, kind) in cases {
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert!(
            body["error"]["message"].as_str().expect("message").len() > 20,
            "a message that says what to do: {body}"
        );
    }
    let wrong_method = reqwest::Client::new()
        .get(daemon.url("/v1/messages"))
        .header("x-api-key", "sekrit")
        .send()
        .await
        .expect("GET");
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(
        wrong_method.json::<Value>().await.expect("json")["type"],
        "error"
    );
    assert!(daemon.fake_records().is_empty(), "no CLI ran");
}

/// Upstream errors keep their meaning: an overloaded upstream is a 529 overloaded_error, a
/// rate limit a 429 rate_limit_error.
#[tokio::test]
async fn upstream_failures_map_to_the_messages_api_statuses() {
    let config = "models = [\"err-529\", \"err-429\"]\n";
    let Some((_mock, daemon)) = support::real_cli_daemon(config).await else {
        return;
    };
    for (model, status, kind) in [
        ("err-529", 529, "overloaded_error"),
        ("err-429", 429, "rate_limit_error"),
    ] {
        let response = post(
            &daemon,
            "/v1/messages",
            &json!({"model": model,
            "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .expect("POST");
        assert_eq!(response.status(), status, "{model}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["type"], kind, "{body}");
    }
}

/// The official `anthropic` SDK: plain, `messages.stream`, a tool round trip, images and
/// errors mapped to its exception classes.
#[tokio::test]
async fn anthropic_sdk_against_the_daemon() {
    let Some(python) = support::venv_python() else {
        return;
    };
    let Some((_mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    support::run_pytest(&python, "tests/python_anthropic", &daemon.url(""), &daemon).await;
}

/// The real `claude` CLI as a client of the daemon (Claude Code in a container on the
/// host's subscription): it answers a prompt through /v1/messages.
#[tokio::test]
async fn the_claude_cli_works_as_a_client() {
    let Some(cli) = support::real_claude() else {
        return;
    };
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let home = tempfile::tempdir().expect("home");
    let output = tokio::process::Command::new(&cli)
        .args(["-p", "say hi to the proxy", "--model", "claude-sonnet-4"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("ANTHROPIC_BASE_URL", daemon.url(""))
        .env("ANTHROPIC_API_KEY", "not-needed-by-the-proxy")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .current_dir(home.path())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), output)
        .await
        .expect("the client CLI finishes")
        .expect("run the client CLI");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client CLI failed: {stdout}\n{}\ndaemon log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        daemon.stderr()
    );
    // The client CLI adds its own <system-reminder> blocks to the prompt; the mock echoes
    // all of it.
    assert!(
        stdout.contains("Hello from the mock. You said:") && stdout.contains("say hi to the proxy"),
        "{stdout}"
    );
    let upstream = mock.message_requests();
    assert!(
        !upstream.is_empty(),
        "the daemon's own CLI reached upstream"
    );
    let tools = upstream[upstream.len() - 1].body["tools"].to_string();
    assert!(
        tools.contains("mcp__c__"),
        "the client's own tools are offered through the stub: {tools}"
    );
}
