//! Streaming answers as server-sent events, for every API: this module owns the timing
//! (header hold, keep-alives, the end) and the log; an [`EventWriter`] of `crate::api` owns
//! the event shapes of one API (chat chunks, Messages events, Responses events).
//!
//! Headers are held until the first content or an error (at most `stream_header_hold_ms`),
//! so that failures before any content still get a real HTTP status. A failure after the
//! headers becomes the API's error event and the stream ends. While waiting, keep-alives
//! keep proxies and clients from timing out. Dropping the body (the client left) drops the
//! receiver, which ends the CLI run.

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
use crate::api::EventWriter;
use crate::conversation::ApiError;
use crate::translate::outcome::Output;

/// The stream's timing settings.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How long headers wait for the first content.
    pub hold: Duration,
    /// The longest silence before a keep-alive.
    pub keepalive: Duration,
}

impl Timing {
    /// The stream timing `settings` ask for.
    pub fn of(settings: &crate::config::Settings) -> Timing {
        Timing {
            hold: settings.stream_header_hold(),
            keepalive: settings.keepalive(),
        }
    }
}

struct Driver<W> {
    rx: mpsc::Receiver<Output>,
    writer: W,
    timing: Timing,
    pending: VecDeque<Bytes>,
    done: bool,
    log: RequestLog,
}

/// Waits for the first content (bounded), then answers with an SSE stream written by
/// `writer`, or with an error if the run failed before any content.
pub async fn respond<W: EventWriter>(
    mut rx: mpsc::Receiver<Output>,
    mut writer: W,
    timing: Timing,
    mut log: RequestLog,
) -> Result<Response<Body>, ApiError> {
    let deadline = Instant::now() + timing.hold;
    let mut first: Option<Output> = None;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => break,
            Ok(None) => {
                log.failed(500);
                return Err(ended_without_answer());
            }
            Ok(Some(Output::Model(m))) => writer.model(m),
            Ok(Some(Output::Served(how))) => log.served(how.as_str()),
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
    let mut driver = Driver {
        rx,
        writer,
        timing,
        pending: VecDeque::new(),
        done: false,
        log,
    };
    match first {
        Some(output) => driver.on_output(Some(output)),
        // Nothing yet: open the stream now so the client sees progress.
        None => driver.writer.opening(&mut driver.pending),
    }
    let body = stream::unfold(driver, |mut driver| async move {
        let bytes = driver.next_bytes().await?;
        Some((Ok::<_, Infallible>(Frame::data(bytes)), driver))
    });
    let mut response = Response::new(StreamBody::new(body).boxed());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

impl<W: EventWriter> Driver<W> {
    async fn next_bytes(&mut self) -> Option<Bytes> {
        loop {
            if let Some(bytes) = self.pending.pop_front() {
                return Some(bytes);
            }
            if self.done {
                return None;
            }
            match tokio::time::timeout(self.timing.keepalive, self.rx.recv()).await {
                Err(_) => return Some(self.writer.keepalive()),
                Ok(output) => self.on_output(output),
            }
        }
    }

    fn on_output(&mut self, output: Option<Output>) {
        match output {
            Some(Output::Model(m)) => self.writer.model(m),
            // Too late for a header: the log line and /metrics say it.
            Some(Output::Overage) => self.log.overage(),
            Some(Output::Served(how)) => self.log.served(how.as_str()),
            // Streaming translators never retract (they repeat-check instead).
            Some(Output::Retract(_)) => {}
            Some(Output::Finished(finish)) => {
                self.log.finished(finish.usage);
                self.writer.finish(finish, &mut self.pending);
                self.done = true;
            }
            Some(Output::Failed(error)) => self.fail(&error),
            None => self.fail(&ended_without_answer()),
            Some(output) => {
                if matches!(output, Output::Text(_) | Output::ToolCall { .. }) {
                    self.log.first_token();
                }
                self.writer.content(output, &mut self.pending);
            }
        }
    }

    fn fail(&mut self, error: &ApiError) {
        self.log.failed(error.status());
        self.writer.fail(error, &mut self.pending);
        self.done = true;
    }
}
