//! One structured log line per chat request: id, model, status, time to first token,
//! duration and token counts. Never prompt text or secrets. Written when the request ends,
//! also when the client leaves mid-stream (the record is dropped then).

use std::time::Instant;

use crate::openai::Usage;

#[derive(Debug)]
pub struct RequestLog {
    pub id: String,
    pub model: String,
    pub stream: bool,
    started: Instant,
    first_token_ms: Option<u128>,
    status: u16,
    usage: Option<Usage>,
    /// How it ended: `ok`, `error`, or `client_gone` if dropped before the end.
    outcome: &'static str,
    bytes_in: usize,
}

impl RequestLog {
    pub fn new(id: String, model: String, stream: bool, bytes_in: usize) -> RequestLog {
        RequestLog {
            id,
            model,
            stream,
            started: Instant::now(),
            first_token_ms: None,
            status: 200,
            usage: None,
            outcome: "client_gone",
            bytes_in,
        }
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
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        let usage = self.usage.unwrap_or_default();
        tracing::info!(
            target: "claude_max_proxy::request",
            id = %self.id,
            model = %self.model,
            stream = self.stream,
            status = self.status,
            outcome = self.outcome,
            ttft_ms = self.first_token_ms.map(|v| v as u64),
            duration_ms = self.started.elapsed().as_millis() as u64,
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            bytes_in = self.bytes_in,
            "chat completion"
        );
    }
}
