//! The vocabulary of a run: the stages in order, what a passed stage reports, what went
//! wrong when one fails, and the [`Report`] of a whole run. Pure data; `check` fills it in,
//! `diagnose` explains it, `report` prints it.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The stages, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Url,
    Resolve,
    Connect,
    Health,
    Models,
    Chat,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Url => "url",
            Stage::Resolve => "resolve",
            Stage::Connect => "connect",
            Stage::Health => "health",
            Stage::Models => "models",
            Stage::Chat => "chat",
        }
    }
}

/// A stage that passed: one line of output.
#[derive(Clone, Debug)]
pub struct Passed {
    pub stage: Stage,
    pub elapsed: Duration,
    /// The human summary (addresses, version, model count, first token…).
    pub summary: String,
    /// The same facts for `--json` (an object; merged into the stage's entry).
    pub data: Value,
}

/// What went wrong; `diagnose` turns it into a cause and a fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// No `--url` and no `AI_PROXY_URL`.
    MissingUrl,
    /// The URL does not parse (the detail says why).
    BadUrl,
    /// The name is unknown to /etc/hosts and DNS.
    NoSuchName,
    /// The DNS server did not answer in time.
    ResolveTimeout,
    /// Connection refused (nothing listens, or a firewall REJECTs).
    Refused,
    /// No route / network unreachable.
    Unreachable,
    /// The TCP handshake did not finish in time (a firewall DROPs).
    ConnectTimeout,
    /// The peer accepted and then closed (or reset) without an HTTP answer.
    Closed,
    /// Connected, but no HTTP answer in time.
    NoAnswer,
    /// The peer answered something that is not HTTP/1.1.
    NotHttp,
    /// Something answered, but not like claude-max-proxy does.
    NotTheProxy,
    /// 401/403 for the client key; whether one was sent.
    Unauthorized { key_sent: bool },
    /// 403 `host_not_allowed`: the daemon does not answer to the URL's host name
    /// (DNS-rebinding protection).
    HostNotAllowed,
    /// 403 `origin_not_allowed`: the daemon saw a browser `Origin` header (this check sends
    /// none, so something in between added it).
    OriginNotAllowed,
    /// 503 with `Retry-After`: the daemon (or upstream) is over capacity for now; the
    /// header's seconds when it gave a number.
    Busy { retry_after: Option<u64> },
    /// An HTTP error status with the daemon's message.
    Status(u16),
    /// `/health` answered but reports a status other than `ok`.
    Degraded,
    /// `/v1/models` lists nothing.
    NoModels,
    /// The completion's CLI is not logged in on the host (401 from the chat stage).
    NotLoggedIn,
    /// The stream broke after it started (error event, no end marker, no text).
    StreamFailed,
    /// The daemon does not serve the request's path (404 `unknown_url`): it predates the
    /// API `--api` chose.
    UnknownEndpoint,
}

impl Problem {
    /// A stable identifier for `--json`.
    pub fn id(&self) -> &'static str {
        match self {
            Problem::MissingUrl => "missing_url",
            Problem::BadUrl => "bad_url",
            Problem::NoSuchName => "no_such_name",
            Problem::ResolveTimeout => "resolve_timeout",
            Problem::Refused => "refused",
            Problem::Unreachable => "unreachable",
            Problem::ConnectTimeout => "connect_timeout",
            Problem::Closed => "closed",
            Problem::NoAnswer => "no_answer",
            Problem::NotHttp => "not_http",
            Problem::NotTheProxy => "not_the_proxy",
            Problem::Unauthorized { .. } => "unauthorized",
            Problem::HostNotAllowed => "host_not_allowed",
            Problem::OriginNotAllowed => "origin_not_allowed",
            Problem::Busy { .. } => "busy",
            Problem::Status(_) => "http_status",
            Problem::Degraded => "degraded",
            Problem::NoModels => "no_models",
            Problem::NotLoggedIn => "not_logged_in",
            Problem::StreamFailed => "stream_failed",
            Problem::UnknownEndpoint => "unknown_endpoint",
        }
    }
}

/// The failing stage.
#[derive(Clone, Debug)]
pub struct Failure {
    pub stage: Stage,
    pub elapsed: Duration,
    pub problem: Problem,
    /// What happened, in one line (the error, the status and the daemon's message…).
    pub detail: String,
}

/// Exit codes, one per failing stage (a missing or rejected client key and connect timeouts
/// get their own, since their fixes differ; the daemon's Host and Origin refusals are not
/// about the key, so they keep the stage's code). Documented in `args::USAGE` and the
/// README.
pub fn exit_code(failure: &Failure) -> u8 {
    match (&failure.stage, &failure.problem) {
        (_, Problem::Unauthorized { .. }) => 8,
        (Stage::Url, _) => 3,
        (Stage::Resolve, _) => 4,
        (Stage::Connect, Problem::ConnectTimeout) => 6,
        (Stage::Connect, _) => 5,
        (Stage::Health, _) => 7,
        (Stage::Models, _) => 9,
        (Stage::Chat, _) => 10,
    }
}

/// Facts gathered along the way that explain a failure.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The parsed URL's host and port, once parsed.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// Whether the URL's host is loopback (`localhost`, 127.x, ::1).
    pub loopback_host: bool,
    /// The addresses the host resolved to.
    pub addresses: Vec<IpAddr>,
    /// The address connected to (or tried first).
    pub peer: Option<SocketAddr>,
    /// This side's address towards the peer (the container's address in a container).
    pub local: Option<IpAddr>,
}

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
        self.failure.as_ref().map(exit_code).unwrap_or(0)
    }

    /// Records a passed stage that started at `since`.
    pub fn pass(&mut self, stage: Stage, since: Instant, summary: String, data: Value) {
        self.passed.push(Passed {
            stage,
            elapsed: since.elapsed(),
            summary,
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(stage: Stage, problem: Problem) -> Failure {
        Failure {
            stage,
            elapsed: Duration::ZERO,
            problem,
            detail: String::new(),
        }
    }

    #[test]
    fn one_exit_code_per_stage() {
        assert_eq!(exit_code(&failure(Stage::Url, Problem::MissingUrl)), 3);
        assert_eq!(exit_code(&failure(Stage::Resolve, Problem::NoSuchName)), 4);
        assert_eq!(exit_code(&failure(Stage::Connect, Problem::Refused)), 5);
        assert_eq!(exit_code(&failure(Stage::Connect, Problem::Unreachable)), 5);
        assert_eq!(
            exit_code(&failure(Stage::Connect, Problem::ConnectTimeout)),
            6
        );
        assert_eq!(exit_code(&failure(Stage::Health, Problem::Status(503))), 7);
        let unauthorized = Problem::Unauthorized { key_sent: true };
        assert_eq!(exit_code(&failure(Stage::Models, unauthorized.clone())), 8);
        assert_eq!(exit_code(&failure(Stage::Health, unauthorized)), 8);
        assert_eq!(exit_code(&failure(Stage::Models, Problem::NoModels)), 9);
        assert_eq!(exit_code(&failure(Stage::Chat, Problem::NotLoggedIn)), 10);
        assert_eq!(
            exit_code(&failure(Stage::Health, Problem::HostNotAllowed)),
            7
        );
    }
}
