//! Running a prepared CLI: its session file and prompt go in, its stdout is translated and
//! forwarded until the answer is complete, the output ends, a timeout fires or the client
//! goes away; then the process group is ended and the run's files removed.

use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::io::{read_line, read_tail};
use super::limiter::RunPermit;
use super::live::{self, LiveProcess};
use super::{Backend, Mode, Prepared, Run, internal};
use crate::claude::events::{self, CliEvent};
use crate::claude::session::{self, Deferred, Row, RowMeta, SessionTurn};
use crate::claude::stream_input;
use crate::config::Settings;
use crate::openai::FinishReason;
use crate::openai::{ApiError, ErrorKind};
use crate::translate::errors;
use crate::translate::outcome::{Finish, Output, Translator};
use crate::translate::stop::StopMatcher;
use crate::translate::tool_plan::{ToolRun, ToolTurn};
use serde_json::{Value, json};

/// How long a kept process may take to accept its next message.
const LIVE_WRITE_WAIT: Duration = Duration::from_secs(5);
/// How long the CLI may take to exit after its `result`.
const EXIT_WAIT: Duration = Duration::from_secs(3);
/// Session version stamped into synthesized session rows when the CLI's is unknown.
const DEFAULT_SESSION_VERSION: &str = "2.1.332";

/// How one attempt ended.
pub(super) enum Attempt {
    /// The client has its outcome (or went away).
    Over,
    /// The CLI rejected the synthesized session before producing anything.
    ResumeRejected,
}

/// How reading the CLI's output ended.
enum Pumped {
    ClientGone,
    Finished,
    TimedOut(ApiError),
    /// Anthropic refused the request for the subscription's limit: no retry, no waiting.
    Refused(ApiError),
    /// A stop sequence ended the answer; the CLI is still producing the rest.
    Stopped,
    Eof {
        sent_text: bool,
        saw_garbage: bool,
    },
}

impl Backend {
    /// Gives a prepared CLI its session file and prompt and follows it to the end. With
    /// `keep` (and stream-json input) a process that answered is kept for the
    /// conversation's next turn instead of ending. Returns the permit (unless kept), so
    /// that a flattened retry does not queue again.
    pub(super) async fn execute(
        &self,
        prepared: Prepared,
        run: &Run,
        mode: Mode,
        keep: bool,
        tx: &mpsc::Sender<Output>,
        deadline: Instant,
    ) -> Result<(Attempt, Option<RunPermit>), ApiError> {
        let Prepared {
            process,
            pipes,
            resume_id,
            workspace,
            permit,
            session,
            key,
            ..
        } = prepared;
        let session = match session {
            Some(written) => Some(written),
            None => self.write_session(run, &workspace.cwd, resume_id.as_deref())?,
        };
        let keep = keep && key.controls().stream_input;
        let prompt = stdin_bytes(run, mode, key.controls().stream_input);
        let mut stdin = pipes.stdin;
        // A kept process's stdin stays open: its next turn is the next line.
        let writer = tokio::spawn(async move {
            let _ = stdin.write_all(&prompt).await;
            if !keep {
                // Dropping the pipe is what closes it (EOF: the CLI answers and exits).
                let _ = stdin.shutdown().await;
                return None;
            }
            Some(stdin)
        });
        let stderr_task = tokio::spawn(read_tail(pipes.stderr));

        let mut stdout = BufReader::new(pipes.stdout);
        let mut answer = String::new();
        let pumped = pump(run, self, &mut stdout, tx, deadline, &mut answer).await;
        if keep && matches!(pumped, Pumped::Finished) {
            // The CLI read its session file at start; a kept process needs it no more.
            drop(session);
            if let Ok(Some(stdin)) = writer.await {
                self.live.put(LiveProcess {
                    setup: key.setup(),
                    digest: live::digest_after(&run.plan, &answer),
                    process,
                    stdin,
                    stdout,
                    stderr: stderr_task,
                    workspace,
                    permit,
                    idle_since: Instant::now(),
                    turns: 1,
                });
                return Ok((Attempt::Over, None));
            }
            return Ok((Attempt::Over, Some(permit)));
        }
        let result = match pumped {
            Pumped::ClientGone => {
                process.terminate().await;
                Attempt::Over
            }
            Pumped::Finished => {
                process.wait(EXIT_WAIT).await;
                Attempt::Over
            }
            Pumped::Stopped => {
                process.terminate().await;
                Attempt::Over
            }
            Pumped::TimedOut(error) | Pumped::Refused(error) => {
                process.terminate().await;
                let _ = tx.send(Output::Failed(error)).await;
                Attempt::Over
            }
            Pumped::Eof {
                sent_text,
                saw_garbage,
            } => {
                let status = process.wait(EXIT_WAIT).await;
                let tail = stderr_task.await.unwrap_or_default();
                if mode == Mode::Resume && !sent_text && tail.contains("No conversation found") {
                    Attempt::ResumeRejected
                } else {
                    let error = if self.limiter.is_closed() {
                        // The daemon ended this CLI because it is stopping.
                        shutting_down()
                    } else {
                        errors::from_exit(status, &tail, saw_garbage)
                    };
                    let _ = tx.send(Output::Failed(error)).await;
                    Attempt::Over
                }
            }
        };
        drop(session);
        drop(workspace);
        Ok((result, Some(permit)))
    }

    /// The next turn of a kept conversation: only the new user message goes to the process
    /// that holds the conversation; if it answers, it is kept again.
    pub(super) async fn execute_live(
        &self,
        mut live: LiveProcess,
        run: &Run,
        tx: &mpsc::Sender<Output>,
        deadline: Instant,
    ) {
        let line = stdin_bytes(run, Mode::Single, true);
        let written = tokio::time::timeout(LIVE_WRITE_WAIT, live.stdin.write_all(&line)).await;
        if !matches!(written, Ok(Ok(()))) {
            live.process.terminate().await;
            let error = ApiError::new(
                ErrorKind::BadGateway,
                "The claude CLI kept for this conversation stopped taking messages; retry the                  request (it will start a new CLI).",
            );
            let _ = tx.send(Output::Failed(error)).await;
            return;
        }
        let mut answer = String::new();
        let pumped = pump(run, self, &mut live.stdout, tx, deadline, &mut answer).await;
        match pumped {
            Pumped::Finished => {
                live.digest = live::digest_after(&run.plan, &answer);
                live.turns += 1;
                self.live.put(live);
            }
            Pumped::ClientGone | Pumped::Stopped => live.process.terminate().await,
            Pumped::TimedOut(error) | Pumped::Refused(error) => {
                live.process.terminate().await;
                let _ = tx.send(Output::Failed(error)).await;
            }
            Pumped::Eof { saw_garbage, .. } => {
                drop(live.stdin);
                let status = live.process.wait(EXIT_WAIT).await;
                let tail = live.stderr.await.unwrap_or_default();
                let error = if self.limiter.is_closed() {
                    shutting_down()
                } else {
                    errors::from_exit(status, &tail, saw_garbage)
                };
                let _ = tx.send(Output::Failed(error)).await;
            }
        }
    }
}

impl Backend {
    /// The earlier turns as the session file a `--resume` process reads (multi-turn only).
    pub(super) fn write_session(
        &self,
        run: &Run,
        cwd: &std::path::Path,
        resume_id: Option<&str>,
    ) -> Result<Option<session::SessionFile>, ApiError> {
        let (Some(id), Some(home)) = (resume_id, &self.claude_home) else {
            return Ok(None);
        };
        if let Some(tools) = &run.plan.tools {
            return self.write_tool_session(run, tools, home, cwd, id).map(Some);
        }
        let version = self.session_version();
        let turns: Vec<SessionTurn<'_>> = run
            .plan
            .history
            .iter()
            .enumerate()
            .map(|(i, (speaker, text))| SessionTurn {
                speaker: *speaker,
                text,
                attachments: run
                    .plan
                    .history_attachments
                    .get(i)
                    .map(|attachments| attachments.iter().map(|i| i.to_block()).collect())
                    .unwrap_or_default(),
            })
            .collect();
        session::write(home, cwd, id, &turns, &run.plan.model_arg, &version)
            .map(Some)
            .map_err(|e| internal(format!("could not write the session file: {e}")))
    }
}

impl Backend {
    /// The CLI version stamped into synthesized session rows.
    fn session_version(&self) -> String {
        self.cli_state()
            .version
            .unwrap_or_else(|| DEFAULT_SESSION_VERSION.to_string())
    }

    /// A tool conversation's session: real tool_use / tool_result rows, and the marker of
    /// the call a continuation carries.
    fn write_tool_session(
        &self,
        run: &Run,
        tools: &ToolRun,
        home: &std::path::Path,
        cwd: &std::path::Path,
        id: &str,
    ) -> Result<session::SessionFile, ApiError> {
        let version = self.session_version();
        let rows: Vec<Row> = tools.turns.iter().map(tool_row).collect();
        let deferred = tools.continuation.as_ref().map(|c| Deferred {
            id: c.id.clone(),
            name: c.upstream_name.clone(),
            input: c.input.clone(),
        });
        let meta = RowMeta {
            session_id: id,
            cwd: &cwd.to_string_lossy(),
            model: &run.plan.model_arg,
            cli_version: &version,
        };
        session::write_rows(home, cwd, &meta, &rows, deferred.as_ref())
            .map_err(|e| internal(format!("could not write the session file: {e}")))
    }
}

/// One tool-conversation turn as a session row.
fn tool_row(turn: &ToolTurn) -> Row {
    let text_block = |text: &str| json!({"type": "text", "text": text});
    match turn {
        ToolTurn::User { text, attachments } => {
            if attachments.is_empty() {
                Row::User(json!(text))
            } else {
                let mut blocks: Vec<Value> = attachments.iter().map(|i| i.to_block()).collect();
                if !text.trim().is_empty() {
                    blocks.push(text_block(text));
                }
                Row::User(Value::Array(blocks))
            }
        }
        ToolTurn::Assistant { text, calls } => {
            let mut blocks = Vec::new();
            if !text.trim().is_empty() {
                blocks.push(text_block(text));
            }
            for (id, name, input) in calls {
                blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
            }
            Row::Assistant(blocks)
        }
        ToolTurn::Results { results, text } => {
            let mut blocks: Vec<Value> = results
                .iter()
                .map(|(id, content)| {
                    json!({"type": "tool_result", "tool_use_id": id, "content": content})
                })
                .collect();
            if !text.trim().is_empty() {
                blocks.push(text_block(text));
            }
            Row::User(Value::Array(blocks))
        }
    }
}

/// What goes on the CLI's stdin: the prompt as text, or (stream-json input) one user
/// message line with the attachments (images, documents) first, then the text.
fn stdin_bytes(run: &Run, mode: Mode, stream_input: bool) -> Vec<u8> {
    // A continuation has no new prompt: the resumed CLI runs the deferred call and goes on.
    if run
        .plan
        .tools
        .as_ref()
        .is_some_and(|t| t.continuation.is_some())
    {
        return Vec::new();
    }
    let text = match mode {
        Mode::Flatten => run.plan.flattened.as_str(),
        Mode::Single | Mode::Resume => run.plan.prompt.as_str(),
    };
    if !stream_input {
        return text.as_bytes().to_vec();
    }
    let mut blocks: Vec<serde_json::Value> = Vec::new();
    if mode == Mode::Flatten {
        for attachments in &run.plan.history_attachments {
            blocks.extend(attachments.iter().map(|i| i.to_block()));
        }
    }
    blocks.extend(run.plan.prompt_attachments.iter().map(|i| i.to_block()));
    if !text.trim().is_empty() {
        blocks.push(stream_input::text_block(text));
    }
    stream_input::user_message_line(blocks)
}

/// Reads the CLI's stdout, translating and forwarding, until the answer is complete, the
/// output ends, a timeout fires or the client goes away. `answer` gets the answer's text as
/// the client has it (what a kept process must be continued with).
async fn pump(
    run: &Run,
    backend: &Backend,
    reader: &mut BufReader<tokio::process::ChildStdout>,
    tx: &mpsc::Sender<Output>,
    deadline: Instant,
    answer: &mut String,
) -> Pumped {
    let settings = &run.settings;
    let quota = &backend.quota;
    let mut translator = translator_for(run);
    let mut saw_garbage = false;
    let mut stop = StopMatcher::new(&run.plan.stop);
    let mut line = Vec::new();
    let first_token_deadline = Instant::now() + settings.first_token_timeout();
    loop {
        let (limit, which) = read_limit(settings, translator.sent_text(), first_token_deadline);
        let (limit, which) = if deadline < limit {
            (deadline, Limit::Total)
        } else {
            (limit, which)
        };
        line.clear();
        let read = tokio::select! {
            _ = tx.closed() => return Pumped::ClientGone,
            read = tokio::time::timeout_at(limit, read_line(reader, &mut line)) => read,
        };
        match read {
            Err(_) => return Pumped::TimedOut(timeout_error(settings, which)),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Pumped::Eof {
                    sent_text: translator.sent_text(),
                    saw_garbage,
                };
            }
            Ok(Ok(_)) => {}
        }
        let Some(event) = parse(&line, &mut saw_garbage) else {
            continue;
        };
        let mut outputs = Vec::new();
        match &event {
            CliEvent::RateLimit(info) => {
                let now = crate::clock::now();
                quota.record(info, now);
                if info.refused() {
                    backend.usage_wanted();
                    let known = quota.snapshot();
                    return Pumped::Refused(crate::quota::limit_error(info, &known, now));
                }
                if info.is_using_overage {
                    tracing::info!("Anthropic bills this request as extra usage (overage)");
                    outputs.push(Output::Overage);
                }
            }
            CliEvent::Result(result) => crate::telemetry::usage(result),
            _ => {}
        }
        outputs.extend(translator.on_event(event));
        let (outputs, stopped) = match stop.as_mut() {
            Some(matcher) => apply_stop(matcher, outputs, &translator),
            None => (outputs, false),
        };
        for output in outputs {
            let output = match output {
                // An upstream 429 without a refusing rate_limit_event: say which window,
                // if the book knows, and ask for fresh numbers.
                Output::Failed(error) if error.kind == ErrorKind::RateLimited => {
                    backend.usage_wanted();
                    let known = quota.snapshot();
                    Output::Failed(crate::quota::refusal::explain(
                        error,
                        &known,
                        crate::clock::now(),
                    ))
                }
                other => other,
            };
            match &output {
                Output::Text(text) => answer.push_str(text),
                Output::Retract(len) => {
                    let keep = answer.len().saturating_sub(*len);
                    if answer.is_char_boundary(keep) {
                        answer.truncate(keep);
                    }
                }
                _ => {}
            }
            // A client that stops reading is treated as gone after `idle_timeout_secs`: it
            // must not hold a CLI (and its slot) forever.
            match tokio::time::timeout(settings.idle_timeout(), tx.send(output)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Pumped::ClientGone,
                Err(_) => {
                    tracing::info!("the client stopped reading its stream; ending the CLI");
                    return Pumped::ClientGone;
                }
            }
        }
        if stopped {
            return Pumped::Stopped;
        }
        if translator.is_finished() {
            return Pumped::Finished;
        }
    }
}

/// The translator for what `run` asks: streamed or buffered, structured output, client tools.
fn translator_for(run: &Run) -> Translator {
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

fn read_limit(settings: &Settings, sent_text: bool, first_token: Instant) -> (Instant, Limit) {
    if sent_text {
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

fn shutting_down() -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        "The proxy is shutting down and ended this request's claude CLI; retry against the \
         restarted daemon.",
    )
    .with_retry_after(5)
}
