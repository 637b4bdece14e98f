//! One structured log line per API request: id, model, status, outcome, time to first
//! token, duration and token counts. Never prompt text or secrets; the model name a client
//! sent appears cut and escaped ([`super::shown`]), and as a metric label only when served. Written when the request
//! ends — also when it was refused before a run started, and when the client leaves
//! mid-stream (the record is dropped then).

use std::sync::Arc;
use std::time::Instant;

use super::recent::{RecentRequests, RequestRecord};
use super::shown::{Known, model_label, shown};
use crate::conversation::{ApiError, Usage};

#[derive(Clone, Debug)]
pub struct RequestLog {
    pub id: String,
    /// `chat_completions`, … (the metrics' `endpoint` label).
    endpoint: &'static str,
    /// Where the status page finds it.
    recent: Arc<RecentRequests>,
    /// Billed as extra usage (predicted or reported).
    overage: bool,
    /// `cold` or `warm`: how the run got its CLI (empty when none ran).
    served: &'static str,
    /// The requested model as the log and the page show it ([`shown`]).
    model: String,
    /// The requested model as a metric label ([`model_label`]).
    model_label: String,
    pub stream: bool,
    pub bytes_in: usize,
    started: Instant,
    first_token_ms: Option<u128>,
    status: u16,
    usage: Option<Usage>,
    /// How it ended: `ok`, `error`, `rejected` (refused before a run), or `client_gone`
    /// if dropped before the end.
    outcome: &'static str,
    /// Whether this record writes the line (false once [`RequestLog::take`] moved it on).
    armed: bool,
}

impl RequestLog {
    pub fn new(id: String, endpoint: &'static str, recent: Arc<RecentRequests>) -> RequestLog {
        RequestLog {
            id,
            endpoint,
            recent,
            overage: false,
            served: "",
            model: String::new(),
            model_label: model_label("", Known::Unknown),
            stream: false,
            bytes_in: 0,
            started: Instant::now(),
            first_token_ms: None,
            status: 200,
            usage: None,
            outcome: "client_gone",
            armed: true,
        }
    }

    /// Moves the record on (to the response body that finishes it); this one goes quiet.
    pub fn take(&mut self) -> RequestLog {
        let moved = self.clone();
        self.armed = false;
        moved
    }

    /// The model the client asked for, and how the catalog took it.
    pub fn model(&mut self, requested: &str, known: Known) {
        self.model = shown(requested);
        self.model_label = model_label(requested, known);
    }

    pub fn first_token(&mut self) {
        if self.first_token_ms.is_none() {
            self.first_token_ms = Some(self.started.elapsed().as_millis());
        }
    }

    pub fn finished(&mut self, usage: Usage) {
        self.usage = Some(usage);
        self.outcome = "ok";
    }

    pub fn failed(&mut self, status: u16) {
        self.status = status;
        self.outcome = "error";
    }

    /// Billed as extra usage.
    pub fn overage(&mut self) {
        self.overage = true;
    }

    /// How the run got its CLI process.
    pub fn served(&mut self, how: &'static str) {
        self.served = how;
    }

    /// Refused before a run started (bad input, queue full, …).
    pub fn rejected(&mut self, error: &ApiError) {
        self.status = error.status();
        self.outcome = "rejected";
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let usage = self.usage.unwrap_or_default();
        let duration = self.started.elapsed();
        crate::telemetry::request(
            self.endpoint,
            &self.model_label,
            self.status,
            self.outcome,
            self.first_token_ms
                .map(|ms| std::time::Duration::from_millis(ms as u64)),
            duration,
        );
        self.recent.push(RequestRecord {
            id: self.id.clone(),
            endpoint: self.endpoint,
            model: self.model.clone(),
            status: self.status,
            outcome: self.outcome,
            overage: self.overage,
            served: self.served,
            ttft_ms: self.first_token_ms.map(|v| v as u64),
            duration_ms: duration.as_millis() as u64,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            ended_at: crate::clock::now(),
        });
        tracing::info!(
            target: "claude_max_proxy::request",
            id = %self.id,
            endpoint = self.endpoint,
            model = %self.model,
            stream = self.stream,
            status = self.status,
            outcome = self.outcome,
            ttft_ms = self.first_token_ms.map(|v| v as u64),
            duration_ms = duration.as_millis() as u64,
            overage = self.overage,
            served = self.served,
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            bytes_in = self.bytes_in,
            "chat completion"
        );
    }
}
