//! A fake Claude OAuth server on 127.0.0.1 for the login tests: the authorize page, the
//! callback page and the token endpoint, checking what the official CLI's `setup-token`
//! sends.
//!
//! - `GET /authorize`: checks `code=true`, `client_id`, `response_type=code`,
//!   `redirect_uri` (= this server's `/callback`), `scope` (`user:inference`, what
//!   `setup-token` asks, or [`CLI_LOGIN_SCOPES`], the CLI's own login),
//!   `code_challenge`, `code_challenge_method=S256`, `state`; mints a code and redirects
//!   to the callback (or, with [`Behavior::hang_authorize`], shows a page that never does).
//! - `GET /callback`: the page the real one imitates: "Authentication Code" and the
//!   `code#state` to copy. [`CallbackStyle::Query`] redirects with `?code=…&state=…` (as
//!   OAuth does); [`CallbackStyle::PageOnly`] keeps both out of the URL, so only the page
//!   text has them.
//! - `POST /v1/oauth/token`: JSON body; checks `grant_type=authorization_code`, the code
//!   (known, unused), `client_id`, `redirect_uri`, `state` and that
//!   `BASE64URL(SHA256(code_verifier))` is the challenge; answers the documented JSON
//!   (`access_token`, `token_type`, `expires_in`, `scope`, …) or an OAuth error
//!   `{"error","error_description"}` with 400. An inference-only grant must ask for one
//!   year (`expires_in`) and gets no refresh token; a grant with the profile scope must not
//!   ask for a lifetime and gets an 8-hour access token and a `refresh_token`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The client id the fake expects (the official CLI's).
pub const CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
/// The lifetime `setup-token` asks for.
pub const ONE_YEAR: i64 = 31_536_000;
/// The scopes of the CLI's own login that `login --cli` asks for.
pub const CLI_LOGIN_SCOPES: &str =
    "user:profile user:inference user:sessions:claude_code user:mcp_servers";

/// How the callback page gets the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackStyle {
    /// `/callback?code=…&state=…`, the page shows `code#state`.
    Query,
    /// `/callback?ticket=…`, the page shows `code#state`; the URL has neither.
    PageOnly,
}

/// What the fake does; tests change it before the login runs.
#[derive(Clone, Debug)]
pub struct Behavior {
    pub callback: CallbackStyle,
    /// Send this state back instead of the one received.
    pub wrong_state: Option<String>,
    /// Answer the token request with 400 `invalid_grant`.
    pub token_error: bool,
    /// The authorize page never redirects (a user who never finishes).
    pub hang_authorize: bool,
}

impl Default for Behavior {
    fn default() -> Behavior {
        Behavior {
            callback: CallbackStyle::Query,
            wrong_state: None,
            token_error: false,
            hang_authorize: false,
        }
    }
}

/// A code handed out by /authorize.
#[derive(Clone, Debug)]
struct Grant {
    challenge: String,
    redirect_uri: String,
    state: String,
    scope: String,
    used: bool,
}

#[derive(Default)]
struct State {
    behavior: Behavior,
    grants: HashMap<String, Grant>,
    /// ticket → `code#state` for PageOnly callbacks.
    tickets: HashMap<String, String>,
    /// Every token request body, in order.
    token_requests: Vec<Value>,
    /// Every access token minted.
    minted: Vec<String>,
    /// Every refresh token minted.
    refresh_minted: Vec<String>,
    /// Every authorize URL query seen.
    authorize_queries: Vec<String>,
    counter: u64,
}

/// The running fake; stops on drop.
pub struct FakeOAuth {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FakeOAuth {
    pub async fn start(behavior: Behavior) -> FakeOAuth {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake oauth");
        let addr = listener.local_addr().expect("fake oauth addr");
        let state = Arc::new(Mutex::new(State {
            behavior,
            ..State::default()
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(req, addr, &state).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeOAuth { addr, state, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.base_url())
    }
    pub fn token_url(&self) -> String {
        format!("{}/v1/oauth/token", self.base_url())
    }
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.base_url())
    }

    /// The `CLAUDE_MAX_PROXY_OAUTH_*` variables pointing the daemon's login at this fake.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "CLAUDE_MAX_PROXY_OAUTH_AUTHORIZE_URL".into(),
                self.authorize_url(),
            ),
            ("CLAUDE_MAX_PROXY_OAUTH_TOKEN_URL".into(), self.token_url()),
            (
                "CLAUDE_MAX_PROXY_OAUTH_REDIRECT_URI".into(),
                self.redirect_uri(),
            ),
        ]
    }

    pub fn set_behavior(&self, behavior: Behavior) {
        self.state.lock().expect("fake state").behavior = behavior;
    }
    pub fn token_requests(&self) -> Vec<Value> {
        self.state
            .lock()
            .expect("fake state")
            .token_requests
            .clone()
    }
    pub fn minted(&self) -> Vec<String> {
        self.state.lock().expect("fake state").minted.clone()
    }
    pub fn refresh_minted(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("fake state")
            .refresh_minted
            .clone()
    }
    pub fn authorize_queries(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("fake state")
            .authorize_queries
            .clone()
    }
}

impl Drop for FakeOAuth {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random_word(state: &mut State, prefix: &str) -> String {
    state.counter += 1;
    format!(
        "{prefix}{}x{}",
        state.counter,
        uuid::Uuid::new_v4().simple()
    )
}

async fn handle(
    req: Request<Incoming>,
    addr: SocketAddr,
    state: &Mutex<State>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/authorize") => authorize(&query, addr, state),
        (Method::GET, "/callback") => callback(&query, state),
        (Method::POST, "/v1/oauth/token") => {
            let content_type = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return json_response(StatusCode::PAYLOAD_TOO_LARGE, json!({})),
            };
            token(&content_type, &body, state)
        }
        _ => html(StatusCode::NOT_FOUND, "<h1>Not found</h1>"),
    }
}

fn params(query: &str) -> HashMap<String, String> {
    url_pairs(query).into_iter().collect()
}

/// Decodes `a=b&c=d` (percent-encoding and `+`).
fn url_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn authorize(query: &str, addr: SocketAddr, state: &Mutex<State>) -> Response<Full<Bytes>> {
    let p = params(query);
    let expected_redirect = format!("http://{addr}/callback");
    let checks = [
        ("code", Some("true")),
        ("client_id", Some(CLIENT_ID)),
        ("response_type", Some("code")),
        ("redirect_uri", Some(expected_redirect.as_str())),
        ("code_challenge_method", Some("S256")),
    ];
    let scope = p.get("scope").cloned().unwrap_or_default();
    if scope != "user:inference" && scope != CLI_LOGIN_SCOPES {
        return html(
            StatusCode::BAD_REQUEST,
            "<h1>Bad authorize request</h1><p>wrong scope</p>",
        );
    }
    for (key, want) in checks {
        if p.get(key).map(String::as_str) != want {
            return html(
                StatusCode::BAD_REQUEST,
                &format!("<h1>Bad authorize request</h1><p>wrong {key}</p>"),
            );
        }
    }
    let (Some(challenge), Some(sent_state)) = (p.get("code_challenge"), p.get("state")) else {
        return html(
            StatusCode::BAD_REQUEST,
            "<h1>missing challenge or state</h1>",
        );
    };
    if challenge.len() != 43 || sent_state.len() < 32 {
        return html(StatusCode::BAD_REQUEST, "<h1>weak challenge or state</h1>");
    }
    let mut s = state.lock().expect("fake state");
    s.authorize_queries.push(query.to_string());
    if s.behavior.hang_authorize {
        return html(
            StatusCode::OK,
            "<h1>Log in to Claude</h1><p>Waiting for you…</p>",
        );
    }
    let code = random_word(&mut s, "fakecode");
    s.grants.insert(
        code.clone(),
        Grant {
            challenge: challenge.clone(),
            redirect_uri: expected_redirect.clone(),
            state: sent_state.clone(),
            scope,
            used: false,
        },
    );
    let returned_state = s
        .behavior
        .wrong_state
        .clone()
        .unwrap_or_else(|| sent_state.clone());
    let location = match s.behavior.callback {
        CallbackStyle::Query => format!(
            "{expected_redirect}?code={}&state={}",
            encode(&code),
            encode(&returned_state)
        ),
        CallbackStyle::PageOnly => {
            let ticket = random_word(&mut s, "ticket");
            s.tickets
                .insert(ticket.clone(), format!("{code}#{returned_state}"));
            format!("{expected_redirect}?ticket={ticket}")
        }
    };
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", location)
        .body(Full::new(Bytes::new()))
        .expect("redirect response")
}

/// The callback page: "Authentication Code", then `code#state` in a copy box.
fn callback(query: &str, state: &Mutex<State>) -> Response<Full<Bytes>> {
    let p = params(query);
    let shown = if let Some(ticket) = p.get("ticket") {
        state
            .lock()
            .expect("fake state")
            .tickets
            .get(ticket)
            .cloned()
    } else {
        match (p.get("code"), p.get("state")) {
            (Some(c), Some(s)) => Some(format!("{c}#{s}")),
            _ => None,
        }
    };
    match shown {
        Some(text) => html(
            StatusCode::OK,
            &format!(
                "<h1>Authentication Code</h1><p>Paste this into Claude Code:</p>\
                 <div><code id=\"code\">{text}</code></div><button>Copy Code</button>"
            ),
        ),
        None => html(StatusCode::BAD_REQUEST, "<h1>No code</h1>"),
    }
}

fn token(content_type: &str, body: &[u8], state: &Mutex<State>) -> Response<Full<Bytes>> {
    let error = |description: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": description}),
        )
    };
    let mut s = state.lock().expect("fake state");
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return error("body is not JSON"),
    };
    s.token_requests.push(request.clone());
    if !content_type.starts_with("application/json") {
        return error("content-type must be application/json");
    }
    if s.behavior.token_error {
        return error("Invalid 'code' in request.");
    }
    let field = |k: &str| {
        request
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if field("grant_type") != "authorization_code" {
        return error("unsupported grant_type");
    }
    if field("client_id") != CLIENT_ID {
        return error("unknown client_id");
    }
    let code = field("code");
    let Some(grant) = s.grants.get(&code).cloned() else {
        return error("Invalid 'code' in request.");
    };
    if grant.used {
        return error("code already used");
    }
    if field("redirect_uri") != grant.redirect_uri {
        return error("redirect_uri mismatch");
    }
    if field("state") != grant.state {
        return error("state mismatch");
    }
    let verifier = field("code_verifier");
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return error("PKCE verification failed");
    }
    let profile = grant.scope.split(' ').any(|s| s == "user:profile");
    let lifetime = request.get("expires_in").and_then(Value::as_i64);
    if !profile && lifetime != Some(ONE_YEAR) {
        return error("expires_in must be one year, as setup-token asks");
    }
    if profile && lifetime.is_some() {
        return error("a login with the profile scope gets no long lifetime");
    }
    if let Some(g) = s.grants.get_mut(&code) {
        g.used = true;
    }
    if profile {
        let token = random_word(&mut s, "sk-ant-oat01-fakeprofile");
        let refresh = random_word(&mut s, "sk-ant-ort01-fake");
        s.minted.push(token.clone());
        s.refresh_minted.push(refresh.clone());
        return json_response(
            StatusCode::OK,
            json!({
                "token_type": "Bearer",
                "access_token": token,
                "refresh_token": refresh,
                "expires_in": 28_800,
                "scope": grant.scope,
            }),
        );
    }
    let token = random_word(&mut s, "sk-ant-oat01-fake");
    s.minted.push(token.clone());
    json_response(
        StatusCode::OK,
        json!({
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": ONE_YEAR,
            "scope": "user:inference",
            "organization": {"uuid": "00000000-0000-4000-8000-000000000001", "name": "Fake Org"},
            "account": {"uuid": "00000000-0000-4000-8000-000000000002", "email_address": "user@example.com"},
        }),
    )
}

fn html(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(format!(
            "<!doctype html><html><head><title>Fake Claude</title></head><body>{body}</body></html>"
        ))))
        .expect("html response")
}

fn json_response(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("json response")
}
