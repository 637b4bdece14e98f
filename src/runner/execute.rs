//! Running a prepared CLI: its session file and prompt go in, its stdout is translated and
//! forwarded until the answer is complete, the output ends, a timeout fires or the client
//! goes away; then the process is kept for the conversation's next step
//! ([`super::live`]) or its group is ended and the run's files removed.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::io::read_tail;
use super::limiter::RunPermit;
use super::live::{self, LiveProcess};
use super::pump::{Answer, Pumped, pump, shutting_down};
use super::{Backend, Mode, Prepared, Run, internal};
use crate::claude::session::{self, Deferred, Row, RowMeta, SessionTurn};
use crate::claude::stream_input;
use crate::conversation::{ApiError, ErrorKind};
use crate::translate::errors;
use crate::translate::outcome::Output;
use crate::translate::tool_plan::{ToolRun, ToolTurn};

/// How long the CLI may take to exit after its `result`.
const EXIT_WAIT: Duration = Duration::from_secs(3);
/// Session version stamped into synthesized session rows when the CLI's is unknown.
const DEFAULT_SESSION_VERSION: &str = "2.1.332";

/// What is left of a process that is not kept, for [`Backend::end`].
struct Ended {
    process: crate::claude::process::CliProcess,
    io: super::pump::CliIo,
    stderr: tokio::task::JoinHandle<String>,
    /// Its answer ended in client tool calls, which it waits on.
    waits_on_tools: bool,
}

/// How one attempt ended.
pub(super) enum Attempt {
    /// The client has its outcome (or went away).
    Over,
    /// The CLI rejected the synthesized session before producing anything.
    ResumeRejected,
}

impl Backend {
    /// Gives a prepared CLI its session file and prompt and follows it to the end. With
    /// `keep` (and stream-json input) a process that answered — with text, or with client
    /// tool calls it now waits on — is kept for the conversation's next step instead of
    /// ending (it then gives up its concurrency slot). Returns the permit (unless kept), so
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
            mut io,
            stderr,
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
        let stream_input = key.controls().stream_input;
        let keep = keep && stream_input;
        io.input.send(stdin_bytes(run, mode, stream_input));
        if !stream_input {
            // `-p` text: the end of stdin is the end of the prompt.
            io.input.finish();
        }
        let stderr_task = tokio::spawn(read_tail(stderr));
        let mut answer = Answer::default();
        let pumped = pump(
            run,
            self,
            &mut io,
            &HashMap::new(),
            tx,
            deadline,
            &mut answer,
        )
        .await;
        let waits_on_tools = !answer.calls.is_empty() && stream_input;
        if keep && matches!(pumped, Pumped::Finished) {
            // The CLI read its session file at start; a kept process needs it no more.
            drop(session);
            self.live.put(LiveProcess {
                guard: process.kill_guard(),
                setup: key.setup(),
                digest: live::digest_after(&run.plan, &answer),
                awaiting: answer.calls.iter().map(|(id, _, _)| id.clone()).collect(),
                process,
                io,
                stderr: stderr_task,
                workspace,
                turns: 1,
            });
            drop(permit);
            return Ok((Attempt::Over, None));
        }
        let ended = Ended {
            process,
            io,
            stderr: stderr_task,
            waits_on_tools,
        };
        let result = self.end(pumped, ended, mode, tx).await;
        drop(session);
        drop(workspace);
        Ok((result, Some(permit)))
    }

    /// Ends a process that is not kept, as its output ended; reports what the client must
    /// still be told.
    async fn end(
        &self,
        pumped: Pumped,
        ended: Ended,
        mode: Mode,
        tx: &mpsc::Sender<Output>,
    ) -> Attempt {
        let Ended {
            process,
            mut io,
            stderr,
            waits_on_tools,
        } = ended;
        match pumped {
            Pumped::Finished if waits_on_tools => {
                // It would wait for results no one will bring.
                process.kill().await;
                Attempt::Over
            }
            Pumped::Finished => {
                io.input.finish();
                process.wait(EXIT_WAIT).await;
                Attempt::Over
            }
            Pumped::ClientGone | Pumped::Stopped => {
                // Whatever the CLI does next is for nobody (continuations, more text): it
                // is killed, not asked to stop (on SIGTERM it still sends the request it was
                // about to make, measured).
                process.kill().await;
                Attempt::Over
            }
            Pumped::TimedOut(error) | Pumped::Refused(error) => {
                process.kill().await;
                let _ = tx.send(Output::Failed(error)).await;
                Attempt::Over
            }
            Pumped::Eof {
                produced_content,
                saw_garbage,
            } => {
                io.input.finish();
                let status = process.wait(EXIT_WAIT).await;
                let tail = stderr.await.unwrap_or_default();
                if mode == Mode::Resume
                    && !produced_content
                    && tail.contains("No conversation found")
                {
                    return Attempt::ResumeRejected;
                }
                let error = self.exit_error(status, &tail, saw_garbage);
                let _ = tx.send(Output::Failed(error)).await;
                Attempt::Over
            }
        }
    }

    /// The error of a CLI that ended before its answer: its exit status and stderr, unless
    /// the daemon ended it because it is stopping.
    fn exit_error(
        &self,
        status: Option<std::process::ExitStatus>,
        tail: &str,
        saw_garbage: bool,
    ) -> ApiError {
        if self.limiter.is_closed() {
            shutting_down()
        } else {
            errors::from_exit(status, tail, saw_garbage)
        }
    }

    /// The next step of a kept conversation: the tool results the process waits on, or the
    /// new user message, go to the process that holds the conversation; if it answers, it
    /// is kept again.
    pub(super) async fn execute_live(
        &self,
        mut live: LiveProcess,
        run: &Run,
        permit: RunPermit,
        tx: &mpsc::Sender<Output>,
        deadline: Instant,
    ) {
        let ending = run.plan.tools.as_ref().and_then(|t| t.results.as_ref());
        let results: HashMap<String, Value> = ending
            .map(|r| {
                r.outputs
                    .iter()
                    .map(|(id, output)| (id.clone(), output.to_mcp_result()))
                    .collect()
            })
            .unwrap_or_default();
        let delivered = match ending {
            // Calls the CLI already asked for are answered now, the rest as they come.
            Some(_) => live.io.answer_waiting(&results),
            None => live.io.input.send(stdin_bytes(run, Mode::Single, true)),
        };
        if !delivered || live.io.input.is_broken() {
            drop(live);
            let error = ApiError::new(
                ErrorKind::BadGateway,
                "The claude CLI kept for this conversation stopped taking messages; retry the \
                 request (it will start a new CLI).",
            );
            let _ = tx.send(Output::Failed(error)).await;
            return;
        }
        let mut answer = Answer::default();
        let pumped = pump(run, self, &mut live.io, &results, tx, deadline, &mut answer).await;
        match pumped {
            Pumped::Finished => {
                live.digest = live::digest_after(&run.plan, &answer);
                live.awaiting = answer.calls.iter().map(|(id, _, _)| id.clone()).collect();
                live.turns += 1;
                self.live.put(live);
                drop(permit);
            }
            // Dropping it kills it first (its guard), whatever it was doing.
            Pumped::ClientGone | Pumped::Stopped => drop(live),
            Pumped::TimedOut(error) | Pumped::Refused(error) => {
                drop(live);
                let _ = tx.send(Output::Failed(error)).await;
            }
            Pumped::Eof { saw_garbage, .. } => {
                // It ended by itself: its status and stderr say why.
                live.guard.disarm();
                live.io.input.finish();
                let status = live.process.wait(EXIT_WAIT).await;
                let tail = live.stderr.await.unwrap_or_default();
                let error = self.exit_error(status, &tail, saw_garbage);
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
        let mut rows: Vec<Row> = tools.turns.iter().map(ToolTurn::row).collect();
        let continuation = tools.cold_continuation();
        if let Some((Some(row), _)) = &continuation {
            rows.push(row.row());
        }
        let deferred = continuation.map(|(_, c)| Deferred {
            id: c.id,
            name: c.upstream_name,
            input: c.input,
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

/// What goes on the CLI's stdin: the prompt as text, or (stream-json input) one user
/// message line with the attachments (images, documents) first, then the text.
fn stdin_bytes(run: &Run, mode: Mode, stream_input: bool) -> Vec<u8> {
    // A continuation has no new prompt: the resumed CLI runs the deferred call and goes on.
    if run.plan.tools.as_ref().is_some_and(ToolRun::continues) {
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
