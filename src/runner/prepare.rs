//! Starting a CLI process with everything but its prompt: its run directory (owner-marked),
//! its system prompt file, for multi-turn the id of the session it will resume, and for
//! client tools either the daemon's own tool server (bridged, stream-json input) or, for a
//! cold continuation, the MCP stub and the defer hook.

use tokio::time::Instant;

use std::time::Duration;

use tokio::process::ChildStderr;

use super::limiter::RunPermit;
use super::pool::WarmKey;
use super::pump::CliIo;
use super::workspace::Workspace;
use super::{Backend, Run, internal, sweep, work_root};
use crate::claude::command::{self, RunSpec, TOOL_SERVER, ToolArgs};
use crate::claude::events::CliEvent;
use crate::claude::input::CliInput;
use crate::claude::process::{CliProcess, Pipes};
use crate::claude::session::SessionFile;
use crate::claude::tool_server::ToolServer;
use crate::conversation::{ApiError, ErrorKind};

/// How long a process started ahead may take for its start-up (the MCP handshake of its
/// tools) once primed.
const PRIME_WAIT: Duration = Duration::from_secs(30);

/// A CLI process started with everything but its prompt.
#[derive(Debug)]
pub struct Prepared {
    pub(super) key: WarmKey,
    /// Declared before `workspace` so the process ends before its directory is removed.
    pub(super) process: CliProcess,
    pub(super) io: CliIo,
    pub(super) stderr: ChildStderr,
    pub(super) resume_id: Option<String>,
    pub(super) workspace: Workspace,
    pub(super) permit: RunPermit,
    pub(super) born: Instant,
    /// The session file, when it had to exist before the start (stream-json input).
    pub(super) session: Option<SessionFile>,
}

impl Prepared {
    /// For a process started ahead with stream-json input: has it do its start-up work now
    /// (`initialize`) instead of when its prompt arrives.
    /// A process with the client's tools answers their MCP handshake here too: it comes
    /// right after `initialize`, and a tool server left unanswered would fail to connect.
    pub(super) async fn prime(&mut self) {
        if self.key.controls().stream_input && !self.key.reads_session_at_start() {
            self.io
                .input
                .send(crate::claude::stream_input::initialize_line());
            if self.io.tools.is_some() {
                // The CLI lists the tools last; `initialize`'s own answer comes before.
                self.io
                    .settle(PRIME_WAIT, |event| {
                        matches!(event, CliEvent::ControlRequest(r)
                            if r.request["message"]["method"] == "tools/list")
                    })
                    .await;
            }
        }
    }

    /// Whether the process is still waiting (not crashed while idle).
    pub(super) fn is_alive(&mut self) -> bool {
        self.process.is_running()
    }
}

impl Backend {
    /// A fresh run directory; the work root is made again if something removed it.
    pub(super) fn workspace(&self) -> Result<Workspace, ApiError> {
        let created = match Workspace::create(&self.work_root, &self.owner) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                work_root::prepare(
                    &self.work_root,
                    work_root::current_uid(),
                    self.work_root_named,
                )
                .map_err(|e| {
                    tracing::error!("the work root was removed and cannot be made again: {e}");
                    internal(
                        "the proxy's work directory was removed and cannot be made again \
                              (the daemon's log says where and why)"
                            .to_string(),
                    )
                })?;
                Workspace::create(&self.work_root, &self.owner)
            }
            other => other,
        };
        created.map_err(|e| {
            tracing::error!(
                "could not create a run directory under {}: {e}",
                self.work_root.display()
            );
            internal(format!(
                "could not create a run directory ({e}; the daemon's log says where)"
            ))
        })
    }

    /// Starts a CLI process for `key` under `permit`.
    pub(super) fn prepare(
        &self,
        run: &Run,
        key: WarmKey,
        permit: RunPermit,
    ) -> Result<Prepared, ApiError> {
        let workspace = self.workspace()?;
        let system_file =
            match key.system_prompt() {
                Some(text) => Some(workspace.write_private("system-prompt.txt", text).map_err(
                    |e| internal(format!("could not write the system prompt file: {e}")),
                )?),
                None => None,
            };
        let resume_id = key.resumes().then(|| uuid::Uuid::new_v4().to_string());
        // With stream-json input or tools the CLI reads the session at start.
        let session = if key.reads_session_at_start() {
            self.write_session(run, &workspace.cwd, resume_id.as_deref())?
        } else {
            None
        };
        let bridged = key.controls().stream_input;
        let deferred = match &run.plan.tools {
            Some(tools) if !bridged => Some(DeferredTools::write(&workspace, tools)?),
            _ => None,
        };
        let tools = match (&run.plan.tools, &deferred) {
            (Some(_), None) => Some(ToolArgs::Bridged),
            (Some(_), Some(files)) => Some(files.args()),
            (None, _) => None,
        };
        let spec = RunSpec {
            cli: &run.cli,
            model: key.model_arg(),
            system_prompt_file: system_file.as_deref(),
            resume: resume_id.as_deref(),
            auth_mode: run.settings.auth_mode,
            api_key: run.settings.anthropic_api_key.as_deref(),
            oauth_token: run.token.as_deref(),
            max_retries: run.settings.cli_max_retries,
            cwd: &workspace.cwd,
            max_output_tokens: key.controls().max_output_tokens,
            effort: key.controls().effort.map(|e| e.as_arg()),
            thinking: key.controls().thinking,
            json_schema: key.controls().json_schema.as_deref(),
            stream_input: key.controls().stream_input,
            tools,
        };
        let (process, pipes) = self.spawn(run, &spec, &workspace)?;
        let server = match (&run.plan.tools, bridged) {
            (Some(tools), true) => Some(ToolServer::new(tools.functions_list())),
            _ => None,
        };
        let io = CliIo::new(CliInput::spawn(pipes.stdin), pipes.stdout, server);
        Ok(Prepared {
            key,
            process,
            io,
            stderr: pipes.stderr,
            resume_id,
            workspace,
            permit,
            born: Instant::now(),
            session,
        })
    }

    /// Spawns the CLI `spec` describes in `workspace`, marked as this daemon's run.
    fn spawn(
        &self,
        run: &Run,
        spec: &RunSpec<'_>,
        workspace: &Workspace,
    ) -> Result<(CliProcess, Pipes), ApiError> {
        let mut invocation = command::build(spec, &self.env_names);
        invocation.env_set.push((
            sweep::RUN_MARK_ENV.to_string(),
            workspace.dir().to_string_lossy().into_owned(),
        ));
        // The CLI keeps MCP logs per working directory in its cache: in the run's
        // directory they go with it (in ~/.cache they stayed, one directory per run).
        invocation.env_set.push((
            "XDG_CACHE_HOME".to_string(),
            workspace.cache_dir().to_string_lossy().into_owned(),
        ));
        let (process, pipes) = CliProcess::spawn(&invocation, &self.groups).map_err(|e| {
            ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "Could not start the claude CLI at {}: {e}. Check that the file is the \
                     official CLI and executable, or set `cli_path`.",
                    run.cli.display()
                ),
            )
        })?;
        tracing::debug!(pgid = process.pgid(), "claude CLI started");
        Ok((process, pipes))
    }
}

/// What a cold continuation's CLI is given for the client's tools: the MCP stub's config,
/// the defer hook's command, and the tool of the one call it may run.
struct DeferredTools {
    mcp_config: std::path::PathBuf,
    hook_command: String,
    allowed: Option<String>,
}

impl DeferredTools {
    /// Writes the stub's files and the file naming the call to let through (never the id
    /// itself on the hook's command line: an id is the client's choice and could read as
    /// an option).
    fn write(
        workspace: &Workspace,
        tools: &crate::translate::tool_plan::ToolRun,
    ) -> Result<DeferredTools, ApiError> {
        let failed = |e: std::io::Error| internal(format!("could not write the tool files: {e}"));
        let mcp_config = write_tool_files(workspace, tools)?;
        let exe = std::env::current_exe()
            .map_err(|e| internal(format!("cannot find this program: {e}")))?;
        let continuation = tools.cold_continuation();
        let allowed_file = match &continuation {
            Some((_, call)) => Some(
                workspace
                    .write_private("allowed-call.txt", &call.id)
                    .map_err(failed)?,
            ),
            None => None,
        };
        let hook_command = format!(
            "{} defer-hook{}",
            command::sh_quote(&exe.to_string_lossy()),
            allowed_file
                .map(|path| format!(" {}", command::sh_quote(&path.to_string_lossy())))
                .unwrap_or_default()
        );
        Ok(DeferredTools {
            mcp_config,
            hook_command,
            allowed: continuation.map(|(_, call)| call.upstream_name),
        })
    }

    fn args(&self) -> ToolArgs<'_> {
        ToolArgs::Deferred {
            mcp_config: &self.mcp_config,
            hook_command: &self.hook_command,
            allowed: self.allowed.as_deref(),
        }
    }
}

/// Writes the MCP stub's tool list, the result a cold continuation carries (an MCP
/// `tools/call` result), and the MCP config that runs this daemon's own binary as the stub;
/// returns the config's path.
fn write_tool_files(
    workspace: &Workspace,
    tools: &crate::translate::tool_plan::ToolRun,
) -> Result<std::path::PathBuf, ApiError> {
    let failed = |e: std::io::Error| internal(format!("could not write the tool files: {e}"));
    let exe = std::env::current_exe()
        .map_err(|e| internal(format!("cannot find this program to run the MCP stub: {e}")))?;
    let list = workspace
        .write_private("tools.json", &tools.functions_json())
        .map_err(failed)?;
    let mut args = vec!["mcp-stub".to_string(), list.to_string_lossy().into_owned()];
    if let Some((_, continuation)) = tools.cold_continuation() {
        let result = workspace
            .write_private(
                "tool-result.json",
                &continuation.result.to_mcp_result().to_string(),
            )
            .map_err(failed)?;
        args.push(result.to_string_lossy().into_owned());
    }
    let config = serde_json::json!({"mcpServers": {TOOL_SERVER: {
        "type": "stdio", "command": exe.to_string_lossy(), "args": args}}});
    workspace
        .write_private("mcp.json", &config.to_string())
        .map_err(failed)
}
