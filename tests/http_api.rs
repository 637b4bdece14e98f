//! The HTTP surface against the real daemon binary with the fake CLI: routes, model list,
//! validation and every error a client can cause, as OpenAI error objects.

mod support;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions};

async fn get(daemon: &Daemon, path: &str) -> (u16, Value) {
    let response = reqwest::get(daemon.url(path)).await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_raw(
    daemon: &Daemon,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(daemon.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST")
}

fn assert_openai_error(body: &Value) {
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
}

/// /health answers without starting a model request and reports the CLI and counters.
#[tokio::test]
async fn health_reports_cli_and_counters() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    // The CLI version is probed in the background right after start.
    let mut body = Value::Null;
    for _ in 0..50 {
        body = get(&daemon, "/health").await.1;
        if body["cli"]["version"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(body["status"], "ok");
    assert_eq!(body["backend"], "claude-cli");
    assert_eq!(body["cli"]["found"], true);
    assert_eq!(body["cli"]["version"], "2.1.332");
    assert_eq!(body["auth_mode"], "subscription");
    assert_eq!(body["in_flight"], 0);
    assert_eq!(body["queued"], 0);
    assert!(body["uptime_secs"].is_u64());
    assert!(body["version"].is_string());
    assert!(
        daemon.fake_records().is_empty(),
        "health must not run the CLI"
    );
}

/// The model list has OpenAI's shape and the guide's names; retrieve works; unknown is 404.
#[tokio::test]
async fn models_list_and_retrieve() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let (status, body) = get(&daemon, "/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| {
            assert_eq!(m["object"], "model");
            assert!(m["created"].is_i64());
            assert!(m["owned_by"].is_string());
            m["id"].as_str().expect("id")
        })
        .collect();
    for id in [
        "claude-opus-4",
        "claude-sonnet-4",
        "claude-haiku-4",
        "opus",
        "sonnet",
        "haiku",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let (status, body) = get(&daemon, "/v1/models/claude-opus-4").await;
    assert_eq!((status, body["id"].as_str()), (200, Some("claude-opus-4")));
    let (status, body) = get(&daemon, "/v1/models/gpt-4o").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "model_not_found");
}

/// Anthropic clients read the same list: each model has `type`, `display_name` and an
/// RFC 3339 `created_at`, the list pages with `limit` / `after_id` / `before_id`, and errors
/// come in the Anthropic shape when the request carries `anthropic-version`.
#[tokio::test]
async fn models_read_by_an_anthropic_client() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let anthropic_get = |path: &str| {
        let request = reqwest::Client::new()
            .get(daemon.url(path))
            .header("anthropic-version", "2023-06-01");
        async move {
            let response = request.send().await.expect("GET");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let (_, all) = anthropic_get("/v1/models").await;
    let data = all["data"].as_array().expect("data");
    assert_eq!(all["has_more"], false, "without limit everything is listed");
    assert_eq!(all["first_id"], data[0]["id"]);
    assert_eq!(all["last_id"], data[data.len() - 1]["id"]);
    for model in data {
        assert_eq!(model["type"], "model");
        assert_eq!(model["display_name"], model["id"]);
        assert_eq!(model["created_at"], "2025-01-01T00:00:00Z");
    }
    let mut paged = Vec::new();
    let mut query = "limit=2".to_string();
    loop {
        let (_, page) = anthropic_get(&format!("/v1/models?{query}")).await;
        paged.extend(page["data"].as_array().expect("data").iter().cloned());
        if page["has_more"] != true {
            break;
        }
        query = format!(
            "limit=2&after_id={}",
            page["last_id"].as_str().expect("last_id")
        );
        assert!(paged.len() <= data.len(), "paging ends");
    }
    assert_eq!(&paged, data, "the pages make the whole list");
    let last = data[data.len() - 1]["id"].as_str().expect("id");
    let (_, before) = anthropic_get(&format!("/v1/models?limit=1&before_id={last}")).await;
    assert_eq!(before["data"][0], data[data.len() - 2]);

    let (status, error) = anthropic_get("/v1/models/gpt-4o").await;
    assert_eq!(status, 404);
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error"]["type"], "not_found_error");
    let (status, error) = anthropic_get("/v1/models?limit=0").await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
    let (status, error) = get(&daemon, "/v1/models?after_id=nope").await;
    assert_eq!(
        (status, &error["error"]["param"]),
        (400, &json!("after_id")),
        "OpenAI shape without the header"
    );
}

/// Models and aliases come from the config file.
#[tokio::test]
async fn model_list_is_configurable() {
    let daemon = Daemon::start(
        DaemonOptions::fake().config("models = [\"sonnet\"]\n[aliases]\nmy-model = \"haiku\"\n"),
    )
    .await;
    let (_, body) = get(&daemon, "/v1/models").await;
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"my-model") && ids.contains(&"sonnet"),
        "{ids:?}"
    );
    let response = post_raw(
        &daemon,
        "/v1/chat/completions",
        json!({"model":"my-model","messages":[{"role":"user","content":"hi"}]}).to_string(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let record = daemon.fake_records().pop().expect("one CLI run");
    let args: Vec<&str> = record["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let i = args.iter().position(|a| *a == "--model").expect("--model");
    assert_eq!(args[i + 1], "haiku", "alias must map to its target");
}

/// Unknown paths are 404 and wrong methods 405 with Allow, both as OpenAI errors.
#[tokio::test]
async fn unknown_path_and_wrong_method() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let (status, body) = get(&daemon, "/v1/nope").await;
    assert_eq!(status, 404);
    assert_openai_error(&body);

    let response = reqwest::get(daemon.url("/v1/chat/completions"))
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_openai_error(&response.json().await.unwrap());

    let response = reqwest::Client::new()
        .delete(daemon.url("/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

/// Bad JSON, schema errors (with `param`), unsupported features and unknown models.
#[tokio::test]
async fn invalid_requests_are_400_or_404_with_param() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "body"),
        (json!({"messages":[{"role":"user","content":"x"}]}).to_string(), 400, "model"),
        (json!({"model":"claude-opus-4"}).to_string(), 400, "messages"),
        (json!({"model":"claude-opus-4","n":2,"messages":[{"role":"user","content":"x"}]}).to_string(), 400, "n"),
        (
            json!({"model":"claude-opus-4","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,"}}]}]}).to_string(),
            400,
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"model":"claude-opus-4","tools":[{"type":"function","function":{"name":"f g"}}],"messages":[{"role":"user","content":"x"}]}).to_string(),
            400,
            "tools[0].function.name",
        ),
        (json!({"model":"no-such-model","messages":[{"role":"user","content":"x"}]}).to_string(), 404, "model"),
    ];
    for (body, want, param) in cases {
        let response = post_raw(&daemon, "/v1/chat/completions", body.clone()).await;
        assert_eq!(response.status().as_u16(), want, "{body}");
        let value: Value = response.json().await.unwrap();
        assert_openai_error(&value);
        assert_eq!(value["error"]["param"], param, "{body}: {value}");
    }
    assert!(
        daemon.fake_records().is_empty(),
        "no CLI run for rejected requests"
    );
}

/// A body over `max_body_bytes` is 413, declared or streamed.
#[tokio::test]
async fn oversized_body_is_413() {
    let daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_MAX_BODY_BYTES", "2048")).await;
    let big =
        json!({"model":"claude-opus-4","messages":[{"role":"user","content":"x".repeat(4096)}]})
            .to_string();
    let response = post_raw(&daemon, "/v1/chat/completions", big.clone()).await;
    assert_eq!(response.status(), 413);
    assert_openai_error(&response.json().await.unwrap());

    // Chunked, without Content-Length.
    let stream = futures_util::stream::iter(
        big.into_bytes()
            .chunks(512)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = post_raw(
        &daemon,
        "/v1/chat/completions",
        reqwest::Body::wrap_stream(stream),
    )
    .await;
    assert_eq!(response.status(), 413);
}

/// A CLI that cannot be found is 503 with the fix, and /health says so.
#[tokio::test]
async fn missing_cli_is_503_with_fix() {
    let options = DaemonOptions {
        cli: Some("/nonexistent/claude".into()),
        ..DaemonOptions::default()
    };
    let daemon = Daemon::start(options).await;
    let (_, health) = get(&daemon, "/health").await;
    assert_eq!(health["cli"]["found"], false);
    assert_eq!(health["status"], "degraded");
    let response = post_raw(
        &daemon,
        "/v1/chat/completions",
        json!({"model":"claude-opus-4","messages":[{"role":"user","content":"x"}]}).to_string(),
    )
    .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("/nonexistent/claude") && message.contains("cli_path"),
        "{message}"
    );
}

/// `config show` prints every key with its source and masks secrets; bad config exits 2.
#[tokio::test]
async fn config_show_and_invalid_config() {
    let bin = env!("CARGO_BIN_EXE_claude-max-proxy");
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(bin)
        .args(["config", "show", "--port", "4567"])
        .env_clear()
        .env("HOME", home.path())
        .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "2")
        .env("CLAUDE_MAX_PROXY_ANTHROPIC_API_KEY", "sk-secret-value")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("port = 4567    # flag --port"), "{text}");
    assert!(
        text.contains("max_concurrent = 2    # env CLAUDE_MAX_PROXY_MAX_CONCURRENT"),
        "{text}"
    );
    assert!(text.contains("queue_limit = 32    # default"), "{text}");
    assert!(!text.contains("sk-secret-value"), "{text}");

    let output = std::process::Command::new(bin)
        .args(["config", "show"])
        .env_clear()
        .env("HOME", home.path())
        .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "zero")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("max_concurrent"), "{err}");
}

/// The port being taken is a clear startup error naming the address, its holder and the fix.
#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_claude-max-proxy"))
        .args(["--port", &port.to_string(), "--listen", "127.0.0.1"])
        .env_clear()
        .env("HOME", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "EADDRINUSE has its own exit code"
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("--port"),
        "{err}"
    );
    assert!(
        err.contains(&format!("held by pid {}", std::process::id())),
        "the message names the holder: {err}"
    );
}

/// /health shows the auth source; a stored token near expiry is picked up without a restart
/// and warned about; the token itself never appears.
#[tokio::test]
async fn health_shows_auth_source_and_expiry_warning() {
    let state = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        DaemonOptions::fake().env("CLAUDE_MAX_PROXY_STATE_DIR", state.path().to_str().unwrap()),
    )
    .await;
    let (_, body) = get(&daemon, "/health").await;
    assert_eq!(body["auth"]["source"], "cli-login", "{body}");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token =
        json!({"token": "sk-ant-oat01-secret", "expires_at": now + 5 * 86_400, "created_at": now});
    std::fs::write(state.path().join("token.json"), token.to_string()).unwrap();
    let (_, body) = get(&daemon, "/health").await;
    assert_eq!(body["auth"]["source"], "stored-token", "{body}");
    assert!(body["auth"]["days_left"].as_i64().unwrap() <= 5, "{body}");
    assert!(
        body["auth"]["warning"]
            .as_str()
            .unwrap()
            .contains("claude-max-proxy login"),
        "{body}"
    );
    assert!(!body.to_string().contains("secret"), "{body}");

    // And the next CLI run gets it.
    let response = reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(&json!({"model":"opus","messages":[{"role":"user","content":"hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let record = daemon.fake_records().pop().unwrap();
    assert_eq!(
        record["env"]["CLAUDE_CODE_OAUTH_TOKEN"],
        "sk-ant-oat01-secret"
    );
}
