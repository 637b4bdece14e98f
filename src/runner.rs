//! One chat request's CLI run, from queue ticket to reaped process group.
//!
//! [`Backend::start`] takes a queue place (429 when full) and spawns a task that waits for
//! a permit, prepares a fresh working directory (system prompt file, session file), runs
//! the CLI, translates its events and sends [`Output`]s over a channel. The task owns every
//! resource of the run; when the receiver goes away (the client left) or a timeout fires it
//! ends the CLI's process group, and when it returns the files and directories are gone.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::claude::command::{self, RunSpec};
use crate::claude::events::{self, CliEvent};
use crate::claude::locate::{self, Located};
use crate::claude::process::{CliProcess, ProcessGroups};
use crate::claude::session::{self, Speaker};
use crate::config::{HistoryMode, Settings};
use crate::daemon::limiter::{Limiter, QueueTicket};
use crate::openai::{ApiError, ErrorKind};
use crate::translate::errors;
use crate::translate::outcome::{Output, Translator};
use crate::translate::plan::RunPlan;

/// How much of the CLI's stderr is kept for error messages.
const STDERR_TAIL_BYTES: usize = 8 * 1024;
/// Longest stdout line accepted from the CLI (a full assistant message is one line).
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;
/// How long the CLI may take to exit after its `result`.
const EXIT_WAIT: Duration = Duration::from_secs(3);
/// Session version stamped into synthesized session rows when the CLI's is unknown.
const DEFAULT_SESSION_VERSION: &str = "2.1.332";
/// Channel depth between the run task and the HTTP side.
const OUTPUT_BUFFER: usize = 64;

/// What we know about the CLI.
#[derive(Clone, Debug)]
pub struct CliState {
    pub located: Located,
    pub version: Option<String>,
}

/// Shared state of every run.
#[derive(Debug)]
pub struct Backend {
    pub settings: Arc<Settings>,
    pub limiter: Limiter,
    pub groups: ProcessGroups,
    cli: RwLock<CliState>,
    /// `$CLAUDE_CONFIG_DIR` or `~/.claude`: where session files go.
    claude_home: Option<PathBuf>,
    /// Names of the daemon's environment variables (to strip our own from the child).
    env_names: Vec<String>,
    work_root: PathBuf,
}

/// How one attempt ended.
enum Attempt {
    /// The client has its outcome (or went away).
    Over,
    /// The CLI rejected the synthesized session before producing anything.
    ResumeRejected,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Single,
    Resume,
    Flatten,
}

impl Backend {
    pub fn new(settings: Arc<Settings>, groups: ProcessGroups) -> Backend {
        let located = locate::locate_from_env(settings.cli_path.as_deref());
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let config_dir = std::env::var_os("CLAUDE_CONFIG_DIR").map(PathBuf::from);
        let uid = current_uid();
        let work_root = settings
            .work_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("claude-max-proxy-{uid}")));
        Backend {
            limiter: Limiter::new(settings.max_concurrent, settings.queue_limit),
            groups,
            cli: RwLock::new(CliState {
                located,
                version: None,
            }),
            claude_home: session::claude_home(config_dir.as_deref(), home.as_deref()),
            env_names: std::env::vars_os()
                .filter_map(|(k, _)| k.into_string().ok())
                .collect(),
            work_root,
            settings,
        }
    }

    /// The CLI as last seen.
    pub fn cli_state(&self) -> CliState {
        match self.cli.read() {
            Ok(state) => state.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Looks for the CLI again and asks its version.
    pub async fn refresh_cli(&self) {
        let located = locate::locate_from_env(self.settings.cli_path.as_deref());
        let version = match &located {
            Located::Found(path) => locate::version(path).await,
            Located::Missing { .. } => None,
        };
        if let Ok(mut state) = self.cli.write() {
            *state = CliState { located, version };
        }
    }

    /// The CLI's path, searching again if it was missing (it may have been installed since).
    fn cli_path(&self) -> Result<PathBuf, ApiError> {
        if let Located::Found(path) = &self.cli_state().located
            && path.exists()
        {
            return Ok(path.clone());
        }
        let located = locate::locate_from_env(self.settings.cli_path.as_deref());
        if let Ok(mut state) = self.cli.write() {
            state.located = located.clone();
        }
        match located {
            Located::Found(path) => Ok(path),
            Located::Missing { searched } => Err(ApiError::new(
                ErrorKind::Unavailable,
                locate::missing_message(&searched),
            )),
        }
    }

    /// Starts a run for `plan`. Errors that are known before anything runs (CLI missing,
    /// queue full) come back at once.
    pub fn start(
        self: &Arc<Self>,
        plan: RunPlan,
        streaming: bool,
    ) -> Result<mpsc::Receiver<Output>, ApiError> {
        let cli = self.cli_path()?;
        let ticket = self.limiter.enqueue()?;
        let (tx, rx) = mpsc::channel(OUTPUT_BUFFER);
        let backend = self.clone();
        tokio::spawn(async move {
            backend.run(cli, plan, streaming, ticket, tx).await;
        });
        Ok(rx)
    }

    async fn run(
        &self,
        cli: PathBuf,
        plan: RunPlan,
        streaming: bool,
        ticket: QueueTicket,
        tx: mpsc::Sender<Output>,
    ) {
        let permit = tokio::select! {
            permit = self.limiter.acquire(ticket, self.settings.queue_timeout()) => permit,
            _ = tx.closed() => return,
        };
        let _permit = match permit {
            Ok(permit) => permit,
            Err(error) => {
                let _ = tx.send(Output::Failed(error)).await;
                return;
            }
        };
        let deadline = Instant::now() + self.settings.total_timeout();
        let mode = if !plan.is_multi_turn() {
            Mode::Single
        } else if plan.must_flatten
            || self.settings.history == HistoryMode::Flatten
            || self.claude_home.is_none()
        {
            Mode::Flatten
        } else {
            Mode::Resume
        };
        match self
            .attempt(&cli, &plan, mode, streaming, &tx, deadline)
            .await
        {
            Ok(Attempt::Over) => {}
            Ok(Attempt::ResumeRejected) => {
                tracing::warn!(
                    "the claude CLI rejected the synthesized session; flattening the history for this request"
                );
                if let Err(error) = self
                    .attempt(&cli, &plan, Mode::Flatten, streaming, &tx, deadline)
                    .await
                {
                    let _ = tx.send(Output::Failed(error)).await;
                }
            }
            Err(error) => {
                let _ = tx.send(Output::Failed(error)).await;
            }
        }
    }

    /// One CLI process from spawn to exit.
    async fn attempt(
        &self,
        cli: &Path,
        plan: &RunPlan,
        mode: Mode,
        streaming: bool,
        tx: &mpsc::Sender<Output>,
        deadline: Instant,
    ) -> Result<Attempt, ApiError> {
        let workspace = Workspace::create(&self.work_root).map_err(|e| {
            internal(format!(
                "could not create a working directory under {}: {e}",
                self.work_root.display()
            ))
        })?;
        let system_file =
            match &plan.system_prompt {
                Some(text) => Some(workspace.write_private("system-prompt.txt", text).map_err(
                    |e| internal(format!("could not write the system prompt file: {e}")),
                )?),
                None => None,
            };
        let version = self
            .cli_state()
            .version
            .unwrap_or_else(|| DEFAULT_SESSION_VERSION.to_string());
        let session = match (mode, &self.claude_home) {
            (Mode::Resume, Some(home)) => {
                let turns: Vec<(Speaker, &str)> =
                    plan.history.iter().map(|(s, t)| (*s, t.as_str())).collect();
                Some(
                    session::write(home, &workspace.cwd, &turns, &plan.model_arg, &version)
                        .map_err(|e| internal(format!("could not write the session file: {e}")))?,
                )
            }
            _ => None,
        };
        let stdin_text = match mode {
            Mode::Flatten => plan.flattened.as_str(),
            Mode::Single | Mode::Resume => plan.prompt.as_str(),
        };
        let api_key = self.settings.anthropic_api_key.as_deref();
        let spec = RunSpec {
            cli,
            model: &plan.model_arg,
            system_prompt_file: system_file.as_deref(),
            resume: session.as_ref().map(|s| s.session_id.as_str()),
            auth_mode: self.settings.auth_mode,
            api_key,
            max_retries: self.settings.cli_max_retries,
            cwd: &workspace.cwd,
        };
        let invocation = command::build(&spec, &self.env_names);
        let (process, pipes) = CliProcess::spawn(&invocation, &self.groups).map_err(|e| {
            ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "Could not start the claude CLI at {}: {e}. Check that the file is the \
                     official CLI and executable, or set `cli_path`.",
                    cli.display()
                ),
            )
        })?;
        tracing::debug!(pgid = process.pgid(), mode = ?mode, "claude CLI started");

        let prompt = stdin_text.as_bytes().to_vec();
        let mut stdin = pipes.stdin;
        tokio::spawn(async move {
            let _ = stdin.write_all(&prompt).await;
            let _ = stdin.shutdown().await;
        });
        let stderr_task = tokio::spawn(read_tail(pipes.stderr));

        let outcome = self.pump(pipes.stdout, streaming, tx, deadline).await;
        let result = match outcome {
            Pumped::ClientGone => {
                process.terminate().await;
                Attempt::Over
            }
            Pumped::Finished => {
                process.wait(EXIT_WAIT).await;
                Attempt::Over
            }
            Pumped::TimedOut(error) => {
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
                    let _ = tx
                        .send(Output::Failed(errors::from_exit(
                            status,
                            &tail,
                            saw_garbage,
                        )))
                        .await;
                    Attempt::Over
                }
            }
        };
        drop(session);
        drop(workspace);
        Ok(result)
    }

    /// Reads the CLI's stdout, translating and forwarding, until the answer is complete,
    /// the output ends, a timeout fires or the client goes away.
    async fn pump(
        &self,
        stdout: tokio::process::ChildStdout,
        streaming: bool,
        tx: &mpsc::Sender<Output>,
        deadline: Instant,
    ) -> Pumped {
        let mut reader = BufReader::new(stdout);
        let mut translator = if streaming {
            Translator::new()
        } else {
            Translator::buffered()
        };
        let mut saw_garbage = false;
        let mut line = Vec::new();
        let first_token_deadline = Instant::now() + self.settings.first_token_timeout();
        loop {
            let (limit, which) = if translator.sent_text() {
                (
                    Instant::now() + self.settings.idle_timeout(),
                    "idle_timeout_secs",
                )
            } else {
                (first_token_deadline, "first_token_timeout_secs")
            };
            let (limit, which) = if deadline < limit {
                (deadline, "total_timeout_secs")
            } else {
                (limit, which)
            };
            line.clear();
            let read = tokio::select! {
                _ = tx.closed() => return Pumped::ClientGone,
                read = tokio::time::timeout_at(limit, read_line(&mut reader, &mut line)) => read,
            };
            match read {
                Err(_) => return Pumped::TimedOut(self.timeout_error(which)),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    return Pumped::Eof {
                        sent_text: translator.sent_text(),
                        saw_garbage,
                    };
                }
                Ok(Ok(_)) => {}
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let event = match events::parse_line(text) {
                Ok(event) => event,
                Err(events::NotJson) => {
                    saw_garbage = true;
                    tracing::debug!(
                        bytes = text.len(),
                        "claude CLI printed a line that is not JSON"
                    );
                    continue;
                }
            };
            if let CliEvent::System(system) = &event
                && system.subtype == "api_retry"
            {
                tracing::info!(status = ?system.error_status, "claude CLI retries an upstream error");
            }
            for output in translator.on_event(event) {
                if tx.send(output).await.is_err() {
                    return Pumped::ClientGone;
                }
            }
            if translator.is_finished() {
                return Pumped::Finished;
            }
        }
    }

    fn timeout_error(&self, which: &str) -> ApiError {
        let secs = match which {
            "idle_timeout_secs" => self.settings.idle_timeout_secs,
            "total_timeout_secs" => self.settings.total_timeout_secs,
            _ => self.settings.first_token_timeout_secs,
        };
        let what = match which {
            "idle_timeout_secs" => "The claude CLI went silent mid-answer",
            "total_timeout_secs" => "The request took too long",
            _ => "The claude CLI produced no answer in time",
        };
        ApiError::new(
            ErrorKind::Timeout,
            format!(
                "{what} (limit: {secs} s, config key `{which}`). The CLI was stopped; retry, or raise `{which}`."
            ),
        )
    }
}

enum Pumped {
    ClientGone,
    Finished,
    TimedOut(ApiError),
    Eof { sent_text: bool, saw_garbage: bool },
}

fn internal(message: String) -> ApiError {
    ApiError::new(ErrorKind::Internal, message)
}

/// Reads one line (up to [`MAX_LINE_BYTES`]) into `buf`; returns the bytes read.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        let (used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if buf.len() + used <= MAX_LINE_BYTES {
            buf.extend_from_slice(&available[..used]);
        }
        reader.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

/// Reads a stream to its end, keeping the last [`STDERR_TAIL_BYTES`].
async fn read_tail(mut stderr: tokio::process::ChildStderr) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > STDERR_TAIL_BYTES {
                    let cut = tail.len() - STDERR_TAIL_BYTES;
                    tail.drain(..cut);
                }
            }
        }
    }
    String::from_utf8_lossy(&tail).into_owned()
}

/// A per-run directory: `<root>/run<random>/` holding the private files, and its `cwd/`
/// subdirectory where the CLI runs (empty, so it finds no project files). Removed on drop.
struct Workspace {
    dir: tempfile::TempDir,
    cwd: PathBuf,
}

impl Workspace {
    fn create(root: &Path) -> std::io::Result<Workspace> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)?;
        let dir = tempfile::Builder::new()
            .prefix("run")
            .rand_bytes(12)
            .tempdir_in(root)?;
        let cwd = dir.path().join("cwd");
        std::fs::DirBuilder::new().mode(0o700).create(&cwd)?;
        // The CLI names project directories after the canonical path.
        let cwd = std::fs::canonicalize(&cwd)?;
        Ok(Workspace { dir, cwd })
    }

    /// Writes a 0600 file in the private part of the workspace.
    fn write_private(&self, name: &str, text: &str) -> std::io::Result<PathBuf> {
        use std::io::Write;
        let path = self.dir.path().join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(text.as_bytes())?;
        Ok(path)
    }
}

/// The real user id, for the per-user work root.
fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}
