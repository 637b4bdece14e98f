//! Documents (PDFs and plain text) through all three APIs with the real CLI 2.1.332 and the
//! mock Messages API: chat completions' `file` parts, the Responses API's `input_file` parts
//! and the Messages API's `document` blocks reach upstream as the same `document` block,
//! in the new message and (resumed from the session file) in an earlier turn. What is not a
//! document is a 400 naming its part, before any CLI runs.

mod support;

use serde_json::{Value, json};
use support::mock_anthropic::{MockAnthropic, mock_reply};
use support::{Daemon, DaemonOptions};

/// `%PDF-1.4` and an end-of-file marker, base64: enough for the checks (the mock does not
/// read it).
const PDF: &str = "JVBERi0xLjQKJSVFT0YK";

fn pdf_data_url() -> String {
    format!("data:application/pdf;base64,{PDF}")
}

/// The document block every API's PDF part becomes.
fn pdf_block(title: &str) -> Value {
    json!({"type": "document", "title": title,
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}})
}

async fn post(daemon: &Daemon, path: &str, body: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(daemon.url(path))
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .expect("POST");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

/// The content blocks of the upstream request's user message that says `text`.
fn upstream_blocks_around(mock: &MockAnthropic, text: &str) -> Vec<Value> {
    let requests = mock.message_requests();
    let last = requests.last().expect("an upstream request");
    last.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_array())
        .find(|blocks| blocks.iter().any(|b| b["text"] == text))
        .cloned()
        .unwrap_or_else(|| panic!("no user message says {text:?}: {}", last.body))
}

/// The first block of `blocks` of `kind`.
fn first_of(blocks: &[Value], kind: &str) -> Value {
    blocks
        .iter()
        .find(|b| b["type"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} block in {blocks:?}"))
}

#[tokio::test]
async fn a_pdf_reaches_upstream_from_every_api() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let chat = post(
        &daemon,
        "/v1/chat/completions",
        &json!({"model": "claude-sonnet-4", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"filename": "chat.pdf", "file_data": pdf_data_url()}},
            {"type": "text", "text": "summarize chat"}]}]}),
    )
    .await;
    assert_eq!(
        chat["choices"][0]["message"]["content"],
        mock_reply("summarize chat")
    );
    let blocks = upstream_blocks_around(&mock, "summarize chat");
    assert_eq!(first_of(&blocks, "document"), pdf_block("chat.pdf"));

    post(
        &daemon,
        "/v1/responses",
        &json!({"model": "claude-sonnet-4", "input": [{"role": "user", "content": [
            {"type": "input_file", "filename": "resp.pdf", "file_data": pdf_data_url()},
            {"type": "input_text", "text": "summarize responses"}]}]}),
    )
    .await;
    let blocks = upstream_blocks_around(&mock, "summarize responses");
    assert_eq!(first_of(&blocks, "document"), pdf_block("resp.pdf"));

    post(
        &daemon,
        "/v1/messages",
        &json!({"model": "claude-sonnet-4", "max_tokens": 100, "messages": [
            {"role": "user", "content": [
                {"type": "document", "title": "msg.pdf", "source": {"type": "base64",
                 "media_type": "application/pdf", "data": PDF}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                 "data": "plain notes"}},
                {"type": "text", "text": "summarize messages"}]}]}),
    )
    .await;
    let blocks = upstream_blocks_around(&mock, "summarize messages");
    let documents: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "document").collect();
    assert_eq!(documents.len(), 2, "{blocks:?}");
    assert_eq!(*documents[0], pdf_block("msg.pdf"));
    assert_eq!(
        documents[1]["source"],
        json!({"type": "text", "media_type": "text/plain", "data": "plain notes"})
    );
}

/// A PDF in an earlier turn is resumed from the session file and still reaches upstream.
#[tokio::test]
async fn a_pdf_in_an_earlier_turn_reaches_upstream() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    post(
        &daemon,
        "/v1/chat/completions",
        &json!({"model": "claude-sonnet-4", "messages": [
            {"role": "user", "content": [
                {"type": "file", "file": {"filename": "early.pdf", "file_data": pdf_data_url()}},
                {"type": "text", "text": "read this"}]},
            {"role": "assistant", "content": "I read it."},
            {"role": "user", "content": "what was it called?"}]}),
    )
    .await;
    let blocks = upstream_blocks_around(&mock, "read this");
    assert_eq!(first_of(&blocks, "document"), pdf_block("early.pdf"));
}

/// Uploaded file ids, non-PDF data and other types are 400s naming the part; no CLI runs.
#[tokio::test]
async fn what_is_not_a_document_is_refused_by_name() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let cases = [
        (
            "/v1/chat/completions",
            json!({"model": "claude-opus-4", "messages": [{"role": "user", "content": [
                {"type": "file", "file": {"file_id": "file-abc"}}]}]}),
            "messages[0].content[0].file.file_data",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "claude-opus-4", "messages": [{"role": "user", "content": [
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,aGVsbG8="}},
                {"type": "text", "text": "hi"}]}]}),
            "messages[0].content[0].file.file_data",
        ),
        (
            "/v1/responses",
            json!({"model": "claude-opus-4", "input": [{"role": "user", "content": [
                {"type": "input_file", "file_data": "data:image/gif;base64,R0lG"}]}]}),
            "input[0].content[0].file_data",
        ),
    ];
    for (path, body, param) in cases {
        let response = reqwest::Client::new()
            .post(daemon.url(path))
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    let response = reqwest::Client::new()
        .post(daemon.url("/v1/messages"))
        .json(
            &json!({"model": "claude-opus-4", "max_tokens": 10, "messages": [
            {"role": "user", "content": [{"type": "document", "source": {
                "type": "file", "file_id": "file-abc"}}]}]}),
        )
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("json");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("messages.0.content.0.source.type")),
        "{error}"
    );
    assert!(daemon.fake_records().is_empty(), "no CLI ran");
}
