//! One run of the stages, in order, stopping at the first failure: URL → resolve → connect →
//! `/health` → `/v1/models` → (with `--chat` or `--api`) a short streamed request. This module owns the
//! bookkeeping, one function per stage: its timing, its summary and `--json` data, the facts
//! a diagnosis needs (addresses, our own address, whether a key was sent), and which stage a
//! failure belongs to. The work itself is in the stage modules (`target`, `resolve`,
//! `connect`, `health`, `models`, `chat`).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use serde_json::json;

use crate::api::Api;
use crate::args::Options;
use crate::chat;
use crate::client::Client;
use crate::connect::{self, ConnectFailure};
use crate::context::Context;
use crate::health;
use crate::models;
use crate::resolve::{self, ResolveError};
use crate::stage::{Failure, Problem, Report, Stage};
use crate::step::{StepError, http_problem};
use crate::target::{Host, Target};
use crate::timing::{duration, secs};

/// Turns a step's error into the failure of `stage`, which started at `since`.
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
    let target = url_stage(options, report)?;
    let addresses = resolve_stage(&target, options, context, report).await?;
    let mut client = connect_stage(&target, &addresses, options, report).await?;
    health_stage(&mut client, &target, options, report).await?;
    let ids = models_stage(&mut client, &target, options, report).await?;
    if options.chat {
        chat_stage(&mut client, &target, &ids, options, report).await?;
    }
    Ok(())
}

/// URL: `--url` or `AI_PROXY_URL`, parsed.
fn url_stage(options: &Options, report: &mut Report) -> Result<Target, Failure> {
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
    Ok(target)
}

/// Resolve: nothing to do for an address; a name through /etc/hosts and DNS.
async fn resolve_stage(
    target: &Target,
    options: &Options,
    context: &Context,
    report: &mut Report,
) -> Result<Vec<IpAddr>, Failure> {
    let t = Instant::now();
    let addresses = match &target.host {
        Host::Ip(ip) => {
            let summary = format!("{ip} (an address: nothing to resolve)");
            let data = json!({"addresses": [ip.to_string()]});
            report.pass(Stage::Resolve, t, summary, data);
            vec![*ip]
        }
        Host::Name(name) => {
            let found = resolve::resolve(name, options.timeout).await.map_err(|e| {
                at(Stage::Resolve, t)(match e {
                    ResolveError::NotFound(d) => (Problem::NoSuchName, format!("`{name}`: {d}")),
                    ResolveError::Timeout => (
                        Problem::ResolveTimeout,
                        format!("`{name}`: no DNS answer within {}", secs(options.timeout)),
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
            let data = json!({"addresses": list, "source": source});
            report.pass(Stage::Resolve, t, summary, data);
            found
        }
    };
    report.facts.addresses = addresses.clone();
    Ok(addresses)
}

/// Connect: TCP to the first address that accepts, then the HTTP client on that connection
/// (a failure there counts as the health stage's, timed from the connect).
async fn connect_stage(
    target: &Target,
    addresses: &[IpAddr],
    options: &Options,
    report: &mut Report,
) -> Result<Client, Failure> {
    let t = Instant::now();
    if let Some(first) = addresses.first() {
        let peer = SocketAddr::new(*first, target.port);
        report.facts.peer = Some(peer);
        report.facts.local = connect::local_address_towards(peer);
    }
    let (stream, peer) = connect::connect(addresses, target.port, options.timeout)
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
    Client::new(stream, peer, target.authority(), options.key.clone())
        .await
        .map_err(|e| at(Stage::Health, t)(http_problem(e)))
}

/// `/health`: the daemon's version, backend and readiness.
async fn health_stage(
    client: &mut Client,
    target: &Target,
    options: &Options,
    report: &mut Report,
) -> Result<(), Failure> {
    let t = Instant::now();
    let health = health::ask(client, target, options.key.is_some(), options.timeout)
        .await
        .map_err(at(Stage::Health, t))?;
    let data = json!({
        "status": health.status, "version": health.version, "backend": health.backend,
        "cli_version": health.cli_version, "auth_mode": health.auth_mode,
        "client_key_required": health.client_key_required, "listeners": health.listeners,
    });
    report.pass(Stage::Health, t, health.summary(), data);
    Ok(())
}

/// `/v1/models`: the model ids (the first five in the summary).
async fn models_stage(
    client: &mut Client,
    target: &Target,
    options: &Options,
    report: &mut Report,
) -> Result<Vec<String>, Failure> {
    let t = Instant::now();
    let ids = models::ask(client, target, options.key.is_some(), options.timeout)
        .await
        .map_err(at(Stage::Models, t))?;
    let mut shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    if ids.len() > shown.len() {
        shown.push("…");
    }
    let summary = format!("{} models: {}", ids.len(), shown.join(", "));
    let data = json!({"count": ids.len(), "ids": ids});
    report.pass(Stage::Models, t, summary, data);
    Ok(ids)
}

/// The streamed request (`--chat`, in the API `--api` chose), bounded by `--chat-timeout`.
async fn chat_stage(
    client: &mut Client,
    target: &Target,
    ids: &[String],
    options: &Options,
    report: &mut Report,
) -> Result<(), Failure> {
    let t = Instant::now();
    let model = chat::pick_model(options.model.as_deref(), ids);
    let key_sent = options.key.is_some();
    let api = options.api;
    let chat = tokio::time::timeout(
        options.chat_timeout,
        chat::stream_chat(client, target, api, &model, &options.prompt, key_sent),
    )
    .await
    .map_err(|_| {
        at(Stage::Chat, t)((
            Problem::NoAnswer,
            format!(
                "no complete answer from `{model}` ({}) within {} (--chat-timeout)",
                api.request(),
                secs(options.chat_timeout)
            ),
        ))
    })?
    .map_err(at(Stage::Chat, t))?;
    let first = chat
        .first_token
        .map(|d| format!("first token after {}", duration(d)))
        .unwrap_or_default();
    let used = chat.model.clone().unwrap_or_else(|| model.clone());
    // The default API keeps its summary as it always was; the others name their request.
    let via = match api {
        Api::Chat => String::new(),
        _ => format!(" via {}", api.request()),
    };
    let summary = format!("{first} from {used}{via}: \"{}\"", chat.text);
    let data = json!({
        "api": api.name(),
        "model": used,
        "first_token_ms": chat.first_token.map(|d| d.as_secs_f64() * 1000.0),
        "text": chat.text,
    });
    report.pass(Stage::Chat, t, summary, data);
    Ok(())
}
