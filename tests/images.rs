//! Image parts: `data:` URLs (PNG, JPEG, GIF, WebP) and http(s) URLs, in the last and in
//! earlier turns. The CLI gets them through `--input-format stream-json` (images first,
//! then the text) and, for earlier turns, in the session file; upstream receives them as
//! image blocks, unchanged. Broken or oversized images are 400s naming the param.

mod support;

use serde_json::{Value, json};
use support::mock_anthropic::mock_reply;
use support::{Daemon, DaemonOptions};

const PIXEL: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

fn image_message(text: &str) -> Value {
    json!({"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PIXEL}")}},
        {"type": "text", "text": text}]})
}

/// Posts `body` and checks the mock's answer to `said`.
async fn assert_answered(daemon: &Daemon, body: Value, said: &str) {
    let response = daemon.post_chat(&body).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], mock_reply(said));
}

/// A message's content blocks (none for a string content).
fn content_blocks(message: &Value) -> Vec<Value> {
    message["content"].as_array().cloned().unwrap_or_default()
}

/// The fake CLI gets one stream-json user message: the image block first, then the text.
#[tokio::test]
async fn an_image_reaches_the_cli_as_a_stream_json_block() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let response = daemon
        .post_chat(&json!({"model": "claude-opus-4", "messages": [image_message("what color?")]}))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from the fake. You said: what color?"
    );
    let record = daemon.fake_records().pop().expect("record");
    let args: Vec<&str> = record["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--input-format", "stream-json"]),
        "{args:?}"
    );
    let line: Value = serde_json::from_str(record["stdin"].as_str().expect("stdin").trim())
        .expect("one JSON line");
    let content = &line["message"]["content"];
    assert_eq!(content[0]["type"], "image");
    assert_eq!(content[0]["source"]["media_type"], "image/png");
    assert_eq!(content[0]["source"]["data"], PIXEL);
    assert_eq!(content[1]["text"], "what color?");
}

/// Broken, unsupported and oversized images are 400s naming the param; no CLI runs.
#[tokio::test]
async fn bad_images_are_rejected_by_name() {
    let daemon = Daemon::start(DaemonOptions::fake().config("max_image_bytes = 1024\n")).await;
    let big = "A".repeat(4000);
    for (url, param) in [
        (
            "data:image/png;base64,@@@".to_string(),
            "messages[0].content[0].image_url.url",
        ),
        (
            "data:image/bmp;base64,AAAA".to_string(),
            "messages[0].content[0].image_url.url",
        ),
        (
            "ftp://example.com/x.png".to_string(),
            "messages[0].content[0].image_url.url",
        ),
        (
            format!("data:image/png;base64,{big}"),
            "messages[0].content",
        ),
    ] {
        let response = daemon
            .post_chat(
                &json!({"model": "claude-opus-4", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "text", "text": "hi"}]}]}),
            )
            .await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    assert!(daemon.fake_records().is_empty());
}

/// With the real CLI: an image in the last turn and one in an earlier turn (resumed
/// session) reach upstream as image blocks, unchanged.
#[tokio::test]
async fn images_reach_upstream_through_the_real_cli() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let image_block = json!({"type": "image", "source": {"type": "base64",
                             "media_type": "image/png", "data": PIXEL}});

    assert_answered(
        &daemon,
        json!({"model": "claude-sonnet-4", "messages": [image_message("what color?")]}),
        "what color?",
    )
    .await;
    let upstream = mock.message_requests().pop().expect("an upstream request");
    let blocks = content_blocks(&upstream.body["messages"][0]);
    assert!(blocks.contains(&image_block), "{}", upstream.body);

    assert_answered(
        &daemon,
        json!({"model": "claude-sonnet-4", "messages": [
            image_message("what color?"),
            {"role": "assistant", "content": "Red."},
            {"role": "user", "content": "and its size?"}]}),
        "and its size?",
    )
    .await;
    let upstream = mock.message_requests().pop().expect("an upstream request");
    let messages = upstream.body["messages"].as_array().expect("messages");
    let first_user = messages
        .iter()
        .find(|m| m["role"] == "user")
        .expect("a user message");
    let blocks = content_blocks(first_user);
    assert!(blocks.contains(&image_block), "{}", upstream.body);
    assert!(
        messages.iter().any(|m| m["role"] == "assistant"),
        "the history went upstream as turns: {}",
        upstream.body
    );
}
