//! One step of a CLI process's conversation as the client sees it: reading the CLI's stdout
//! line by line, translating and forwarding, answering the CLI's control requests (the
//! client's tools: see `claude::tool_server`), until the answer is complete, the output
//! ends, a timeout fires or the client goes away.
//!
//! [`CliIo`] is a process's two ends (the writer that owns its stdin, the reader of its
//! stdout) and the tool calls it waits on; it goes with the process from a run into the
//! live conversations and back.

use std::collections::HashMap;

use serde_json::Value;
use tokio::io::BufReader;
use tokio::process::ChildStdout;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Run;
use super::io::read_line;
use crate::claude::events::{self, CliEvent};
use crate::claude::input::CliInput;
use crate::claude::stream_input::control_error_line;
use crate::claude::tool_server::{PendingCall, Reply, ToolServer, call_result_line};
use crate::config::Settings;
use crate::conversation::FinishReason;
use crate::conversation::{ApiError, ErrorKind};
use crate::translate::outcome::{Finish, Output, Translator};
use crate::translate::stop::StopMatcher;

/// A CLI process's input and output, with what its tool server knows.
#[derive(Debug)]
pub struct CliIo {
    pub(super) input: CliInput,
    pub(super) stdout: BufReader<ChildStdout>,
    /// The client's tools, answered over the control protocol (bridged tool runs).
    pub(super) tools: Option<ToolServer>,
    /// Tool calls the CLI waits on: read, not answered yet.
    pub(super) waiting: Vec<PendingCall>,
    /// The CLI's cost so far as it last reported it (`total_cost_usd` counts the whole
    /// process), so that the metrics grow by each step's share only.
    pub(super) cost_reported: f64,
}

impl CliIo {
    pub(super) fn new(input: CliInput, stdout: ChildStdout, tools: Option<ToolServer>) -> CliIo {
        CliIo {
            input,
            stdout: BufReader::new(stdout),
            tools,
            waiting: Vec::new(),
            cost_reported: 0.0,
        }
    }

    /// Answers a control request of the CLI: at once, or (a tool call) with its result from
    /// `results` when the request brought it, else it waits in [`CliIo::waiting`].
    fn on_control(&mut self, request: &events::ControlRequest, results: &HashMap<String, Value>) {
        let reply = match &self.tools {
            Some(server) => server.reply(request),
            None => Reply::Now(control_error_line(
                &request.request_id,
                "this run offers no tools",
            )),
        };
        match reply {
            Reply::Now(line) => {
                self.input.send(line);
            }
            Reply::Call(call) => match results.get(&call.tool_use_id) {
                Some(result) => {
                    self.input.send(call_result_line(&call, result.clone()));
                }
                None => self.waiting.push(call),
            },
        }
    }

    /// Answers the calls already waiting whose results `results` holds; whether every
    /// waiting call had one.
    pub(super) fn answer_waiting(&mut self, results: &HashMap<String, Value>) -> bool {
        let mut all = true;
        for call in std::mem::take(&mut self.waiting) {
            match results.get(&call.tool_use_id) {
                Some(result) => {
                    self.input.send(call_result_line(&call, result.clone()));
                }
                None => {
                    all = false;
                    self.waiting.push(call);
                }
            }
        }
        all
    }

    /// Reads and answers the CLI's control requests until none is pending for `limit`
    /// (a process started ahead does its MCP handshake when it gets its first line); stops
    /// early once `done` holds for a line. Other lines are dropped (there are none before
    /// the first prompt).
    pub(super) async fn settle(
        &mut self,
        limit: std::time::Duration,
        done: impl Fn(&CliEvent) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        let mut line = Vec::new();
        let none = HashMap::new();
        loop {
            line.clear();
            match tokio::time::timeout_at(deadline, read_line(&mut self.stdout, &mut line)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let Ok(event) = events::parse_line(String::from_utf8_lossy(&line).trim()) else {
                continue;
            };
            if let CliEvent::ControlRequest(request) = &event {
                self.on_control(request, &none);
            }
            if done(&event) {
                return;
            }
        }
    }
}

/// How reading the CLI's output ended.
pub(super) enum Pumped {
    ClientGone,
    Finished,
    TimedOut(ApiError),
    /// Anthropic refused the request for the subscription's limit: no retry, no waiting.
    Refused(ApiError),
    /// The proxy ended the answer while the CLI goes on: a stop sequence matched, or the
    /// first `max_tokens` stop (the CLI would ask the model to continue, three times —
    /// `tests/fixtures/claude-cli/v2.1.332/max_tokens`).
    Stopped,
    Eof {
        produced_content: bool,
        saw_garbage: bool,
    },
}

/// The answer as the client has it: what a kept process must be continued with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    /// (id, client name, arguments JSON) of each tool call, in order.
    pub calls: Vec<(String, String, String)>,
}

impl Answer {
    /// An answer of `text` alone.
    pub fn text(text: &str) -> Answer {
        Answer {
            text: text.to_string(),
            calls: Vec::new(),
        }
    }

    fn record(&mut self, output: &Output) {
        match output {
            Output::Text(text) => self.text.push_str(text),
            Output::Retract(len) => {
                let keep = self.text.len().saturating_sub(*len);
                if self.text.is_char_boundary(keep) {
                    self.text.truncate(keep);
                }
            }
            Output::ToolCall { id, name, .. } => {
                self.calls.push((id.clone(), name.clone(), String::new()));
            }
            Output::ToolArgs { index, arguments } => {
                if let Some(call) = self.calls.get_mut(*index) {
                    call.2.push_str(arguments);
                }
            }
            _ => {}
        }
    }
}

/// Reads the CLI's stdout, translating and forwarding, until the answer is complete, the
/// output ends, a timeout fires or the client goes away. Tool calls the CLI makes are
/// answered from `results` (call id → MCP result) when the request brought them. `answer`
/// gets the answer as the client has it.
pub(super) async fn pump(
    run: &Run,
    backend: &super::Backend,
    io: &mut CliIo,
    results: &HashMap<String, Value>,
    tx: &mpsc::Sender<Output>,
    deadline: Instant,
    answer: &mut Answer,
) -> Pumped {
    let settings = &run.settings;
    let mut translator = translator_for(run, io.tools.is_some());
    let mut saw_garbage = false;
    let mut stop = StopMatcher::new(&run.plan.stop);
    let mut line = Vec::new();
    let first_token_deadline = Instant::now() + settings.first_token_timeout();
    loop {
        let (limit, which) = read_limit(
            settings,
            translator.produced_content(),
            first_token_deadline,
        );
        let (limit, which) = if deadline < limit {
            (deadline, Limit::Total)
        } else {
            (limit, which)
        };
        line.clear();
        let read = tokio::select! {
            _ = tx.closed() => return Pumped::ClientGone,
            read = tokio::time::timeout_at(limit, read_line(&mut io.stdout, &mut line)) => read,
        };
        match read {
            Err(_) => return Pumped::TimedOut(timeout_error(settings, which)),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Pumped::Eof {
                    produced_content: translator.produced_content(),
                    saw_garbage,
                };
            }
            Ok(Ok(_)) => {}
        }
        let Some(event) = parse(&line, &mut saw_garbage) else {
            continue;
        };
        let mut outputs = match side_effects(&event, backend, io, results) {
            Ok(outputs) => outputs,
            Err(pumped) => return pumped,
        };
        if matches!(event, CliEvent::ControlRequest(_)) {
            continue;
        }
        outputs.extend(translator.on_event(event));
        let (outputs, stopped) = match stop.as_mut() {
            Some(matcher) => apply_stop(matcher, outputs, &translator),
            None => (outputs, false),
        };
        if let Err(gone) = forward(outputs, backend, settings, tx, answer).await {
            return gone;
        }
        if stopped || translator.finished_at_max_tokens() {
            return Pumped::Stopped;
        }
        if translator.is_finished() {
            return Pumped::Finished;
        }
    }
}

/// What an event does besides its translation: a control request is answered, a
/// rate-limit report goes into the quota book (a refusal ends the run, extra usage is
/// announced), a result's usage into the metrics.
fn side_effects(
    event: &CliEvent,
    backend: &super::Backend,
    io: &mut CliIo,
    results: &HashMap<String, Value>,
) -> Result<Vec<Output>, Pumped> {
    match event {
        CliEvent::ControlRequest(request) => io.on_control(request, results),
        CliEvent::RateLimit(info) => {
            let now = crate::clock::now();
            backend.quota.record(info, now);
            if info.refused() {
                backend.usage_wanted();
                let known = backend.quota.snapshot();
                return Err(Pumped::Refused(crate::quota::limit_error(
                    info, &known, now,
                )));
            }
            if info.is_using_overage {
                tracing::info!("Anthropic bills this request as extra usage (overage)");
                return Ok(vec![Output::Overage]);
            }
        }
        CliEvent::Result(result) => crate::telemetry::usage(result, &mut io.cost_reported),
        _ => {}
    }
    Ok(Vec::new())
}

/// Sends `outputs` to the client (recording them in `answer`); `Err` when the client is
/// gone or stopped reading for `idle_timeout_secs` (it must not hold a CLI, and its slot,
/// forever).
async fn forward(
    outputs: Vec<Output>,
    backend: &super::Backend,
    settings: &Settings,
    tx: &mpsc::Sender<Output>,
    answer: &mut Answer,
) -> Result<(), Pumped> {
    for output in outputs {
        let output = match output {
            // An upstream 429 without a refusing rate_limit_event: say which window, if
            // the book knows, and ask for fresh numbers.
            Output::Failed(error) if error.kind == ErrorKind::RateLimited => {
                backend.usage_wanted();
                let known = backend.quota.snapshot();
                Output::Failed(crate::quota::refusal::explain(
                    error,
                    &known,
                    crate::clock::now(),
                ))
            }
            other => other,
        };
        answer.record(&output);
        match tokio::time::timeout(settings.idle_timeout(), tx.send(output)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Pumped::ClientGone),
            Err(_) => {
                tracing::info!("the client stopped reading its stream; ending the CLI");
                return Err(Pumped::ClientGone);
            }
        }
    }
    Ok(())
}

/// The translator for what `run` asks: streamed or buffered, structured output, client tools.
fn translator_for(run: &Run, bridged: bool) -> Translator {
    let mut translator = if run.streaming {
        Translator::new()
    } else {
        Translator::buffered()
    };
    if run.plan.json_schema.is_some() {
        translator = translator.structured();
    }
    if run.plan.thinking {
        translator = translator.with_thinking();
    }
    if let Some(tools) = &run.plan.tools {
        translator = translator.with_tools(tools.names.clone());
        if bridged {
            // The CLI waits at the calls: the answer ends with the message that makes them.
            translator = translator.ends_at_tool_calls();
        }
    }
    translator
}

/// Passes outputs through the stop sequences: text is cut and held back as needed; a match
/// ends the answer with `stop` (true: end the CLI, the rest would spend quota for nothing).
fn apply_stop(
    matcher: &mut StopMatcher,
    outputs: Vec<Output>,
    translator: &Translator,
) -> (Vec<Output>, bool) {
    let mut passed = Vec::with_capacity(outputs.len());
    for output in outputs {
        match output {
            Output::Text(text) => {
                let fed = matcher.feed(&text);
                if !fed.text.is_empty() {
                    passed.push(Output::Text(fed.text));
                }
                if let Some(sequence) = fed.stopped {
                    passed.push(Output::Finished(Finish {
                        reason: FinishReason::Stop,
                        usage: translator.usage_so_far(),
                        stop_sequence: Some(sequence),
                    }));
                    return (passed, true);
                }
            }
            Output::Retract(_) | Output::Finished(_) | Output::Failed(_) => {
                let held = matcher.flush();
                if !held.is_empty() {
                    passed.push(Output::Text(held));
                }
                passed.push(output);
            }
            other => passed.push(other),
        }
    }
    (passed, false)
}

/// One stdout line as an event; blank lines and non-JSON (noted in `saw_garbage`) are none.
fn parse(line: &[u8], saw_garbage: &mut bool) -> Option<CliEvent> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match events::parse_line(text) {
        Ok(event) => {
            if let CliEvent::System(system) = &event
                && system.subtype == "api_retry"
            {
                tracing::info!(status = ?system.error_status, "claude CLI retries an upstream error");
            }
            Some(event)
        }
        Err(events::NotJson) => {
            *saw_garbage = true;
            tracing::debug!(
                bytes = text.len(),
                "claude CLI printed a line that is not JSON"
            );
            None
        }
    }
}

/// Which timeout bounds the next read.
#[derive(Clone, Copy)]
enum Limit {
    FirstToken,
    Idle,
    Total,
}

fn read_limit(
    settings: &Settings,
    produced_content: bool,
    first_token: Instant,
) -> (Instant, Limit) {
    if produced_content {
        (Instant::now() + settings.idle_timeout(), Limit::Idle)
    } else {
        (first_token, Limit::FirstToken)
    }
}

fn timeout_error(settings: &Settings, which: Limit) -> ApiError {
    let (secs, key, what) = match which {
        Limit::Idle => (
            settings.idle_timeout_secs,
            "idle_timeout_secs",
            "The claude CLI went silent mid-answer",
        ),
        Limit::Total => (
            settings.total_timeout_secs,
            "total_timeout_secs",
            "The request took too long",
        ),
        Limit::FirstToken => (
            settings.first_token_timeout_secs,
            "first_token_timeout_secs",
            "The claude CLI produced no answer in time",
        ),
    };
    ApiError::new(
        ErrorKind::Timeout,
        format!(
            "{what} (limit: {secs} s, config key `{key}`). The CLI was stopped; retry, or raise `{key}`."
        ),
    )
}

pub(super) fn shutting_down() -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        "The proxy is shutting down and ended this request's claude CLI; retry against the \
         restarted daemon.",
    )
    .with_retry_after(5)
}
