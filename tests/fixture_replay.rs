//! The recorded output of the real CLI (tests/fixtures/claude-cli, copied from the recordings), replayed by the fake
//! CLI at its recorded pace, through the real daemon: what the client gets for each.

mod support;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, chunk_text, sse_data};

fn fixtures_present() -> bool {
    let dir = support::root().join("tests/fixtures/claude-cli");
    assert!(dir.is_dir(), "{} is missing", dir.display());
    true
}

async fn ask(daemon: &Daemon, variant: &str, stream: bool) -> reqwest::Response {
    reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(&json!({"model": "claude-opus-4", "stream": stream,
                      "messages": [{"role": "user", "content": format!("@fake:replay:{variant}")}]}))
        .send()
        .await
        .expect("POST")
}

/// A recorded successful run, streamed and plain.
#[tokio::test]
async fn recorded_success_streams_and_completes() {
    if !fixtures_present() {
        return;
    }
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let data = sse_data(
        &ask(&daemon, "v2.1.332/c_partial", true)
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        chunk_text(&data),
        "Hi there! This is the mock Anthropic API."
    );
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let first: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(first["model"], "claude-opus-5-5");

    let body: Value = ask(&daemon, "v2.1.332/c_partial", false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hi there! This is the mock Anthropic API."
    );
    assert_eq!(body["usage"]["prompt_tokens"], 42);

    // CLI 2.1.197 without partial messages: the text comes from the assistant message.
    let body: Value = ask(&daemon, "b_stream", false).await.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hi there! This is the mock Anthropic API."
    );
}

/// Recorded API errors map to their statuses.
#[tokio::test]
async fn recorded_errors_map_to_statuses() {
    if !fixtures_present() {
        return;
    }
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    for (variant, want, needle) in [
        ("v2.1.332/f_error_err-400", 400, "model: bad model (mock)"),
        ("f_error_err-401_maxretries0", 401, "claude-max-proxy login"),
        ("f_error_err-529", 503, "Overloaded"),
        // The real API's 404 for a model it does not know (CLI 2.1.332, two requests).
        (
            "v2.1.332/model_not_found",
            404,
            "issue with the selected model (claude-zzz-9)",
        ),
    ] {
        let response = ask(&daemon, variant, false).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, want, "{variant}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{variant}: {message}");
        if want == 404 {
            assert_eq!(
                body["error"]["code"], "model_not_found",
                "{variant}: {body}"
            );
        }
    }
}

/// The recorded mid-stream failure: no contradicting text when streaming, the retried
/// answer when not.
#[tokio::test]
async fn recorded_midstream_failure() {
    if !fixtures_present() {
        return;
    }
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let data = sse_data(
        &ask(&daemon, "v2.1.332/f_error_err-midstream", true)
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(chunk_text(&data), "partial");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{last}");

    let body: Value = ask(&daemon, "v2.1.332/f_error_err-midstream", false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hi there! This is the mock Anthropic API."
    );
}
