//! A local stand-in for the Anthropic hosts the CLI asks besides the Messages API: a CONNECT
//! proxy on 127.0.0.1 (named in `HTTPS_PROXY` for the CLI, with `NO_PROXY=127.0.0.1` so the
//! mock Messages API on loopback is still reached directly) that terminates TLS for
//! `api.anthropic.com` and `platform.claude.com` with a leaf certificate from a CA made at
//! start (rcgen), given to the CLI as `NODE_EXTRA_CA_CERTS`. Measured to work with CLI
//! 2.1.332 (tests/fixtures/claude-cli/m_get_usage/README.txt).
//!
//! It answers, as the real endpoints document or as the CLI reads them:
//! - `GET /api/oauth/usage` (api.anthropic.com): the usage windows of [`StandIn::set_usage`]
//!   (`five_hour`, `seven_day`, `seven_day_opus`, `seven_day_sonnet`,
//!   `seven_day_oauth_apps` as `{utilization: percent, resets_at: ISO 8601}`, a `limits[]`
//!   row of kind `weekly_scoped` for a model — what the CLI turns into `model_scoped` —
//!   and `extra_usage`); a bearer token without the profile scope gets the 403 the API
//!   gives;
//! - `GET /api/oauth/profile`: an account and a `claude_max` organization;
//! - `POST /v1/oauth/token` (platform.claude.com), `grant_type=refresh_token`: a fresh
//!   access/refresh token pair with the requested scopes (how `claude auth login` takes over
//!   a login handed to it with `CLAUDE_CODE_OAUTH_REFRESH_TOKEN`);
//! - anything else (bootstrap, roles, policy limits, …): 404 `not_found_error`, which the
//!   CLI copes with.
//!
//! Every CONNECT and request is recorded so tests can count them.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The hosts the stand-in terminates TLS for.
pub const HOSTS: [&str; 2] = ["api.anthropic.com", "platform.claude.com"];
/// The bearer token the stand-in's profile-scoped login uses (see [`credentials_json`]).
pub const PROFILE_TOKEN: &str = "sk-ant-oat01-standin-profile";
/// What the token endpoint mints for a handed-over refresh token.
pub const MINTED_ACCESS_TOKEN: &str = "sk-ant-oat01-standin-minted";
pub const MINTED_REFRESH_TOKEN: &str = "sk-ant-ort01-standin-minted";

/// One request the stand-in answered.
#[derive(Clone, Debug)]
pub struct Seen {
    pub host: String,
    pub method: String,
    /// Path and query.
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    usage: Value,
    connects: Vec<String>,
    seen: Vec<Seen>,
    /// Bearer tokens refused by the usage endpoint (no profile scope).
    inference_only: Vec<String>,
}

/// The running stand-in; stops on drop.
pub struct StandIn {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
    /// Holds the CA certificate file.
    dir: tempfile::TempDir,
}

/// One window as the usage endpoint writes it: percent and an ISO 8601 reset.
pub fn window(percent: f64, resets_at: i64) -> Value {
    json!({"utilization": percent, "resets_at": iso(resets_at)})
}

/// `resets_at` as the endpoint writes it: `2026-12-04T21:02:44+00:00`.
pub fn iso(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `~/.claude/.credentials.json` of a claude.ai login with the profile scope (what
/// `claude auth login` stores), valid for decades, using [`PROFILE_TOKEN`].
pub fn credentials_json() -> String {
    json!({"claudeAiOauth": {
        "accessToken": PROFILE_TOKEN,
        "refreshToken": "sk-ant-ort01-standin-unused",
        "expiresAt": 4_102_444_800_000_i64,
        "scopes": ["user:inference", "user:profile"],
        "subscriptionType": "max"}})
    .to_string()
}

impl StandIn {
    pub async fn start() -> StandIn {
        let dir = tempfile::tempdir().expect("stand-in dir");
        let (acceptor, ca_pem) = tls_acceptor();
        std::fs::write(dir.path().join("ca.pem"), ca_pem).expect("write the CA");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stand-in");
        let addr = listener.local_addr().expect("stand-in addr");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = tunnel(stream, acceptor, state).await;
                });
            }
        });
        StandIn {
            addr,
            state,
            task,
            dir,
        }
    }

    /// `HTTPS_PROXY` for the CLI.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The CA's PEM file, for `NODE_EXTRA_CA_CERTS`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The environment that sends the CLI's Anthropic requests (but not loopback ones)
    /// through the stand-in.
    pub fn cli_env(&self) -> Vec<(String, String)> {
        vec![
            ("HTTPS_PROXY".into(), self.proxy_url()),
            ("NO_PROXY".into(), "127.0.0.1,localhost".into()),
            (
                "NODE_EXTRA_CA_CERTS".into(),
                self.ca_file().display().to_string(),
            ),
        ]
    }

    /// What `GET /api/oauth/usage` answers from now on.
    pub fn set_usage(&self, usage: Value) {
        self.state.lock().expect("stand-in state").usage = usage;
    }

    /// The usage endpoint refuses this bearer token (no profile scope), as the API does.
    pub fn refuse_usage_for(&self, token: &str) {
        self.state
            .lock()
            .expect("stand-in state")
            .inference_only
            .push(token.to_string());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("stand-in state").seen.clone()
    }

    /// How many times the usage endpoint was asked.
    pub fn usage_requests(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path.starts_with("/api/oauth/usage"))
            .count()
    }

    /// The hosts CONNECTed to, in order.
    pub fn connects(&self) -> Vec<String> {
        self.state.lock().expect("stand-in state").connects.clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A CA made now and a leaf for [`HOSTS`] signed by it: the TLS acceptor and the CA's PEM.
fn tls_acceptor() -> (TlsAcceptor, String) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "claude-max-proxy test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let mut leaf_params =
        rcgen::CertificateParams::new(HOSTS.map(String::from).to_vec()).expect("leaf params");
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, HOSTS[0]);
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca)
        .expect("leaf certificate");
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (TlsAcceptor::from(Arc::new(config)), ca.pem())
}

/// One proxy connection: `CONNECT host:443`, then TLS, then HTTP/1.1 requests.
async fn tunnel(
    mut stream: TcpStream,
    acceptor: TlsAcceptor,
    state: Arc<Mutex<State>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || stream.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let target = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("CONNECT "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("")
        .to_string();
    let host = target.split(':').next().unwrap_or("").to_string();
    state
        .lock()
        .expect("stand-in state")
        .connects
        .push(host.clone());
    if !HOSTS.contains(&host.as_str()) {
        stream
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    }
    stream
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    let tls = acceptor.accept(stream).await?;
    let service = service_fn(move |req| {
        let state = state.clone();
        let host = host.clone();
        async move { Ok::<_, Infallible>(answer(req, &host, &state).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await;
    Ok(())
}

async fn answer(req: Request<Incoming>, host: &str, state: &Mutex<State>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match Limited::new(req.into_body(), 1024 * 1024).collect().await {
        Ok(b) => serde_json::from_slice(&b.to_bytes()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let mut s = state.lock().expect("stand-in state");
    s.seen.push(Seen {
        host: host.to_string(),
        method: method.to_string(),
        path: path.clone(),
        authorization: authorization.clone(),
        body: body.clone(),
    });
    let bare = path.split('?').next().unwrap_or("");
    match (&method, host, bare) {
        (&Method::GET, "api.anthropic.com", "/api/oauth/usage") => {
            let refused = authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .is_some_and(|t| s.inference_only.iter().any(|i| i == t));
            if refused {
                return json_response(
                    StatusCode::FORBIDDEN,
                    json!({"type": "error", "error": {"type": "permission_error",
                        "message": "OAuth token does not meet scope requirement user:profile"}}),
                );
            }
            json_response(StatusCode::OK, s.usage.clone())
        }
        (&Method::GET, "api.anthropic.com", "/api/oauth/profile") => json_response(
            StatusCode::OK,
            json!({
                "account": {"uuid": "00000000-0000-4000-8000-00000000000a",
                    "email_address": "user@example.com", "display_name": "Test User"},
                "organization": {"uuid": "00000000-0000-4000-8000-00000000000b",
                    "name": "Test Org", "organization_type": "claude_max",
                    "rate_limit_tier": "default_claude_max_20x"}}),
        ),
        (&Method::POST, "platform.claude.com", "/v1/oauth/token")
            if body["grant_type"] == "refresh_token" =>
        {
            json_response(
                StatusCode::OK,
                json!({"token_type": "Bearer", "access_token": MINTED_ACCESS_TOKEN,
                    "refresh_token": MINTED_REFRESH_TOKEN, "expires_in": 28_800,
                    "scope": body["scope"].as_str().unwrap_or("user:inference")}),
            )
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"type": "error", "error": {"type": "not_found_error", "message": "Not found"}}),
        ),
    }
}

fn json_response(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("json response")
}
