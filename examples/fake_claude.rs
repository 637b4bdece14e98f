//! A fake `claude` CLI (2.1.332, print mode) for integration tests.
//!
//! `cargo test` builds it as `target/debug/examples/fake_claude`. It accepts the argv the daemon
//! passes, reads the prompt from stdin to EOF (with `--input-format stream-json`: one message
//! line per turn, answering each until stdin closes, as the real CLI does) and prints
//! stream-json lines shaped like the real CLI's (see `fixtures/claude-cli/v2.1.332/`). What it does is chosen by a scenario:
//! a marker `@fake:<scenario>` anywhere in stdin (the last one wins; all markers are removed from
//! the user text), else env `FAKE_CLAUDE_SCENARIO`, else `ok`.
//!
//! Scenarios: `ok`, `history`, `system`, `slow_start:<ms>`, `slow:<ms>`, `hang`, `hang_silent`,
//! `crash_midstream`, `garbage`, `exit_early`, `exit_code:<n>`, `api_error:<status>`,
//! `not_logged_in`, `abandoned`, `abandoned_prefix`, `maxtok`, `refusal`, `grandchild`,
//! `no_resume`, `replay:<fixture variant>` (e.g. `replay:v2.1.332/c_partial`). An unknown scenario prints `fake_claude: unknown scenario '<s>'` on stderr and
//! exits 2 with nothing on stdout.
//!
//! `maxtok` and `api_error:401|429|529` are not made up: they replay what the real CLI
//! printed, run as the daemon runs it, against the mock Messages API
//! (`tests/fixtures/claude-cli/v2.1.332/max_tokens`, `api_error_<status>` — with
//! `CLAUDE_CODE_MAX_RETRIES=0`, `api_error_<status>_no_retries`; each folder's README says
//! what was run and seen), with the waits between lines capped at 0.1 s (the recorded retry
//! back-off, up to 8.7 s, is not what these scenarios are for). Other `api_error` statuses
//! are synthesized in the same shape.
//!
//! Env: `FAKE_CLAUDE_DELTA_MS` (default 5) between text deltas; `FAKE_CLAUDE_LOG_DIR` makes it
//! write a JSON record of its invocation to `<dir>/<pid>.json` (atomically, via rename).
//!
//! Control requests on stream-json input are answered as the real CLI does; `get_usage`
//! with the `response` object in the file `FAKE_CLAUDE_USAGE_FILE`, else (the default) as a
//! setup-token login sees it (`rate_limits_available: false`); `FAKE_CLAUDE_USAGE=hang`
//! never answers. A stream-json process whose stdin closes before any user message exits 0
//! with nothing more on stdout, like the real CLI. The record lists the control requests'
//! subtypes (`control_requests`).
//!
//! Only std + serde_json + uuid + libc (and the crate's `clock` for timestamps); synchronous on
//! purpose.

use serde_json::{Map, Value, json};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const VERSION: &str = "2.1.332";
const INPUT_TOKENS: u64 = 42;
const CACHE_CREATION_TOKENS: u64 = 3;
const CACHE_READ_TOKENS: u64 = 5;
const DELTA_CHARS: usize = 6;
/// How long text input waits for stdin's first data.
const STDIN_WAIT_MS: i32 = 3000;

/// Env vars copied into the log record when set.
const RECORDED_ENV: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_CODE_MAX_RETRIES",
    "DISABLE_TELEMETRY",
    "DISABLE_ERROR_REPORTING",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "DISABLE_AUTOUPDATER",
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
    "HOME",
];

/// Options of the real CLI that take a value (so their value is not mistaken for a prompt).
const VALUE_FLAGS: &[&str] = &[
    "--add-dir",
    "--agent",
    "--agents",
    "--allowedTools",
    "--allowed-tools",
    "--append-system-prompt",
    "--append-system-prompt-file",
    "--autocompact",
    "--betas",
    "--debug-file",
    "--disallowedTools",
    "--disallowed-tools",
    "--effort",
    "--environment",
    "--fallback-model",
    "--file",
    "--input-format",
    "--json-schema",
    "--max-budget-usd",
    "--max-turns",
    "--mcp-config",
    "--model",
    "-n",
    "--name",
    "--output-format",
    "--permission-mode",
    "--permission-prompt-tool",
    "--permission-prompts",
    "--plugin-dir",
    "--plugin-url",
    "--remote-control-session-name-prefix",
    "--session-id",
    "--setting-sources",
    "--settings",
    "--system-prompt",
    "--system-prompt-file",
    "--system-prompt-snapshot",
    "--thinking",
    "--tools",
];

#[derive(Default, Debug)]
struct Args {
    raw: Vec<String>,
    model: Option<String>,
    system_prompt_file: Option<String>,
    system_prompt_inline: Option<String>,
    resume: Option<String>,
    input_format: Option<String>,
    version: bool,
    positional: Vec<String>,
}

fn parse_args(raw: Vec<String>) -> Args {
    let mut a = Args::default();
    let mut i = 0;
    while i < raw.len() {
        let arg = raw[i].as_str();
        i += 1;
        if arg == "--version" || arg == "-v" {
            a.version = true;
            continue;
        }
        // `--resume` / `-r` take an optional value.
        if arg == "--resume" || arg == "-r" {
            if let Some(v) = raw.get(i).filter(|v| !v.starts_with('-')) {
                a.resume = Some(v.clone());
                i += 1;
            } else {
                a.resume = Some(String::new());
            }
            continue;
        }
        let (name, inline_value) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg, None),
        };
        if name == "--resume" {
            a.resume = inline_value;
            continue;
        }
        if VALUE_FLAGS.contains(&name) {
            let value = match inline_value {
                Some(v) => Some(v),
                None => {
                    let v = raw.get(i).cloned();
                    if v.is_some() {
                        i += 1;
                    }
                    v
                }
            };
            match name {
                "--model" => a.model = value,
                "--system-prompt-file" => a.system_prompt_file = value,
                "--system-prompt" => a.system_prompt_inline = value,
                "--input-format" => a.input_format = value,
                _ => {}
            }
            continue;
        }
        if arg.starts_with('-') && arg.len() > 1 {
            continue; // boolean flag, known or not: ignored
        }
        a.positional.push(arg.to_string());
    }
    a.raw = raw;
    a
}

#[derive(Debug, Clone, PartialEq)]
enum Scenario {
    Ok,
    History,
    System,
    SlowStart(u64),
    Slow(u64),
    Hang,
    HangSilent,
    CrashMidstream,
    Garbage,
    ExitEarly,
    ExitCode(i32),
    ApiError(u16),
    NotLoggedIn,
    Abandoned,
    AbandonedPrefix,
    MaxTok,
    Refusal,
    Grandchild,
    NoResume,
    /// Replays a recorded fixture (`<variant>/stdout.txt` with `meta.json`'s timing and exit
    /// code) from tests/fixtures/claude-cli or `$FAKE_CLAUDE_FIXTURES`.
    Replay(String),
}

fn parse_scenario(s: &str) -> Option<Scenario> {
    let (name, arg) = match s.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (s, None),
    };
    let sc = match (name, arg) {
        ("ok", None) => Scenario::Ok,
        ("history", None) => Scenario::History,
        ("system", None) => Scenario::System,
        ("slow_start", Some(ms)) => Scenario::SlowStart(ms.parse().ok()?),
        ("slow", Some(ms)) => Scenario::Slow(ms.parse().ok()?),
        ("hang", None) => Scenario::Hang,
        ("hang_silent", None) => Scenario::HangSilent,
        ("crash_midstream", None) => Scenario::CrashMidstream,
        ("garbage", None) => Scenario::Garbage,
        ("exit_early", None) => Scenario::ExitEarly,
        ("exit_code", Some(n)) => Scenario::ExitCode(n.parse().ok()?),
        ("api_error", Some(st)) => Scenario::ApiError(st.parse().ok()?),
        ("not_logged_in", None) => Scenario::NotLoggedIn,
        ("abandoned", None) => Scenario::Abandoned,
        ("abandoned_prefix", None) => Scenario::AbandonedPrefix,
        ("maxtok", None) => Scenario::MaxTok,
        ("refusal", None) => Scenario::Refusal,
        ("grandchild", None) => Scenario::Grandchild,
        ("no_resume", None) => Scenario::NoResume,
        ("replay", Some(variant)) if !variant.contains("..") => {
            Scenario::Replay(variant.to_string())
        }
        _ => return None,
    };
    Some(sc)
}

const MARKER: &str = "@fake:";

/// Finds `@fake:<scenario>` markers: returns the last scenario name and the text with every
/// marker removed (trimmed).
fn extract_marker(text: &str) -> (Option<String>, String) {
    let mut scenario = None;
    let mut rest = String::with_capacity(text.len());
    let mut remaining = text;
    while let Some(pos) = remaining.find(MARKER) {
        rest.push_str(&remaining[..pos]);
        let after = &remaining[pos + MARKER.len()..];
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        scenario = Some(after[..end].to_string());
        remaining = &after[end..];
    }
    rest.push_str(remaining);
    (scenario, rest.trim().to_string())
}

/// The prompt text of `--input-format stream-json` input: the text of every `user` line.
fn stream_json_prompt(stdin: &str) -> String {
    let mut parts = Vec::new();
    for line in stdin.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v.get("type").and_then(Value::as_str) == Some("user")
            && let Some(content) = v.get("message").and_then(|m| m.get("content"))
        {
            parts.push(content_text(content));
        }
    }
    parts.join("\n")
}

/// Text of a message `content`: a string, or the concatenated `text` of its blocks.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn reported_model(requested: Option<&str>) -> String {
    match requested {
        None | Some("") => "claude-opus-5-5".to_string(),
        Some("opus") => "claude-opus-5-5".to_string(),
        Some("sonnet") => "claude-sonnet-4-5".to_string(),
        Some("haiku") => "claude-haiku-4-5-20251001".to_string(),
        Some(other) => other.to_string(),
    }
}

/// `$HOME/.claude/projects/<cwd, every non-alphanumeric char → '-'>/<uuid>.jsonl`.
/// Like the real CLI (a JS regex over UTF-16), a non-BMP char becomes two dashes.
fn session_file_path(home: &str, cwd: &str, id: &str) -> PathBuf {
    Path::new(home)
        .join(".claude")
        .join("projects")
        .join(project_dir_name(cwd))
        .join(format!("{id}.jsonl"))
}

fn project_dir_name(cwd: &str) -> String {
    let mut dir = String::with_capacity(cwd.len());
    for c in cwd.chars() {
        if c.is_ascii_alphanumeric() {
            dir.push(c);
        } else {
            for _ in 0..c.len_utf16() {
                dir.push('-');
            }
        }
    }
    dir
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn short_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

/// Current UTC time as `2026-11-26T08:05:35.650Z`.
fn iso_now() -> String {
    claude_max_proxy::clock::timestamp_now()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn sleep_ms(ms: u64) {
    if ms > 0 {
        thread::sleep(Duration::from_millis(ms));
    }
}

fn hang_forever() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

fn chunks(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

/// The JSON record of this invocation, written to `$FAKE_CLAUDE_LOG_DIR/<pid>.json`.
struct Recorder {
    dir: Option<PathBuf>,
    record: Map<String, Value>,
}

impl Recorder {
    fn set(&mut self, key: &str, value: Value) {
        self.record.insert(key.to_string(), value);
    }

    fn write(&self) {
        let Some(dir) = &self.dir else { return };
        let pid = std::process::id();
        let tmp = dir.join(format!(".{pid}.json.tmp"));
        let dst = dir.join(format!("{pid}.json"));
        let body =
            serde_json::to_vec_pretty(&Value::Object(self.record.clone())).unwrap_or_default();
        let ok = std::fs::create_dir_all(dir).is_ok()
            && std::fs::write(&tmp, body).is_ok()
            && std::fs::rename(&tmp, &dst).is_ok();
        if !ok {
            eprintln!("fake_claude: could not write log record {}", dst.display());
        }
    }
}

/// Writes stream-json lines, flushing each one. A closed stdout ends the process (exit 1).
struct Out {
    session_id: String,
    model: String,
    cwd: String,
    started: Instant,
}

impl Out {
    fn emit(&self, v: &Value) {
        let stdout = io::stdout();
        let mut lock = stdout.lock();
        let line = v.to_string();
        if writeln!(lock, "{line}")
            .and_then(|()| lock.flush())
            .is_err()
        {
            std::process::exit(1);
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn init(&self) {
        let api_key_source = if std::env::var_os("ANTHROPIC_API_KEY").is_some() {
            "ANTHROPIC_API_KEY"
        } else {
            "none"
        };
        self.emit(&json!({
            "type": "system",
            "subtype": "init",
            "cwd": self.cwd,
            "session_id": self.session_id,
            "tools": [],
            "mcp_servers": [],
            "model": self.model,
            "permissionMode": "default",
            "slash_commands": ["compact", "context", "cost", "init", "review", "security-review"],
            "terminal_slash_commands": [],
            "apiKeySource": api_key_source,
            "claude_code_version": VERSION,
            "output_style": "default",
            "agents": ["claude", "Explore", "general-purpose", "Plan", "statusline-setup"],
            "skills": [],
            "plugins": [],
            "capabilities": [],
            "analytics_disabled": true,
            "product_feedback_disabled": true,
            "served_by_anthropic": false,
            "uuid": new_uuid(),
            "sandbox_enabled": false,
            "memory_paths": {"auto": format!("{}/.claude/projects/{}/memory/", std::env::var("HOME").unwrap_or_default(), project_dir_name(&self.cwd))},
            "original_cwd": self.cwd,
            "additional_directories": [],
            "fast_mode_state": "off",
            "fast_mode_disabled_reason": "sdk_opt_in_required",
            "per_turn_effort_active": false,
            "ultrathink_available": false,
            "ultrathink_typed_raises": false,
            "view_mode": "default"
        }));
    }

    fn status(&self) {
        self.emit(&json!({
            "type": "system",
            "subtype": "status",
            "status": "requesting",
            "session_id": self.session_id,
            "uuid": new_uuid()
        }));
    }

    fn api_retry(&self, attempt: u64, max_retries: u64, status: u16, error: &str) {
        self.emit(&json!({
            "type": "system",
            "subtype": "api_retry",
            "attempt": attempt,
            "max_retries": max_retries,
            "retry_delay_ms": 0,
            "error_status": status,
            "error": error,
            "session_id": self.session_id,
            "uuid": new_uuid()
        }));
    }

    fn stream_event(&self, msg_id: &str, event: Value) {
        let mut line = json!({
            "type": "stream_event",
            "event": event,
            "session_id": self.session_id,
            "parent_tool_use_id": null,
            "uuid": new_uuid(),
            "api_message_id": msg_id
        });
        if event_type(&line) == Some("message_start") {
            line["ttft_ms"] = json!(self.elapsed_ms());
            line["thinking_display"] = json!("updates");
        }
        self.emit(&line);
    }

    fn message_start(&self, msg_id: &str) {
        self.stream_event(
            msg_id,
            json!({
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": message_usage(1)
                }
            }),
        );
    }

    fn block_start(&self, msg_id: &str) {
        self.stream_event(
            msg_id,
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        );
    }

    fn text_delta(&self, msg_id: &str, text: &str) {
        self.stream_event(
            msg_id,
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        );
    }

    fn block_stop(&self, msg_id: &str) {
        self.stream_event(msg_id, json!({"type": "content_block_stop", "index": 0}));
    }

    fn message_delta(&self, msg_id: &str, stop_reason: &str, output_tokens: u64) {
        self.stream_event(
            msg_id,
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": output_tokens}
            }),
        );
    }

    fn message_stop(&self, msg_id: &str, abandoned: bool) {
        let mut line = json!({
            "type": "stream_event",
            "event": {"type": "message_stop"},
            "session_id": self.session_id,
            "parent_tool_use_id": null,
            "uuid": new_uuid(),
            "api_message_id": msg_id
        });
        if abandoned {
            line["abandoned_blocks"] = json!({"api_message_id": msg_id, "from_block_index": 0});
        }
        self.emit(&line);
    }

    /// The full `assistant` message. `stop_reason` is null when partial messages are on, except
    /// for the non-streaming retry after an abandoned stream.
    fn assistant(&self, msg_id: &str, text: &str, stop_reason: Option<&str>, usage: Value) {
        self.emit(&json!({
            "type": "assistant",
            "message": {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": stop_reason,
                "stop_sequence": null,
                "usage": usage,
                "context_management": null
            },
            "parent_tool_use_id": null,
            "session_id": self.session_id,
            "uuid": new_uuid(),
            "timestamp": iso_now(),
            "request_id": format!("req_fake_{}", short_hex())
        }));
    }

    /// A synthetic `assistant` message the CLI prints for API (and login) errors.
    fn synthetic_assistant(
        &self,
        text: &str,
        error: &str,
        status: Option<u16>,
        error_type: Option<&str>,
    ) {
        let mut line = json!({
            "type": "assistant",
            "message": {
                "diagnostics": null,
                "id": new_uuid(),
                "container": null,
                "model": "<synthetic>",
                "role": "assistant",
                "stop_details": null,
                "stop_reason": "stop_sequence",
                "stop_sequence": "",
                "type": "message",
                "usage": {
                    "output_tokens_details": null,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                    "service_tier": null,
                    "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                    "inference_geo": null,
                    "iterations": null,
                    "speed": null,
                    "fallback_credit": null
                },
                "content": [{"type": "text", "text": text}],
                "context_management": null
            },
            "parent_tool_use_id": null,
            "session_id": self.session_id,
            "uuid": new_uuid(),
            "timestamp": iso_now(),
            "error": error
        });
        if let Some(status) = status {
            line["request_id"] = json!(format!("req_fake_{}", short_hex()));
            line["is_api_error_message"] = json!(true);
            line["api_error_status"] = json!(status);
            if let Some(t) = error_type {
                line["api_error_type"] = json!(t);
            }
        }
        self.emit(&line);
    }

    fn result_success(&self, text: &str, stop_reason: &str, output_tokens: u64, msg_ids: &[&str]) {
        let duration = self.elapsed_ms();
        let cost = 0.000_308;
        let (context_window, max_output) = if self.model.contains("opus") {
            (1_000_000, 128_000)
        } else {
            (200_000, 64_000)
        };
        let model_usage = json!({
            "inputTokens": INPUT_TOKENS,
            "outputTokens": output_tokens,
            "cacheReadInputTokens": CACHE_READ_TOKENS,
            "cacheCreationInputTokens": CACHE_CREATION_TOKENS,
            "webSearchRequests": 0,
            "costUSD": cost,
            "contextWindow": context_window,
            "maxOutputTokens": max_output,
            "thinkingTokens": 0,
            "cacheCreationEphemeral5mInputTokens": CACHE_CREATION_TOKENS,
            "cacheCreationEphemeral1hInputTokens": 0,
            "canonicalModel": self.model,
            "provider": "firstParty",
            "costBasis": "list"
        });
        let mut by_model = Map::new();
        by_model.insert(self.model.clone(), model_usage);
        let by_model = Value::Object(by_model);
        self.emit(&json!({
            "type": "result",
            "subtype": "success",
            "is_error": false,
            "api_error_status": null,
            "duration_ms": duration,
            "duration_api_ms": duration,
            "ttft_ms": duration,
            "num_turns": 1,
            "result": text,
            "stop_reason": stop_reason,
            "session_id": self.session_id,
            "total_cost_usd": cost,
            "usage": result_usage(INPUT_TOKENS, CACHE_CREATION_TOKENS, CACHE_READ_TOKENS, output_tokens),
            "modelUsage": by_model,
            "permission_denials": [],
            "terminal_reason": "completed",
            "fast_mode_state": "off",
            "fast_mode_disabled_reason": "sdk_opt_in_required",
            "subagent_stats": subagent_stats(),
            "safety_stops": 0,
            "uuid": new_uuid(),
            "begun_message_ids": msg_ids,
            "ttft_stream_ms": duration,
            "time_to_request_ms": 0,
            "first_content_frame_ms": duration,
            "queued_turn_count": 0,
            "result_index": 0,
            "model_usage_since_last_result": by_model
        }));
    }

    fn result_error(
        &self,
        text: &str,
        status: Option<u16>,
        error_type: Option<&str>,
        terminal_reason: &str,
    ) {
        let mut line = json!({
            "type": "result",
            "subtype": "success",
            "is_error": true,
            "api_error_status": status,
            "duration_ms": self.elapsed_ms(),
            "duration_api_ms": 0,
            "num_turns": 1,
            "result": text,
            "stop_reason": "stop_sequence",
            "session_id": self.session_id,
            "total_cost_usd": 0,
            "usage": result_usage(0, 0, 0, 0),
            "modelUsage": {},
            "permission_denials": [],
            "terminal_reason": terminal_reason,
            "fast_mode_state": "off",
            "fast_mode_disabled_reason": "sdk_opt_in_required",
            "subagent_stats": subagent_stats(),
            "safety_stops": 0,
            "uuid": new_uuid(),
            "begun_message_ids": [],
            "queued_turn_count": 0,
            "result_index": 0,
            "model_usage_since_last_result": {}
        });
        if let Some(t) = error_type {
            line["api_error_type"] = json!(t);
        }
        self.emit(&line);
    }
}

fn event_type(line: &Value) -> Option<&str> {
    line.get("event")?.get("type")?.as_str()
}

fn subagent_stats() -> Value {
    json!({
        "spawned": 0,
        "requested": {"background": 0, "foreground": 0, "unset": 0},
        "started_in_background": 0,
        "max_depth": 0,
        "spawned_by_subagents": 0,
        "completed": 0,
        "failed": 0,
        "killed": {"parent": 0, "user": 0, "system": 0},
        "refused": {"depth_limit": 0, "concurrency_limit": 0, "budget": 0},
        "by_type": {}
    })
}

fn message_usage(output_tokens: u64) -> Value {
    json!({
        "input_tokens": INPUT_TOKENS,
        "cache_creation_input_tokens": CACHE_CREATION_TOKENS,
        "cache_read_input_tokens": CACHE_READ_TOKENS,
        "output_tokens": output_tokens
    })
}

fn result_usage(input: u64, cache_creation: u64, cache_read: u64, output: u64) -> Value {
    json!({
        "input_tokens": input,
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output,
        "output_tokens_details": {"thinking_tokens": 0},
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": cache_creation},
        "inference_geo": "",
        "iterations": [],
        "speed": "standard",
        "fallback_credit": null
    })
}

/// Text, `error` field and `api_error_type` of a synthetic API error message (401, 429 and
/// 529 are replayed from recordings instead).
fn api_error_details(status: u16) -> (String, &'static str, &'static str) {
    match status {
        400 => (
            "API Error: 400 bad request (fake)".to_string(),
            "unknown",
            "invalid_request_error",
        ),
        403 => (
            "API Error: 403 forbidden (fake)".to_string(),
            "unknown",
            "permission_error",
        ),
        404 => (
            "API Error: 404 not found (fake)".to_string(),
            "unknown",
            "not_found_error",
        ),
        s if s >= 500 => (
            format!("API Error: {s} internal server error (fake)"),
            "server_error",
            "api_error",
        ),
        s => (
            format!("API Error: {s} error (fake)"),
            "unknown",
            "api_error",
        ),
    }
}

/// Whether the real CLI retries this status (it does for 401, 408, 409, 429 and 5xx).
fn retried(status: u16) -> bool {
    matches!(status, 401 | 408 | 409 | 429) || status >= 500
}

struct Run {
    out: Out,
    rec: Recorder,
    user_text: String,
    delta_ms: u64,
}

impl Run {
    fn exit(&mut self, code: i32) -> ! {
        self.rec.set("phase", json!("exited"));
        self.rec.set("exit_code", json!(code));
        self.rec.write();
        let _ = io::stdout().flush();
        std::process::exit(code);
    }

    fn ok_text(&self) -> String {
        format!("Hello from the fake. You said: {}", self.user_text)
    }

    /// The normal streamed reply; returns the exit code.
    fn stream_reply(&mut self, text: &str, stop_reason: &str) -> i32 {
        let msg_id = format!("msg_fake{}", short_hex());
        let deltas = chunks(text, DELTA_CHARS);
        let n = deltas.len() as u64;
        self.out.init();
        self.out.status();
        self.out.message_start(&msg_id);
        self.out.block_start(&msg_id);
        for d in &deltas {
            sleep_ms(self.delta_ms);
            self.out.text_delta(&msg_id, d);
        }
        self.out.assistant(&msg_id, text, None, message_usage(1));
        self.out.block_stop(&msg_id);
        self.out.message_delta(&msg_id, stop_reason, n);
        self.out.message_stop(&msg_id, false);
        self.out.result_success(text, stop_reason, n, &[&msg_id]);
        0
    }

    /// A stream abandoned after `partial`, then the complete message from the non-streaming retry.
    fn abandoned(&mut self, partial_deltas: &[String]) -> i32 {
        let final_text = self.ok_text();
        let first = format!("msg_fake{}", short_hex());
        let second = format!("msg_fake{}", short_hex());
        self.out.init();
        self.out.status();
        self.out.message_start(&first);
        self.out.block_start(&first);
        for d in partial_deltas {
            sleep_ms(self.delta_ms);
            self.out.text_delta(&first, d);
        }
        self.out.block_stop(&first);
        self.out.message_stop(&first, true);
        sleep_ms(self.delta_ms);
        let n = chunks(&final_text, DELTA_CHARS).len() as u64;
        let usage = result_usage(INPUT_TOKENS, CACHE_CREATION_TOKENS, CACHE_READ_TOKENS, n);
        self.out
            .assistant(&second, &final_text, Some("end_turn"), usage);
        self.out
            .result_success(&final_text, "end_turn", n, &[&first]);
        0
    }

    fn api_error(&mut self, status: u16) -> i32 {
        let (text, error, error_type) = api_error_details(status);
        self.out.init();
        self.out.status();
        if retried(status) {
            let max = env_u64("CLAUDE_CODE_MAX_RETRIES", 10).min(10);
            for attempt in 1..=max {
                self.out.api_retry(attempt, max, status, error);
            }
        }
        self.out
            .synthetic_assistant(&text, error, Some(status), Some(error_type));
        self.out
            .result_error(&text, Some(status), Some(error_type), "api_error");
        1
    }

    fn not_logged_in(&mut self) -> i32 {
        let text = "Not logged in · Please run /login";
        self.out.init();
        self.out
            .synthetic_assistant(text, "authentication_failed", None, None);
        self.out.result_error(text, None, None, "completed");
        1
    }

    fn crash_midstream(&mut self) -> i32 {
        let text = self.ok_text();
        let msg_id = format!("msg_fake{}", short_hex());
        self.out.init();
        self.out.status();
        self.out.message_start(&msg_id);
        self.out.block_start(&msg_id);
        for d in chunks(&text, DELTA_CHARS).iter().take(2) {
            sleep_ms(self.delta_ms);
            self.out.text_delta(&msg_id, d);
        }
        sleep_ms(self.delta_ms);
        eprintln!("fatal: simulated crash");
        3
    }

    fn garbage(&mut self) -> i32 {
        for line in [
            "this is not json",
            "{\"type\": \"system\", broken",
            "[1, 2, 3]",
            "",
            "\u{1b}[31mcolored noise\u{1b}[0m",
        ] {
            let stdout = io::stdout();
            let mut lock = stdout.lock();
            if writeln!(lock, "{line}")
                .and_then(|()| lock.flush())
                .is_err()
            {
                return 1;
            }
        }
        self.out.emit(&json!({
            "type": "fake_unknown_event",
            "subtype": "whatever",
            "session_id": self.out.session_id,
            "uuid": new_uuid()
        }));
        0
    }

    fn grandchild(&mut self) -> ! {
        let pid = Command::new("sleep")
            .arg("300")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .map(|child| child.id());
        self.rec.set("grandchild_pid", json!(pid));
        self.rec.write();
        self.out.init();
        self.out.status();
        hang_forever()
    }
}

/// Text input, as the real CLI: when stdin brings no data (nor EOF) within 3 s, it warns,
/// goes on without a prompt and exits 1 (measured with 2.1.332).
fn give_up_on_silent_stdin() {
    let mut poll = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut poll, 1, STDIN_WAIT_MS) };
    if ready == 0 {
        eprintln!(
            "Warning: no stdin data received in 3s, proceeding without it. If piping from a \
             slow command, redirect stdin explicitly: < /dev/null to skip, or wait longer."
        );
        eprintln!(
            "Error: Input must be provided either through stdin or as a prompt argument when \
             using --print"
        );
        std::process::exit(1);
    }
}

/// Description of the conversation: `turns=user:…|assistant:…|user:<stdin text>`.
fn history_text(session_lines: Option<&Vec<Value>>, user_text: &str) -> String {
    let mut turns = Vec::new();
    for line in session_lines.into_iter().flatten() {
        let Some(kind) = line.get("type").and_then(Value::as_str) else {
            continue;
        };
        if kind != "user" && kind != "assistant" {
            continue;
        }
        let text = line
            .get("message")
            .and_then(|m| m.get("content"))
            .map(content_text)
            .unwrap_or_default();
        turns.push(format!("{kind}:{text}"));
    }
    turns.push(format!("user:{user_text}"));
    format!("turns={}", turns.join("|"))
}

/// Replays `<fixtures>/<variant>/stdout.txt` line by line at the recorded times and returns
/// the recorded exit code (2 if the fixture is missing).
/// The longest wait between two lines when a scenario replays a recording.
const RECORDED_MAX_GAP: Duration = Duration::from_millis(100);

/// Prints a recorded fixture's stdout, paced as recorded (each wait at most `max_gap`), and
/// returns its exit code.
fn replay_paced(variant: &str, max_gap: Option<Duration>) -> i32 {
    let root = std::env::var_os("FAKE_CLAUDE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-cli"));
    let dir = root.join(variant);
    let Ok(stdout) = std::fs::read_to_string(dir.join("stdout.txt")) else {
        eprintln!("fake_claude: no fixture at {}", dir.display());
        return 2;
    };
    let meta: Value = std::fs::read_to_string(dir.join("meta.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let times: Vec<f64> = meta["line_times_s"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let out = io::stdout();
    let mut previous = times.first().copied().unwrap_or(0.0);
    let mut due = Instant::now();
    for (i, line) in stdout.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        if let Some(t) = times.get(i) {
            let gap = Duration::from_secs_f64((t - previous).max(0.0));
            previous = *t;
            due += max_gap.map_or(gap, |max| gap.min(max));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        let mut lock = out.lock();
        if writeln!(lock, "{line}")
            .and_then(|()| lock.flush())
            .is_err()
        {
            return 1;
        }
    }
    meta["rc"]
        .as_i64()
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(0)
}

fn main() {
    let started = Instant::now();
    let args = parse_args(
        std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    );
    if args.version {
        println!("{VERSION} (Claude Code)");
        return;
    }

    // The system prompt file is read at start, like the real CLI.
    let (system_prompt, system_prompt_mode) = match &args.system_prompt_file {
        Some(path) => {
            let content = std::fs::read(path)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            let mode = std::fs::metadata(path).ok().map(|m| {
                use std::os::unix::fs::PermissionsExt;
                format!("{:o}", m.permissions().mode() & 0o7777)
            });
            (content, mode)
        }
        None => (None, None),
    };

    // stream-json input: one user message line per turn (the process stays for the next
    // one until stdin closes, like the real CLI); text input: the prompt to EOF.
    let stream_json = args.input_format.as_deref() == Some("stream-json");
    let first_line = if stream_json {
        next_message_line()
    } else {
        None
    };
    if stream_json && first_line.is_none() {
        // Only control requests, then EOF: the real CLI exits quietly.
        record_control_only(&args.raw, "no_prompt");
        return;
    }
    let stdin = if stream_json {
        first_line.unwrap_or_default()
    } else {
        give_up_on_silent_stdin();
        let mut stdin_bytes = Vec::new();
        let _ = io::stdin().read_to_end(&mut stdin_bytes);
        String::from_utf8_lossy(&stdin_bytes).into_owned()
    };
    let mut prompt = if stream_json {
        stream_json_prompt(&stdin)
    } else {
        stdin.clone()
    };
    if prompt.trim().is_empty() && !args.positional.is_empty() {
        prompt = args.positional.join(" ");
    }

    let (marker, user_text) = extract_marker(&prompt);
    let scenario_name = marker
        .or_else(|| {
            std::env::var("FAKE_CLAUDE_SCENARIO")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "ok".to_string());
    let scenario = parse_scenario(&scenario_name);

    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let home = std::env::var("HOME").ok();
    let model = reported_model(args.model.as_deref());

    let mut env = Map::new();
    for name in RECORDED_ENV {
        if let Some(v) = std::env::var_os(name) {
            env.insert((*name).to_string(), json!(v.to_string_lossy()));
        }
    }

    // `--resume`: the session file is read after stdin closes.
    let session_file = match (&args.resume, &home) {
        (Some(id), Some(home)) if !id.is_empty() => Some(session_file_path(home, &cwd, id)),
        _ => None,
    };
    let session_lines: Option<Vec<Value>> = session_file.as_ref().and_then(|path| {
        let text = std::fs::read(path).ok()?;
        let text = String::from_utf8_lossy(&text);
        Some(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap_or_else(|_| json!(l)))
                .collect(),
        )
    });

    let mut record = Map::new();
    record.insert("pid".into(), json!(std::process::id()));
    // SAFETY: getpgid(0) only queries the calling process.
    record.insert("pgid".into(), json!(unsafe { libc::getpgid(0) }));
    record.insert("args".into(), json!(args.raw));
    record.insert("cwd".into(), json!(cwd));
    record.insert("stdin".into(), json!(stdin));
    record.insert("user_text".into(), json!(user_text));
    record.insert("scenario".into(), json!(scenario_name));
    record.insert("model".into(), json!(model));
    record.insert("env".into(), Value::Object(env));
    record.insert("system_prompt".into(), json!(system_prompt));
    record.insert("system_prompt_file_mode".into(), json!(system_prompt_mode));
    record.insert("resume_id".into(), json!(args.resume));
    record.insert(
        "session_file".into(),
        json!(
            session_file
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned())
        ),
    );
    record.insert("session_file_lines".into(), json!(session_lines));
    record.insert("grandchild_pid".into(), Value::Null);
    record.insert("control_requests".into(), control_requests());
    record.insert("phase".into(), json!("running"));
    record.insert("exit_code".into(), Value::Null);

    let mut run = Run {
        out: Out {
            session_id: new_uuid(),
            model,
            cwd,
            started,
        },
        rec: Recorder {
            dir: std::env::var_os("FAKE_CLAUDE_LOG_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            record,
        },
        user_text,
        delta_ms: env_u64("FAKE_CLAUDE_DELTA_MS", 5),
    };
    run.rec.write();

    let Some(scenario) = scenario else {
        eprintln!("fake_claude: unknown scenario '{scenario_name}'");
        run.exit(2);
    };

    if let Some(id) = &args.resume
        && (scenario == Scenario::NoResume || session_lines.is_none())
    {
        eprintln!("No conversation found with session ID: {id}");
        run.exit(1);
    }

    let code = match scenario {
        Scenario::Ok | Scenario::NoResume => {
            let text = run.ok_text();
            run.stream_reply(&text, "end_turn")
        }
        Scenario::History => {
            let text = history_text(session_lines.as_ref(), &run.user_text);
            run.stream_reply(&text, "end_turn")
        }
        Scenario::System => {
            let text = system_prompt
                .clone()
                .or_else(|| args.system_prompt_inline.clone())
                .unwrap_or_else(|| "<none>".to_string());
            run.stream_reply(&text, "end_turn")
        }
        Scenario::SlowStart(ms) => {
            sleep_ms(ms);
            let text = run.ok_text();
            run.stream_reply(&text, "end_turn")
        }
        Scenario::Slow(ms) => {
            run.delta_ms = ms;
            let text = run.ok_text();
            run.stream_reply(&text, "end_turn")
        }
        Scenario::MaxTok => replay_paced("v2.1.332/max_tokens", Some(RECORDED_MAX_GAP)),
        Scenario::Refusal => {
            let text = run.ok_text();
            run.stream_reply(&text, "refusal")
        }
        Scenario::Hang => {
            run.out.init();
            run.out.status();
            hang_forever()
        }
        Scenario::HangSilent => hang_forever(),
        Scenario::Grandchild => run.grandchild(),
        Scenario::CrashMidstream => run.crash_midstream(),
        Scenario::Garbage => run.garbage(),
        Scenario::ExitEarly => {
            run.out.init();
            0
        }
        Scenario::ExitCode(n) => {
            run.out.init();
            n
        }
        Scenario::ApiError(status @ (401 | 429 | 529)) => {
            let no_retries = std::env::var("CLAUDE_CODE_MAX_RETRIES").is_ok_and(|r| r == "0");
            let suffix = if no_retries { "_no_retries" } else { "" };
            replay_paced(
                &format!("v2.1.332/api_error_{status}{suffix}"),
                Some(RECORDED_MAX_GAP),
            )
        }
        Scenario::ApiError(status) => run.api_error(status),
        Scenario::NotLoggedIn => run.not_logged_in(),
        Scenario::Abandoned => run.abandoned(&["partial".to_string()]),
        Scenario::AbandonedPrefix => {
            let prefix: String = run.ok_text().chars().take(10).collect();
            run.abandoned(&chunks(&prefix, DELTA_CHARS))
        }
        Scenario::Replay(ref variant) => replay_paced(variant, None),
    };
    let conversational = matches!(
        scenario,
        Scenario::Ok | Scenario::NoResume | Scenario::History
    );
    if stream_json && code == 0 && conversational {
        let first_reply = match scenario {
            Scenario::History => history_text(session_lines.as_ref(), &run.user_text),
            _ => run.ok_text(),
        };
        run.later_turns(
            session_lines.as_ref(),
            first_reply,
            scenario == Scenario::History,
        );
    }
    run.exit(code);
}

fn control_requests() -> Value {
    json!(
        CONTROL_REQUESTS
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    )
}

/// The record of a process that got control requests only: its pid, argv, environment, the
/// requests and `phase`.
fn record_control_only(raw_args: &[String], phase: &str) {
    let mut rec = Recorder {
        dir: std::env::var_os("FAKE_CLAUDE_LOG_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from),
        record: Map::new(),
    };
    rec.set("pid", json!(std::process::id()));
    rec.set("args", json!(raw_args));
    rec.set("stdin", json!(""));
    rec.set("control_requests", control_requests());
    rec.set("phase", json!(phase));
    let mut env = Map::new();
    for name in RECORDED_ENV {
        if let Some(v) = std::env::var_os(name) {
            env.insert((*name).to_string(), json!(v.to_string_lossy()));
        }
    }
    rec.set("env", Value::Object(env));
    rec.write();
}

/// The subtypes of the control requests received, in order.
static CONTROL_REQUESTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The `get_usage` answer: `FAKE_CLAUDE_USAGE_FILE`'s object, or what a setup-token login
/// gets; with `FAKE_CLAUDE_USAGE=hang`, none ever.
fn usage_answer() -> Value {
    if std::env::var("FAKE_CLAUDE_USAGE").is_ok_and(|v| v == "hang") {
        let raw: Vec<String> = std::env::args().skip(1).collect();
        record_control_only(&raw, "usage_hang");
        hang_forever();
    }
    if let Some(path) = std::env::var_os("FAKE_CLAUDE_USAGE_FILE")
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(value) = serde_json::from_str::<Value>(&text)
    {
        return value;
    }
    json!({"session": {"total_cost_usd": 0}, "subscription_type": null,
        "rate_limits_available": false, "rate_limits": null, "behaviors": null})
}

/// The next user message line of stdin, or `None` at EOF. Control requests on the way
/// (`initialize`) are answered with a `control_response` line, as the real CLI does.
fn next_message_line() -> Option<String> {
    use std::io::BufRead;
    let stdin = io::stdin();
    let mut line = String::new();
    loop {
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) if line.trim().is_empty() => continue,
            Ok(_) => {}
        }
        let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if value["type"] == "control_request" {
            let subtype = value["request"]["subtype"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if let Ok(mut seen) = CONTROL_REQUESTS.lock() {
                seen.push(subtype.clone());
            }
            let answer = if subtype == "get_usage" {
                usage_answer()
            } else {
                json!({"commands": [], "models": []})
            };
            let response = json!({"type": "control_response", "response": {
                "subtype": "success", "request_id": value["request_id"],
                "response": answer}});
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{response}");
            let _ = out.flush();
            continue;
        }
        return Some(line);
    }
}

impl Run {
    /// A live conversation: each further user message line gets its reply, until stdin
    /// closes. `turns` in the record lists every turn's user text; the `history` scenario
    /// describes the conversation as the process holds it (session rows, then its turns).
    fn later_turns(&mut self, session: Option<&Vec<Value>>, first_reply: String, history: bool) {
        let mut held: Vec<String> = vec![
            format!("user:{}", self.user_text),
            format!("assistant:{first_reply}"),
        ];
        let mut turns = vec![json!(self.user_text)];
        while let Some(line) = next_message_line() {
            let (_, text) = extract_marker(&stream_json_prompt(&line));
            self.user_text = text;
            turns.push(json!(self.user_text));
            self.rec.set("turns", json!(turns));
            self.rec.write();
            let reply = if history {
                let base = history_text(session, "");
                let mut described: Vec<String> = base
                    .trim_start_matches("turns=")
                    .split('|')
                    .filter(|t| *t != "user:")
                    .map(str::to_string)
                    .collect();
                described.extend(held.iter().cloned());
                described.push(format!("user:{}", self.user_text));
                format!("turns={}", described.join("|"))
            } else {
                self.ok_text()
            };
            self.stream_reply(&reply, "end_turn");
            held.push(format!("user:{}", self.user_text));
            held.push(format!("assistant:{reply}"));
        }
    }
}
