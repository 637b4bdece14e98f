//! The streaming answer: OpenAI `chat.completion.chunk`s as server-sent events.
//!
//! Headers are held until the first text or an error (at most `stream_header_hold_ms`), so
//! that failures before any content still get a real HTTP status. After that: a role chunk,
//! one chunk per text delta, a finish chunk, a usage chunk when asked, then `data: [DONE]`.
//! A failure after the headers becomes a `data: {"error":…}` event and the stream ends.
//! While waiting, `: keep-alive` comments keep proxies and clients from timing out.
//! Dropping the body (the client left) drops the receiver, which ends the CLI run.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Body;
use super::request_log::RequestLog;
use super::respond::ended_without_answer;
use crate::openai::{ApiError, Chunk, Delta, DeltaFunction, DeltaToolCall};
use crate::translate::outcome::{Finish, Output};

/// What every chunk repeats, and the stream's timing settings.
#[derive(Clone, Debug)]
pub struct StreamInfo {
    pub id: String,
    pub created: i64,
    pub model: String,
    pub include_usage: bool,
    pub hold: Duration,
    pub keepalive: Duration,
}

struct SseState {
    rx: mpsc::Receiver<Output>,
    info: StreamInfo,
    role_sent: bool,
    pending: VecDeque<Bytes>,
    done: bool,
    log: RequestLog,
}

/// Waits for the first content (bounded), then answers with an SSE stream, or with an
/// error response if the run failed before any content.
pub async fn respond(
    mut rx: mpsc::Receiver<Output>,
    mut info: StreamInfo,
    mut log: RequestLog,
) -> Result<Response<Body>, ApiError> {
    let deadline = Instant::now() + info.hold;
    let mut first: Option<Output> = None;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => break,
            Ok(None) => {
                log.failed(500);
                return Err(ended_without_answer());
            }
            Ok(Some(Output::Model(m))) => info.model = m,
            Ok(Some(Output::Served(how))) => log.served(how),
            Ok(Some(Output::Failed(error))) => {
                log.failed(error.status());
                return Err(error);
            }
            Ok(Some(output)) => {
                first = Some(output);
                break;
            }
        }
    }
    let mut state = SseState {
        rx,
        info,
        role_sent: false,
        pending: VecDeque::new(),
        done: false,
        log,
    };
    if let Some(output) = first {
        state.on_output(Some(output));
    } else {
        // Nothing yet: open the stream now so the client sees progress.
        state
            .pending
            .push_back(Bytes::from_static(b": waiting for the model\n\n"));
    }
    let body = stream::unfold(state, |mut state| async move {
        let bytes = state.next_bytes().await?;
        Some((Ok::<_, Infallible>(Frame::data(bytes)), state))
    });
    let mut response = Response::new(StreamBody::new(body).boxed());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

impl SseState {
    async fn next_bytes(&mut self) -> Option<Bytes> {
        loop {
            if let Some(bytes) = self.pending.pop_front() {
                return Some(bytes);
            }
            if self.done {
                return None;
            }
            match tokio::time::timeout(self.info.keepalive, self.rx.recv()).await {
                Err(_) => return Some(Bytes::from_static(b": keep-alive\n\n")),
                Ok(output) => self.on_output(output),
            }
        }
    }

    fn on_output(&mut self, output: Option<Output>) {
        match output {
            Some(Output::Model(m)) => self.info.model = m,
            // Too late for a header: the log line and /metrics say it.
            Some(Output::Overage) => self.log.overage(),
            Some(Output::Served(how)) => self.log.served(how),
            // Streaming translators never retract (they repeat-check instead).
            Some(Output::Retract(_)) => {}
            Some(Output::Text(text)) => {
                self.log.first_token();
                self.ensure_role();
                let delta = Delta {
                    content: Some(text),
                    ..Delta::default()
                };
                self.push_chunk(&self.chunk(delta, None));
            }
            Some(Output::ToolCall { index, id, name }) => {
                self.log.first_token();
                self.ensure_role();
                let call = DeltaToolCall {
                    index,
                    id: Some(id),
                    kind: Some("function"),
                    function: DeltaFunction {
                        name: Some(name),
                        arguments: String::new(),
                    },
                };
                self.push_tool_delta(call);
            }
            Some(Output::ToolArgs { index, arguments }) => {
                let call = DeltaToolCall {
                    index,
                    id: None,
                    kind: None,
                    function: DeltaFunction {
                        name: None,
                        arguments,
                    },
                };
                self.push_tool_delta(call);
            }
            Some(Output::Finished(finish)) => self.finish(finish),
            Some(Output::Failed(error)) => {
                self.log.failed(error.status());
                self.pending
                    .push_back(Bytes::from(format!("data: {}\n\n", error.to_json())));
                self.done = true;
            }
            None => {
                let error = ended_without_answer();
                self.log.failed(error.status());
                self.pending
                    .push_back(Bytes::from(format!("data: {}\n\n", error.to_json())));
                self.done = true;
            }
        }
    }

    fn finish(&mut self, finish: Finish) {
        self.ensure_role();
        self.push_chunk(&self.chunk(Delta::default(), Some(finish.reason)));
        if self.info.include_usage {
            let info = &self.info;
            let chunk = Chunk::usage(&info.id, info.created, &info.model, finish.usage);
            self.push_chunk(&chunk);
        }
        self.pending
            .push_back(Bytes::from_static(b"data: [DONE]\n\n"));
        self.log.finished(finish.usage);
        self.done = true;
    }

    fn ensure_role(&mut self) {
        if !self.role_sent {
            self.role_sent = true;
            let delta = Delta {
                role: Some("assistant"),
                content: Some(String::new()),
                tool_calls: None,
            };
            self.push_chunk(&self.chunk(delta, None));
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<crate::openai::FinishReason>) -> Chunk {
        let info = &self.info;
        Chunk::choice(
            &info.id,
            info.created,
            &info.model,
            info.include_usage,
            delta,
            finish,
        )
    }

    fn push_tool_delta(&mut self, call: DeltaToolCall) {
        let delta = Delta {
            tool_calls: Some(vec![call]),
            ..Delta::default()
        };
        self.push_chunk(&self.chunk(delta, None));
    }

    fn push_chunk(&mut self, chunk: &Chunk) {
        match serde_json::to_string(chunk) {
            Ok(json) => self
                .pending
                .push_back(Bytes::from(format!("data: {json}\n\n"))),
            Err(e) => tracing::error!("could not serialize a chunk: {e}"),
        }
    }
}
