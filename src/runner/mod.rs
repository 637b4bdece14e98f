//! One chat request's CLI run, from queue ticket to reaped process group.
//!
//! [`Backend::start`] takes a queue place (429 when full) and spawns a task that gets a CLI
//! process — a warm one from the [`pool`] when one was started for the same model and system
//! prompt, else a fresh one under a new permit — writes the session file and the prompt,
//! translates the CLI's events and sends [`Output`]s over a channel. The task owns every
//! resource of the run; when the receiver goes away (the client left) or a timeout fires it
//! ends the CLI's process group, and when it returns the files and directories are gone.
//!
//! - [`workspace`]: the per-run directory.
//! - [`pool`]: pre-started CLI processes waiting for their prompt.
//! - [`io`]: bounded reads of the CLI's pipes.

mod io;
pub mod pool;
mod workspace;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::claude::command::{self, RunSpec};
use crate::claude::events::{self, CliEvent};
use crate::claude::locate::{self, Located};
use crate::claude::process::{CliProcess, Pipes, ProcessGroups};
use crate::claude::session::{self, Speaker};
use crate::config::{HistoryMode, Settings};
use crate::daemon::limiter::{Limiter, QueueTicket, RunPermit};
use crate::openai::{ApiError, ErrorKind};
use crate::translate::errors;
use crate::translate::outcome::{Output, Translator};
use crate::translate::plan::RunPlan;
use io::{read_line, read_tail};
use pool::{WarmKey, WarmPool};
use workspace::Workspace;

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
    /// Pre-started CLI processes.
    pub pool: WarmPool,
    cli: RwLock<CliState>,
    /// `$CLAUDE_CONFIG_DIR` or `~/.claude`: where session files go.
    claude_home: Option<PathBuf>,
    /// Names of the daemon's environment variables (to strip our own from the child).
    env_names: Vec<String>,
    work_root: PathBuf,
}

/// A CLI process started with everything but its prompt: its directory, its system prompt
/// file and (for multi-turn) the id of the session it will resume.
#[derive(Debug)]
pub struct Prepared {
    key: WarmKey,
    /// Declared before `workspace` so the process ends before its directory is removed.
    process: CliProcess,
    pipes: Pipes,
    resume_id: Option<String>,
    workspace: Workspace,
    permit: RunPermit,
    born: Instant,
}

impl Prepared {
    /// Whether the process is still waiting (not crashed while idle).
    fn is_alive(&mut self) -> bool {
        self.process.is_running()
    }
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
            pool: WarmPool::new(pool::target_size(&settings), settings.warm_idle()),
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

    /// The token stored by `claude-max-proxy login`, handed to the CLI. Read per request,
    /// so a new login or a logout takes effect without a restart.
    fn oauth_token(&self) -> Option<String> {
        crate::login::load_token(&self.settings).map(|t| t.token)
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

    fn mode_for(&self, plan: &RunPlan) -> Mode {
        if !plan.is_multi_turn() {
            Mode::Single
        } else if plan.must_flatten
            || self.settings.history == HistoryMode::Flatten
            || self.claude_home.is_none()
        {
            Mode::Flatten
        } else {
            Mode::Resume
        }
    }

    fn key_for(&self, cli: &Path, plan: &RunPlan, mode: Mode, token: Option<&str>) -> WarmKey {
        WarmKey::new(
            cli,
            &plan.model_arg,
            plan.system_prompt.as_deref(),
            mode == Mode::Resume,
            token,
        )
    }

    async fn run(
        self: Arc<Self>,
        cli: PathBuf,
        plan: RunPlan,
        streaming: bool,
        ticket: QueueTicket,
        tx: mpsc::Sender<Output>,
    ) {
        let mode = self.mode_for(&plan);
        // Read once per request: the key, the process and any refill all use this token.
        let token = self.oauth_token();
        let key = self.key_for(&cli, &plan, mode, token.as_deref());
        let warm = self.pool.take(&key);
        let prepared = match warm {
            Some(prepared) => {
                drop(ticket);
                tracing::debug!("using a warm claude CLI process");
                prepared
            }
            None => {
                // A warm process for another setup holds a slot this request may need.
                if self.limiter.available() == 0 {
                    self.pool.clear();
                }
                let permit = tokio::select! {
                    permit = self.limiter.acquire(ticket, self.settings.queue_timeout()) => permit,
                    _ = tx.closed() => return,
                };
                let permit = match permit {
                    Ok(permit) => permit,
                    Err(error) => {
                        let _ = tx.send(Output::Failed(error)).await;
                        return;
                    }
                };
                match self.prepare(&cli, key.clone(), token.as_deref(), permit) {
                    Ok(prepared) => prepared,
                    Err(error) => {
                        let _ = tx.send(Output::Failed(error)).await;
                        return;
                    }
                }
            }
        };
        self.clone().refill(cli.clone(), key, token.clone());
        let deadline = Instant::now() + self.settings.total_timeout();
        match self
            .execute(prepared, &plan, mode, streaming, &tx, deadline)
            .await
        {
            Ok((Attempt::Over, _)) => {}
            Ok((Attempt::ResumeRejected, permit)) => {
                tracing::warn!(
                    "the claude CLI rejected the synthesized session; flattening the history for this request"
                );
                let key = self.key_for(&cli, &plan, Mode::Flatten, token.as_deref());
                let result = match self.prepare(&cli, key, token.as_deref(), permit) {
                    Ok(prepared) => self
                        .execute(prepared, &plan, Mode::Flatten, streaming, &tx, deadline)
                        .await
                        .map(|_| ()),
                    Err(error) => Err(error),
                };
                if let Err(error) = result {
                    let _ = tx.send(Output::Failed(error)).await;
                }
            }
            Err(error) => {
                let _ = tx.send(Output::Failed(error)).await;
            }
        }
    }

    /// Keeps warm processes for `key` (the setup just used) in the background, within the
    /// concurrency limit: a warm process holds a permit like a running one.
    fn refill(self: Arc<Self>, cli: PathBuf, key: WarmKey, token: Option<String>) {
        if self.pool.target() == 0 {
            return;
        }
        self.pool.retain_key(&key);
        tokio::spawn(async move {
            while self.pool.count(&key) < self.pool.target() {
                let Some(permit) = self.limiter.try_acquire() else {
                    break;
                };
                match self.prepare(&cli, key.clone(), token.as_deref(), permit) {
                    Ok(prepared) => {
                        if !self.pool.put(prepared) {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::debug!("could not pre-start a claude CLI: {}", error.message);
                        break;
                    }
                }
            }
            self.pool.schedule_expiry();
        });
    }

    /// Starts a CLI process for `key`: a fresh directory, the system prompt file, and for
    /// multi-turn a session id to resume (the file is written later, before the prompt).
    fn prepare(
        &self,
        cli: &Path,
        key: WarmKey,
        token: Option<&str>,
        permit: RunPermit,
    ) -> Result<Prepared, ApiError> {
        let workspace = Workspace::create(&self.work_root).map_err(|e| {
            internal(format!(
                "could not create a working directory under {}: {e}",
                self.work_root.display()
            ))
        })?;
        let system_file =
            match key.system_prompt() {
                Some(text) => Some(workspace.write_private("system-prompt.txt", text).map_err(
                    |e| internal(format!("could not write the system prompt file: {e}")),
                )?),
                None => None,
            };
        let resume_id = key.resumes().then(|| uuid::Uuid::new_v4().to_string());
        let spec = RunSpec {
            cli,
            model: key.model_arg(),
            system_prompt_file: system_file.as_deref(),
            resume: resume_id.as_deref(),
            auth_mode: self.settings.auth_mode,
            api_key: self.settings.anthropic_api_key.as_deref(),
            oauth_token: token,
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
        tracing::debug!(pgid = process.pgid(), "claude CLI started");
        Ok(Prepared {
            key,
            process,
            pipes,
            resume_id,
            workspace,
            permit,
            born: Instant::now(),
        })
    }

    /// Gives a prepared CLI its session file and prompt and follows it to the end. Returns
    /// the permit, so that a flattened retry does not queue again.
    async fn execute(
        &self,
        prepared: Prepared,
        plan: &RunPlan,
        mode: Mode,
        streaming: bool,
        tx: &mpsc::Sender<Output>,
        deadline: Instant,
    ) -> Result<(Attempt, RunPermit), ApiError> {
        let Prepared {
            key: _,
            process,
            pipes,
            resume_id,
            workspace,
            permit,
            born: _,
        } = prepared;
        let version = self
            .cli_state()
            .version
            .unwrap_or_else(|| DEFAULT_SESSION_VERSION.to_string());
        let session = match (&resume_id, &self.claude_home) {
            (Some(id), Some(home)) => {
                let turns: Vec<(Speaker, &str)> =
                    plan.history.iter().map(|(s, t)| (*s, t.as_str())).collect();
                Some(
                    session::write(home, &workspace.cwd, id, &turns, &plan.model_arg, &version)
                        .map_err(|e| internal(format!("could not write the session file: {e}")))?,
                )
            }
            _ => None,
        };
        let stdin_text = match mode {
            Mode::Flatten => plan.flattened.as_str(),
            Mode::Single | Mode::Resume => plan.prompt.as_str(),
        };
        let prompt = stdin_text.as_bytes().to_vec();
        let Pipes {
            mut stdin,
            stdout,
            stderr,
        } = pipes;
        tokio::spawn(async move {
            let _ = stdin.write_all(&prompt).await;
            let _ = stdin.shutdown().await;
        });
        let stderr_task = tokio::spawn(read_tail(stderr));

        let outcome = self.pump(stdout, streaming, tx, deadline).await;
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
                } else if self.limiter.is_closed() {
                    // The daemon ended this CLI because it is stopping.
                    let _ = tx.send(Output::Failed(shutting_down())).await;
                    Attempt::Over
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
        Ok((result, permit))
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
                // A client that stops reading is treated as gone after `idle_timeout_secs`:
                // it must not hold a CLI (and its slot) forever.
                match tokio::time::timeout(self.settings.idle_timeout(), tx.send(output)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Pumped::ClientGone,
                    Err(_) => {
                        tracing::info!("the client stopped reading its stream; ending the CLI");
                        return Pumped::ClientGone;
                    }
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

fn shutting_down() -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        "The proxy is shutting down and ended this request's claude CLI; retry against the \
         restarted daemon.",
    )
    .with_retry_after(5)
}

fn internal(message: String) -> ApiError {
    ApiError::new(ErrorKind::Internal, message)
}

/// The real user id, for the per-user work root.
fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}
