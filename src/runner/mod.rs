//! One chat request's CLI run, from queue ticket to reaped process group, and the state all
//! runs share for the daemon's lifetime.
//!
//! There is one [`Backend`] per daemon. [`Backend::start`] takes a queue place (429 when
//! full) and spawns a task that gets a CLI process — a warm one from the [`pool`] when one
//! was started for the same setup, else a fresh one under a new permit — writes the session
//! file and the prompt, translates the CLI's events and sends [`Output`]s over a channel.
//! The task owns every resource of the run; when the receiver goes away (the client left)
//! or a timeout fires it ends the CLI's process group, and when it returns the files and
//! directories are gone. A reload [`Backend::reconfigure`]s the same backend: the limiter
//! is resized, the pool starts a new generation, runs in progress keep their settings.
//!
//! - [`limiter`]: the concurrency limit and the FIFO queue.
//! - [`pool`]: pre-started CLI processes waiting for their prompt.
//! - [`live`]: CLI processes kept between the turns of their conversation.
//! - `prepare`: starting a CLI process with everything but its prompt.
//! - `execute`: feeding it the prompt (or a kept process its next step) and deciding, at the
//!   end, whether the process is kept.
//! - `pump`: one step's output: translation, forwarding, the CLI's control requests.
//! - [`work_root`]: the private directory runs live in; `workspace`: one run's directory.
//! - [`sweep`]: what a killed daemon left behind, removed at start.
//! - `io`: bounded reads of the CLI's pipes.
//! - [`usage`]: the short-lived process that asks the CLI for the plan's usage windows.

mod execute;
mod io;
pub mod limiter;
pub mod live;
pub mod pool;
mod prepare;
mod pump;
pub mod sweep;
pub mod usage;
pub mod work_root;
mod workspace;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::claude::locate::{self, Located};
use crate::claude::process::ProcessGroups;
use crate::claude::session;
use crate::config::{HistoryMode, Settings};
use crate::conversation::{ApiError, ErrorKind};
use crate::quota::QuotaBook;
use crate::translate::outcome::{Output, Served};
use crate::translate::plan::RunPlan;
use execute::Attempt;
use limiter::{Limiter, QueueTicket, RunPermit};
use live::LiveSessions;
use pool::{StartControls, WarmKey, WarmPool};
pub use prepare::Prepared;

/// Channel depth between the run task and the HTTP side.
const OUTPUT_BUFFER: usize = 64;

/// What we know about the CLI.
#[derive(Clone, Debug)]
pub struct CliState {
    pub located: Located,
    pub version: Option<String>,
}

/// Shared state of every run, for the daemon's lifetime.
#[derive(Debug)]
pub struct Backend {
    /// The current settings; each run keeps the ones it started with.
    settings: RwLock<Arc<Settings>>,
    pub limiter: Limiter,
    pub groups: ProcessGroups,
    /// Pre-started CLI processes.
    pub pool: WarmPool,
    /// CLI processes kept between the turns of their conversation.
    pub live: LiveSessions,
    cli: RwLock<CliState>,
    /// `$CLAUDE_CONFIG_DIR` or `~/.claude`: where session files go.
    claude_home: Option<PathBuf>,
    /// Names of the daemon's environment variables (to strip our own from the child).
    env_names: Vec<String>,
    /// The private directory per-run directories are made in (fixed at start).
    work_root: PathBuf,
    /// Whether the user named it (`work_dir`).
    work_root_named: bool,
    /// This daemon instance, written into each run directory for the sweep.
    owner: String,
    /// The subscription's windows as the CLI last reported them.
    pub quota: QuotaBook,
    /// When the plan's usage is asked of the CLI next.
    usage: usage::UsageRefresh,
    /// Runs served by a process started for them / by a warm one, since start.
    pub served_cold: AtomicU64,
    pub served_warm: AtomicU64,
    /// Turns served by a process kept from the conversation's previous turn.
    pub served_live: AtomicU64,
    /// Requests being answered by a CLI process right now (not the slots that warm and
    /// kept processes hold).
    answering: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a request as being answered while it lives.
struct Answering(Arc<std::sync::atomic::AtomicUsize>);

impl Answering {
    fn start(count: &Arc<std::sync::atomic::AtomicUsize>) -> Answering {
        count.fetch_add(1, Ordering::SeqCst);
        Answering(count.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Single,
    Resume,
    Flatten,
}

impl Backend {
    /// The backend for `settings`: checks (or makes) the private work root and sweeps what
    /// an earlier, killed instance left there. The error says how to fix the work root.
    pub fn new(settings: Arc<Settings>, groups: ProcessGroups) -> crate::Result<Backend> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let config_dir = std::env::var_os("CLAUDE_CONFIG_DIR").map(PathBuf::from);
        let uid = work_root::current_uid();
        let work_root = work_root::choose(
            settings.work_dir.as_deref(),
            std::env::var_os("XDG_RUNTIME_DIR"),
            uid,
        );
        work_root::prepare(&work_root, uid, settings.work_dir.is_some())?;
        // Canonical once, so that each run's directory is canonical as made (the CLI names
        // its project directories after the canonical path).
        let work_root = std::fs::canonicalize(&work_root).unwrap_or(work_root);
        let claude_home = session::claude_home(config_dir.as_deref(), home.as_deref());
        let mut swept = sweep::sweep(&work_root, claude_home.as_deref());
        let xdg_cache = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from);
        if let Some(cache) = sweep::cli_cache_dir(xdg_cache.as_deref(), home.as_deref()) {
            swept.directories += sweep::sweep_cli_cache(&work_root, &cache);
        }
        if swept != sweep::Swept::default() {
            tracing::warn!(
                directories = swept.directories,
                processes = swept.processes,
                "removed what earlier claude-max-proxy runs left behind (in {} and the CLI's cache)",
                work_root.display()
            );
        }
        Ok(Backend {
            limiter: Limiter::new(settings.max_concurrent, settings.queue_limit),
            groups,
            pool: WarmPool::new(pool::target_size(&settings), settings.warm_idle()),
            live: LiveSessions::new(live::target_size(&settings), settings.live_idle()),
            cli: RwLock::new(CliState {
                located: locate::locate_from_env(settings.cli_path.as_deref()),
                version: None,
            }),
            claude_home,
            env_names: std::env::vars_os()
                .filter_map(|(k, _)| k.into_string().ok())
                .collect(),
            work_root,
            work_root_named: settings.work_dir.is_some(),
            owner: sweep::owner_stamp(),
            quota: QuotaBook::new(),
            usage: usage::UsageRefresh::default(),
            served_cold: AtomicU64::new(0),
            served_warm: AtomicU64::new(0),
            served_live: AtomicU64::new(0),
            answering: Arc::default(),
            settings: RwLock::new(settings),
        })
    }

    /// Requests being answered by a CLI process right now.
    pub fn answering(&self) -> usize {
        self.answering.load(Ordering::SeqCst)
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        match self.settings.read() {
            Ok(settings) => settings.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Where run directories are made.
    pub fn work_root(&self) -> &Path {
        &self.work_root
    }

    /// Applies reloaded settings: resizes the limiter, starts a new pool generation (warm
    /// processes of the old setup end; refills under way are refused) and looks for the
    /// CLI again. Runs in progress keep the settings they started with.
    pub async fn reconfigure(&self, settings: Arc<Settings>) {
        let work_dir_changed = settings.work_dir != self.settings().work_dir;
        self.limiter
            .resize(settings.max_concurrent, settings.queue_limit);
        self.pool
            .reconfigure(pool::target_size(&settings), settings.warm_idle());
        self.live
            .reconfigure(live::target_size(&settings), settings.live_idle());
        if let Ok(mut current) = self.settings.write() {
            *current = settings;
        }
        if work_dir_changed {
            tracing::warn!(
                "`work_dir` changes take effect at the next start; runs stay under {}",
                self.work_root.display()
            );
        }
        self.refresh_cli().await;
    }

    /// Ends warm processes and refuses new runs (shutdown); the usage task stops.
    pub fn close(&self) {
        self.limiter.close();
        self.pool.close();
        self.live.close();
        self.usage_wanted();
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
        let located = locate::locate_from_env(self.settings().cli_path.as_deref());
        let version = match &located {
            Located::Found(path) => locate::version(path).await,
            Located::Missing { .. } => None,
        };
        if let Ok(mut state) = self.cli.write() {
            *state = CliState { located, version };
        }
    }

    /// The CLI's path, searching again if it was missing (it may have been installed since).
    fn cli_path(&self, settings: &Settings) -> Result<PathBuf, ApiError> {
        if let Located::Found(path) = &self.cli_state().located
            && path.exists()
        {
            return Ok(path.clone());
        }
        let located = locate::locate_from_env(settings.cli_path.as_deref());
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
        let settings = self.settings();
        let cli = self.cli_path(&settings)?;
        let ticket = self.limiter.enqueue()?;
        let (tx, rx) = mpsc::channel(OUTPUT_BUFFER);
        let backend = self.clone();
        tokio::spawn(async move {
            let run = Run {
                settings,
                cli,
                plan,
                streaming,
                // Read once per request: the key, the process and any refill use this token.
                token: None,
            };
            backend.run(run, ticket, tx).await;
        });
        Ok(rx)
    }

    fn mode_for(&self, settings: &Settings, plan: &RunPlan) -> Mode {
        if !plan.is_multi_turn() {
            Mode::Single
        } else if plan.tools.is_some() {
            // Tool turns only exist as session rows (or in a kept process).
            Mode::Resume
        } else if plan.must_flatten
            || settings.history == HistoryMode::Flatten
            || self.claude_home.is_none()
        {
            Mode::Flatten
        } else {
            Mode::Resume
        }
    }

    /// Whether this run's process may be kept for the conversation's next step: its input
    /// is stream-json, and what it holds afterwards is exactly the conversation the client
    /// will send back — its answer as text or as client tool calls (a stop sequence that
    /// cut the answer ends the process instead), never structured output (the CLI holds
    /// that answer as a `StructuredOutput` tool call and its result, which the client sees
    /// as plain text: docs/how-it-works.md), never a flattened history.
    fn can_go_live(&self, run: &Run, mode: Mode) -> bool {
        self.live.enabled() && mode != Mode::Flatten && run.plan.json_schema.is_none()
    }

    fn key_for(&self, run: &Run, mode: Mode) -> WarmKey {
        WarmKey::new(
            &run.cli,
            &run.plan.model_arg,
            run.plan.system_prompt.as_deref(),
            mode == Mode::Resume,
            run.token.as_deref(),
            self.pool.generation(),
            StartControls {
                max_output_tokens: run.plan.max_output_tokens,
                effort: run.plan.effort,
                thinking: run.plan.thinking,
                json_schema: run.plan.json_schema.clone(),
                // One stream-json message line: measured faster to first token than `-p`
                // text for a conversation without tools (0.90-0.95x, BENCHMARKS.md), and
                // attachments, client tools (answered over the control protocol) and live
                // processes need it. Only a cold tool continuation, which has no prompt,
                // takes `-p` text.
                stream_input: !run.plan.tools.as_ref().is_some_and(|t| t.continues())
                    || !run.plan.prompt_attachments.is_empty()
                    || (mode == Mode::Flatten && run.plan.history_has_attachments()),
                tools: run.plan.tools.as_ref().map(|t| t.functions_json()),
            },
        )
    }

    async fn run(self: Arc<Self>, mut run: Run, ticket: QueueTicket, tx: mpsc::Sender<Output>) {
        run.token = crate::login::load_token(&run.settings).map(|t| t.token);
        let mode = self.mode_for(&run.settings, &run.plan);
        let key = self.key_for(&run, mode);
        let keep = self.can_go_live(&run, mode);
        let ticket = if keep && mode == Mode::Resume {
            match self.serve_live(&run, &key, ticket, &tx).await {
                Some(ticket) => ticket,
                None => return,
            }
        } else {
            ticket
        };
        let warm_key = key.warm_variant();
        let Some(prepared) = self.obtain(&run, key, &warm_key, ticket, &tx).await else {
            return;
        };
        self.clone().refill(&run, warm_key);
        let _answering = Answering::start(&self.answering);
        let deadline = Instant::now() + run.settings.total_timeout();
        let permit = match self
            .execute(prepared, &run, mode, keep, &tx, deadline)
            .await
        {
            Ok((Attempt::Over, _)) | Ok((Attempt::ResumeRejected, None)) => return,
            Ok((Attempt::ResumeRejected, _)) if run.plan.tools.is_some() => {
                let error = internal(
                    "The claude CLI rejected the session that carries the tool calls; please \
                     report this with the daemon's log."
                        .to_string(),
                );
                let _ = tx.send(Output::Failed(error)).await;
                return;
            }
            Ok((Attempt::ResumeRejected, Some(permit))) => permit,
            Err(error) => {
                let _ = tx.send(Output::Failed(error)).await;
                return;
            }
        };
        self.flattened(&run, permit, &tx, deadline).await;
    }

    /// Serves the request with the process that holds its conversation, when one is kept
    /// (and waits, if the request brings tool results, at exactly those calls); else hands
    /// the ticket back for a process of its own. `None`: the request was served or failed.
    async fn serve_live(
        &self,
        run: &Run,
        key: &WarmKey,
        ticket: QueueTicket,
        tx: &mpsc::Sender<Output>,
    ) -> Option<QueueTicket> {
        let digest = live::digest_before(&run.plan);
        let ending = run.plan.tools.as_ref().and_then(|t| t.results.as_ref());
        // Results followed by a user text cannot be handed to a waiting process.
        let answered: Vec<&str> = match ending {
            Some(results) if !results.text.trim().is_empty() => return Some(ticket),
            Some(results) => results.ids().collect(),
            None => Vec::new(),
        };
        let Some(process) = self.live.take(&key.setup(), &digest, &answered).await else {
            return Some(ticket);
        };
        // The step is a request like any other: it waits for a slot.
        let permit = tokio::select! {
            permit = self.limiter.acquire(ticket, run.settings.queue_timeout()) => permit,
            _ = tx.closed() => {
                // Its client left before its turn: the conversation stays as it was.
                self.live.put(process);
                return None;
            }
        };
        let permit = match permit {
            Ok(permit) => permit,
            Err(error) => {
                self.live.put(process);
                let _ = tx.send(Output::Failed(error)).await;
                return None;
            }
        };
        let _answering = Answering::start(&self.answering);
        self.served_live.fetch_add(1, Ordering::Relaxed);
        let _ = tx.send(Output::Served(Served::Live)).await;
        let deadline = Instant::now() + run.settings.total_timeout();
        self.execute_live(process, run, permit, tx, deadline).await;
        None
    }

    /// The CLI rejected the synthesized session: the request again, its history flattened
    /// into the prompt, under the same slot.
    async fn flattened(
        &self,
        run: &Run,
        permit: RunPermit,
        tx: &mpsc::Sender<Output>,
        deadline: Instant,
    ) {
        tracing::warn!(
            "the claude CLI rejected the synthesized session; flattening the history for this request"
        );
        let key = self.key_for(run, Mode::Flatten);
        let result = match self.prepare(run, key, permit) {
            Ok(prepared) => self
                .execute(prepared, run, Mode::Flatten, false, tx, deadline)
                .await
                .map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            let _ = tx.send(Output::Failed(error)).await;
        }
    }

    /// A CLI process: a warm one kept under `warm_key`, or a fresh one for `key` once a slot
    /// is free. `None` when the client left or the failure was already sent.
    async fn obtain(
        &self,
        run: &Run,
        key: WarmKey,
        warm_key: &WarmKey,
        ticket: QueueTicket,
        tx: &mpsc::Sender<Output>,
    ) -> Option<Prepared> {
        let pool_on = self.pool.target() > 0 && warm_key.can_be_warm();
        let warm = if pool_on {
            self.pool.take(warm_key)
        } else {
            None
        };
        if let Some(prepared) = warm {
            drop(ticket);
            tracing::debug!("using a warm claude CLI process");
            crate::telemetry::warm_pool(true);
            self.served_warm.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(Output::Served(Served::Warm)).await;
            return Some(prepared);
        }
        if pool_on {
            crate::telemetry::warm_pool(false);
        }
        // A warm process for another setup holds a slot this request may need.
        if self.limiter.available() == 0 {
            self.pool.clear();
        }
        let permit = tokio::select! {
            permit = self.limiter.acquire(ticket, run.settings.queue_timeout()) => permit,
            _ = tx.closed() => return None,
        };
        let prepared = permit.and_then(|permit| self.prepare(run, key, permit));
        match prepared {
            Ok(prepared) => {
                self.served_cold.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(Output::Served(Served::Cold)).await;
                Some(prepared)
            }
            Err(error) => {
                let _ = tx.send(Output::Failed(error)).await;
                None
            }
        }
    }

    /// Keeps warm processes for `key` (the setup just used) in the background, within the
    /// concurrency limit: a warm process holds a permit like a running one. A reload while
    /// this runs makes the pool refuse what it starts (see [`WarmPool::put`]).
    fn refill(self: Arc<Self>, run: &Run, key: WarmKey) {
        if self.pool.target() == 0 || !key.can_be_warm() {
            return;
        }
        self.pool.retain_key(&key);
        let run = run.clone();
        tokio::spawn(async move {
            while self.pool.count(&key) < self.pool.target() {
                let Some(permit) = self.limiter.try_acquire() else {
                    break;
                };
                match self.prepare(&run, key.clone(), permit) {
                    Ok(mut prepared) => {
                        prepared.prime().await;
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
}

/// What one request's run needs besides the shared backend.
#[derive(Clone, Debug)]
struct Run {
    /// The settings at the time the request arrived.
    settings: Arc<Settings>,
    cli: PathBuf,
    plan: RunPlan,
    streaming: bool,
    /// The stored login token, read once per request.
    token: Option<String>,
}

/// A 500 for what went wrong on this machine while preparing a run. Its message is for a
/// client that may sit in a container: it names what failed, never a path of the host (the
/// daemon's log has those).
fn internal(message: String) -> ApiError {
    ApiError::new(ErrorKind::Internal, message)
}
