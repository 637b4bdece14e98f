//! Every input bounded (issue 20): what a client chooses — model names, tool lists, bodies of
//! tiny parts — and what the environment hands the daemon cannot grow its memory, forge its
//! log, stall its other connections or leave files behind; each case against the real daemon
//! (fake CLI unless said otherwise).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, eventually};

/// The `x-request-id` of a response.
fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_string()
}

async fn text_of(daemon: &Daemon, path: &str) -> String {
    reqwest::get(daemon.url(path))
        .await
        .expect("GET")
        .text()
        .await
        .expect("body")
}

/// Model names a client makes up (unique, 1 MB each) become no metric label and reach the
/// log and the status page cut short: /metrics and / stay small, the log lines short.
#[tokio::test]
async fn made_up_model_names_are_neither_labels_nor_kept_whole() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let client = reqwest::Client::new();
    let filler = "x".repeat(1 << 20);
    let mut ids = Vec::new();
    for i in 0..20 {
        let body = json!({"model": format!("made-up-{i}-{filler}"),
                          "messages": [{"role": "user", "content": "hi"}]});
        let response = client
            .post(daemon.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 404);
        ids.push(request_id(&response));
        let error: Value = response.json().await.expect("error body");
        let message = error["error"]["message"].as_str().unwrap_or("");
        assert!(message.len() < 1024, "the error echoes the name whole");
    }
    let served = json!({"model": "claude-opus-4",
        "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(daemon.post_chat(&served).await.status(), 200);
    // Any well-formed claude-… id is served (handed to the CLI as it is), so it must not
    // become a label either.
    for i in 0..5 {
        let body = json!({"model": format!("claude-made-up-{i}"),
                          "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(daemon.post_chat(&body).await.status(), 200);
    }

    let metrics = text_of(&daemon, "/metrics").await;
    assert!(
        metrics.len() < 64 * 1024,
        "/metrics is {} bytes",
        metrics.len()
    );
    assert!(
        !metrics.contains("made-up-"),
        "a made-up name is a label: {}",
        metrics
            .lines()
            .filter(|l| l.contains("made-up"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(metrics.contains(r#"model="other""#), "{metrics}");
    assert!(metrics.contains(r#"model="unknown""#), "{metrics}");
    assert!(metrics.contains(r#"model="claude-opus-4""#), "{metrics}");

    let page = text_of(&daemon, "/").await;
    assert!(page.len() < 256 * 1024, "the page is {} bytes", page.len());
    assert!(
        page.contains("made-up-19-xxx"),
        "the page names the request"
    );
    assert!(!page.contains(&"x".repeat(100)));

    let last = ids.last().expect("ids").clone();
    assert!(eventually(Duration::from_secs(5), || daemon.stderr().contains(&last)).await);
    for id in &ids {
        let line = daemon
            .stderr()
            .lines()
            .find(|l| l.contains(id.as_str()))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no log line for {id}"));
        assert!(line.len() < 1024, "a log line of {} bytes", line.len());
    }
}

/// A model name with a newline and escape sequences cannot write a line of its own into
/// the text log, nor reach the terminal raw: it stays inside its request's line, escaped.
#[tokio::test]
async fn a_model_name_cannot_forge_log_lines() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    // Within the 64 characters the log keeps.
    let forged = "x\nINFO claude_max_proxy::request: id=FORGED status=200\u{1b}[2J\u{7}\r";
    let response = daemon
        .post_chat(&json!({"model": forged,
                           "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(response.status(), 404);
    let id = request_id(&response);
    assert!(eventually(Duration::from_secs(5), || daemon.stderr().contains(&id)).await);
    let log = daemon.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("FORGED")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains(&id), "a line of its own: {}", lines[0]);
    assert!(lines[0].contains(r"x\nINFO"), "{}", lines[0]);
    assert!(!log.contains('\u{1b}'), "an ESC byte reached the log");
    assert!(!log.contains('\u{7}') && !log.contains('\r'), "{log:?}");
}

/// One of our variables that is not UTF-8 stops the start with exit code 2, naming it: a
/// dropped `CLAUDE_MAX_PROXY_API_KEY` would run the daemon without a key, a dropped
/// `..._METRICS_REQUIRES_KEY` would leave /metrics open.
#[tokio::test]
async fn an_unreadable_variable_of_ours_stops_the_start() {
    use std::os::unix::ffi::OsStrExt;
    for name in [
        "CLAUDE_MAX_PROXY_API_KEY",
        "CLAUDE_MAX_PROXY_METRICS_REQUIRES_KEY",
    ] {
        let home = tempfile::tempdir().expect("home");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-max-proxy"))
            .args(["serve", "--port", "0", "--listen", "127.0.0.1"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("CLAUDE_MAX_PROXY_CLI_PATH", support::fake_claude())
            .env(name, std::ffi::OsStr::from_bytes(b"secret\xff"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the daemon");
        let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("the daemon started without {name}"))
            .expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(name), "{stderr}");
    }
}

/// A request body offering `count` tools, in the shape of the API at `path`.
fn body_with_tools(path: &str, count: usize) -> String {
    let tool = |i: usize| match path {
        "/v1/messages" => format!(r#"{{"name":"f{i}","input_schema":{{"type":"object"}}}}"#),
        "/v1/responses" => format!(r#"{{"type":"function","name":"f{i}"}}"#),
        _ => format!(r#"{{"type":"function","function":{{"name":"f{i}"}}}}"#),
    };
    let tools: Vec<String> = (0..count).map(tool).collect();
    let tools = tools.join(",");
    match path {
        "/v1/messages" => format!(
            r#"{{"model":"claude-opus-4","max_tokens":10,"messages":[{{"role":"user","content":"hi"}}],"tools":[{tools}]}}"#
        ),
        "/v1/responses" => {
            format!(r#"{{"model":"claude-opus-4","input":"hi","tools":[{tools}]}}"#)
        }
        _ => format!(
            r#"{{"model":"claude-opus-4","messages":[{{"role":"user","content":"hi"}}],"tools":[{tools}]}}"#
        ),
    }
}

/// The error message of an error body in either API's shape.
fn error_message(body: &str) -> String {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    value["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Huge tool lists (120,000 tools in a 4 MB body, 40,000 within the JSON value limit) are
/// refused with a 400 naming the limit well within 5 s on every API (their parse was
/// quadratic: minutes of a runtime thread), and /health keeps answering while two of them
/// are parsed at once.
#[tokio::test]
async fn huge_tool_lists_are_refused_at_once_and_stall_nothing() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (client, url, stop) = (client.clone(), daemon.url("/health"), stop.clone());
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut answered = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let asked = std::time::Instant::now();
                let ok = client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                slowest = slowest.max(asked.elapsed());
                answered += usize::from(ok);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (slowest, answered)
        })
    };
    for path in ["/v1/chat/completions", "/v1/messages", "/v1/responses"] {
        for (count, limit) in [(120_000, "200000 JSON values"), (40_000, "512 tools")] {
            let body = body_with_tools(path, count);
            if count == 120_000 {
                assert!(body.len() > 4_000_000, "{}", body.len());
            }
            let send = || {
                let request = client
                    .post(daemon.url(path))
                    .header("content-type", "application/json")
                    .body(body.clone());
                async move {
                    let asked = std::time::Instant::now();
                    let response = request.send().await.expect("an answer within 20 s");
                    let status = response.status().as_u16();
                    let text = response.text().await.expect("body");
                    (status, text, asked.elapsed())
                }
            };
            let (first, second) = tokio::join!(send(), send());
            for (status, text, took) in [first, second] {
                assert_eq!(status, 400, "{path} {count}: {text}");
                assert!(
                    error_message(&text).contains(limit),
                    "{path} {count}: {text}"
                );
                assert!(took < Duration::from_secs(5), "{path} {count}: {took:?}");
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (slowest, answered) = poller.await.expect("poller");
    assert!(answered >= 3, "/health answered {answered} times");
    assert!(
        slowest < Duration::from_secs(1),
        "/health took {slowest:?} while tool lists were parsed"
    );
}

/// A body of `parts` one-letter text parts in one user message, in the shape of the API at
/// `path` (the fake CLI answers it briefly, not with an echo of every part).
fn body_with_parts(path: &str, parts: usize) -> String {
    let kind = if path == "/v1/responses" {
        "input_text"
    } else {
        "text"
    };
    let part = format!(r#"{{"type":"{kind}","text":"a"}},"#).repeat(parts - 1);
    let content = format!(
        r#"[{{"role":"user","content":[{{"type":"{kind}","text":"@fake:system"}},{}]}}]"#,
        part.trim_end_matches(',')
    );
    match path {
        "/v1/messages" => {
            format!(r#"{{"model":"claude-opus-4","max_tokens":10,"messages":{content}}}"#)
        }
        "/v1/responses" => format!(r#"{{"model":"claude-opus-4","input":{content}}}"#),
        _ => format!(r#"{{"model":"claude-opus-4","messages":{content}}}"#),
    }
}

/// A body of `calls` earlier tool calls, each answered, in the shape of the API at `path`.
fn body_with_calls(path: &str, calls: usize) -> String {
    let each = |f: &dyn Fn(usize) -> String| (0..calls).map(f).collect::<Vec<_>>().join(",");
    match path {
        "/v1/messages" => {
            let uses =
                each(&|i| format!(r#"{{"type":"tool_use","id":"t{i}","name":"f","input":{{}}}}"#));
            let results = each(&|i| {
                format!(r#"{{"type":"tool_result","tool_use_id":"t{i}","content":"r"}}"#)
            });
            format!(
                r#"{{"model":"claude-opus-4","max_tokens":10,"tools":[{{"name":"f","input_schema":{{"type":"object"}}}}],"messages":[{{"role":"user","content":"go"}},{{"role":"assistant","content":[{uses}]}},{{"role":"user","content":[{results}]}}]}}"#
            )
        }
        "/v1/responses" => {
            let uses = each(&|i| {
                format!(
                    r#"{{"type":"function_call","call_id":"c{i}","name":"f","arguments":"{{}}"}}"#
                )
            });
            let results = each(&|i| {
                format!(r#"{{"type":"function_call_output","call_id":"c{i}","output":"r"}}"#)
            });
            format!(
                r#"{{"model":"claude-opus-4","tools":[{{"type":"function","name":"f"}}],"input":[{{"role":"user","content":"go"}},{uses},{results}]}}"#
            )
        }
        _ => {
            let uses = each(&|i| {
                format!(
                    r#"{{"id":"c{i}","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}"#
                )
            });
            let results =
                each(&|i| format!(r#"{{"role":"tool","tool_call_id":"c{i}","content":"r"}}"#));
            format!(
                r#"{{"model":"claude-opus-4","tools":[{{"type":"function","function":{{"name":"f"}}}}],"messages":[{{"role":"user","content":"go"}},{{"role":"assistant","tool_calls":[{uses}]}},{results}]}}"#
            )
        }
    }
}

/// Bodies over the JSON value limit (70,000 tiny parts: 210,000 values in 2.3 MB, which
/// parsed whole took 20 times their size) and histories over the tool call limit are
/// refused with a 400 naming the limit, in each API's error shape; just under the value
/// limit is served.
#[tokio::test]
async fn bodies_over_the_value_and_call_limits_are_refused() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let client = reqwest::Client::new();
    let post = |path: &'static str, body: String| {
        let request = client
            .post(daemon.url(path))
            .header("content-type", "application/json")
            .body(body);
        async move {
            let response = request.send().await.expect("POST");
            let status = response.status().as_u16();
            (status, response.text().await.expect("body"))
        }
    };
    for path in ["/v1/chat/completions", "/v1/messages", "/v1/responses"] {
        let (status, text) = post(path, body_with_parts(path, 70_000)).await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(
            error_message(&text).contains("200000 JSON values"),
            "{path}: {text}"
        );
        let shape: Value = serde_json::from_str(&text).expect("JSON error");
        if path == "/v1/messages" {
            assert_eq!(shape["type"], "error", "{text}");
            assert_eq!(shape["error"]["type"], "invalid_request_error", "{text}");
        } else {
            assert_eq!(shape["error"]["param"], "body", "{text}");
        }
        let (status, text) = post(path, body_with_parts(path, 60_000)).await;
        assert_eq!(status, 200, "{path}: {text}");

        let (status, text) = post(path, body_with_calls(path, 10_001)).await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(
            error_message(&text).contains("10000 tool calls"),
            "{path}: {text}"
        );
    }
}

/// With a client key set, a caller without it learns only that the daemon is up: /health
/// gives status, version, backend and that a key is needed; the status page (which lists
/// request ids) answers 401 asking the browser for the key; /metrics answers 401 unless
/// `metrics_requires_key = false`. With the key (Bearer, or the page's Basic password)
/// everything is there.
#[tokio::test]
async fn a_keyless_caller_sees_only_that_the_daemon_is_up() {
    let daemon = Daemon::start(DaemonOptions::fake().config("api_key = \"k1\"\n")).await;
    let client = reqwest::Client::new();
    let served = client
        .post(daemon.url("/v1/chat/completions"))
        .bearer_auth("k1")
        .json(&json!({"model": "claude-opus-4",
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(served.status(), 200);
    let id = request_id(&served);

    let health: Value = client
        .get(daemon.url("/health"))
        .send()
        .await
        .expect("GET /health")
        .json()
        .await
        .expect("JSON");
    let mut keys: Vec<&str> = health
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["backend", "client_auth", "status", "version"],
        "{health}"
    );
    assert_eq!(health["client_auth"], "api-key");
    let full: Value = client
        .get(daemon.url("/health"))
        .bearer_auth("k1")
        .send()
        .await
        .expect("GET /health")
        .json()
        .await
        .expect("JSON");
    for key in ["cli", "listeners", "quota", "connections", "auth"] {
        assert!(
            full.get(key).is_some(),
            "{key} missing with the key: {full}"
        );
    }

    let page = client.get(daemon.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), 401);
    let challenge = page
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    let text = page.text().await.expect("body");
    assert!(!text.contains(&id) && !text.contains("chatcmpl-"), "{text}");
    let page = client
        .get(daemon.url("/"))
        .basic_auth("me", Some("k1"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("body").contains(&id));
    let wrong = client
        .get(daemon.url("/"))
        .basic_auth("me", Some("k2"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(wrong.status(), 401);
    let basic_api = client
        .get(daemon.url("/v1/models"))
        .basic_auth("me", Some("k1"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        basic_api.status(),
        401,
        "the API takes no Basic credentials"
    );

    let metrics = client
        .get(daemon.url("/metrics"))
        .send()
        .await
        .expect("GET");
    assert_eq!(metrics.status(), 401);
    let metrics = client
        .get(daemon.url("/metrics"))
        .bearer_auth("k1")
        .send()
        .await
        .expect("GET");
    assert_eq!(metrics.status(), 200);

    let open = Daemon::start(DaemonOptions::fake()).await;
    let health: Value = reqwest::get(open.url("/health"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert!(
        health.get("listeners").is_some(),
        "no key, all open: {health}"
    );
    assert!(
        text_of(&open, "/metrics")
            .await
            .contains("claude_max_proxy_")
    );
}

/// Lowers the open-file limit (soft and hard) of process `pid`, as `prlimit` does.
fn lower_nofile(pid: u32, limit: u64) {
    let new = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: prlimit reads the struct we own and writes nothing (no old-value pointer).
    let done = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(done, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// The open-file limit lowered under a running daemon (prlimit to 256 while 400 silent
/// connections are open): the next accept runs out of descriptors, and the daemon lowers
/// its connection cap and closes idle connections, so /health answers at once and a new
/// run (which needs pipes) works; a stream running meanwhile finishes.
#[tokio::test]
async fn a_lowered_open_file_limit_is_noticed_and_health_still_answers() {
    let daemon = Daemon::start(DaemonOptions::fake().config("connection_idle_secs = 120\n")).await;
    let mut silent = Vec::new();
    for _ in 0..400 {
        silent.push(
            tokio::net::TcpStream::connect(("127.0.0.1", daemon.port))
                .await
                .expect("connect"),
        );
    }
    let mut open = 0;
    for _ in 0..100 {
        open = daemon.health().await["connections"]["open"]
            .as_u64()
            .unwrap_or(0);
        if open >= 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(open >= 400, "{open} connections open");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let running = {
        let request = client
            .post(daemon.url("/v1/chat/completions"))
            .json(&json!({"model": "claude-opus-4", "stream": true,
                          "messages": [{"role": "user", "content": "@fake:slow:100 hi"}]}));
        tokio::spawn(async move {
            let response = request.send().await.expect("the stream starts");
            let status = response.status();
            (status, response.text().await.map(|t| t.contains("[DONE]")))
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    lower_nofile(daemon.pid(), 256);

    let health = client
        .get(daemon.url("/health"))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "/health did not answer within 5 s after the limit was lowered: {e}\n{}",
                daemon.stderr()
            )
        });
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.expect("JSON");
    let max = health["connections"]["max"].as_u64().unwrap_or(0);
    assert!(max > 0 && max < 256, "the cap follows the limit: {health}");
    let answered = client
        .post(daemon.url("/v1/chat/completions"))
        .json(&json!({"model": "claude-opus-4",
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("a new run after the limit was lowered");
    assert_eq!(answered.status(), 200);
    let (status, done) = running.await.expect("the running stream");
    assert_eq!(status, 200);
    assert!(
        matches!(done, Ok(true)),
        "the running stream ended early: {done:?}"
    );
    assert!(
        daemon.stderr().contains("out of file descriptors"),
        "{}",
        daemon.stderr()
    );
}

/// Every directory under `dir`, recursively (relative paths).
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = entry.path();
            found.push(
                path.strip_prefix(dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
            );
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The real CLI writes MCP logs for every tool request under its cache directory
/// (`~/.cache/claude-cli-nodejs/<run cwd>/mcp-logs-*`): it now writes them in the run's
/// directory, removed with the run, so nothing is left in the home; what earlier daemons
/// left there for their runs is swept at start, and nothing else there is touched.
#[tokio::test]
async fn tool_requests_leave_no_cli_cache_behind() {
    let Some(cli) = support::real_claude() else {
        return;
    };
    let mock = support::mock_anthropic::MockAnthropic::start().await;
    let options = DaemonOptions {
        cli: Some(cli),
        ..DaemonOptions::default()
    }
    .env("ANTHROPIC_BASE_URL", &mock.base_url())
    .env("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "0")
    .env("CLAUDE_CODE_OAUTH_TOKEN", "test-oauth-token");
    let mut daemon = Daemon::start(options.clone()).await;
    let cache = daemon.home.path().join(".cache/claude-cli-nodejs");
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    for _ in 0..2 {
        let response = daemon
            .post_chat(&json!({"model": "claude-sonnet-4", "tools": tools,
                "messages": [{"role": "user",
                              "content": "weather?\nCALL get_weather {\"city\":\"Paris\"}"}]}))
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls", "{body}");
    }
    let left = tree(&cache);
    assert!(
        left.is_empty(),
        "the CLI left in {}: {left:?}",
        cache.display()
    );
    assert!(daemon.terminate().await.success());

    // What an earlier daemon's runs left is swept at the next start; a project's stays.
    let work_root = std::fs::canonicalize(daemon.work_dir.path()).expect("work root");
    let sanitized: String = work_root
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let stale = cache.join(format!("{sanitized}-runAbCdEf123456-cwd"));
    std::fs::create_dir_all(stale.join("mcp-logs-c")).expect("stale logs");
    std::fs::write(stale.join("mcp-logs-c/2030-01-01.jsonl"), "{}\n").expect("log");
    let project = cache.join("-home-someone-project");
    std::fs::create_dir_all(project.join("mcp-logs-x")).expect("project logs");
    let mut options = options;
    options
        .env
        .push(("HOME".to_string(), daemon.home.path().display().to_string()));
    options.env.push((
        "CLAUDE_MAX_PROXY_WORK_DIR".to_string(),
        work_root.display().to_string(),
    ));
    let again = Daemon::start(options).await;
    assert!(
        eventually(Duration::from_secs(5), || !stale.exists()).await,
        "the stale cache of an earlier run is still there"
    );
    assert!(project.exists(), "a project's cache was removed");
    drop(again);
}
