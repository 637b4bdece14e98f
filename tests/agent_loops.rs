//! Agent loops on one live CLI process (real CLI 2.1.332, the mock Messages API): a turn
//! that ends in client tool calls keeps its process, waiting at the calls; the request that
//! brings exactly those results continues it, with one upstream request that holds every
//! tool_use and tool_result (ids matching) and nothing the client did not send. Through chat
//! completions, the Messages API and the Responses API; parallel calls with results in any
//! order, error results, several parts and images; an abandoned loop ends after its idle
//! time; an edited history or a changed call never reaches the waiting process; a reload in
//! the middle of a loop; a kept process that dies is reaped at once.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::mock_anthropic::{MockAnthropic, RecordedRequest};
use support::{Daemon, descendants, eventually};

/// The text the CLI adds to a resumed continuation (the cold path), never the client's.
const MADE_UP: &str = "Continue from where you left off.";

/// Live conversations on (the harness turns them off), the warm pool off (so that "served
/// cold" counts the CLIs started).
const LIVE_ENV: [(&str, &str); 3] = [
    ("CLAUDE_MAX_PROXY_LIVE_SESSIONS", "2"),
    ("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "6"),
    ("CLAUDE_MAX_PROXY_WARM_MEMORY_MB", "4096"),
];

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}])
}

/// A user text that makes the mock call get_weather once per city.
fn ask(step: usize, cities: &[&str]) -> String {
    let mut text = format!("Step {step}: the weather?");
    for city in cities {
        text.push_str(&format!("\nCALL get_weather {{\"city\":\"{city}\"}}"));
    }
    text
}

async fn live_daemon(config: &str) -> Option<(MockAnthropic, Daemon)> {
    support::real_cli_daemon_with(config, &LIVE_ENV).await
}

async fn served(daemon: &Daemon) -> (u64, u64) {
    let health = daemon.health().await;
    (
        health["served"]["cold"].as_u64().unwrap_or(0)
            + health["served"]["warm"].as_u64().unwrap_or(0),
        health["served"]["live"].as_u64().unwrap_or(0),
    )
}

/// POSTs `body` to `path` and returns the JSON answer (status 200 asserted).
async fn post(daemon: &Daemon, path: &str, body: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(daemon.url(path))
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .expect("POST");
    let status = response.status();
    let answer: Value = response.json().await.expect("JSON answer");
    assert_eq!(status, 200, "{answer}\n{}", daemon.stderr());
    answer
}

/// Every upstream message's blocks as (role, block).
fn blocks(request: &RecordedRequest) -> Vec<(String, Value)> {
    request.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .flat_map(|m| {
            let role = m["role"].as_str().unwrap_or("").to_string();
            let content = match &m["content"] {
                Value::Array(blocks) => blocks.clone(),
                Value::String(text) => vec![json!({"type": "text", "text": text})],
                _ => Vec::new(),
            };
            content.into_iter().map(move |b| (role.clone(), b))
        })
        .collect()
}

/// Checks the upstream request of a step that brought results for `ids`: its last message
/// is the user's tool_result blocks for exactly those ids, the one before is the assistant's
/// tool_use blocks with the same ids, and no text anywhere is made up by the CLI.
fn assert_results_step(request: &RecordedRequest, ids: &[String]) {
    let messages = request.body["messages"].as_array().expect("messages");
    let last = messages.last().expect("a last message");
    assert_eq!(last["role"], "user", "{}", request.body);
    let mut answered: Vec<String> = last["content"]
        .as_array()
        .expect("tool_result blocks")
        .iter()
        .map(|b| {
            assert_eq!(b["type"], "tool_result", "only results: {}", request.body);
            b["tool_use_id"].as_str().expect("id").to_string()
        })
        .collect();
    let previous = &messages[messages.len() - 2];
    assert_eq!(previous["role"], "assistant", "{}", request.body);
    let mut called: Vec<String> = previous["content"]
        .as_array()
        .expect("assistant blocks")
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| b["id"].as_str().expect("id").to_string())
        .collect();
    let mut expected = ids.to_vec();
    answered.sort();
    called.sort();
    expected.sort();
    assert_eq!(answered, expected, "every result, ids matching");
    assert_eq!(called, expected, "every call, ids matching");
    assert_no_made_up_text(request);
}

fn assert_no_made_up_text(request: &RecordedRequest) {
    for (role, block) in blocks(request) {
        if let Some(text) = block["text"].as_str() {
            assert!(
                !text.contains(MADE_UP),
                "{role} text the client never sent went upstream: {}",
                request.body
            );
        }
    }
}

/// The chat completions request of a conversation so far.
fn chat_body(messages: &[Value], stream: bool) -> Value {
    json!({"model": "claude-sonnet-4", "stream": stream, "tools": weather_tool(), "messages": messages})
}

/// Sends a chat step; returns the assistant message (whole or assembled from the stream).
async fn chat_step(daemon: &Daemon, messages: &[Value], stream: bool) -> Value {
    if !stream {
        let answer = post(daemon, "/v1/chat/completions", &chat_body(messages, false)).await;
        return answer["choices"][0]["message"].clone();
    }
    let response = daemon.post_chat(&chat_body(messages, true)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("stream");
    let mut content = String::new();
    let mut calls: Vec<Value> = Vec::new();
    for data in support::sse_data(&text) {
        if data == "[DONE]" {
            continue;
        }
        let chunk: Value = serde_json::from_str(&data).expect("chunk");
        let delta = &chunk["choices"][0]["delta"];
        if let Some(piece) = delta["content"].as_str() {
            content.push_str(piece);
        }
        for call in delta["tool_calls"].as_array().cloned().unwrap_or_default() {
            let index = call["index"].as_u64().expect("index") as usize;
            if index == calls.len() {
                calls.push(json!({"id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}));
            }
            if let Some(args) = call["function"]["arguments"].as_str() {
                let so_far = calls[index]["function"]["arguments"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                calls[index]["function"]["arguments"] = json!(so_far + args);
            }
        }
    }
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    message
}

fn call_ids(message: &Value) -> Vec<String> {
    message["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Five turns of a chat completions agent loop (each a tool call, then its result: ten
/// requests, half of them streamed) run on the one process that answered the first: one
/// upstream request per step, every tool_use and tool_result with matching ids, no made-up
/// text; only the first request started a CLI.
#[tokio::test]
async fn a_chat_completions_loop_runs_on_one_process() {
    let Some((mock, daemon)) = live_daemon("").await else {
        return;
    };
    let mut messages: Vec<Value> = Vec::new();
    for step in 1..=5 {
        let stream = step % 2 == 0;
        messages.push(json!({"role": "user", "content": ask(step, &["Paris"])}));
        let assistant = chat_step(&daemon, &messages, stream).await;
        let ids = call_ids(&assistant);
        assert_eq!(ids.len(), 1, "step {step}: {assistant}");
        messages.push(assistant);
        messages
            .push(json!({"role": "tool", "tool_call_id": ids[0], "content": format!("{step}8C")}));
        let answer = chat_step(&daemon, &messages, stream).await;
        assert_eq!(
            answer["content"],
            format!("Results: {}={step}8C", ids[0]),
            "step {step}"
        );
        let requests = mock.message_requests();
        assert_eq!(requests.len(), step * 2, "one upstream request per request");
        assert_results_step(&requests[step * 2 - 1], &ids);
        assert_no_made_up_text(&requests[step * 2 - 2]);
        messages.push(json!({"role": "assistant", "content": answer["content"]}));
    }
    assert_eq!(served(&daemon).await, (1, 9), "one CLI for the whole loop");
}

/// Parallel calls (two, then three) answered in another order than called, one of them an
/// error, one with two text parts: every result reaches upstream as given (is_error kept,
/// parts apart), in one request, through the waiting process.
#[tokio::test]
async fn parallel_calls_with_results_in_any_order_and_errors() {
    let Some((mock, daemon)) = live_daemon("").await else {
        return;
    };
    let mut messages = vec![json!({"role": "user", "content": ask(1, &["Paris", "Oslo"])})];
    let assistant = chat_step(&daemon, &messages, false).await;
    let ids = call_ids(&assistant);
    assert_eq!(ids.len(), 2, "{assistant}");
    messages.push(assistant);
    messages.push(json!({"role": "tool", "tool_call_id": ids[1], "content": [
        {"type": "text", "text": "-3C"}, {"type": "text", "text": "snow"}]}));
    messages.push(json!({"role": "tool", "tool_call_id": ids[0], "content": "18C"}));
    let answer = chat_step(&daemon, &messages, false).await;
    messages.push(json!({"role": "assistant", "content": answer["content"]}));
    let request = mock.message_requests().last().cloned().expect("upstream");
    assert_results_step(&request, &ids);
    let last = request.body["messages"]
        .as_array()
        .expect("messages")
        .last()
        .cloned()
        .expect("last");
    let oslo = last["content"]
        .as_array()
        .expect("blocks")
        .iter()
        .find(|b| b["tool_use_id"] == ids[1].as_str())
        .cloned()
        .expect("Oslo's result");
    assert_eq!(
        oslo["content"],
        json!([{"type": "text", "text": "-3C"}, {"type": "text", "text": "snow"}]),
        "both parts, apart: {oslo}"
    );

    // Three calls; the Messages API's is_error reaches upstream through the same process.
    messages.push(json!({"role": "user", "content": ask(2, &["Rome", "Lima", "Nuuk"])}));
    let assistant = chat_step(&daemon, &messages, true).await;
    let ids = call_ids(&assistant);
    assert_eq!(ids.len(), 3, "{assistant}");
    messages.push(assistant);
    for (i, id) in ids.iter().enumerate().rev() {
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": format!("r{i}")}));
    }
    chat_step(&daemon, &messages, true).await;
    assert_results_step(mock.message_requests().last().expect("upstream"), &ids);
    assert_eq!(served(&daemon).await, (1, 3));
}

/// An error result and an image result through the Messages API: `is_error` and the image
/// block reach upstream unchanged, from the waiting process.
#[tokio::test]
async fn messages_api_results_keep_errors_and_images() {
    let Some((mock, daemon)) = live_daemon("").await else {
        return;
    };
    let tools = json!([{"name": "get_weather", "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let mut messages = vec![json!({"role": "user", "content": ask(1, &["Paris", "Oslo"])})];
    let body = |messages: &Vec<Value>| json!({"model": "claude-sonnet-4", "max_tokens": 512, "tools": tools, "messages": messages});
    let answer = post(&daemon, "/v1/messages", &body(&messages)).await;
    assert_eq!(answer["stop_reason"], "tool_use", "{answer}");
    let ids: Vec<String> = answer["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| b["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{answer}");
    messages.push(json!({"role": "assistant", "content": answer["content"]}));
    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    messages.push(json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": ids[0], "is_error": true,
         "content": "city not found"},
        {"type": "tool_result", "tool_use_id": ids[1], "content": [
            {"type": "text", "text": "radar:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]}));
    let answer = post(&daemon, "/v1/messages", &body(&messages)).await;
    assert_eq!(answer["stop_reason"], "end_turn", "{answer}");
    let request = mock.message_requests().last().cloned().expect("upstream");
    assert_results_step(&request, &ids);
    let results = request.body["messages"]
        .as_array()
        .expect("messages")
        .last()
        .cloned()
        .expect("last");
    let by_id = |id: &str| {
        results["content"]
            .as_array()
            .expect("blocks")
            .iter()
            .find(|b| b["tool_use_id"] == id)
            .cloned()
            .expect("result")
    };
    let failed = by_id(&ids[0]);
    assert_eq!(failed["is_error"], true, "{failed}");
    let text = match &failed["content"] {
        Value::String(text) => text.clone(),
        other => other[0]["text"].as_str().unwrap_or("").to_string(),
    };
    assert_eq!(text, "city not found", "no prefix added: {failed}");
    let image = by_id(&ids[1]);
    let image_block = image["content"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|b| b["type"] == "image")
        .cloned()
        .expect("the image reached upstream");
    assert_eq!(image_block["source"]["data"], PNG, "{image}");
    assert_eq!(served(&daemon).await, (1, 1));
}

/// Five turns through the Messages API, streamed: one process, one upstream request per
/// step with matching ids.
#[tokio::test]
async fn a_messages_api_loop_runs_on_one_process() {
    let Some((mock, daemon)) = live_daemon("").await else {
        return;
    };
    let tools = json!([{"name": "get_weather", "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let mut messages: Vec<Value> = Vec::new();
    for step in 1..=5 {
        messages.push(json!({"role": "user", "content": ask(step, &["Paris"])}));
        let (content, stop) = messages_stream(&daemon, &tools, &messages).await;
        assert_eq!(stop, "tool_use", "step {step}");
        let ids: Vec<String> = content
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| b["id"].as_str().expect("id").to_string())
            .collect();
        messages.push(json!({"role": "assistant", "content": content}));
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": ids[0], "content": "18C"}]}));
        let (content, stop) = messages_stream(&daemon, &tools, &messages).await;
        assert_eq!(stop, "end_turn", "step {step}");
        assert_results_step(mock.message_requests().last().expect("upstream"), &ids);
        messages.push(json!({"role": "assistant", "content": content}));
    }
    assert_eq!(mock.message_requests().len(), 10);
    assert_eq!(served(&daemon).await, (1, 9));
}

/// A streamed Messages API answer: its content blocks and stop reason.
async fn messages_stream(
    daemon: &Daemon,
    tools: &Value,
    messages: &[Value],
) -> (Vec<Value>, String) {
    let response = reqwest::Client::new()
        .post(daemon.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(
            &json!({"model": "claude-sonnet-4", "max_tokens": 512, "stream": true,
                      "tools": tools, "messages": messages}),
        )
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("stream");
    let mut content: Vec<Value> = Vec::new();
    let mut partial: Vec<String> = Vec::new();
    let mut stop = String::new();
    for (name, data) in support::named_events(&text) {
        match name.as_str() {
            "content_block_start" => {
                content.push(data["content_block"].clone());
                partial.push(String::new());
            }
            "content_block_delta" => {
                let i = data["index"].as_u64().expect("index") as usize;
                match data["delta"]["type"].as_str() {
                    Some("text_delta") => {
                        let so_far = content[i]["text"].as_str().unwrap_or("").to_string();
                        content[i]["text"] =
                            json!(so_far + data["delta"]["text"].as_str().unwrap_or(""));
                    }
                    Some("input_json_delta") => {
                        partial[i].push_str(data["delta"]["partial_json"].as_str().unwrap_or(""))
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                stop = data["delta"]["stop_reason"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            }
            _ => {}
        }
    }
    for (block, json_text) in content.iter_mut().zip(partial) {
        if block["type"] == "tool_use" && !json_text.is_empty() {
            block["input"] = serde_json::from_str(&json_text).expect("tool input JSON");
        }
    }
    (content, stop)
}

/// Five turns through the Responses API: function_call_output items, continued by
/// `previous_response_id` in turns 2–5 and by the whole input in turn 1 — one process.
#[tokio::test]
async fn a_responses_api_loop_runs_on_one_process() {
    let Some((mock, daemon)) = live_daemon("").await else {
        return;
    };
    let tools = json!([{"type": "function", "name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let mut previous: Option<String> = None;
    for step in 1..=5 {
        let mut body = json!({"model": "claude-sonnet-4", "tools": tools,
            "input": [{"role": "user", "content": ask(step, &["Paris"])}]});
        if let Some(id) = &previous {
            body["previous_response_id"] = json!(id);
        }
        let response = post(&daemon, "/v1/responses", &body).await;
        let call = response["output"]
            .as_array()
            .expect("output")
            .iter()
            .find(|i| i["type"] == "function_call")
            .cloned()
            .unwrap_or_else(|| panic!("step {step}: a call: {response}"));
        let call_id = call["call_id"].as_str().expect("call_id").to_string();
        let input = if step == 1 {
            // The whole conversation as input items, as a stateless client sends it.
            json!([{"role": "user", "content": ask(step, &["Paris"])}, call,
                   {"type": "function_call_output", "call_id": call_id, "output": "18C"}])
        } else {
            json!([{"type": "function_call_output", "call_id": call_id, "output": "18C"}])
        };
        let mut body = json!({"model": "claude-sonnet-4", "tools": tools, "input": input});
        if step > 1 {
            body["previous_response_id"] = response["id"].clone();
        } else if let Some(text) = response["output"]
            .as_array()
            .and_then(|o| o.iter().find(|i| i["type"] == "message"))
        {
            // The assistant's text before the call is part of the conversation too.
            body["input"]
                .as_array_mut()
                .expect("input")
                .insert(1, text.clone());
        }
        let answer = post(&daemon, "/v1/responses", &body).await;
        assert_eq!(answer["status"], "completed", "{answer}");
        assert_results_step(
            mock.message_requests().last().expect("upstream"),
            &[call_id],
        );
        previous = Some(answer["id"].as_str().expect("id").to_string());
    }
    assert_eq!(mock.message_requests().len(), 10);
    assert_eq!(served(&daemon).await, (1, 9));
}

/// A conversation that offers tools but whose turns end in text (Open WebUI's chats) keeps
/// its process: turns 2 and 3 are live.
#[tokio::test]
async fn chats_that_offer_tools_go_live_too() {
    let Some((mock, daemon)) = live_daemon("").await else {
        return;
    };
    let mut messages: Vec<Value> = Vec::new();
    for turn in 1..=3 {
        messages.push(json!({"role": "user", "content": format!("Hello {turn}")}));
        let answer = chat_step(&daemon, &messages, false).await;
        assert!(
            answer.get("tool_calls").is_none_or(Value::is_null),
            "{answer}"
        );
        messages.push(json!({"role": "assistant", "content": answer["content"]}));
    }
    assert_eq!(mock.message_requests().len(), 3);
    assert_eq!(served(&daemon).await, (1, 2));
}

/// A client that never brings the results: the waiting process ends after `live_idle_secs`
/// (nothing more goes upstream, no process or run directory is left); the results brought
/// later still get an answer, through a new CLI.
#[tokio::test]
async fn an_abandoned_loop_ends_after_its_idle_time() {
    let Some((mock, daemon)) = live_daemon("live_idle_secs = 2\n").await else {
        return;
    };
    let mut messages = vec![json!({"role": "user", "content": ask(1, &["Paris"])})];
    let assistant = chat_step(&daemon, &messages, false).await;
    let ids = call_ids(&assistant);
    assert_eq!(daemon.health().await["parked_tool_calls"], 1);
    assert!(
        !descendants(daemon.pid()).is_empty(),
        "the CLI waits at the call"
    );
    let pid = daemon.pid();
    assert!(
        eventually(Duration::from_secs(10), || descendants(pid).is_empty()).await,
        "the waiting CLI ended after its idle time: {:?}",
        descendants(pid)
    );
    assert_eq!(daemon.health().await["live_conversations"], 0);
    assert_eq!(
        mock.message_requests().len(),
        1,
        "nothing more went upstream"
    );
    let leftovers = || -> Vec<_> {
        std::fs::read_dir(daemon.work_dir.path())
            .expect("work dir")
            .flatten()
            .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten().flatten())
            .map(|e| e.path())
            .collect()
    };
    // Removed off the worker threads, so a moment after the process ended.
    assert!(
        eventually(Duration::from_secs(5), || leftovers().is_empty()).await,
        "run directories left: {:?}",
        leftovers()
    );

    messages.push(assistant);
    messages.push(json!({"role": "tool", "tool_call_id": ids[0], "content": "18C"}));
    let answer = chat_step(&daemon, &messages, false).await;
    assert_eq!(answer["content"], format!("Results: {}=18C", ids[0]));
    assert_eq!(
        served(&daemon).await,
        (2, 0),
        "the late results started a new CLI"
    );
}

/// Requests that are not exactly the waiting conversation plus its results — an edited
/// first message, a changed call — are served by a new CLI, and the waiting process still
/// gets the real continuation afterwards.
#[tokio::test]
async fn an_edited_history_never_reaches_the_waiting_process() {
    let Some((mock, daemon)) = live_daemon("").await else {
        return;
    };
    let mut messages = vec![json!({"role": "user", "content": ask(1, &["Paris"])})];
    let assistant = chat_step(&daemon, &messages, false).await;
    let ids = call_ids(&assistant);
    messages.push(assistant.clone());
    messages.push(json!({"role": "tool", "tool_call_id": ids[0], "content": "18C"}));

    let mut edited = messages.clone();
    edited[0]["content"] = json!(ask(1, &["Lyon"]));
    chat_step(&daemon, &edited, false).await;
    assert_eq!(served(&daemon).await, (2, 0), "the edit started a new CLI");
    let upstream = mock.message_requests().last().cloned().expect("upstream");
    assert!(
        upstream.body.to_string().contains("Lyon"),
        "the edit went upstream as sent"
    );

    let mut changed = messages.clone();
    changed[1]["tool_calls"][0]["function"]["arguments"] = json!("{\"city\":\"Bern\"}");
    chat_step(&daemon, &changed, false).await;
    assert_eq!(
        served(&daemon).await,
        (3, 0),
        "the changed call started a new CLI"
    );

    let answer = chat_step(&daemon, &messages, false).await;
    assert_eq!(answer["content"], format!("Results: {}=18C", ids[0]));
    assert_eq!(
        served(&daemon).await,
        (3, 1),
        "the real continuation went to the waiting process"
    );
    assert_results_step(mock.message_requests().last().expect("upstream"), &ids);
}

/// Two requests bringing the same results at once: one gets the waiting process, the other
/// a new CLI; both are answered.
#[tokio::test]
async fn two_continuations_at_once_share_nothing() {
    let Some((_mock, daemon)) = live_daemon("").await else {
        return;
    };
    let mut messages = vec![json!({"role": "user", "content": ask(1, &["Paris"])})];
    let assistant = chat_step(&daemon, &messages, false).await;
    let ids = call_ids(&assistant);
    messages.push(assistant);
    messages.push(json!({"role": "tool", "tool_call_id": ids[0], "content": "18C"}));
    let (a, b) = tokio::join!(
        chat_step(&daemon, &messages, false),
        chat_step(&daemon, &messages, false)
    );
    for answer in [a, b] {
        assert_eq!(answer["content"], format!("Results: {}=18C", ids[0]));
    }
    assert_eq!(served(&daemon).await, (2, 1));
}

/// A reload in the middle of a loop ends the waiting process; the results still get their
/// answer, on the cold path.
#[tokio::test]
async fn a_reload_in_the_middle_of_a_loop() {
    let Some((mock, mut daemon)) = live_daemon("").await else {
        return;
    };
    let mut messages = vec![json!({"role": "user", "content": ask(1, &["Paris"])})];
    let assistant = chat_step(&daemon, &messages, false).await;
    let ids = call_ids(&assistant);
    assert_eq!(daemon.health().await["parked_tool_calls"], 1);
    support::send_signal(daemon.pid(), libc::SIGHUP);
    let pid = daemon.pid();
    assert!(
        eventually(Duration::from_secs(10), || descendants(pid).is_empty()).await,
        "the reload ended the waiting CLI"
    );
    assert_eq!(
        mock.message_requests().len(),
        1,
        "ending it sent nothing upstream"
    );
    messages.push(assistant);
    messages.push(json!({"role": "tool", "tool_call_id": ids[0], "content": "18C"}));
    let answer = chat_step(&daemon, &messages, false).await;
    assert_eq!(answer["content"], format!("Results: {}=18C", ids[0]));
    assert_eq!(served(&daemon).await, (2, 0));
    daemon.terminate().await;
}

/// A kept process that exits on its own stops counting at once (no zombie held until its
/// idle time), and its conversation's next step starts a new CLI.
#[tokio::test]
async fn a_kept_process_that_dies_is_reaped_at_once() {
    let Some((_mock, daemon)) = live_daemon("live_idle_secs = 600\n").await else {
        return;
    };
    let mut messages = vec![json!({"role": "user", "content": ask(1, &["Paris"])})];
    let assistant = chat_step(&daemon, &messages, false).await;
    let ids = call_ids(&assistant);
    let health = daemon.health().await;
    assert_eq!(health["live_conversations"], 1, "{health}");
    for pid in descendants(daemon.pid()) {
        support::send_signal(pid, libc::SIGKILL);
    }
    let mut reaped = false;
    for _ in 0..100 {
        let health = daemon.health().await;
        if health["live_conversations"] == 0 && health["slots_held"] == 0 {
            reaped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reaped, "{}", daemon.health().await);
    messages.push(assistant);
    messages.push(json!({"role": "tool", "tool_call_id": ids[0], "content": "18C"}));
    let answer = chat_step(&daemon, &messages, false).await;
    assert_eq!(answer["content"], format!("Results: {}=18C", ids[0]));
}

/// An agent framework drives the loop: openai-agents runs a function tool for five turns,
/// streamed, through chat completions and through the Responses API
/// (tests/python_agents); every step after the first is served by the one kept process.
#[tokio::test]
async fn an_agent_framework_loop_is_served_live() {
    let Some(python) = support::venv_python() else {
        return;
    };
    let Some((_mock, daemon)) = live_daemon("").await else {
        return;
    };
    support::run_pytest(&python, "tests/python_agents", &daemon.url("/v1"), &daemon).await;
}
