//! Client tools through the real CLI 2.1.332 and the mock Messages API: the model's calls
//! come back as OpenAI `tool_calls` (plain and streamed, parallel ones with indices 0, 1),
//! with one upstream request per turn that ends in calls; the client's results go back
//! upstream as `tool_result` blocks with the same ids, all of them in one request; bad tool
//! input is a 400 naming the param.

mod support;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, sse_data};

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}])
}

fn ask_two_cities(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4", "stream": stream, "tools": weather_tool(),
        "messages": [{"role": "user",
            "content": "weather?\nCALL get_weather {\"city\":\"Paris\"}\nCALL get_weather {\"city\":\"Oslo\"}"}]})
}

/// Parallel calls come back as tool_calls with the arguments, finish_reason tool_calls, after
/// one upstream request; the results go back upstream with the same ids in one request.
#[tokio::test]
async fn parallel_calls_and_their_results_round_trip() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let response = daemon.post_chat(&ask_two_cities(false)).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(
        choice["finish_reason"],
        "tool_calls",
        "{body}\n{:?}",
        mock.message_requests()
            .iter()
            .map(|r| r.body["tools"].clone())
            .collect::<Vec<_>>()
    );
    let calls = choice["message"]["tool_calls"]
        .as_array()
        .expect("tool_calls")
        .clone();
    assert_eq!(calls.len(), 2, "{body}");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().expect("args"))
            .expect("JSON");
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(calls[1]["type"], "function");
    assert_eq!(
        mock.message_requests().len(),
        1,
        "one upstream request for the turn"
    );
    let upstream_tools = mock.message_requests()[0].body["tools"].clone();
    assert!(
        upstream_tools
            .as_array()
            .expect("tools")
            .iter()
            .any(|t| t["name"] == "mcp__c__get_weather"),
        "{upstream_tools}"
    );

    let (id1, id2) = (
        calls[0]["id"].as_str().expect("id").to_string(),
        calls[1]["id"].as_str().expect("id").to_string(),
    );
    let mut history = ask_two_cities(false);
    history["messages"]
        .as_array_mut()
        .expect("messages")
        .extend([
            json!({"role": "assistant", "content": choice["message"]["content"], "tool_calls": calls}),
            json!({"role": "tool", "tool_call_id": id1, "content": "18C"}),
            json!({"role": "tool", "tool_call_id": id2, "content": "5C"}),
        ]);
    let response = daemon.post_chat(&history).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        format!("Results: {id1}=18C; {id2}=5C"),
        "{body}"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let requests = mock.message_requests();
    assert_eq!(
        requests.len(),
        2,
        "the results went upstream in one request"
    );
    let messages = requests[1].body["messages"].as_array().expect("messages");
    let uses: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] == "assistant")
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "tool_use")
        .filter_map(|b| b["id"].as_str().map(str::to_string))
        .map(|s| Box::leak(s.into_boxed_str()) as &str)
        .collect();
    assert_eq!(uses, [id1.as_str(), id2.as_str()], "{}", requests[1].body);
    for message in messages {
        if let Value::String(text) = &message["content"] {
            assert!(!text.trim().is_empty(), "an empty message went upstream");
        }
    }
}

/// Streamed, the calls arrive as delta.tool_calls: id, type and name first, then the
/// arguments in pieces, indices 0 and 1.
#[tokio::test]
async fn streamed_calls_follow_openai() {
    let Some((_mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let text = daemon
        .post_chat(&ask_two_cities(true))
        .await
        .text()
        .await
        .expect("body");
    let chunks: Vec<Value> = sse_data(&text)
        .iter()
        .filter(|d| d.as_str() != "[DONE]")
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    let firsts: Vec<&&Value> = deltas.iter().filter(|d| d.get("id").is_some()).collect();
    assert_eq!(firsts.len(), 2, "{text}");
    assert_eq!(firsts[0]["index"], 0);
    assert_eq!(firsts[1]["index"], 1);
    assert_eq!(firsts[0]["function"]["name"], "get_weather");
    let args0: String = deltas
        .iter()
        .filter(|d| d["index"] == 0)
        .filter_map(|d| d["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args0).expect("JSON"),
        json!({"city": "Paris"})
    );
    let finish = chunks.iter().find_map(|c| {
        c["choices"][0]["finish_reason"]
            .as_str()
            .map(str::to_string)
    });
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

/// Bad tools and a tool message without its call are 400s naming the param; no CLI runs.
#[tokio::test]
async fn bad_tool_input_is_rejected_by_name() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    for (body, param) in [
        (
            json!({"model": "claude-opus-4", "tools": [{"type": "function", "function": {}}],
                   "messages": [{"role": "user", "content": "x"}]}),
            "tools[0].function.name",
        ),
        (
            json!({"model": "claude-opus-4", "tools": [{"type": "function",
                   "function": {"name": "f", "parameters": "nope"}}],
                   "messages": [{"role": "user", "content": "x"}]}),
            "tools[0].function.parameters",
        ),
        (
            json!({"model": "claude-opus-4", "messages": [{"role": "user", "content": "x"},
                   {"role": "tool", "tool_call_id": "nope", "content": "r"}]}),
            "messages[1].tool_call_id",
        ),
    ] {
        let response = daemon.post_chat(&body).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    assert!(daemon.fake_records().is_empty());
}

/// A client's call ids are its own choice: ids that look like options (`--version`, `-x`)
/// carried by a cold continuation (no kept process here) still reach the model with their
/// results, and nothing of the daemon (its path, a hook error) goes upstream.
#[tokio::test]
async fn call_ids_that_look_like_options_are_carried_as_ids() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    for id in ["--version", "-x"] {
        let body = json!({"model": "claude-sonnet-4", "tools": weather_tool(), "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": id, "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": id, "content": "18C"}]});
        let response = daemon.post_chat(&body).await;
        let status = response.status();
        let answer: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["choices"][0]["message"]["content"],
            format!("Results: {id}=18C"),
            "{answer}"
        );
        let upstream = mock.message_requests().last().cloned().expect("upstream");
        let sent = upstream.body.to_string();
        assert!(!sent.contains("hook error"), "{sent}");
        assert!(
            !sent.contains("claude-max-proxy"),
            "the daemon's path went upstream: {sent}"
        );
    }
}
