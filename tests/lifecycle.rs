//! Process lifecycle against the real daemon and the fake CLI: a client that leaves ends its
//! CLI process group at once (grandchildren included), the queue is bounded and FIFO and
//! forgets clients that leave, and SIGTERM lets in-flight streams finish, then exits 0
//! leaving no process behind.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, alive, descendants, eventually};

fn chat(content: &str, stream: bool) -> Value {
    json!({"model": "claude-opus-4", "stream": stream,
           "messages": [{"role": "user", "content": content}]})
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn health(daemon: &Daemon) -> Value {
    daemon.health().await
}

/// Waits until the fake CLI has recorded `n` runs, and returns them.
async fn records(daemon: &Daemon, n: usize) -> Vec<Value> {
    assert!(
        eventually(Duration::from_secs(10), || daemon.fake_records().len() >= n).await,
        "expected {n} CLI runs, saw {}",
        daemon.fake_records().len()
    );
    daemon.fake_records()
}

/// A streaming client that disconnects ends the CLI and its grandchildren at once.
#[tokio::test]
async fn stream_disconnect_kills_the_process_group() {
    let daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_STREAM_HEADER_HOLD_MS", "50"))
            .await;
    let response = client()
        .post(daemon.url("/v1/chat/completions"))
        .json(&chat("@fake:grandchild", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let first = body.next().await.expect("a first SSE frame").unwrap();
    assert!(!first.is_empty());
    let record = records(&daemon, 1).await.remove(0);
    let cli_pid = record["pid"].as_u64().unwrap() as u32;
    let grandchild = loop {
        let r = daemon.fake_records().remove(0);
        if let Some(pid) = r["grandchild_pid"].as_u64() {
            break pid as u32;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(alive(cli_pid) && alive(grandchild));
    drop(body);
    assert!(
        eventually(Duration::from_secs(3), || !alive(cli_pid)
            && !alive(grandchild))
        .await,
        "CLI {cli_pid} or grandchild {grandchild} survived the disconnect"
    );
    let pid = daemon.pid();
    assert!(eventually(Duration::from_secs(3), || descendants(pid).is_empty()).await);
    let h = health(&daemon).await;
    assert_eq!(h["in_flight"], 0, "{h}");
}

/// A non-streaming client that gives up ends its CLI too.
#[tokio::test]
async fn plain_request_disconnect_kills_the_cli() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let request = client()
        .post(daemon.url("/v1/chat/completions"))
        .json(&chat("@fake:grandchild", false))
        .send();
    let result = tokio::time::timeout(Duration::from_millis(800), request).await;
    assert!(
        result.is_err(),
        "the hanging request must not have completed"
    );
    let record = records(&daemon, 1).await.remove(0);
    let cli_pid = record["pid"].as_u64().unwrap() as u32;
    let pid = daemon.pid();
    assert!(
        eventually(Duration::from_secs(3), || !alive(cli_pid)
            && descendants(pid).is_empty())
        .await,
        "CLI survived the client: {:?}",
        descendants(pid)
    );
}

/// Beyond max_concurrent, requests queue up to queue_limit; more get 429 with Retry-After;
/// a queued client that leaves is dropped from the queue.
#[tokio::test]
async fn queue_is_bounded_and_forgets_departed_clients() {
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "1")
            .env("CLAUDE_MAX_PROXY_QUEUE_LIMIT", "1")
            .env("CLAUDE_MAX_PROXY_STREAM_HEADER_HOLD_MS", "50"),
    )
    .await;
    // A holds the only slot.
    let a = client()
        .post(daemon.url("/v1/chat/completions"))
        .json(&chat("@fake:hang", true))
        .send()
        .await
        .unwrap();
    records(&daemon, 1).await;
    // B waits in the queue.
    let b_daemon_url = daemon.url("/v1/chat/completions");
    let b = tokio::spawn(async move {
        client()
            .post(b_daemon_url)
            .json(&chat("queued", false))
            .send()
            .await
    });
    let mut queued = false;
    for _ in 0..100 {
        if health(&daemon).await["queued"] == 1 {
            queued = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(queued, "B should be queued");
    // C finds the queue full.
    let c = client()
        .post(daemon.url("/v1/chat/completions"))
        .json(&chat("too many", false))
        .send()
        .await
        .unwrap();
    assert_eq!(c.status(), 429);
    assert!(c.headers().contains_key("retry-after"));
    let body: Value = c.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_concurrent")
    );

    // B leaves: the queue empties, and B never runs a CLI.
    b.abort();
    let _ = b.await;
    let mut emptied = false;
    for _ in 0..100 {
        if health(&daemon).await["queued"] == 0 {
            emptied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(emptied, "the departed client must leave the queue");
    drop(a);
    let mut idle = false;
    for _ in 0..100 {
        if health(&daemon).await["in_flight"] == 0 {
            idle = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(idle);
    assert_eq!(
        daemon.fake_records().len(),
        1,
        "the departed queued request never ran"
    );

    // The slot is free again for the next request.
    let ok = client()
        .post(daemon.url("/v1/chat/completions"))
        .json(&chat("next", false))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// Queued requests are served in arrival order.
#[tokio::test]
async fn queue_is_fifo() {
    let daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "1")).await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let url = daemon.url("/v1/chat/completions");
        // The first holds the slot for a while; the others queue behind it.
        let text = if i == 0 {
            "@fake:slow:150 order-0".to_string()
        } else {
            format!("order-{i}")
        };
        tasks.push(tokio::spawn(async move {
            client().post(url).json(&chat(&text, false)).send().await
        }));
        // Make arrival order unambiguous: wait until this request is running or queued.
        let mut seen = false;
        for _ in 0..200 {
            let h = health(&daemon).await;
            let waiting = h["queued"].as_u64().unwrap_or(0) + h["in_flight"].as_u64().unwrap_or(0);
            if waiting > i as u64 {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(seen, "request {i} never arrived");
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status(), 200);
    }
    let order: Vec<String> = daemon
        .fake_records()
        .iter()
        .map(|r| r["user_text"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(order, vec!["order-0", "order-1", "order-2", "order-3"]);
}

/// SIGTERM: the in-flight stream completes, then the daemon exits 0 with no child left.
#[tokio::test]
async fn sigterm_drains_streams_then_exits_cleanly() {
    let mut daemon = Daemon::start(DaemonOptions::fake()).await;
    let response = client()
        .post(daemon.url("/v1/chat/completions"))
        .json(&chat("@fake:slow:150 finish me", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::from_utf8_lossy(&body.next().await.unwrap().unwrap()).into_owned();
    support::send_signal(daemon.pid(), libc::SIGTERM);
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(
        text.contains("data: [DONE]"),
        "the stream must complete: {text}"
    );
    assert_eq!(
        support::chunk_text(&support::sse_data(&text)),
        "Hello from the fake. You said: finish me"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), daemon.child.wait())
        .await
        .expect("exit after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}; stderr: {}", daemon.stderr());
}

/// SIGTERM with a hung CLI: after the grace the group is killed and the daemon exits 0.
#[tokio::test]
async fn sigterm_with_idle_daemon_exits_at_once() {
    let mut daemon = Daemon::start(DaemonOptions::fake()).await;
    let status = daemon.terminate().await;
    assert!(status.success());
}

/// A bounded burst of streaming requests, half abandoned mid-way: nothing is left running.
#[tokio::test]
async fn burst_with_random_disconnects_leaves_nothing() {
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "8")
            .env("CLAUDE_MAX_PROXY_QUEUE_LIMIT", "64")
            .env("FAKE_CLAUDE_DELTA_MS", "20"),
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let url = daemon.url("/v1/chat/completions");
        tasks.push(tokio::spawn(async move {
            let response = client()
                .post(url)
                .json(&chat(&format!("burst {i}"), true))
                .send();
            let leave_after = Duration::from_millis(10 * (i % 7) * 7);
            if i % 2 == 0 {
                let _ = tokio::time::timeout(leave_after, async {
                    if let Ok(r) = response.await {
                        let mut s = r.bytes_stream();
                        while s.next().await.is_some() {}
                    }
                })
                .await;
                None
            } else {
                let r = response.await.ok()?;
                Some(r.text().await.ok()?)
            }
        }));
    }
    for task in tasks {
        if let Some(text) = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("bounded")
            .unwrap()
        {
            assert!(text.contains("[DONE]"), "{text}");
        }
    }
    let pid = daemon.pid();
    assert!(
        eventually(Duration::from_secs(5), || descendants(pid).is_empty()).await,
        "left running: {:?}",
        descendants(pid)
    );
    let h = health(&daemon).await;
    assert_eq!(
        (h["in_flight"].as_u64(), h["queued"].as_u64()),
        (Some(0), Some(0)),
        "{h}"
    );
}

/// The Messages and Responses endpoints share the runner: a full queue is a 429 in each
/// API's own shape, and a client that leaves a stream ends its CLI on every endpoint.
#[tokio::test]
async fn every_api_shares_the_queue_and_ends_the_cli_of_a_departed_client() {
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "1")
            .env("CLAUDE_MAX_PROXY_QUEUE_LIMIT", "0")
            .env("CLAUDE_MAX_PROXY_STREAM_HEADER_HOLD_MS", "50"),
    )
    .await;
    let messages = |text: &str| {
        json!({"model": "claude-opus-4", "max_tokens": 100, "stream": true,
            "messages": [{"role": "user", "content": text}]})
    };
    let responses = |text: &str| json!({"model": "claude-opus-4", "stream": true, "input": text});
    // A Messages stream holds the only slot.
    let held = client()
        .post(daemon.url("/v1/messages"))
        .json(&messages("@fake:hang"))
        .send()
        .await
        .unwrap();
    records(&daemon, 1).await;
    let full_messages = client()
        .post(daemon.url("/v1/messages"))
        .json(&messages("no room"))
        .send()
        .await
        .unwrap();
    assert_eq!(full_messages.status(), 429);
    let body: Value = full_messages.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    let full_responses = client()
        .post(daemon.url("/v1/responses"))
        .json(&responses("no room"))
        .send()
        .await
        .unwrap();
    assert_eq!(full_responses.status(), 429);
    let body: Value = full_responses.json().await.unwrap();
    assert_eq!(body["error"]["code"], "queue_full", "{body}");
    // The client of the Messages stream leaves: its CLI ends, the slot frees.
    drop(held);
    let pid = daemon.pid();
    assert!(
        eventually(Duration::from_secs(5), || descendants(pid).is_empty()).await,
        "the departed client's CLI was ended"
    );
    // A Responses stream whose client leaves mid-answer ends its CLI too. The fake takes
    // 2 s per delta (~16 s for this answer), so it outlives the window below unless the
    // daemon ends it.
    let slow = client()
        .post(daemon.url("/v1/responses"))
        .json(&responses("@fake:slow:2000 take your time"))
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), 200);
    let mut body = slow.bytes_stream();
    let first = body.next().await.expect("a first SSE frame").unwrap();
    assert!(!first.is_empty());
    let cli = records(&daemon, 2)
        .await
        .iter()
        .find(|r| r["user_text"] == "take your time")
        .and_then(|r| r["pid"].as_u64())
        .expect("the Responses request's CLI") as u32;
    assert!(alive(cli), "the CLI is still answering");
    drop(body);
    assert!(
        eventually(Duration::from_secs(5), || !alive(cli)
            && descendants(pid).is_empty())
        .await,
        "the departed Responses client's CLI was ended"
    );
    assert_eq!(health(&daemon).await["in_flight"], 0);
}
