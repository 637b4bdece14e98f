//! `POST /v1/responses` (the OpenAI Responses API) through the real CLI 2.1.332 and the mock
//! Messages API: the `response` object and the documented event stream with sequence
//! numbers, function calls and their outputs with matching ids upstream,
//! `previous_response_id` (kept, forgotten with `store: false`, unknown: 404), kept responses
//! read back, listed (`/input_items`) and deleted (`GET`/`DELETE /v1/responses/{id}`), refusals of
//! what cannot be carried; then the official `openai` SDK's `responses.create` /
//! `responses.stream` (tests/python_responses/).

mod support;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions};

async fn post(daemon: &Daemon, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(daemon.url("/v1/responses"))
        .json(body)
        .send()
        .await
        .expect("POST /v1/responses")
}

/// A request the daemon answers with 200: its JSON body.
async fn answered(daemon: &Daemon, body: &Value) -> Value {
    let response = post(daemon, body).await;
    assert_eq!(response.status(), 200, "{body}");
    response.json().await.expect("json")
}

/// A POST to `path` is 405 and names the methods it allows.
async fn assert_post_refused(daemon: &Daemon, path: &str, allow: &str) {
    let refused = reqwest::Client::new()
        .post(daemon.url(path))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 405, "{path}");
    assert_eq!(refused.headers()["allow"].to_str().expect("allow"), allow);
}

/// `GET path`.
async fn fetch(daemon: &Daemon, path: String) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new().get(daemon.url(&path)).send().await
}

/// The JSON body of a GET.
async fn json_of(response: reqwest::Result<reqwest::Response>) -> Value {
    response.expect("GET").json().await.expect("json")
}

fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .expect("output")
        .iter()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|part| part["text"].as_str().map(str::to_string))
        .collect()
}

/// A kept response reads back as it was given (whole or streamed: the final event's
/// response), `DELETE` forgets it, and what was never kept is 404 in the OpenAI shape.
#[tokio::test]
async fn kept_responses_can_be_read_back_and_deleted() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let client = reqwest::Client::new();
    let get = |id: &str| fetch(&daemon, format!("/v1/responses/{id}"));
    let whole: Value = answered(
        &daemon,
        &json!({"model": "claude-opus-4", "input": "keep me"}),
    )
    .await;
    let id = whole["id"].as_str().expect("id").to_string();
    let read = get(&id).await.expect("GET");
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.expect("json"), whole);

    let streamed = post(
        &daemon,
        &json!({"model": "claude-opus-4", "input": "keep me too", "stream": true}),
    )
    .await
    .text()
    .await
    .expect("body");
    let events = support::named_events(&streamed);
    let (_, completed) = events
        .iter()
        .find(|(name, _)| name == "response.completed")
        .expect("response.completed");
    let streamed_id = completed["response"]["id"].as_str().expect("id");
    let read: Value = json_of(get(streamed_id).await).await;
    assert_eq!(read, completed["response"]);

    let deleted = client
        .delete(daemon.url(&format!("/v1/responses/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        deleted.json::<Value>().await.expect("json"),
        json!({"id": id, "object": "response", "deleted": true})
    );
    let gone = get(&id).await.expect("GET");
    assert_eq!(gone.status(), 404);
    let error: Value = gone.json().await.expect("json");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("message")
            .contains(&id),
        "{error}"
    );
    let again = client
        .delete(daemon.url(&format!("/v1/responses/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(again.status(), 404);
    // A deleted response can no longer be continued.
    let continued = post(
        &daemon,
        &json!({"model": "claude-opus-4", "input": "and?", "previous_response_id": id}),
    )
    .await;
    assert_eq!(continued.status(), 404);

    let unstored: Value = answered(
        &daemon,
        &json!({"model": "claude-opus-4", "input": "forget me", "store": false}),
    )
    .await;
    let unstored_id = unstored["id"].as_str().expect("id");
    assert_eq!(get(unstored_id).await.expect("GET").status(), 404);
    assert_post_refused(
        &daemon,
        &format!("/v1/responses/{streamed_id}"),
        "GET, DELETE",
    )
    .await;
}

/// A 1x1 PNG.
const PIXEL: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

/// `GET /v1/responses/{id}/input_items` lists the request's own input (not what
/// `previous_response_id` brought), newest first by default, a page at a time; image URLs
/// only when `include` asks; bad parameters, unknown ids and other methods are refused.
#[tokio::test]
async fn input_items_list_the_requests_own_input() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let client = reqwest::Client::new();
    let list =
        |id: &str, query: &str| fetch(&daemon, format!("/v1/responses/{id}/input_items{query}"));
    let first: Value = answered(
        &daemon,
        &json!({"model": "claude-opus-4", "input": "I am Bob."}),
    )
    .await;
    let first_id = first["id"].as_str().expect("id").to_string();
    let listed: Value = json_of(list(&first_id, "").await).await;
    assert_eq!(listed["object"], "list");
    assert_eq!(listed["has_more"], false);
    let items = listed["data"].as_array().expect("data");
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["role"], "user");
    assert_eq!(
        items[0]["content"],
        json!([{"type": "input_text", "text": "I am Bob."}])
    );
    assert_eq!(listed["first_id"], items[0]["id"]);

    let image_url = format!("data:image/png;base64,{PIXEL}");
    let second = post(
        &daemon,
        &json!({"model": "claude-opus-4", "previous_response_id": first_id, "input": [
            {"role": "user", "content": "Look at this."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is it?"},
                {"type": "input_image", "image_url": image_url}]},
            {"role": "user", "content": "Be brief.", "id": "msg_mine"}]}),
    )
    .await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.expect("json");
    let second_id = second["id"].as_str().expect("id").to_string();
    let newest_first: Value = json_of(list(&second_id, "").await).await;
    let texts: Vec<&str> = newest_first["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|item| item["content"][0]["text"].as_str().expect("text"))
        .collect();
    assert_eq!(
        texts,
        ["Be brief.", "What is it?", "Look at this."],
        "only its own input"
    );
    assert_eq!(
        newest_first["first_id"], "msg_mine",
        "a client's id is kept"
    );
    let image = &newest_first["data"][1]["content"][1];
    assert_eq!(image["type"], "input_image");
    assert!(
        image["image_url"].is_null(),
        "no image URL unless included: {image}"
    );

    // Oldest first, two at a time, following `after` like the SDKs' pagers.
    let mut seen = Vec::new();
    let mut query = "?order=asc&limit=2&include[]=message.input_image.image_url".to_string();
    loop {
        let page: Value = json_of(list(&second_id, &query).await).await;
        let data = page["data"].as_array().expect("data");
        assert!(data.len() <= 2, "{page}");
        seen.extend(data.iter().cloned());
        if page["has_more"] != true {
            break;
        }
        let last = page["last_id"].as_str().expect("last_id");
        query = format!("?order=asc&limit=2&include[]=message.input_image.image_url&after={last}");
        assert!(seen.len() < 10, "paging ends");
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0]["content"][0]["text"], "Look at this.");
    assert_eq!(seen[1]["content"][1]["image_url"], image_url.as_str());

    for (query, param) in [
        ("?limit=0", "limit"),
        ("?order=sideways", "order"),
        ("?after=nope", "after"),
    ] {
        let refused = list(&second_id, query).await.expect("GET");
        assert_eq!(refused.status(), 400, "{query}");
        let error: Value = refused.json().await.expect("json");
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    assert_eq!(list("resp_unknown", "").await.expect("GET").status(), 404);
    assert_post_refused(
        &daemon,
        &format!("/v1/responses/{second_id}/input_items"),
        "GET",
    )
    .await;
    client
        .delete(daemon.url(&format!("/v1/responses/{second_id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(
        list(&second_id, "").await.expect("GET").status(),
        404,
        "deleted"
    );
}

/// Kept answers stay within `responses_kept_mb`: large ones push the oldest out, and one
/// larger than the whole budget is answered but not kept.
#[tokio::test]
async fn kept_answers_stay_within_their_memory_budget() {
    let daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_RESPONSES_KEPT_MB", "1")).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for (i, size) in [300_000, 300_000, 300_000, 3_000_000]
        .into_iter()
        .enumerate()
    {
        let input = json!([
            {"role": "user", "content": "x".repeat(size)},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": format!("Answer {i}.")}]);
        let response = post(&daemon, &json!({"model": "claude-opus-4", "input": input})).await;
        assert_eq!(response.status(), 200, "answered whether kept or not");
        let body: Value = response.json().await.expect("json");
        ids.push(body["id"].as_str().expect("id").to_string());
    }
    let mut kept = Vec::new();
    for id in &ids {
        let status = client
            .get(daemon.url(&format!("/v1/responses/{id}")))
            .send()
            .await
            .expect("GET")
            .status();
        kept.push(status == 200);
    }
    // Each answer holds its input twice (conversation and input items): about 0.6 MB of
    // the 1 MB, so each next one pushes out the one before; the last is larger than the
    // whole budget.
    assert_eq!(kept, [false, false, true, false], "{ids:?}");
}

/// A text answer, whole and streamed, with the events in the documented order.
#[tokio::test]
async fn a_response_comes_back_whole_and_streamed() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let response = post(
        &daemon,
        &json!({"model": "claude-sonnet-4", "input": "hello responses",
            "instructions": "Be brief.", "max_output_tokens": 300}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert!(body["id"].as_str().expect("id").starts_with("resp_"));
    assert_eq!(body["instructions"], "Be brief.");
    assert_eq!(
        output_text(&body),
        support::mock_anthropic::mock_reply("hello responses")
    );
    assert!(body["usage"]["input_tokens"].as_u64().expect("usage") > 0);
    let system = mock.message_requests()[0].body["system"].to_string();
    assert!(system.contains("Be brief."), "{system}");

    let streamed = post(
        &daemon,
        &json!({"model": "claude-sonnet-4", "input": "stream it", "stream": true}),
    )
    .await;
    assert_eq!(streamed.status(), 200);
    let events = support::named_events(&streamed.text().await.expect("body"));
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let expected_start = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ];
    assert_eq!(&names[..5], &expected_start, "{names:?}");
    let tail = [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ];
    assert_eq!(&names[names.len() - 4..], &tail, "{names:?}");
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], i, "sequence numbers count up");
        assert_eq!(&data["type"], name);
    }
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(text, support::mock_anthropic::mock_reply("stream it"));
    let (_, completed) = &events[events.len() - 1];
    assert_eq!(output_text(&completed["response"]), text);
}

/// Function calls come back with call ids; their outputs go upstream as tool_result blocks
/// with the same ids, and `previous_response_id` carries the conversation.
#[tokio::test]
async fn function_calls_round_trip_and_previous_response_id_continues() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let tools = json!([{"type": "function", "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let first: Value = answered(
        &daemon,
        &json!({"model": "claude-sonnet-4", "tools": tools,
            "input": "weather?\nCALL get_weather {\"city\":\"Rome\"}"}),
    )
    .await;
    let call = first["output"]
        .as_array()
        .expect("output")
        .iter()
        .find(|item| item["type"] == "function_call")
        .cloned()
        .expect("a function_call item");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["arguments"].as_str().expect("arguments"))
            .expect("JSON"),
        json!({"city": "Rome"})
    );
    let call_id = call["call_id"].as_str().expect("call_id").to_string();
    assert_eq!(mock.message_requests().len(), 1);

    // The output, continuing from the kept response.
    let second: Value = answered(
        &daemon,
        &json!({"model": "claude-sonnet-4", "tools": tools,
            "previous_response_id": first["id"],
            "input": [{"type": "function_call_output", "call_id": call_id, "output": "warm"}]}),
    )
    .await;
    assert_eq!(second["status"], "completed", "{second}");
    assert_eq!(output_text(&second), format!("Results: {call_id}=warm"));
    assert_eq!(second["previous_response_id"], first["id"]);
    let upstream = mock.message_requests()[1].body["messages"].to_string();
    assert!(
        upstream.contains(&format!("\"tool_use_id\":\"{call_id}\"")),
        "{upstream}"
    );
    assert!(
        upstream.contains("CALL get_weather"),
        "the first turn came along"
    );

    // A plain follow-up to the second response: the whole conversation goes upstream.
    let third = post(
        &daemon,
        &json!({"model": "claude-sonnet-4", "previous_response_id": second["id"],
            "input": "thanks", "store": false}),
    )
    .await;
    assert_eq!(third.status(), 200);
    let third: Value = third.json().await.expect("json");
    let upstream = mock.message_requests()[2].body["messages"].to_string();
    assert!(upstream.contains("Results: "), "{upstream}");
    let gone = post(
        &daemon,
        &json!({"model": "claude-sonnet-4", "previous_response_id": third["id"],
            "input": "again"}),
    )
    .await;
    assert_eq!(gone.status(), 404, "store: false keeps nothing");
    let error: Value = gone.json().await.expect("json");
    assert_eq!(error["error"]["param"], "previous_response_id");
    assert_eq!(error["error"]["code"], "previous_response_not_found");
}

/// Streamed function calls: output_item.added with the call, argument deltas, .done.
#[tokio::test]
async fn a_streamed_function_call() {
    let Some((_mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let body = post(
        &daemon,
        &json!({"model": "claude-sonnet-4", "stream": true,
            "tools": [{"type": "function", "name": "get_weather",
                       "parameters": {"type": "object"}}],
            "input": "CALL get_weather {\"city\":\"Kyiv\"}"}),
    )
    .await
    .text()
    .await
    .expect("body");
    let events = support::named_events(&body);
    let added = events
        .iter()
        .find(|(n, d)| n == "response.output_item.added" && d["item"]["type"] == "function_call")
        .expect("a function_call item is added");
    assert_eq!(added.1["item"]["name"], "get_weather");
    let pieces: String = events
        .iter()
        .filter(|(n, _)| n == "response.function_call_arguments.delta")
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&pieces).expect("JSON"),
        json!({"city": "Kyiv"})
    );
    let done = events
        .iter()
        .find(|(n, _)| n == "response.function_call_arguments.done")
        .expect("arguments done");
    assert_eq!(done.1["arguments"], pieces);
    assert_eq!(events[events.len() - 1].0, "response.completed");
}

/// What Codex sends: a `custom` (freeform, grammar) `apply_patch` tool beside function
/// tools, hosted `web_search` and a `namespace` it cannot have. The custom tool is offered
/// upstream as a function with one string argument carrying its grammar; its call comes
/// back as a `custom_tool_call` with the free text (whole and streamed), and
/// `custom_tool_call_output` answers it; the left-out tools are named in `x-ignored-params`.
#[tokio::test]
async fn codex_custom_tools_round_trip() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let patch = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n";
    let tools = json!([
        {"type": "web_search", "external_web_access": false},
        {"type": "custom", "name": "apply_patch", "description": "Edit files with a patch.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"}},
        {"type": "function", "name": "shell", "parameters": {"type": "object",
         "properties": {"command": {"type": "array", "items": {"type": "string"}}}}},
        {"type": "namespace", "name": "mcp__repl", "description": "A REPL.", "tools": []},
    ]);
    let ask = format!("CALL apply_patch {}", json!({"input": patch}));
    let response = post(
        &daemon,
        &json!({"model": "claude-sonnet-4", "tools": tools, "store": false,
            "input": [{"role": "developer", "content": "You are Codex."},
                      {"role": "user", "content": ask}]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let ignored = response.headers()["x-ignored-params"]
        .to_str()
        .expect("header")
        .to_string();
    assert!(
        ignored.contains("tools[0]") && ignored.contains("tools[3]"),
        "{ignored}"
    );
    let first: Value = response.json().await.expect("json");
    let call = first["output"]
        .as_array()
        .expect("output")
        .iter()
        .find(|item| item["type"] == "custom_tool_call")
        .cloned()
        .unwrap_or_else(|| panic!("a custom_tool_call item: {first}"));
    assert_eq!(call["name"], "apply_patch");
    assert_eq!(call["input"], patch, "the free text, not JSON");
    assert!(call["id"].as_str().expect("id").starts_with("ctc_"));
    assert!(
        first["tools"]
            .as_array()
            .expect("tools")
            .contains(&tools[1]),
        "the custom tool is echoed as given: {}",
        first["tools"]
    );
    let upstream_tools = mock.message_requests()[0].body["tools"].to_string();
    assert!(
        upstream_tools.contains("start: begin_patch"),
        "{upstream_tools}"
    );
    assert!(!upstream_tools.contains("mcp__repl"), "{upstream_tools}");

    // Codex sends the whole conversation back, with the call, its output and what it had
    // from elsewhere (reasoning, a web search call): answered from the output.
    let call_id = call["call_id"].as_str().expect("call_id");
    let second: Value = answered(
        &daemon,
        &json!({"model": "claude-sonnet-4", "tools": tools, "store": false, "input": [
            {"role": "user", "content": ask},
            {"type": "reasoning", "summary": [], "encrypted_content": "opaque"},
            {"type": "web_search_call", "status": "completed",
             "action": {"type": "search", "query": "patch format"}},
            {"type": "custom_tool_call", "call_id": call_id, "name": "apply_patch",
             "input": patch},
            {"type": "custom_tool_call_output", "call_id": call_id, "output": "Done!"}]}),
    )
    .await;
    assert_eq!(output_text(&second), format!("Results: {call_id}=Done!"));

    // Streamed: the input arrives whole in custom_tool_call_input events.
    let body = post(
        &daemon,
        &json!({"model": "claude-sonnet-4", "tools": tools, "stream": true, "input": ask}),
    )
    .await
    .text()
    .await
    .expect("body");
    let events = support::named_events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        !names.contains(&"response.function_call_arguments.delta"),
        "{names:?}"
    );
    let delta = events
        .iter()
        .find(|(n, _)| n == "response.custom_tool_call_input.delta")
        .expect("an input delta");
    assert_eq!(delta.1["delta"], patch);
    let done = events
        .iter()
        .find(|(n, d)| n == "response.output_item.done" && d["item"]["type"] == "custom_tool_call")
        .expect("the custom_tool_call item is done");
    assert_eq!(done.1["item"]["input"], patch);
    assert!(names.contains(&"response.custom_tool_call_input.done"));
    assert_eq!(events[events.len() - 1].0, "response.completed");
}

/// What cannot be carried is a 400 naming the field, in OpenAI's error shape; unknown
/// previous responses are a 404; nothing runs for them.
#[tokio::test]
async fn refusals_name_their_field() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    for (body, status, param) in [
        (
            json!({"model": "claude-opus-4", "input": "x", "tools": [{"type": "file_search"}]}),
            400,
            "tools[0].type",
        ),
        (
            json!({"model": "claude-opus-4", "input": "x", "previous_response_id": "resp_nope"}),
            404,
            "previous_response_id",
        ),
        (
            json!({"model": "claude-opus-4", "input": [{"role": "user", "content": [
                {"type": "input_image", "image_url": "data:image/bmp;base64,AAAA"}]}]}),
            400,
            "input[0].content[0].image_url",
        ),
        (json!({"model": "claude-opus-4"}), 400, "input"),
    ] {
        let response = post(&daemon, &body).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    assert!(daemon.fake_records().is_empty(), "no CLI ran");
}

/// The official `openai` SDK's `responses.create` / `responses.stream`: text, function calls
/// and their outputs, `previous_response_id`.
#[tokio::test]
async fn openai_sdk_responses() {
    let Some(python) = support::venv_python() else {
        return;
    };
    let Some((_mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    support::run_pytest(
        &python,
        "tests/python_responses",
        &daemon.url("/v1"),
        &daemon,
    )
    .await;
}
