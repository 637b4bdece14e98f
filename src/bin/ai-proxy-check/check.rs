//! One run of the stages, in order, stopping at the first failure: URL → resolve → connect →
//! `/health` → `/v1/models` → (with `--chat`) a streaming completion. Each stage records its
//! timing and summary, and the facts a diagnosis needs (addresses, our own address, whether
//! a key was sent).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::answers;
use crate::args::Options;
use crate::chat;
use crate::client::{self, Client, HttpError};
use crate::connect::{self, ConnectFailure};
use crate::context::Context;
use crate::resolve::{self, ResolveError};
use crate::stage::{Facts, Failure, Passed, Problem, Stage};
use crate::target::{Host, Target};

/// Largest `/health` or `/v1/models` answer read (the real ones are a few KB).
pub const BODY_LIMIT: usize = 1 << 20;

/// The result of one run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The URL as understood (after the URL stage).
    pub url: Option<String>,
    pub passed: Vec<Passed>,
    pub failure: Option<Failure>,
    pub facts: Facts,
    pub elapsed: Duration,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    /// 0, or the failing stage's code.
    pub fn exit_code(&self) -> u8 {
        self.failure
            .as_ref()
            .map(crate::stage::exit_code)
            .unwrap_or(0)
    }

    fn pass(&mut self, stage: Stage, since: Instant, summary: String, data: serde_json::Value) {
        self.passed.push(Passed {
            stage,
            elapsed: since.elapsed(),
            summary,
            data,
        });
    }
}

/// A failure before the stage is known (mapped by `at`).
pub type StepError = (Problem, String);

fn at(stage: Stage, since: Instant) -> impl FnOnce(StepError) -> Failure {
    move |(problem, detail)| Failure {
        stage,
        elapsed: since.elapsed(),
        problem,
        detail,
    }
}

/// Runs every stage once.
pub async fn run_once(options: &Options, context: &Context) -> Report {
    let started = Instant::now();
    let mut report = Report::default();
    if let Err(failure) = stages(options, context, &mut report).await {
        report.failure = Some(failure);
    }
    report.elapsed = started.elapsed();
    report
}

async fn stages(options: &Options, context: &Context, report: &mut Report) -> Result<(), Failure> {
    // URL.
    let t = Instant::now();
    let Some(url) = options.url.as_deref() else {
        return Err(at(Stage::Url, t)((
            Problem::MissingUrl,
            "AI_PROXY_URL is not set (and no --url given)".to_string(),
        )));
    };
    let target = Target::parse(url)
        .map_err(|e| at(Stage::Url, t)((Problem::BadUrl, format!("`{url}`: {e}"))))?;
    report.url = Some(target.to_string());
    report.facts.host = Some(target.host_text());
    report.facts.port = Some(target.port);
    report.facts.loopback_host = target.is_loopback();
    let mut summary = target.to_string();
    if !target.explicit_port {
        summary.push_str(" (no port given, so 80; the proxy's default is 3456)");
    }
    let data = json!({"host": target.host_text(), "port": target.port, "prefix": target.prefix});
    report.pass(Stage::Url, t, summary, data);

    // Resolve.
    let t = Instant::now();
    let addresses = match &target.host {
        Host::Ip(ip) => {
            let summary = format!("{ip} (an address: nothing to resolve)");
            report.pass(
                Stage::Resolve,
                t,
                summary,
                json!({"addresses": [ip.to_string()]}),
            );
            vec![*ip]
        }
        Host::Name(name) => {
            let found = resolve::resolve(name, options.timeout).await.map_err(|e| {
                at(Stage::Resolve, t)(match e {
                    ResolveError::NotFound(d) => (Problem::NoSuchName, format!("`{name}`: {d}")),
                    ResolveError::Timeout => (
                        Problem::ResolveTimeout,
                        format!(
                            "`{name}`: no DNS answer within {}",
                            connect::secs(options.timeout)
                        ),
                    ),
                })
            })?;
            let source = if context.hosts_entries(name).is_empty() {
                "DNS"
            } else {
                "/etc/hosts"
            };
            let list: Vec<String> = found.iter().map(ToString::to_string).collect();
            let summary = format!("{name} → {} (from {source})", list.join(", "));
            report.pass(
                Stage::Resolve,
                t,
                summary,
                json!({"addresses": list, "source": source}),
            );
            found
        }
    };
    report.facts.addresses = addresses.clone();

    // Connect.
    let t = Instant::now();
    if let Some(first) = addresses.first() {
        let peer = SocketAddr::new(*first, target.port);
        report.facts.peer = Some(peer);
        report.facts.local = connect::local_address_towards(peer);
    }
    let (stream, peer) = connect::connect(&addresses, target.port, options.timeout)
        .await
        .map_err(|(failure, detail)| {
            let problem = match failure {
                ConnectFailure::Refused | ConnectFailure::Other => Problem::Refused,
                ConnectFailure::Unreachable => Problem::Unreachable,
                ConnectFailure::TimedOut => Problem::ConnectTimeout,
            };
            at(Stage::Connect, t)((problem, detail))
        })?;
    let local = stream.local_addr().ok().map(|a| a.ip());
    report.facts.peer = Some(peer);
    report.facts.local = local.or(report.facts.local);
    let from = local.map(|l| format!(" (from {l})")).unwrap_or_default();
    let data = json!({"peer": peer.to_string(), "local": local.map(|l| l.to_string())});
    report.pass(Stage::Connect, t, format!("{peer}{from}"), data);
    let mut client = Client::new(stream, peer, target.authority(), options.key.clone())
        .await
        .map_err(|e| at(Stage::Health, t)(http_problem(e)))?;

    // /health.
    let t = Instant::now();
    let path = target.health_path();
    let (status, body) = exchange(&mut client, Method::GET, &path, None, options.timeout)
        .await
        .map_err(at(Stage::Health, t))?;
    let health = read_health(status, &body, options.key.is_some()).map_err(at(Stage::Health, t))?;
    let data = json!({
        "status": health.status, "version": health.version, "backend": health.backend,
        "cli_version": health.cli_version, "auth_mode": health.auth_mode,
        "client_key_required": health.client_key_required, "listeners": health.listeners,
    });
    report.pass(Stage::Health, t, health.summary(), data);

    // /v1/models.
    let t = Instant::now();
    let path = target.api_path("models");
    let (status, body) = exchange(&mut client, Method::GET, &path, None, options.timeout)
        .await
        .map_err(at(Stage::Models, t))?;
    let ids = read_models(status, &body, options.key.is_some()).map_err(at(Stage::Models, t))?;
    let mut shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    if ids.len() > shown.len() {
        shown.push("…");
    }
    let summary = format!("{} models: {}", ids.len(), shown.join(", "));
    report.pass(
        Stage::Models,
        t,
        summary,
        json!({"count": ids.len(), "ids": ids}),
    );

    // Streaming completion.
    if options.chat {
        let t = Instant::now();
        let model = chat::pick_model(options.model.as_deref(), &ids);
        let chat = tokio::time::timeout(
            options.chat_timeout,
            chat::stream_chat(
                &mut client,
                &target,
                &model,
                &options.prompt,
                options.key.is_some(),
            ),
        )
        .await
        .map_err(|_| {
            at(Stage::Chat, t)((
                Problem::NoAnswer,
                format!(
                    "no complete answer from `{model}` within {} (--chat-timeout)",
                    connect::secs(options.chat_timeout)
                ),
            ))
        })?
        .map_err(at(Stage::Chat, t))?;
        let first = chat
            .first_token
            .map(|d| format!("first token after {}", crate::report::duration(d)))
            .unwrap_or_default();
        let used = chat.model.clone().unwrap_or_else(|| model.clone());
        let summary = format!("{first} from {used}: \"{}\"", chat.text);
        let data = json!({
            "model": used,
            "first_token_ms": chat.first_token.map(|d| d.as_secs_f64() * 1000.0),
            "text": chat.text,
        });
        report.pass(Stage::Chat, t, summary, data);
    }
    Ok(())
}

/// One request with the step timeout; the status and the (capped) body.
async fn exchange(
    client: &mut Client,
    method: Method,
    path: &str,
    json: Option<Bytes>,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), StepError> {
    let work = async {
        let response = client.send(method, path, json).await?;
        let status = response.status();
        let body = client::read_body(response.into_body(), BODY_LIMIT).await?;
        Ok::<_, HttpError>((status, body))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(http_problem(e)),
        Err(_) => Err((
            Problem::NoAnswer,
            format!("{path}: no HTTP answer within {}", connect::secs(timeout)),
        )),
    }
}

pub fn http_problem(error: HttpError) -> StepError {
    let problem = match &error {
        HttpError::Closed(_) | HttpError::Other(_) => Problem::Closed,
        HttpError::NotHttp(_) => Problem::NotHttp,
        HttpError::TooLarge(_) => Problem::NotTheProxy,
    };
    (problem, error.to_string())
}

/// Judges `/health`'s answer.
fn read_health(
    status: StatusCode,
    body: &[u8],
    key_sent: bool,
) -> Result<answers::Health, StepError> {
    if matches!(status.as_u16(), 401 | 403) {
        let detail = format!(
            "GET /health answered {status}: {}",
            answers::error_message(body)
        );
        return Err((Problem::Unauthorized { key_sent }, detail));
    }
    if status == StatusCode::NOT_FOUND {
        let detail = format!("GET /health answered 404: {}", answers::snippet(body));
        return Err((Problem::NotTheProxy, detail));
    }
    // A 503 with a health body is the daemon reporting a problem, not a stranger.
    let parsed = answers::parse_health(body);
    if !status.is_success() {
        let message = match &parsed {
            Ok(health) => health.reason(),
            Err(_) => answers::error_message(body),
        };
        let detail = format!("GET /health answered {status}: {message}");
        return Err((Problem::Status(status.as_u16()), detail));
    }
    let health = parsed.map_err(|e| (Problem::NotTheProxy, e))?;
    if health.status != "ok" {
        return Err((
            Problem::Degraded,
            format!("the daemon reports {}", health.reason()),
        ));
    }
    Ok(health)
}

/// Judges `/v1/models`'s answer.
fn read_models(status: StatusCode, body: &[u8], key_sent: bool) -> Result<Vec<String>, StepError> {
    let message = || answers::error_message(body);
    match status.as_u16() {
        401 | 403 => Err((
            Problem::Unauthorized { key_sent },
            format!("GET /v1/models answered {status}: {}", message()),
        )),
        200 => {
            let ids = answers::parse_models(body).map_err(|e| (Problem::NotTheProxy, e))?;
            if ids.is_empty() {
                return Err((
                    Problem::NoModels,
                    "GET /v1/models lists no models".to_string(),
                ));
            }
            Ok(ids)
        }
        _ => Err((
            Problem::Status(status.as_u16()),
            format!("GET /v1/models answered {status}: {}", message()),
        )),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_answers() {
        let ok = br#"{"status":"ok","version":"0.1.0"}"#;
        assert!(read_health(StatusCode::OK, ok, false).is_ok());
        let degraded = br#"{"status":"degraded","version":"0.1.0","cli":{"found":false}}"#;
        let (problem, detail) = read_health(StatusCode::OK, degraded, false).unwrap_err();
        assert_eq!(problem, Problem::Degraded);
        assert!(detail.contains("CLI was not found"), "{detail}");
        let (problem, detail) =
            read_health(StatusCode::SERVICE_UNAVAILABLE, degraded, false).unwrap_err();
        assert_eq!(problem, Problem::Status(503));
        assert!(
            detail.contains("503") && detail.contains("not found"),
            "{detail}"
        );
        let err = br#"{"error":{"message":"boom","type":"server_error"}}"#;
        let (_, detail) = read_health(StatusCode::BAD_GATEWAY, err, false).unwrap_err();
        assert!(detail.ends_with("boom"), "{detail}");
        let (problem, _) = read_health(StatusCode::NOT_FOUND, b"nope", false).unwrap_err();
        assert_eq!(problem, Problem::NotTheProxy);
        let (problem, _) = read_health(StatusCode::UNAUTHORIZED, b"", true).unwrap_err();
        assert_eq!(problem, Problem::Unauthorized { key_sent: true });
    }

    #[test]
    fn models_answers() {
        let list = br#"{"object":"list","data":[{"id":"opus"}]}"#;
        assert_eq!(
            read_models(StatusCode::OK, list, false).unwrap(),
            vec!["opus"]
        );
        let empty = br#"{"object":"list","data":[]}"#;
        assert_eq!(
            read_models(StatusCode::OK, empty, false).unwrap_err().0,
            Problem::NoModels
        );
        let (problem, _) = read_models(StatusCode::UNAUTHORIZED, b"{}", false).unwrap_err();
        assert_eq!(problem, Problem::Unauthorized { key_sent: false });
        let (problem, _) = read_models(StatusCode::INTERNAL_SERVER_ERROR, b"x", false).unwrap_err();
        assert_eq!(problem, Problem::Status(500));
    }
}
