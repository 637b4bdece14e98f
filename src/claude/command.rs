//! The argv and environment of one CLI run, built from what the request needs, and of the
//! short-lived process that answers `get_usage` ([`usage_invocation`]).
//!
//! Print mode without the CLI's own tools, settings or context (docs/how-it-works.md says
//! why each flag is there): only the client's functions are offered, through an MCP server
//! ([`ToolArgs`]). The prompt goes on stdin
//! and the system prompt through a file, so neither shows in `ps`. Never `--bare`: it
//! ignores the subscription login and `CLAUDE_CODE_OAUTH_TOKEN`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::AuthMode;

/// Variables removed from the child's environment in subscription mode: either would make
/// the CLI bill an API key instead of the user's subscription.
pub const SUBSCRIPTION_REMOVED_ENV: &[&str] = &["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"];

/// What the daemon asks of one run.
#[derive(Clone, Debug)]
pub struct RunSpec<'a> {
    pub cli: &'a Path,
    /// The `--model` argument (an id or a CLI alias).
    pub model: &'a str,
    pub system_prompt_file: Option<&'a Path>,
    /// Resume this synthesized session (earlier turns).
    pub resume: Option<&'a str>,
    pub auth_mode: AuthMode,
    /// The key for api-key mode, when configured (else the daemon's own env is inherited).
    pub api_key: Option<&'a str>,
    /// The stored login token, handed over as `CLAUDE_CODE_OAUTH_TOKEN` (subscription mode).
    pub oauth_token: Option<&'a str>,
    pub max_retries: u32,
    pub cwd: &'a Path,
    /// `CLAUDE_CODE_MAX_OUTPUT_TOKENS` (upstream `max_tokens`), when the client set one.
    pub max_output_tokens: Option<u32>,
    /// `--effort low|medium|high|xhigh` (upstream `output_config.effort`).
    pub effort: Option<&'a str>,
    /// `--thinking adaptive`: the model may think, and its thinking streams as
    /// `thinking_delta`s (else `--thinking disabled`).
    pub thinking: bool,
    /// `--json-schema`: the answer is the CLI's `StructuredOutput` tool input.
    pub json_schema: Option<&'a str>,
    /// `--input-format stream-json`: the prompt arrives as one JSON user message (needed for
    /// attachments); a `--resume` session is then read at start.
    pub stream_input: bool,
    /// Client tools: answered by the daemon over the control protocol, or the MCP stub
    /// with the defer hook (see [`ToolArgs`]).
    pub tools: Option<ToolArgs<'a>>,
}

impl<'a> RunSpec<'a> {
    /// A new conversation with `model` in `cwd`, as `claude -p` runs it: subscription mode,
    /// no system prompt, no generation controls, no tools, text input; the rest by field.
    pub fn plain(cli: &'a Path, model: &'a str, cwd: &'a Path) -> RunSpec<'a> {
        RunSpec {
            cli,
            model,
            system_prompt_file: None,
            resume: None,
            auth_mode: AuthMode::Subscription,
            api_key: None,
            oauth_token: None,
            max_retries: 0,
            cwd,
            max_output_tokens: None,
            effort: None,
            thinking: false,
            json_schema: None,
            stream_input: false,
            tools: None,
        }
    }
}

pub use super::events::TOOL_SERVER;

/// How a run with client tools reaches them.
///
/// - [`ToolArgs::Bridged`]: the tools are an SDK MCP server the daemon answers itself over
///   the control protocol (`--input-format stream-json`, `control_request` /
///   `control_response` lines; see [`super::tool_server`]). A call is a `tools/call` the
///   daemon answers when the client brings its result, so the process waits at the call
///   and the turn goes on in the same process: the agent-loop path.
/// - [`ToolArgs::Deferred`]: the stdio MCP stub (this daemon's `mcp-stub`) and a PreToolUse
///   hook that defers every call but the one a resumed continuation carries (`-p` text
///   input): the cold path for tool results no waiting process holds.
#[derive(Clone, Debug)]
pub enum ToolArgs<'a> {
    Bridged,
    Deferred {
        mcp_config: &'a Path,
        /// The PreToolUse hook's shell command (this daemon's `defer-hook`).
        hook_command: &'a str,
        /// `--allowedTools`: the deferred call's tool (continuations only).
        allowed: Option<&'a str>,
    },
}

/// The `--mcp-config` of a bridged run: one SDK server, answered by the daemon.
pub fn bridged_mcp_config(server: &str) -> String {
    serde_json::json!({"mcpServers": {server: {"type": "sdk", "name": server}}}).to_string()
}

/// How long the CLI waits for the answer to a tool call before it gives up on its own
/// (`MCP_TOOL_TIMEOUT`, milliseconds): the largest value it takes (about 24.8 days). It
/// gives up by sending upstream an error result the client never sees (measured with
/// 2.1.332), so the daemon's own limit for a waiting process (`live_idle_secs`, which ends
/// the process) must always come first. Its default (1e8 ms) is set too, explicitly, so
/// that a `MCP_TOOL_TIMEOUT` in the daemon's own environment cannot shorten it.
pub const TOOL_CALL_WAIT_MS: &str = "2147483647";

/// The `--settings` of a deferred tool run: a PreToolUse hook on the client's tools whose
/// command answers `defer` (the CLI ends the turn at the call instead of running it).
pub fn defer_hook_settings(server: &str, command: &str) -> String {
    serde_json::json!({"hooks": {"PreToolUse": [{
        "matcher": format!("mcp__{server}__.*"),
        "hooks": [{"type": "command", "command": command}]}]}})
    .to_string()
}

/// A word for `sh`: single-quoted, with single quotes escaped.
pub fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// A ready-to-spawn command line.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env_remove: Vec<String>,
    pub env_set: Vec<(String, String)>,
    pub cwd: PathBuf,
}

/// Builds the invocation. `daemon_env_names` are the names of the daemon's environment
/// variables, so that our own `CLAUDE_MAX_PROXY_*` settings (which may hold secrets) are
/// not passed on.
pub fn build(spec: &RunSpec<'_>, daemon_env_names: &[String]) -> Invocation {
    let Credentials {
        env_remove,
        mut env_set,
    } = credentials(
        spec.auth_mode,
        spec.api_key,
        spec.oauth_token,
        spec.max_retries,
        daemon_env_names,
    );
    env_set.extend(run_env(spec));
    Invocation {
        program: spec.cli.to_path_buf(),
        args: argv(spec),
        env_remove,
        env_set,
        cwd: spec.cwd.to_path_buf(),
    }
}

/// What every CLI the daemon runs goes without: its own tools, settings files, MCP servers
/// other than the ones given, and a session file of its own.
const LOCKED_DOWN: [&str; 6] = [
    "--tools",
    "",
    "--setting-sources",
    "",
    "--strict-mcp-config",
    "--no-session-persistence",
];

/// The arguments of a run: print mode with stream-json output, then what the spec asks.
fn argv(spec: &RunSpec<'_>) -> Vec<OsString> {
    let thinking = if spec.thinking {
        "adaptive"
    } else {
        "disabled"
    };
    let mut args: Vec<OsString> = [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
    ]
    .into_iter()
    .chain(LOCKED_DOWN)
    .chain(["--thinking", thinking, "--model"])
    .map(OsString::from)
    .collect();
    args.push(spec.model.into());
    let mut pair = |flag: &str, value: Option<OsString>| {
        if let Some(value) = value {
            args.push(flag.into());
            args.push(value);
        }
    };
    pair(
        "--system-prompt-file",
        spec.system_prompt_file.map(Into::into),
    );
    pair("--resume", spec.resume.map(Into::into));
    if spec.resume.is_some() {
        args.push("--fork-session".into());
    }
    args.extend(optional_args(spec));
    args.extend(tool_args(spec.tools.as_ref()));
    args
}

/// `--effort`, `--json-schema`, `--input-format` when the spec asks for them.
fn optional_args(spec: &RunSpec<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(effort) = spec.effort {
        args.extend(["--effort".into(), effort.into()]);
    }
    if let Some(schema) = spec.json_schema {
        args.extend(["--json-schema".into(), schema.into()]);
    }
    if spec.stream_input {
        args.extend(["--input-format".into(), "stream-json".into()]);
    }
    args
}

/// How the client's tools reach the CLI ([`ToolArgs`]).
fn tool_args(tools: Option<&ToolArgs<'_>>) -> Vec<OsString> {
    match tools {
        Some(ToolArgs::Bridged) => vec![
            "--mcp-config".into(),
            bridged_mcp_config(TOOL_SERVER).into(),
            // Every tool of the bridged server runs without a permission prompt: the call
            // reaches the daemon, which holds it until the client's result arrives.
            "--allowedTools".into(),
            format!("mcp__{TOOL_SERVER}").into(),
        ],
        Some(ToolArgs::Deferred {
            mcp_config,
            hook_command,
            allowed,
        }) => {
            let mut args: Vec<OsString> = vec![
                "--mcp-config".into(),
                (*mcp_config).into(),
                "--settings".into(),
                defer_hook_settings(TOOL_SERVER, hook_command).into(),
            ];
            if let Some(tool) = allowed {
                args.extend(["--allowedTools".into(), (*tool).into()]);
            }
            args
        }
        None => Vec::new(),
    }
}

/// The variables a request run sets besides the credentials.
fn run_env(spec: &RunSpec<'_>) -> Vec<(String, String)> {
    // The CLI's own fetches besides the model request (usage, profile, updates): none
    // during a request run.
    let mut env = vec![(NONESSENTIAL_TRAFFIC.to_string(), "1".to_string())];
    if spec.tools.is_some() {
        // List the client's tools up front (no tool search), wait for their server at
        // start, and never give up on a call the daemon holds (see TOOL_CALL_WAIT_MS).
        env.push(("ENABLE_TOOL_SEARCH".to_string(), "false".to_string()));
        env.push(("MCP_CONNECTION_NONBLOCKING".to_string(), "0".to_string()));
        env.push((
            "MCP_TOOL_TIMEOUT".to_string(),
            TOOL_CALL_WAIT_MS.to_string(),
        ));
    }
    if let Some(tokens) = spec.max_output_tokens {
        env.push((
            "CLAUDE_CODE_MAX_OUTPUT_TOKENS".to_string(),
            tokens.to_string(),
        ));
    }
    env
}

/// Makes the CLI skip everything but the request itself (it then answers `get_usage` from
/// its cache, so the usage process must run without it).
const NONESSENTIAL_TRAFFIC: &str = "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC";

/// The environment every CLI the daemon starts gets: its credentials, no retries beyond
/// `max_retries`, no telemetry, error reports or self-updates, and none of our own
/// `CLAUDE_MAX_PROXY_*` settings.
struct Credentials {
    env_remove: Vec<String>,
    env_set: Vec<(String, String)>,
}

fn credentials(
    auth_mode: AuthMode,
    api_key: Option<&str>,
    oauth_token: Option<&str>,
    max_retries: u32,
    daemon_env_names: &[String],
) -> Credentials {
    let mut env_remove: Vec<String> = daemon_env_names
        .iter()
        .filter(|n| n.starts_with(crate::config::ENV_PREFIX))
        .cloned()
        .collect();
    let mut env_set = vec![
        (
            "CLAUDE_CODE_MAX_RETRIES".to_string(),
            max_retries.to_string(),
        ),
        ("DISABLE_TELEMETRY".to_string(), "1".to_string()),
        ("DISABLE_ERROR_REPORTING".to_string(), "1".to_string()),
        ("DISABLE_AUTOUPDATER".to_string(), "1".to_string()),
        (
            "DISABLE_NON_ESSENTIAL_MODEL_CALLS".to_string(),
            "1".to_string(),
        ),
    ];
    match auth_mode {
        AuthMode::Subscription => {
            env_remove.extend(SUBSCRIPTION_REMOVED_ENV.iter().map(|s| s.to_string()));
            if let Some(token) = oauth_token {
                env_set.push(("CLAUDE_CODE_OAUTH_TOKEN".to_string(), token.to_string()));
            }
        }
        AuthMode::ApiKey => {
            if let Some(key) = api_key {
                env_set.push(("ANTHROPIC_API_KEY".to_string(), key.to_string()));
            }
        }
    }
    Credentials {
        env_remove,
        env_set,
    }
}

/// What the short-lived process that answers `get_usage` needs.
#[derive(Clone, Debug)]
pub struct UsageSpec<'a> {
    pub cli: &'a Path,
    pub cwd: &'a Path,
    pub auth_mode: AuthMode,
    pub api_key: Option<&'a str>,
    pub oauth_token: Option<&'a str>,
}

/// The invocation of a process that only answers control requests (the daemon sends one
/// `get_usage` and closes stdin; no user message, so no model request): stream-json in and
/// out, tools, settings and MCP off, no session kept, the request runs' credentials, and
/// without `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC` (even if the daemon has it), so that
/// the CLI asks Anthropic's usage endpoint instead of its cache.
pub fn usage_invocation(spec: &UsageSpec<'_>, daemon_env_names: &[String]) -> Invocation {
    let args: Vec<OsString> = [
        "-p",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
    ]
    .into_iter()
    .chain(LOCKED_DOWN)
    .map(OsString::from)
    .collect();
    let Credentials {
        mut env_remove,
        env_set,
    } = credentials(
        spec.auth_mode,
        spec.api_key,
        spec.oauth_token,
        0,
        daemon_env_names,
    );
    env_remove.push(NONESSENTIAL_TRAFFIC.to_string());
    Invocation {
        program: spec.cli.to_path_buf(),
        args,
        env_remove,
        env_set,
        cwd: spec.cwd.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(mode: AuthMode, resume: Option<&'a str>) -> RunSpec<'a> {
        RunSpec {
            system_prompt_file: Some(Path::new("/tmp/x/system.txt")),
            resume,
            auth_mode: mode,
            max_retries: 2,
            ..RunSpec::plain(Path::new("/usr/bin/claude"), "opus", Path::new("/tmp/x"))
        }
    }

    /// `max_tokens` travels as CLAUDE_CODE_MAX_OUTPUT_TOKENS, `reasoning_effort` as --effort.
    #[test]
    fn generation_controls_reach_env_and_argv() {
        let plain = build(&spec(AuthMode::Subscription, None), &[]);
        assert!(!args(&plain).contains(&"--effort".to_string()));
        assert!(
            !plain
                .env_set
                .iter()
                .any(|(k, _)| k == "CLAUDE_CODE_MAX_OUTPUT_TOKENS")
        );
        let mut with = spec(AuthMode::Subscription, None);
        with.max_output_tokens = Some(77);
        with.effort = Some("high");
        let inv = build(&with, &[]);
        let argv = args(&inv);
        let at = argv.iter().position(|a| a == "--effort").expect("--effort");
        assert_eq!(argv[at + 1], "high");
        assert!(inv.env_set.contains(&(
            "CLAUDE_CODE_MAX_OUTPUT_TOKENS".to_string(),
            "77".to_string()
        )));
    }

    fn args(inv: &Invocation) -> Vec<String> {
        inv.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn print_mode_without_tools_settings_or_bare() {
        let inv = build(&spec(AuthMode::Subscription, None), &[]);
        let a = args(&inv);
        for needed in [
            "-p",
            "--no-session-persistence",
            "--strict-mcp-config",
            "--verbose",
        ] {
            assert!(a.contains(&needed.to_string()), "{needed} missing: {a:?}");
        }
        assert!(!a.contains(&"--bare".to_string()));
        let tools = a.iter().position(|x| x == "--tools").unwrap();
        assert_eq!(a[tools + 1], "");
        let model = a.iter().position(|x| x == "--model").unwrap();
        assert_eq!(a[model + 1], "opus");
        assert!(!a.contains(&"--resume".to_string()));
    }

    #[test]
    fn resume_adds_fork_session() {
        let inv = build(&spec(AuthMode::Subscription, Some("abc")), &[]);
        let a = args(&inv);
        let i = a.iter().position(|x| x == "--resume").unwrap();
        assert_eq!(a[i + 1], "abc");
        assert_eq!(a[i + 2], "--fork-session");
    }

    #[test]
    fn subscription_mode_strips_api_keys_and_our_settings() {
        let names = vec![
            "CLAUDE_MAX_PROXY_ANTHROPIC_API_KEY".to_string(),
            "PATH".to_string(),
        ];
        let inv = build(&spec(AuthMode::Subscription, None), &names);
        assert!(inv.env_remove.contains(&"ANTHROPIC_API_KEY".to_string()));
        assert!(inv.env_remove.contains(&"ANTHROPIC_AUTH_TOKEN".to_string()));
        assert!(
            inv.env_remove
                .contains(&"CLAUDE_MAX_PROXY_ANTHROPIC_API_KEY".to_string())
        );
        assert!(!inv.env_remove.contains(&"PATH".to_string()));
        assert!(
            inv.env_set
                .contains(&("CLAUDE_CODE_MAX_RETRIES".into(), "2".into()))
        );
    }

    /// The usage process asks Anthropic through the CLI: no "nonessential traffic" switch
    /// (not even the daemon's own), the request runs' credentials, no model request.
    #[test]
    fn the_usage_process_may_fetch_and_carries_the_credentials() {
        let spec = UsageSpec {
            cli: Path::new("/usr/bin/claude"),
            cwd: Path::new("/tmp/x"),
            auth_mode: AuthMode::Subscription,
            api_key: None,
            oauth_token: Some("tok"),
        };
        let names = vec!["CLAUDE_MAX_PROXY_API_KEY".to_string()];
        let inv = usage_invocation(&spec, &names);
        let a = args(&inv);
        assert!(a.contains(&"stream-json".to_string()));
        assert!(!a.contains(&"--model".to_string()));
        assert!(!a.contains(&"--bare".to_string()));
        assert!(inv.env_remove.contains(&NONESSENTIAL_TRAFFIC.to_string()));
        assert!(!inv.env_set.iter().any(|(k, _)| k == NONESSENTIAL_TRAFFIC));
        assert!(
            inv.env_set
                .contains(&("CLAUDE_CODE_OAUTH_TOKEN".into(), "tok".into()))
        );
        assert!(inv.env_remove.contains(&"ANTHROPIC_API_KEY".to_string()));
        assert!(
            inv.env_remove
                .contains(&"CLAUDE_MAX_PROXY_API_KEY".to_string())
        );
        let run = build(&spec_for_run(), &[]);
        assert!(
            run.env_set
                .contains(&(NONESSENTIAL_TRAFFIC.into(), "1".into()))
        );
    }

    fn spec_for_run<'a>() -> RunSpec<'a> {
        spec(AuthMode::Subscription, None)
    }

    #[test]
    fn api_key_mode_keeps_or_sets_the_key() {
        let mut s = spec(AuthMode::ApiKey, None);
        s.api_key = Some("sk-test");
        let inv = build(&s, &[]);
        assert!(!inv.env_remove.contains(&"ANTHROPIC_API_KEY".to_string()));
        assert!(
            inv.env_set
                .contains(&("ANTHROPIC_API_KEY".into(), "sk-test".into()))
        );
    }
}
