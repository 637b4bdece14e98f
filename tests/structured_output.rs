//! `response_format: json_schema` through the real CLI 2.1.332 (`--json-schema`) against the
//! mock Messages API: upstream sees the CLI's `StructuredOutput` tool with the client's
//! schema, the client gets the tool's input as its JSON content (streamed as it arrives),
//! and the official `openai` SDK's `parse` / `stream` return the pydantic object.

mod support;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, chunk_text, sse_data};

// The Python side is tests/python_real/: test_real_cli.py (structured outputs, images, tools)
// and test_langchain.py (langchain-openai).

fn person_request(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4", "stream": stream,
        "response_format": {"type": "json_schema", "json_schema": {"name": "person",
            "schema": {"type": "object", "properties": {"name": {"type": "string"},
                       "age": {"type": "integer"}}, "required": ["name", "age"],
                       "additionalProperties": false}}},
        "messages": [{"role": "user", "content": "{\"name\": \"Ada\", \"age\": 36}"}]})
}

/// The schema reaches upstream as the StructuredOutput tool; plain and streamed answers are
/// the tool input as JSON text.
#[tokio::test]
async fn json_schema_answers_with_the_structured_output() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let client = reqwest::Client::new();
    let response = client
        .post(daemon.url("/v1/chat/completions"))
        .json(&person_request(false))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let content = body["choices"][0]["message"]["content"]
        .as_str()
        .expect("content");
    let parsed: Value = serde_json::from_str(content).expect("content is JSON");
    assert_eq!(parsed, json!({"name": "Ada", "age": 36}));
    assert_eq!(body["choices"][0]["finish_reason"], "stop");

    let upstream = mock.message_requests();
    let tool = upstream[0].body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "StructuredOutput")
        .cloned()
        .expect("the StructuredOutput tool");
    assert_eq!(tool["input_schema"]["required"], json!(["name", "age"]));
    assert_eq!(upstream.len(), 1, "one upstream request");

    let streamed = client
        .post(daemon.url("/v1/chat/completions"))
        .json(&person_request(true))
        .send()
        .await
        .expect("POST")
        .text()
        .await
        .expect("body");
    let data = sse_data(&streamed);
    let text = chunk_text(&data);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("streamed JSON"),
        json!({"name": "Ada", "age": 36})
    );
    assert!(data.len() > 4, "streamed in pieces: {data:?}");
}

/// A schema that is not an object is a 400 naming the param, before any CLI runs.
#[tokio::test]
async fn a_bad_schema_is_rejected() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let response = reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(&json!({"model": "claude-opus-4",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": 3}},
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["param"], "response_format.json_schema.schema");
    assert!(daemon.fake_records().is_empty());
}

/// The official SDK (`chat.completions.parse` / `.stream` with a pydantic model, JSON mode,
/// tool choice) and langchain-openai (`bind_tools` round trips, `with_structured_output`);
/// the tests read what reached upstream from the mock.
#[tokio::test]
async fn openai_sdk_parse_with_pydantic() {
    let Some(python) = support::venv_python() else {
        return;
    };
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let mock_url = mock.base_url();
    support::run_pytest_with(
        &python,
        "tests/python_real",
        &daemon.url("/v1"),
        &daemon,
        &[("MOCK_BASE_URL", &mock_url)],
    )
    .await;
}
