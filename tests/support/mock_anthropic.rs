//! A mock Anthropic Messages API for integration tests.
//!
//! It owns one HTTP/1 listener on `127.0.0.1:0`, records every request it sees (headers
//! unmasked, so tests can assert on `x-api-key` and `authorization`), and answers
//! `POST /v1/messages` the way the real API does: a JSON `Message`, or with `"stream": true`
//! the documented SSE sequence (`message_start`, `content_block_start`, `ping`,
//! `content_block_delta`…, `content_block_stop`, `message_delta`, `message_stop`).
//! Anything else gets a 404 `not_found_error` (the CLI probes `HEAD /` at start and copes
//! with that). Every error body carries the real API's top-level `request_id`, the same id
//! as the `request-id` header.
//!
//! Like the real API it wants credentials on `/v1/…`: an `x-api-key` it accepts, else an
//! `Authorization: Bearer` token it accepts; a request with neither gets the API's 401
//! `authentication_error` ("x-api-key header is required"), a wrong key or token the 401 the
//! API gives for it. It accepts what the test harness hands the CLI ([`MOCK_API_KEY`],
//! [`MOCK_OAUTH_TOKEN`]) and whatever a test adds with [`MockAnthropic::accept`].
//!
//! `GET /mock/requests` (no credentials) lists the `POST /v1/messages` bodies seen so far as
//! a JSON array, for the Python tests that check what reached upstream.
//!
//! The behaviour is steered by the `model` field of the request body, so tests can reach it
//! through the proxy's model list:
//! - `err-400`, `err-401`, `err-429`, `err-500`, `err-529`: that HTTP error with the API's
//!   error body (`err-429` adds `retry-after: 7`);
//! - `err-midstream`: a stream that breaks after one `partial` delta with an SSE `error`
//!   event; the non-streaming retry the CLI then makes gets the normal answer;
//! - `slow`: 300 ms between deltas; `crawl`: 2 s between deltas, so an answer outlives the
//!   window a client-disconnect test watches the CLI in;
//! - `maxtok`: `stop_reason` `max_tokens` instead of `end_turn`;
//! - `quota-warn`, `quota-overage`, `quota-rejected`: the subscription's rate-limit headers
//!   (`anthropic-ratelimit-unified-*`, see tests/fixtures/claude-cli/k_rate_limit): the
//!   5-hour window at 87 % (allowed_warning), used up but served as extra usage, or used up
//!   and refused with a 429 `rate_limit_error`; the weekly window at 41 % in each (the reset
//!   times are fixed when the mock starts: [`MockAnthropic::five_hour_reset`]);
//! - a request that offers the CLI's `StructuredOutput` tool (`--json-schema`) is answered
//!   with a call of it: the last user text as the input when it is a JSON object, else
//!   `{"answer": <the normal reply>}`, streamed as `input_json_delta`s;
//! - client tools (`mcp__…` tools offered): a last user text with lines
//!   `CALL <function> <json arguments>` is answered with "Let me check." and one `tool_use`
//!   per line (parallel calls, streamed as `input_json_delta`); a last user message holding
//!   `tool_result` blocks is answered `Results: <tool_use_id>=<result>; …` (the first text of
//!   each result), so tests can see that results came back with their ids;
//! - a request with thinking on (`thinking.type` not `disabled`) gets a `thinking` block
//!   first (`Thinking about: <last user text>`, streamed as `thinking_delta`s and a
//!   `signature_delta`), then its text;
//! - anything else: `Hello from the mock. You said: <last user text, trimmed>`.
//!
//! Like the real API, it knows a fixed set of models ([`KNOWN_MODELS`]: the ids Anthropic
//! serves, as CLI 2.1.332's registry lists them, undated and dated). A model id shaped like
//! a real one (`claude-<family>-<version>…`) that it does not know, and that carries none
//! of the steering tags above, gets the real API's answer: 404
//! `{"type":"error","error":{"type":"not_found_error","message":"model: <id>"},
//! "request_id":…}` (the body clients have reported, e.g. anthropics/claude-code#5349).
//! Other names (`err-400`, `claude-test`, …) are the tests' own and are served.
//!
//! A request with an empty message (empty content, or an empty text block) gets the 400 the
//! real API gives, so every test through the mock also checks that none goes upstream.
//!
//! It leaves everything about the CLI (spawning, parsing its stdout) to the tests.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

/// Input tokens reported in every successful answer.
pub const MOCK_INPUT_TOKENS: u64 = 42;
/// Cache-creation input tokens reported in every successful answer.
pub const MOCK_CACHE_CREATION_INPUT_TOKENS: u64 = 3;
/// Cache-read input tokens reported in every successful answer.
pub const MOCK_CACHE_READ_INPUT_TOKENS: u64 = 5;
/// How many characters each `text_delta` carries (the last one may be shorter).
pub const MOCK_CHUNK_CHARS: usize = 8;
/// The pause between deltas for models containing `slow`.
pub const MOCK_SLOW_DELAY: Duration = Duration::from_millis(300);
/// The pause between deltas for models containing `crawl`.
pub const MOCK_CRAWL_DELAY: Duration = Duration::from_secs(2);
/// The API key the mock accepts without being told (the harness's api-key mode).
pub const MOCK_API_KEY: &str = "sk-test";
/// The OAuth token the mock accepts without being told (the harness's subscription mode).
pub const MOCK_OAUTH_TOKEN: &str = "test-oauth-token";
/// Request bodies larger than this are refused with 413 (the CLI's are a few KiB to a few MiB).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

type Body = BoxBody<Bytes, Infallible>;

/// The reply the mock gives to a normal request whose last user text is `said`.
pub fn mock_reply(said: &str) -> String {
    format!("Hello from the mock. You said: {}", said.trim())
}

/// Splits a reply into the `text_delta` pieces the mock streams, on character boundaries.
pub fn mock_chunks(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(MOCK_CHUNK_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

/// One HTTP request as the mock received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `HEAD`, …
    pub method: String,
    /// The path including the query string, e.g. `/v1/messages?beta=true`.
    pub path: String,
    /// Every header in arrival order, names lowercased, values unmasked.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `Value::Null` when empty or not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }

    /// Whether this is a Messages API call (`POST /v1/messages`, any query string).
    pub fn is_message_request(&self) -> bool {
        self.method == "POST" && self.path_only() == "/v1/messages"
    }
}

/// A credential the mock accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `x-api-key: <key>`.
    ApiKey(String),
    /// `Authorization: Bearer <token>` (how the CLI sends `CLAUDE_CODE_OAUTH_TOKEN`).
    OAuthToken(String),
}

/// What the connection tasks share with the handle.
struct Shared {
    /// Every request seen so far, in order of arrival.
    requests: Mutex<Vec<RecordedRequest>>,
    /// The credentials `/v1/…` requests may carry.
    accepted: Mutex<Vec<Credential>>,
    /// When the `quota-*` models' 5-hour window resets (Unix seconds), fixed at start.
    five_hour_reset: i64,
    /// When their weekly window resets.
    weekly_reset: i64,
}

/// A running mock; the server stops (and drops its open connections) when this is dropped.
pub struct MockAnthropic {
    /// Where the listener is bound.
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The accept loop; it owns the connection tasks, so aborting it ends them too.
    server: JoinHandle<()>,
}

impl MockAnthropic {
    /// Binds `127.0.0.1:0` and serves on a tokio task until the value is dropped.
    pub async fn start() -> MockAnthropic {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind mock Anthropic listener on 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local address of a bound listener");
        let now = unix_now();
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            accepted: Mutex::new(vec![
                Credential::ApiKey(MOCK_API_KEY.to_string()),
                Credential::OAuthToken(MOCK_OAUTH_TOKEN.to_string()),
            ]),
            // The next full hour + 1 h, and three days from the full hour.
            five_hour_reset: now / 3600 * 3600 + 2 * 3600,
            weekly_reset: now / 3600 * 3600 + 3 * 86_400,
        });
        let server = tokio::spawn(accept_loop(listener, shared.clone()));
        MockAnthropic {
            addr,
            shared,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`, suitable for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Accepts `credential` from now on (besides the harness's key and token).
    pub fn accept(&self, credential: Credential) {
        lock(&self.shared.accepted).push(credential);
    }

    /// When the `quota-*` models' 5-hour window resets, as their headers say.
    pub fn five_hour_reset(&self) -> i64 {
        self.shared.five_hour_reset
    }

    /// When the `quota-*` models' weekly window resets, as their headers say.
    pub fn weekly_reset(&self) -> i64 {
        self.shared.weekly_reset
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Only the `POST /v1/messages` requests (any query string), in order.
    pub fn message_requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.is_message_request())
            .cloned()
            .collect()
    }
}

impl Drop for MockAnthropic {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Locks shared state, tolerating a poisoned lock (a panicking test thread must not hide
/// the requests from the others).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owned here so that aborting this task aborts every connection (and its stream writer).
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("mock anthropic: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // The SSE body goes out in small writes after the headers: without TCP_NODELAY a
        // kept-alive connection's second answer waits ~40 ms for the client's delayed ACK
        // (Nagle), a stall the real API does not have (measured: every live step of an
        // agent loop lost 40 ms between the response headers and `message_start`).
        let _ = stream.set_nodelay(true);
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| handle(req, shared.clone()));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                // Clients hanging up mid-stream is expected in disconnect tests.
                if !e.is_incomplete_message() && !e.is_canceled() {
                    eprintln!("mock anthropic: connection error: {e}");
                }
            }
        });
    }
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let bytes = match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let status = if e.is::<http_body_util::LengthLimitError>() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return Ok(error_response(
                status,
                "invalid_request_error",
                &format!("mock: could not read the request body: {e}"),
            ));
        }
    };
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let recorded = RecordedRequest {
        method: method.to_string(),
        path,
        headers,
        body,
    };
    let is_messages = recorded.is_message_request();
    let body = recorded.body.clone();
    let refused = recorded
        .path_only()
        .starts_with("/v1/")
        .then(|| authentication_failure(&recorded, &lock(&shared.accepted)))
        .flatten();
    let listing = method == Method::GET && recorded.path_only() == "/mock/requests";
    lock(&shared.requests).push(recorded);

    if let Some(message) = refused {
        return Ok(error_response(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            message,
        ));
    }
    if listing {
        let bodies: Vec<Value> = lock(&shared.requests)
            .iter()
            .filter(|r| r.is_message_request())
            .map(|r| r.body.clone())
            .collect();
        return Ok(json_response(StatusCode::OK, &Value::Array(bodies)));
    }
    if is_messages {
        if let Some(why) = empty_content(&body) {
            // As the real API does: an empty message is refused before anything else.
            return Ok(error_response(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &why,
            ));
        }
        let model = body.get("model").and_then(Value::as_str).unwrap_or("");
        if unknown_model(model) {
            return Ok(model_not_found(model));
        }
        Ok(messages(&body, &shared))
    } else {
        let mut resp = error_response(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("mock: no route for {method} (only POST /v1/messages is served)"),
        );
        if method == Method::HEAD {
            *resp.body_mut() = empty();
        }
        Ok(resp)
    }
}

/// Why the API would refuse this request's credentials (its 401 message), if it would: the
/// `x-api-key` wins over `Authorization`, as it does upstream.
fn authentication_failure(
    request: &RecordedRequest,
    accepted: &[Credential],
) -> Option<&'static str> {
    if let Some(key) = request.header("x-api-key") {
        let known = accepted.contains(&Credential::ApiKey(key.to_string()));
        return (!known).then_some("invalid x-api-key");
    }
    match request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        Some(token) => {
            let known = accepted.contains(&Credential::OAuthToken(token.to_string()));
            (!known).then_some("Invalid bearer token")
        }
        None => Some("x-api-key header is required"),
    }
}

/// Why the real API would refuse this body for an empty message (`messages.N: …`), if it
/// would: empty content, or a text block without text.
fn empty_content(body: &Value) -> Option<String> {
    let messages = body.get("messages")?.as_array()?;
    for (i, message) in messages.iter().enumerate() {
        let empty = match message.get("content") {
            Some(Value::String(text)) => text.is_empty(),
            Some(Value::Array(blocks)) => {
                blocks.is_empty()
                    || blocks.iter().any(|b| {
                        b.get("type").and_then(Value::as_str) == Some("text")
                            && b.get("text").and_then(Value::as_str) == Some("")
                    })
            }
            _ => true,
        };
        if empty {
            return Some(format!(
                "messages.{i}: all messages must have non-empty content except for the \
                 optional final assistant message"
            ));
        }
    }
    None
}

/// The models the mock serves, as Anthropic does (CLI 2.1.332's registry: each model's id
/// and the dated id the CLI sends for older ones).
#[rustfmt::skip]
pub const KNOWN_MODELS: &[&str] = &[
    "claude-3-5-haiku", "claude-3-5-haiku-20241022", "claude-haiku-4-5",
    "claude-haiku-4-5-20251001", "claude-haiku-5-5", "claude-3-5-sonnet",
    "claude-3-5-sonnet-20241022", "claude-3-7-sonnet", "claude-3-7-sonnet-20250219",
    "claude-sonnet-4-0", "claude-sonnet-4-20250514", "claude-sonnet-4-5",
    "claude-sonnet-4-5-20250929", "claude-sonnet-4-6", "claude-sonnet-5", "claude-sonnet-5-5",
    "claude-opus-4-0", "claude-opus-4-20250514", "claude-opus-4-1", "claude-opus-4-1-20250805",
    "claude-opus-4-5", "claude-opus-4-5-20251101", "claude-opus-4-6", "claude-opus-4-7",
    "claude-opus-4-8", "claude-opus-5", "claude-opus-5-5", "claude-fable-5", "claude-fable-5-1",
    "claude-fable-5-2", "claude-mythos-5", "claude-mythos-5-1", "claude-mythos-5-2",
];

/// Whether the real API would answer 404 for `model`: shaped like a Claude model id
/// (`claude-<family>-<digit>…`), not one it serves, and not one of the tests' steering names.
pub fn unknown_model(model: &str) -> bool {
    let Some(rest) = model.strip_prefix("claude-") else {
        return false;
    };
    let mut parts = rest.splitn(3, '-');
    let family = parts.next().unwrap_or("");
    let version = parts.next().unwrap_or("");
    let shaped = !family.is_empty()
        && family.bytes().all(|b| b.is_ascii_lowercase())
        && version.bytes().next().is_some_and(|b| b.is_ascii_digit());
    let steering = ["err-", "slow", "crawl", "maxtok", "quota-"]
        .iter()
        .any(|tag| model.contains(tag));
    shaped && !steering && !KNOWN_MODELS.contains(&model)
}

/// What a request's model asks the mock to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Normal,
    /// An HTTP error status before any byte of the answer.
    Fail(u16),
    /// A stream broken by an SSE `error` event after one delta.
    MidstreamError,
}

fn behaviour(model: &str) -> Behaviour {
    for (tag, status) in [
        ("err-400", 400),
        ("err-401", 401),
        ("err-429", 429),
        ("err-500", 500),
        ("err-529", 529),
    ] {
        if model.contains(tag) {
            return Behaviour::Fail(status);
        }
    }
    if model.contains("err-midstream") {
        Behaviour::MidstreamError
    } else {
        Behaviour::Normal
    }
}

/// Answers `POST /v1/messages`.
fn messages(body: &Value, shared: &Shared) -> Response<Body> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let reply = mock_reply(&last_user_text(body));
    let stop_reason = if model.contains("maxtok") {
        "max_tokens"
    } else {
        "end_turn"
    };
    let delay = if model.contains("crawl") {
        Some(MOCK_CRAWL_DELAY)
    } else {
        model.contains("slow").then_some(MOCK_SLOW_DELAY)
    };
    let quota = quota_headers(&model, shared);

    let calls = if offers_client_tools(body) {
        tool_answer_for(body)
    } else {
        Vec::new()
    };
    let mut response = match &quota {
        Some((_, true)) => api_error(429),
        _ if !calls.is_empty() => tool_answer(&model, &calls, stream),
        _ if offers_client_tools(body) && has_tool_results(body) => {
            let text = results_text(body);
            if stream {
                sse_response(stream_events(&model, &text, "end_turn"), None)
            } else {
                json_response(StatusCode::OK, &full_message(&model, &text, "end_turn"))
            }
        }
        _ if offers_structured_output(body) => {
            let said = last_user_text(body);
            let input = serde_json::from_str::<Value>(&said)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({"answer": reply}));
            structured_answer(&model, &input, stream)
        }
        _ if thinks(body) && matches!(behaviour(&model), Behaviour::Normal) => {
            let thought = format!("Thinking about: {}", last_user_text(body));
            thinking_answer(&model, &thought, &reply, stream)
        }
        _ => answer(&model, &reply, stop_reason, stream, delay),
    };
    if let Some((headers, _)) = quota {
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

/// Whether the request turns thinking on.
fn thinks(body: &Value) -> bool {
    body.get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t != "disabled")
}

/// A thinking block, then the text, as the API sends them.
fn thinking_answer(model: &str, thought: &str, reply: &str, stream: bool) -> Response<Body> {
    if !stream {
        let mut message = full_message(model, reply, "end_turn");
        message["content"] = json!([
            {"type": "thinking", "thinking": thought, "signature": "mock-signature"},
            {"type": "text", "text": reply}]);
        return json_response(StatusCode::OK, &message);
    }
    let mut events = vec![
        sse(&message_start(model)),
        sse(&json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""}})),
    ];
    for piece in mock_chunks(thought) {
        events.push(sse(&json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": piece}})));
    }
    events.push(sse(&json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "signature_delta", "signature": "mock-signature"}})));
    events.push(sse(&json!({"type": "content_block_stop", "index": 0})));
    events.push(sse(&json!({"type": "content_block_start", "index": 1,
        "content_block": {"type": "text", "text": ""}})));
    for piece in mock_chunks(reply) {
        events.push(sse(&json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "text_delta", "text": piece}})));
    }
    events.push(sse(&json!({"type": "content_block_stop", "index": 1})));
    events.push(sse(&json!({"type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null},
        "usage": {"output_tokens": mock_chunks(reply).len()}})));
    events.push(sse(&json!({"type": "message_stop"})));
    sse_response(events, None)
}

/// Whether the request offers client tools (the daemon's MCP stub: `mcp__…`).
fn offers_client_tools(body: &Value) -> bool {
    body.get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| {
            tools.iter().any(|t| {
                t.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.starts_with("mcp__"))
            })
        })
}

/// The last user message's content blocks (CLI 2.1.332 may add a role-system message after
/// it).
fn last_blocks(body: &Value) -> Vec<Value> {
    let last = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .cloned()
        .unwrap_or(Value::Null);
    match &last["content"] {
        Value::Array(blocks) => blocks.clone(),
        Value::String(text) => vec![json!({"type": "text", "text": text})],
        _ => Vec::new(),
    }
}

fn has_tool_results(body: &Value) -> bool {
    last_blocks(body).iter().any(|b| b["type"] == "tool_result")
}

/// `Results: id=text; …` for the last message's tool results.
fn results_text(body: &Value) -> String {
    let parts: Vec<String> = last_blocks(body)
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| {
            let text = match &b["content"] {
                Value::String(s) => s.clone(),
                Value::Array(blocks) => blocks
                    .iter()
                    .find_map(|c| c["text"].as_str().map(str::to_string))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            format!(
                "{}={}",
                b["tool_use_id"].as_str().unwrap_or(""),
                text.trim()
            )
        })
        .collect();
    format!("Results: {}", parts.join("; "))
}

/// The calls the last user text asks for: (upstream tool name, arguments).
fn tool_answer_for(body: &Value) -> Vec<(String, Value)> {
    if has_tool_results(body) {
        return Vec::new();
    }
    let tools: Vec<String> = body
        .get("tools")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let text: String = last_blocks(body)
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join("\n");
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("CALL ")?;
            let (name, args) = rest.split_once(' ').unwrap_or((rest, "{}"));
            let tool = tools.iter().find(|t| t.ends_with(&format!("__{name}")))?;
            Some((
                tool.clone(),
                serde_json::from_str(args).unwrap_or(json!({})),
            ))
        })
        .collect()
}

/// "Let me check." and one tool_use per call, as the API streams them.
fn tool_answer(model: &str, calls: &[(String, Value)], stream: bool) -> Response<Body> {
    let ids: Vec<String> = calls
        .iter()
        .map(|_| {
            format!(
                "toolu_mock{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            )
        })
        .collect();
    if !stream {
        let mut content = vec![json!({"type": "text", "text": "Let me check."})];
        for ((name, input), id) in calls.iter().zip(&ids) {
            content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
        }
        return json_response(
            StatusCode::OK,
            &json!({"id": message_id(), "type": "message", "role": "assistant", "model": model,
                    "content": content, "stop_reason": "tool_use", "stop_sequence": null,
                    "usage": usage(5)}),
        );
    }
    let mut events = vec![
        sse(&message_start(model)),
        sse(&text_block_start()),
        sse(&text_delta("Let me check.")),
        sse(&json!({"type": "content_block_stop", "index": 0})),
    ];
    for (i, ((name, input), id)) in calls.iter().zip(&ids).enumerate() {
        let index = i + 1;
        events.push(sse(&json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})));
        for piece in mock_chunks(&input.to_string()) {
            events.push(sse(&json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": piece}})));
        }
        events.push(sse(&json!({"type": "content_block_stop", "index": index})));
    }
    events.push(sse(&json!({"type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": null},
        "usage": {"output_tokens": 5}})));
    events.push(sse(&json!({"type": "message_stop"})));
    sse_response(events, None)
}

/// Whether the request offers the CLI's `StructuredOutput` tool.
fn offers_structured_output(body: &Value) -> bool {
    body.get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| {
            tools
                .iter()
                .any(|t| t.get("name").and_then(Value::as_str) == Some("StructuredOutput"))
        })
}

/// A call of `StructuredOutput` with `input`, as the API sends a tool_use answer.
fn structured_answer(model: &str, input: &Value, stream: bool) -> Response<Body> {
    let id = format!("toolu_mock{}", uuid::Uuid::new_v4().simple());
    if !stream {
        return json_response(
            StatusCode::OK,
            &json!({"id": message_id(), "type": "message", "role": "assistant",
                    "model": model,
                    "content": [{"type": "tool_use", "id": id, "name": "StructuredOutput",
                                 "input": input}],
                    "stop_reason": "tool_use", "stop_sequence": null, "usage": usage(5)}),
        );
    }
    let text = input.to_string();
    let mut events = vec![
        sse(&message_start(model)),
        sse(&json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "tool_use", "id": id,
                                      "name": "StructuredOutput", "input": {}}})),
    ];
    for piece in mock_chunks(&text) {
        events.push(sse(&json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": piece}})));
    }
    events.push(sse(&json!({"type": "content_block_stop", "index": 0})));
    events.push(sse(&json!({"type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": null},
        "usage": {"output_tokens": 5}})));
    events.push(sse(&json!({"type": "message_stop"})));
    sse_response(events, None)
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The rate-limit headers for `quota-*` models, and whether the request is refused.
fn quota_headers(model: &str, shared: &Shared) -> Option<(Vec<(&'static str, String)>, bool)> {
    let (overall, five_status, five_used, overage, refused) = if model.contains("quota-warn") {
        ("allowed_warning", "allowed_warning", "0.87", false, false)
    } else if model.contains("quota-overage") {
        ("rejected", "rejected", "1.0", true, false)
    } else if model.contains("quota-rejected") {
        ("rejected", "rejected", "1.0", false, true)
    } else {
        return None;
    };
    let five = shared.five_hour_reset.to_string();
    let mut headers = vec![
        ("anthropic-ratelimit-unified-status", overall.to_string()),
        ("anthropic-ratelimit-unified-reset", five.clone()),
        (
            "anthropic-ratelimit-unified-representative-claim",
            "five_hour".to_string(),
        ),
        (
            "anthropic-ratelimit-unified-5h-status",
            five_status.to_string(),
        ),
        (
            "anthropic-ratelimit-unified-5h-utilization",
            five_used.to_string(),
        ),
        ("anthropic-ratelimit-unified-5h-reset", five),
        (
            "anthropic-ratelimit-unified-7d-status",
            "allowed".to_string(),
        ),
        (
            "anthropic-ratelimit-unified-7d-utilization",
            "0.41".to_string(),
        ),
        (
            "anthropic-ratelimit-unified-7d-reset",
            shared.weekly_reset.to_string(),
        ),
    ];
    if overage {
        headers.extend([
            (
                "anthropic-ratelimit-unified-overage-status",
                "allowed".to_string(),
            ),
            (
                "anthropic-ratelimit-unified-overage-reset",
                (shared.five_hour_reset + 3600).to_string(),
            ),
            (
                "anthropic-ratelimit-unified-overage-utilization",
                "0.1".to_string(),
            ),
            (
                "anthropic-ratelimit-unified-overage-in-use",
                "true".to_string(),
            ),
        ]);
    }
    Some((headers, refused))
}

/// The answer for a model that is not a `quota-*` refusal.
fn answer(
    model: &str,
    reply: &str,
    stop_reason: &str,
    stream: bool,
    delay: Option<Duration>,
) -> Response<Body> {
    match behaviour(model) {
        Behaviour::Fail(status) => api_error(status),
        Behaviour::MidstreamError if stream => sse_response(midstream_error_events(model), None),
        Behaviour::Normal | Behaviour::MidstreamError => {
            if stream {
                sse_response(stream_events(model, reply, stop_reason), delay)
            } else {
                json_response(StatusCode::OK, &full_message(model, reply, stop_reason))
            }
        }
    }
}

/// The text of the last `text` block of the last `user` message, trimmed; empty if none.
///
/// The CLI puts `<system-reminder>` blocks first and the user's own text last.
fn last_user_text(body: &Value) -> String {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return String::new();
    };
    let Some(content) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
    else {
        return String::new();
    };
    let text = match content {
        Value::String(s) => Some(s.as_str()),
        Value::Array(blocks) => blocks
            .iter()
            .rev()
            .find(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .and_then(|b| b.get("text"))
            .and_then(Value::as_str),
        _ => None,
    };
    text.unwrap_or("").trim().to_owned()
}

fn message_id() -> String {
    format!("msg_mock{}", uuid::Uuid::new_v4().simple())
}

fn usage(output_tokens: usize) -> Value {
    json!({
        "input_tokens": MOCK_INPUT_TOKENS,
        "cache_creation_input_tokens": MOCK_CACHE_CREATION_INPUT_TOKENS,
        "cache_read_input_tokens": MOCK_CACHE_READ_INPUT_TOKENS,
        "output_tokens": output_tokens,
    })
}

/// The complete non-streaming `Message`; `output_tokens` is the number of chunks.
fn full_message(model: &str, text: &str, stop_reason: &str) -> Value {
    json!({
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": usage(mock_chunks(text).len()),
    })
}

/// The opening `message_start` event (empty content, output_tokens 1).
fn message_start(model: &str) -> Value {
    json!({
        "type": "message_start",
        "message": {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": usage(1),
        }
    })
}

fn text_block_start() -> Value {
    json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
}

fn text_delta(text: &str) -> Value {
    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})
}

/// One SSE event as it goes on the wire, and whether the slow mode pauses before it.
struct SseEvent {
    frame: Bytes,
    /// Deltas are paced in slow mode; the envelope events are not.
    paced: bool,
}

fn sse(value: &Value) -> SseEvent {
    let name = value.get("type").and_then(Value::as_str).unwrap_or("error");
    SseEvent {
        frame: Bytes::from(format!("event: {name}\ndata: {value}\n\n")),
        paced: name == "content_block_delta",
    }
}

/// The full documented event sequence for a text answer.
fn stream_events(model: &str, text: &str, stop_reason: &str) -> Vec<SseEvent> {
    let chunks = mock_chunks(text);
    let mut events = vec![
        sse(&message_start(model)),
        sse(&text_block_start()),
        sse(&json!({"type": "ping"})),
    ];
    events.extend(chunks.iter().map(|c| sse(&text_delta(c))));
    events.push(sse(&json!({"type": "content_block_stop", "index": 0})));
    events.push(sse(&json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {"output_tokens": chunks.len()},
    })));
    events.push(sse(&json!({"type": "message_stop"})));
    events
}

/// A stream that breaks after one delta, as the API does when it gets overloaded mid-answer.
fn midstream_error_events(model: &str) -> Vec<SseEvent> {
    vec![
        sse(&message_start(model)),
        sse(&text_block_start()),
        sse(&text_delta("partial")),
        sse(&json!({
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        })),
    ]
}

/// Streams `events` from a task; a client that goes away simply ends the task.
fn sse_response(events: Vec<SseEvent>, delay: Option<Duration>) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        for event in events {
            if let (Some(d), true) = (delay, event.paced) {
                tokio::time::sleep(d).await;
            }
            if tx.send(event.frame).await.is_err() {
                return; // the client hung up
            }
        }
    });
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(Frame::data(bytes)), rx))
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    add_request_id(&mut resp);
    resp
}

/// The API's answer for a model it does not serve: 404 `not_found_error` naming it, with
/// the request id in the body as well as in `request-id`.
fn model_not_found(model: &str) -> Response<Body> {
    let id = format!("req_mock_{}", uuid::Uuid::new_v4().simple());
    let mut resp = json_response(
        StatusCode::NOT_FOUND,
        &json!({"type": "error",
                "error": {"type": "not_found_error", "message": format!("model: {model}")},
                "request_id": id}),
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("request-id", value);
    }
    resp
}

/// The API's error answer for the `err-NNN` models.
fn api_error(status: u16) -> Response<Body> {
    let (error_type, message) = match status {
        400 => ("invalid_request_error", "model: bad model (mock)"),
        401 => ("authentication_error", "invalid x-api-key"),
        429 => (
            "rate_limit_error",
            "Number of requests has exceeded your rate limit (mock)",
        ),
        529 => ("overloaded_error", "Overloaded"),
        _ => ("api_error", "Internal server error (mock)"),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = error_response(status, error_type, message);
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static("7"));
    }
    resp
}

/// The API's error body: `{"type": "error", "error": {…}, "request_id": …}`, the id the
/// same as the `request-id` header's.
fn error_response(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    let id = request_id();
    let body = json!({"type": "error", "error": {"type": error_type, "message": message},
                      "request_id": id});
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    set_request_id(&mut resp, &id);
    resp
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut resp = Response::new(full(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    add_request_id(&mut resp);
    resp
}

fn request_id() -> String {
    format!("req_mock_{}", uuid::Uuid::new_v4().simple())
}

fn add_request_id(resp: &mut Response<Body>) {
    set_request_id(resp, &request_id());
}

fn set_request_id(resp: &mut Response<Body>, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("request-id", value);
    }
}

fn full(s: String) -> Body {
    BodyExt::boxed(Full::new(Bytes::from(s)))
}

fn empty() -> Body {
    BodyExt::boxed(Full::new(Bytes::new()))
}
