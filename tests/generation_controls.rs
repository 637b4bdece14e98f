//! The generation controls of a chat request: `max_tokens` / `max_completion_tokens` reach
//! the CLI (and upstream `max_tokens`), `reasoning_effort` becomes `--effort` (upstream
//! `output_config.effort`), `stop` is applied by the proxy — cut, held back while streaming,
//! and the CLI ended once it matched — and ignored parameters are named in
//! `x-ignored-params`. Fake CLI for the daemon's side, the real CLI against the mock for
//! what reaches upstream.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, alive, chunk_text, eventually, sse_data};

/// A stop sequence cuts the answer before it, ends with `stop`, and ends the CLI at once
/// (the slow fake would otherwise keep streaming for seconds).
#[tokio::test]
async fn stop_cuts_the_answer_and_ends_the_cli() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    for stream in [false, true] {
        let before = daemon.fake_records().len();
        let body = json!({"model": "claude-opus-4", "stream": stream, "stop": ["from"],
            "messages": [{"role": "user", "content": "@fake:slow:700 hi"}]});
        let response = daemon.post_chat(&body).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("body");
        let (content, finish) = if stream {
            let data = sse_data(&text);
            let finish = data
                .iter()
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .find_map(|v| {
                    v["choices"][0]["finish_reason"]
                        .as_str()
                        .map(str::to_string)
                });
            (chunk_text(&data), finish)
        } else {
            let v: Value = serde_json::from_str(&text).expect("json");
            (
                v["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                v["choices"][0]["finish_reason"]
                    .as_str()
                    .map(str::to_string),
            )
        };
        assert_eq!(content, "Hello ", "stream={stream}: {text}");
        assert_eq!(finish.as_deref(), Some("stop"));
        let record = daemon.fake_records()[before].clone();
        let pid = record["pid"].as_u64().expect("pid") as u32;
        assert!(
            eventually(Duration::from_secs(2), || !alive(pid)).await,
            "the CLI kept running after the stop sequence matched"
        );
    }
}

/// `max_completion_tokens` (or `max_tokens`) and `reasoning_effort` reach the CLI as
/// CLAUDE_CODE_MAX_OUTPUT_TOKENS and --effort; ignored parameters are named back.
#[tokio::test]
async fn controls_reach_the_cli_and_ignored_params_are_named() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let response = daemon
        .post_chat(
            &json!({"model": "claude-opus-4", "max_completion_tokens": 77,
                "reasoning_effort": "high", "temperature": 0.2, "top_p": 0.9,
                "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ignored-params"], "temperature, top_p");
    let record = daemon.fake_records().pop().expect("record");
    assert_eq!(
        record["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"], "77",
        "{record}"
    );
    let argv: Vec<&str> = record["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let at = argv
        .iter()
        .position(|a| *a == "--effort")
        .expect("--effort");
    assert_eq!(argv[at + 1], "high");

    let plain = daemon
        .post_chat(
            &json!({"model": "claude-opus-4", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert!(!plain.headers().contains_key("x-ignored-params"));
}

/// Bad controls are 400s naming the param, and no CLI runs.
#[tokio::test]
async fn bad_controls_are_rejected_by_name() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    for (extra, param) in [
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
        (json!({"reasoning_effort": "extreme"}), "reasoning_effort"),
    ] {
        let mut body = json!({"model": "claude-opus-4",
                              "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let response = daemon.post_chat(&body).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["param"], param);
    }
    assert!(daemon.fake_records().is_empty());
}

/// With the real CLI: `max_tokens` becomes the upstream `max_tokens` and `reasoning_effort`
/// the upstream `output_config.effort`.
#[tokio::test]
async fn controls_reach_upstream_through_the_real_cli() {
    let Some((mock, daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let response = daemon
        .post_chat(
            &json!({"model": "claude-sonnet-4", "max_tokens": 77, "reasoning_effort": "low",
                "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let requests = mock.message_requests();
    let last = requests.last().expect("an upstream request");
    assert_eq!(last.body["max_tokens"], 77, "{}", last.body);
    assert_eq!(last.body["output_config"]["effort"], "low", "{}", last.body);
}
