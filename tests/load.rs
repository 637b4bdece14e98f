//! Load and fault tests against the real daemon and the fake CLI, bounded in count and time:
//! 1,000 streams whose clients vanish at random stages, queue saturation, slow clients
//! (headers trickled in, an SSE reader that never reads) and SIGTERM under load.
//!
//! Assertions are about what is left afterwards (processes, file descriptors, queue and
//! in-flight counts, memory), never about how fast anything was: speed is measured in
//! `benches/proxy.rs`. Every wait is bounded; a bound that runs out means "hung" and fails.
//!
//! Clients speak HTTP/1.1 over raw TCP here, so a test decides exactly where a client
//! stops: half-way through its request, before reading, after the headers, mid-stream.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, alive, descendants, eventually, send_signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any single client step may take before the test calls it a hang.
const STEP_LIMIT: Duration = Duration::from_secs(30);
/// How long the daemon may take to clean up after its clients are gone.
const SETTLE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// SplitMix64: a tiny seeded generator, so every run makes the same choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn chat_body(content: &str, stream: bool) -> String {
    json!({"model": "claude-opus-4", "stream": stream,
           "messages": [{"role": "user", "content": content}]})
    .to_string()
}

/// A complete HTTP/1.1 chat request; the server closes the connection after answering.
fn chat_request(body: &str) -> Vec<u8> {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn connect(port: u16) -> TcpStream {
    tokio::time::timeout(STEP_LIMIT, TcpStream::connect(("127.0.0.1", port)))
        .await
        .expect("connect hung")
        .expect("connect")
}

/// Reads until the end of the response headers; returns them and any body bytes read.
async fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            return (head, buf[end + 4..].to_vec());
        }
        let n = tokio::time::timeout(STEP_LIMIT, stream.read(&mut chunk))
            .await
            .expect("response headers hung")
            .unwrap_or(0);
        if n == 0 {
            return (String::from_utf8_lossy(&buf).into_owned(), Vec::new());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads the rest of a `Connection: close` response.
async fn read_rest(stream: &mut TcpStream, mut body: Vec<u8>) -> Vec<u8> {
    let mut chunk = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(STEP_LIMIT, stream.read(&mut chunk))
            .await
            .expect("response body hung")
            .unwrap_or(0);
        if n == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `GET /health` on a fresh connection that the daemon closes afterwards (so it leaves no
/// file descriptor behind in the daemon).
async fn health(port: u16) -> Value {
    let mut stream = connect(port).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("send /health");
    let (head, rest) = read_head(&mut stream).await;
    assert_eq!(status_of(&head), 200, "{head}");
    let body = read_rest(&mut stream, rest).await;
    serde_json::from_slice(&body).expect("/health JSON")
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits until the daemon is at rest: nothing queued, and nothing running, no child, no
/// per-request directory and at most `max_fds` open file descriptors — beyond what its warm
/// pool holds (`warm` in /health: each warm CLI is a running permit, a child process, a
/// directory and a few pipes). Returns the last /health.
async fn settles(daemon: &Daemon, max_fds: usize) -> Value {
    let pid = daemon.pid();
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let h = health(daemon.port).await;
        let warm = h["warm"].as_u64().unwrap_or(0) as usize;
        let children = descendants(pid);
        let fds = fd_count(pid);
        let leftovers = std::fs::read_dir(daemon.work_dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        let idle = h["in_flight"] == 0
            && h["slots_held"].as_u64() == Some(warm as u64)
            && h["queued"] == 0;
        if idle
            && children.len() == warm
            && fds <= max_fds.saturating_add(4 * warm)
            && leftovers == warm
        {
            return h;
        }
        if tokio::time::Instant::now() >= deadline {
            let fd_list: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| std::fs::read_link(e.path()).ok())
                        .map(|p| p.display().to_string())
                        .collect()
                })
                .unwrap_or_default();
            panic!(
                "the daemon did not settle within {SETTLE:?}: in_flight {} queued {} warm \
                 {warm}, children {children:?}, {fds} fds (allowed {max_fds} + 4 per warm \
                 CLI): {fd_list:?}, {leftovers} per-request dirs left",
                h["in_flight"], h["queued"]
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// 1,000 streams, clients leaving at random stages
// ---------------------------------------------------------------------------------------

/// Where a client stops.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// Sends part of its request headers, then closes.
    PartialRequest,
    /// Sends the whole request and closes without reading.
    NoRead,
    /// Reads the response headers, then closes.
    AfterHeaders,
    /// Reads the headers and this many body bytes, then closes.
    AfterBytes(usize),
    /// Reads the whole response.
    ToEnd,
}

/// One client of the load test; returns (status, body) when it read to the end.
async fn one_client(port: u16, scenario: &str, stage: Stage, i: usize) -> Option<(u16, String)> {
    let request = chat_request(&chat_body(&format!("@fake:{scenario} load {i}"), true));
    let mut stream = connect(port).await;
    if let Stage::PartialRequest = stage {
        let cut = 10 + i % 40;
        let _ = stream.write_all(&request[..cut]).await;
        return None;
    }
    if stream.write_all(&request).await.is_err() {
        return None;
    }
    match stage {
        Stage::PartialRequest | Stage::NoRead => None,
        Stage::AfterHeaders => {
            read_head(&mut stream).await;
            None
        }
        Stage::AfterBytes(n) => {
            let (_, mut body) = read_head(&mut stream).await;
            let mut chunk = [0u8; 1024];
            while body.len() < n {
                match tokio::time::timeout(STEP_LIMIT, stream.read(&mut chunk))
                    .await
                    .expect("stream hung")
                {
                    Ok(0) | Err(_) => break,
                    Ok(k) => body.extend_from_slice(&chunk[..k]),
                }
            }
            None
        }
        Stage::ToEnd => {
            let (head, rest) = read_head(&mut stream).await;
            let body = read_rest(&mut stream, rest).await;
            Some((
                status_of(&head),
                String::from_utf8_lossy(&body).into_owned(),
            ))
        }
    }
}

/// 1,000 streaming requests with clients that vanish at random (seeded) stages, over CLIs
/// that answer, start slowly, hang, crash, print garbage or exit early, with the warm pool
/// on (its default): afterwards no CLI is left but the pool's, no file descriptor leaked,
/// nothing is in flight or queued, no per-request directory remains; the clients that
/// stayed got complete answers; SIGTERM then ends the pool's CLIs too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_streams_with_random_disconnects_leave_nothing() {
    const REQUESTS: usize = 1000;
    const CLIENTS: usize = 24;
    let daemon = Daemon::start(
        DaemonOptions::fake()
            // The harness turns the pool off; this test is about load with it on.
            .env("CLAUDE_MAX_PROXY_WARM", "1")
            .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "12")
            .env("CLAUDE_MAX_PROXY_QUEUE_LIMIT", "64")
            .env("CLAUDE_MAX_PROXY_STREAM_HEADER_HOLD_MS", "100")
            .env("FAKE_CLAUDE_DELTA_MS", "1"),
    )
    .await;
    let pid = daemon.pid();

    // Warm up (lazily opened descriptors), then take the baseline at rest.
    for i in 0..4 {
        let got = one_client(daemon.port, "ok", Stage::ToEnd, i).await;
        assert!(got.is_some_and(|(s, b)| s == 200 && b.contains("data: [DONE]")));
    }
    let h = settles(&daemon, usize::MAX).await;
    assert_eq!(h["warm"], 1, "the pool is on and filled: {h}");
    assert!(
        h["served"]["warm"].as_u64() >= Some(1),
        "a warm process served a request: {h}"
    );
    let baseline_fds = fd_count(pid);

    let mut rng = Rng(0x5EED_1000);
    let plan: Vec<(&'static str, Stage)> = (0..REQUESTS)
        .map(|_| {
            let scenario = match rng.below(20) {
                0..=11 => "ok",
                12..=14 => "slow_start:30",
                15..=16 => "hang",
                17 => "crash_midstream",
                18 => "garbage",
                _ => "exit_early",
            };
            let stage = match rng.below(10) {
                0 => Stage::PartialRequest,
                1 => Stage::NoRead,
                2 => Stage::AfterHeaders,
                // A hung CLI's stream only has its opening comment to read.
                _ if scenario == "hang" => Stage::AfterBytes(1),
                3..=5 => Stage::AfterBytes(1 + rng.below(1500) as usize),
                _ => Stage::ToEnd,
            };
            (scenario, stage)
        })
        .collect();

    let plan = std::sync::Arc::new(plan);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let plan = plan.clone();
        let next = next.clone();
        let port = daemon.port;
        clients.spawn(async move {
            let mut finished = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&(scenario, stage)) = plan.get(i) else {
                    return finished;
                };
                if let Some((status, body)) = one_client(port, scenario, stage, i).await {
                    finished.push((i, scenario, status, body));
                }
            }
        });
    }
    let mut complete = 0;
    while let Some(result) = clients.join_next().await {
        for (i, scenario, status, body) in result.expect("client task") {
            if scenario == "ok" || scenario.starts_with("slow_start") {
                assert_eq!(status, 200, "request {i} ({scenario}): {body}");
                assert!(
                    body.contains("data: [DONE]"),
                    "request {i} ({scenario}) ended early: {body}"
                );
                complete += 1;
            } else {
                // Failing CLIs: a real error status, or an error event in the stream.
                assert!(
                    status >= 400 || body.contains(r#""error""#),
                    "request {i} ({scenario}) hid its failure: {status} {body}"
                );
            }
        }
    }
    assert!(
        complete > REQUESTS / 4,
        "too few complete answers: {complete}"
    );
    // A few descriptors of slack for the runtime's own lazily created ones.
    settles(&daemon, baseline_fds + 4).await;
    assert!(
        daemon.fake_records().len() > REQUESTS / 2,
        "most requests should have reached a CLI"
    );
    // Under load the pool gives its slot to waiting requests; at rest one more request
    // fills it again.
    let got = one_client(daemon.port, "ok", Stage::ToEnd, REQUESTS).await;
    assert!(got.is_some_and(|(s, b)| s == 200 && b.contains("data: [DONE]")));
    let h = settles(&daemon, baseline_fds + 4).await;
    assert_eq!(h["warm"], 1, "the pool refills after the load: {h}");
    // Shutdown ends the warm pool too, itself: the pool's CLI is gone before the daemon
    // exits (the parent-death signal at its exit would end it even if shutdown forgot it).
    let clis: Vec<u32> = descendants(pid);
    assert_eq!(
        clis.len(),
        1,
        "the warm CLI is the daemon's only child at rest: {h}"
    );
    let mut daemon = daemon;
    let status = daemon.terminate_ending(&clis).await;
    assert!(status.success(), "{status:?}");
}

// ---------------------------------------------------------------------------------------
// Queue saturation
// ---------------------------------------------------------------------------------------

/// With every slot busy and the queue full, a burst of 40 more requests (plain and
/// streaming) each gets 429 `queue_full` with Retry-After at once — none waits or times out;
/// when the holders leave, the daemon is idle again.
#[tokio::test]
async fn saturated_queue_answers_429_with_retry_after() {
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .env("CLAUDE_MAX_PROXY_WARM", "0")
            .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "2")
            .env("CLAUDE_MAX_PROXY_QUEUE_LIMIT", "3")
            .env("CLAUDE_MAX_PROXY_STREAM_HEADER_HOLD_MS", "50"),
    )
    .await;
    // Two hung streams hold both slots; three more wait in the queue.
    let mut holders = Vec::new();
    for i in 0..5 {
        let mut stream = connect(daemon.port).await;
        stream
            .write_all(&chat_request(&chat_body(
                &format!("@fake:hang hold {i}"),
                true,
            )))
            .await
            .unwrap();
        holders.push(stream);
    }
    let port = daemon.port;
    let mut full = false;
    for _ in 0..200 {
        let h = health(port).await;
        if h["in_flight"] == 2 && h["queued"] == 3 {
            full = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        full,
        "expected 2 running and 3 queued: {}",
        health(port).await
    );

    let mut burst = tokio::task::JoinSet::new();
    for i in 0..40 {
        burst.spawn(async move {
            let mut stream = connect(port).await;
            stream
                .write_all(&chat_request(&chat_body(&format!("burst {i}"), i % 2 == 0)))
                .await
                .unwrap();
            let (head, rest) = read_head(&mut stream).await;
            let body = read_rest(&mut stream, rest).await;
            (head, String::from_utf8_lossy(&body).into_owned())
        });
    }
    while let Some(result) = burst.join_next().await {
        let (head, body) = result.expect("burst client");
        assert_eq!(status_of(&head), 429, "{head}\n{body}");
        assert!(
            head.to_ascii_lowercase().contains("\r\nretry-after: "),
            "no Retry-After: {head}"
        );
        let error: Value = serde_json::from_str(&body).expect("error JSON");
        assert_eq!(error["error"]["code"], "queue_full", "{body}");
    }
    assert_eq!(
        daemon.fake_records().len(),
        2,
        "refused requests must not start a CLI"
    );
    drop(holders);
    settles(&daemon, usize::MAX).await;
}

// ---------------------------------------------------------------------------------------
// Slow clients
// ---------------------------------------------------------------------------------------

/// 64 clients trickling their headers one byte per 100 ms neither grow the daemon's memory
/// nor keep it from serving others.
#[tokio::test]
async fn trickled_headers_neither_grow_memory_nor_block_others() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let pid = daemon.pid();
    health(daemon.port).await;
    let before = rss_kib(pid);
    let port = daemon.port;
    let mut tricklers = tokio::task::JoinSet::new();
    for _ in 0..64 {
        tricklers.spawn(async move {
            let mut stream = connect(port).await;
            let request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
            for byte in request.iter().take(30) {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            stream
        });
    }
    // Meanwhile the daemon answers everyone else.
    for _ in 0..10 {
        assert_eq!(health(port).await["status"], "ok");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut streams = Vec::new();
    while let Some(stream) = tricklers.join_next().await {
        streams.push(stream.expect("trickler"));
    }
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "64 trickling clients grew the daemon by {grown} KiB"
    );
    drop(streams);
    settles(&daemon, usize::MAX).await;
}

/// A client that trickles an endless header is cut off by the header read timeout (30 s),
/// however steadily it sends.
#[tokio::test]
async fn trickled_headers_are_cut_off_by_a_timeout() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let mut stream = connect(daemon.port).await;
    stream
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let limit = tokio::time::Instant::now() + Duration::from_secs(75);
    let mut buf = [0u8; 512];
    loop {
        assert!(
            tokio::time::Instant::now() < limit,
            "a client trickling its headers was still connected after 75 s"
        );
        if stream.write_all(b"a").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            // Closed (possibly after a 408): cut off, as wanted.
            Ok(Ok(_)) | Ok(Err(_)) => break,
            Err(_) => {}
        }
    }
}

/// An SSE client that stops reading while the CLI streams ~70 MB: the daemon applies back
/// pressure (the CLI blocks on its pipe) instead of buffering, so its memory stays bounded;
/// when the client goes away, the CLI is ended.
#[tokio::test]
async fn sse_reader_that_never_reads_keeps_memory_bounded() {
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .env("CLAUDE_MAX_PROXY_WARM", "0")
            // Longer than the watch below: a reader that stops is only given up on after it.
            .env("CLAUDE_MAX_PROXY_IDLE_TIMEOUT_SECS", "60")
            .env("FAKE_CLAUDE_DELTA_MS", "0")
            .env("CLAUDE_MAX_PROXY_MAX_BODY_BYTES", "16777216"),
    )
    .await;
    let pid = daemon.pid();
    health(daemon.port).await;
    let before = rss_kib(pid);
    // The fake echoes the prompt in 6-character deltas: 2 MiB of prompt is ~350,000 SSE
    // chunks, far more than the pipe, the channel and the socket buffers can hold.
    let prompt = "x".repeat(2 * 1024 * 1024);
    let request = chat_request(&chat_body(&prompt, true));
    let mut stream = connect(daemon.port).await;
    stream.write_all(&request).await.unwrap();
    drop(request);
    let (head, _) = read_head(&mut stream).await;
    assert_eq!(status_of(&head), 200, "{head}");
    assert!(
        eventually(Duration::from_secs(10), || !daemon
            .fake_records()
            .is_empty())
        .await,
        "the CLI never started"
    );
    let cli = daemon.fake_records()[0]["pid"].as_u64().unwrap() as u32;
    // Let the CLI write as much as it can while nobody reads, and watch the daemon.
    let mut peak = 0;
    for _ in 0..40 {
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grown = peak.saturating_sub(before);
    assert!(
        grown < 48 * 1024,
        "the daemon grew by {grown} KiB for a client that does not read"
    );
    assert!(
        alive(cli),
        "the CLI finished although nobody read its ~70 MB: the daemon buffered it"
    );
    drop(stream);
    assert!(
        eventually(SETTLE, || !alive(cli)).await,
        "the CLI outlived its client"
    );
    settles(&daemon, usize::MAX).await;
}

// ---------------------------------------------------------------------------------------
// SIGTERM under load
// ---------------------------------------------------------------------------------------

/// SIGTERM with 12 answers in progress and 4 hung CLIs: the answers complete, the hung
/// requests end (an error event, or the stream closes) once the grace runs out, the daemon
/// exits 0, and no CLI survives it.
#[tokio::test]
async fn sigterm_under_load_finishes_or_fails_cleanly() {
    let mut daemon = Daemon::start(
        DaemonOptions::fake()
            .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "16")
            .env("CLAUDE_MAX_PROXY_SHUTDOWN_GRACE_SECS", "5")
            .env("CLAUDE_MAX_PROXY_STREAM_HEADER_HOLD_MS", "50"),
    )
    .await;
    let port = daemon.port;
    let mut streams = Vec::new();
    for i in 0..16 {
        let (scenario, stream) = match i % 4 {
            0 => ("hang", true),
            1 => ("slow:100", false),
            _ => ("slow:100", true),
        };
        let mut tcp = connect(port).await;
        tcp.write_all(&chat_request(&chat_body(
            &format!("@fake:{scenario} term {i}"),
            stream,
        )))
        .await
        .unwrap();
        streams.push((i, scenario, stream, tcp));
    }
    // Every request's CLI has started (a warm spare may make it one more).
    assert!(
        eventually(Duration::from_secs(15), || daemon.fake_records().len()
            >= 16)
        .await,
        "all 16 CLIs should be running, saw {}",
        daemon.fake_records().len()
    );
    let cli_pids: Vec<u32> = daemon
        .fake_records()
        .iter()
        .filter_map(|r| r["pid"].as_u64())
        .map(|p| p as u32)
        .collect();
    send_signal(daemon.pid(), libc::SIGTERM);

    let mut readers = tokio::task::JoinSet::new();
    for (i, scenario, stream, mut tcp) in streams {
        readers.spawn(async move {
            let (head, rest) = read_head(&mut tcp).await;
            let body = read_rest(&mut tcp, rest).await;
            (
                i,
                scenario,
                stream,
                head,
                String::from_utf8_lossy(&body).into_owned(),
            )
        });
    }
    while let Some(result) = readers.join_next().await {
        let (i, scenario, stream, head, body) = result.expect("reader");
        if scenario == "hang" {
            // Ended by the shutdown: never a [DONE] for an answer that was not given.
            assert!(!body.contains("[DONE]"), "request {i}: {body}");
        } else if stream {
            assert_eq!(status_of(&head), 200, "request {i}: {head}");
            assert!(
                body.contains("data: [DONE]"),
                "request {i} did not finish: {body}"
            );
        } else {
            assert_eq!(status_of(&head), 200, "request {i}: {head} {body}");
            assert!(body.contains("Hello from the fake"), "request {i}: {body}");
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(40), daemon.child.wait())
        .await
        .expect("the daemon did not exit after SIGTERM")
        .expect("wait for the daemon");
    assert!(status.success(), "{status:?}: {}", daemon.stderr());
    for pid in cli_pids {
        assert!(
            eventually(Duration::from_secs(5), || !alive(pid)).await,
            "CLI {pid} outlived the daemon"
        );
    }
}
