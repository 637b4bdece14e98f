//! Session-file synthesis: earlier turns of an OpenAI conversation written as a CLI session
//! (`<claude home>/projects/<sanitized cwd>/<uuid>.jsonl`) so that `--resume <uuid>
//! --fork-session` sends them upstream as real user/assistant turns.
//!
//! The row format follows what CLI 2.1.332 reads (see the `resume_synthesized` fixture):
//! one JSON object per turn, chained by `parentUuid`. The file (0600) is removed when the
//! [`SessionFile`] is dropped, with its project directory if we created it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Who spoke a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    User,
    Assistant,
}

/// The CLI's configuration home: `$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`.
pub fn claude_home(config_dir: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    config_dir
        .map(Path::to_path_buf)
        .or_else(|| home.map(|h| h.join(".claude")))
}

/// The CLI's project directory name for a working directory: every character that is
/// not an ASCII letter or digit becomes `-` (so `/tmp/a/b` → `-tmp-a-b`).
pub fn sanitize_cwd(cwd: &Path) -> String {
    cwd.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A written session file; removed on drop.
#[derive(Debug)]
pub struct SessionFile {
    pub session_id: String,
    path: PathBuf,
    /// The project directory, if this file created it (then it is removed too when empty).
    created_dir: Option<PathBuf>,
}

impl SessionFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SessionFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = &self.created_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// One earlier turn: its text and, for user turns, Messages API image blocks (they come
/// first in the row's content, as a client's image-then-text message does).
#[derive(Clone, Debug)]
pub struct SessionTurn<'a> {
    pub speaker: Speaker,
    pub text: &'a str,
    pub attachments: Vec<serde_json::Value>,
}

/// A user row's message content: the text alone, or the attachments then the text.
fn user_content(turn: &SessionTurn<'_>) -> serde_json::Value {
    if turn.attachments.is_empty() {
        return json!(turn.text);
    }
    let mut blocks = turn.attachments.clone();
    if !turn.text.trim().is_empty() {
        blocks.push(json!({"type": "text", "text": turn.text}));
    }
    serde_json::Value::Array(blocks)
}

/// One row of a session: a user message's content, or an assistant message's blocks.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    User(Value),
    Assistant(Vec<Value>),
}

/// A tool call the resumed CLI is to run (through the MCP stub): the CLI's own
/// `hook_deferred_tool` marker, as a PreToolUse hook answering `defer` leaves it.
#[derive(Clone, Debug, PartialEq)]
pub struct Deferred {
    pub id: String,
    pub name: String,
    pub input: Value,
}

/// Writes `turns` (alternating, starting with a user turn) as session `session_id` for `cwd`.
pub fn write(
    claude_home: &Path,
    cwd: &Path,
    session_id: &str,
    turns: &[SessionTurn<'_>],
    model: &str,
    cli_version: &str,
) -> std::io::Result<SessionFile> {
    let rows: Vec<Row> = turns
        .iter()
        .map(|turn| match turn.speaker {
            Speaker::User => Row::User(user_content(turn)),
            Speaker::Assistant => Row::Assistant(vec![json!({"type": "text", "text": turn.text})]),
        })
        .collect();
    let meta = RowMeta {
        session_id,
        cwd: &cwd.to_string_lossy(),
        model,
        cli_version,
    };
    write_rows(claude_home, cwd, &meta, &rows, None)
}

/// The attachments the CLI writes after a conversation's first user message (measured with
/// 2.1.332, tests/fixtures/claude-cli/j_real_resume): the environment it ran in and the
/// date. The model attachment is left out (its marketing name is the CLI's to know): the
/// resumed CLI then states the model in its trailing reminder instead.
fn first_turn_attachments(cwd: &str) -> Vec<Value> {
    let platform = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let shell = std::env::var_os("SHELL")
        .and_then(|s| {
            Path::new(&s)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "bash".to_string());
    vec![
        json!({"type": "environment", "snapshot": {"workingDirectory": cwd,
            "isWorktree": false, "isGitRepo": false, "additionalWorkingDirectories": [],
            "platform": platform, "shell": shell, "osVersion": os_version()}}),
        json!({"type": "date", "date": crate::clock::local_date(crate::clock::now())}),
    ]
}

/// `Linux 6.1.0-18-amd64`, `Darwin 24.1.0`: the kernel's name and release.
fn os_version() -> String {
    // SAFETY: uname writes only into the struct we own.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut name) } != 0 {
        return std::env::consts::OS.to_string();
    }
    let field = |chars: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = chars
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!("{} {}", field(&name.sysname), field(&name.release))
}

/// What every row repeats.
pub struct RowMeta<'a> {
    pub session_id: &'a str,
    pub cwd: &'a str,
    pub model: &'a str,
    pub cli_version: &'a str,
}

/// Writes `rows` (chained by `parentUuid`), then the deferred-call marker if any, as
/// session `meta.session_id` for `cwd` (0600, in a project directory it makes 0700 when
/// missing).
pub fn write_rows(
    claude_home: &Path,
    cwd: &Path,
    meta: &RowMeta<'_>,
    rows: &[Row],
    deferred: Option<&Deferred>,
) -> std::io::Result<SessionFile> {
    let session_id = meta.session_id.to_string();
    let dir = claude_home.join("projects").join(sanitize_cwd(cwd));
    let created_dir = if dir.exists() {
        None
    } else {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Some(dir.clone())
    };
    let path = dir.join(format!("{session_id}.jsonl"));
    let file = SessionFile {
        session_id,
        path: path.clone(),
        created_dir,
    };
    let text = render_rows(meta, rows, deferred, &crate::clock::timestamp_now());
    let mut handle = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    handle.write_all(text.as_bytes())?;
    handle.flush()?;
    Ok(file)
}

/// The session's lines: each row with what every row repeats and its place in the chain,
/// the first user row followed by the attachments the CLI records there, then the
/// deferred-call marker if any.
fn render_rows(meta: &RowMeta<'_>, rows: &[Row], deferred: Option<&Deferred>, now: &str) -> String {
    let base = json!({"isSidechain": false, "timestamp": now, "userType": "external",
                      "cwd": meta.cwd, "sessionId": meta.session_id, "version": meta.cli_version});
    let mut chain = Chain {
        base,
        out: String::new(),
        parent: None,
    };
    let mut first_user = true;
    for row in rows {
        chain.push(row_json(row, meta.model));
        if matches!(row, Row::User(_)) && first_user {
            first_user = false;
            // What the CLI records after a conversation's first user message: resumed
            // without them it sends an empty role-`system` message there (the real API may
            // refuse it); with them, the environment reminder of a real resumed session.
            for attachment in first_turn_attachments(meta.cwd) {
                chain.push(json!({"type": "attachment", "attachment": attachment}));
            }
        }
    }
    if let Some(call) = deferred {
        chain.push(
            json!({"type": "attachment", "attachment": {"type": "hook_deferred_tool",
            "toolUseID": call.id, "toolName": call.name, "toolInput": call.input,
            "hookName": "settings", "hookEvent": "PreToolUse",
            "permissionMode": "default"}}),
        );
    }
    chain.out
}

/// Session lines chained by `parentUuid`.
struct Chain {
    /// What every row repeats.
    base: Value,
    out: String,
    parent: Option<String>,
}

impl Chain {
    fn push(&mut self, mut row: Value) {
        let uuid = uuid::Uuid::new_v4().to_string();
        if let (Some(object), Some(base)) = (row.as_object_mut(), self.base.as_object()) {
            for (k, v) in base {
                object.insert(k.clone(), v.clone());
            }
            object.insert("parentUuid".into(), json!(self.parent));
            object.insert("uuid".into(), json!(uuid));
        }
        self.out.push_str(&row.to_string());
        self.out.push('\n');
        self.parent = Some(uuid);
    }
}

/// A row as the CLI writes it: a user message, or an assistant message (its stop reason
/// `tool_use` when it calls tools).
fn row_json(row: &Row, model: &str) -> Value {
    match row {
        Row::User(content) => json!({"type": "user",
            "message": {"role": "user", "content": content}}),
        Row::Assistant(blocks) => {
            let stop = if blocks.iter().any(|b| b["type"] == "tool_use") {
                "tool_use"
            } else {
                "end_turn"
            };
            json!({"type": "assistant", "message": {
                "id": format!("msg_{}", uuid::Uuid::new_v4().simple()),
                "type": "message", "role": "assistant", "model": model,
                "content": blocks, "stop_reason": stop, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}}})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sanitizes_like_the_cli() {
        assert_eq!(
            sanitize_cwd(Path::new("/tmp/cli-fixture/work")),
            "-tmp-cli-fixture-work"
        );
        assert_eq!(sanitize_cwd(Path::new("/a/b_c.d")), "-a-b-c-d");
    }

    #[test]
    fn writes_chained_rows_and_cleans_up() {
        let home = tempfile::tempdir().unwrap();
        let cwd = Path::new("/tmp/cmp-test/run-1");
        let turns = [
            SessionTurn {
                speaker: Speaker::User,
                text: "My name is Bob.",
                attachments: Vec::new(),
            },
            SessionTurn {
                speaker: Speaker::Assistant,
                text: "Nice to meet you, Bob.",
                attachments: Vec::new(),
            },
        ];
        let file = write(
            home.path(),
            cwd,
            "abc-1",
            &turns,
            "claude-sonnet-4-5",
            "2.1.332",
        )
        .unwrap();
        let path = file.path().to_path_buf();
        assert!(path.starts_with(home.path().join("projects/-tmp-cmp-test-run-1")));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 4, "user, environment, date, assistant");
        assert!(rows[0]["parentUuid"].is_null());
        for i in 1..rows.len() {
            assert_eq!(rows[i]["parentUuid"], rows[i - 1]["uuid"], "chained");
        }
        assert_eq!(rows[0]["message"]["content"], "My name is Bob.");
        assert_eq!(rows[1]["attachment"]["type"], "environment");
        assert_eq!(
            rows[1]["attachment"]["snapshot"]["workingDirectory"],
            cwd.to_string_lossy().as_ref()
        );
        assert_eq!(rows[2]["attachment"]["type"], "date");
        assert_eq!(
            rows[3]["message"]["content"][0]["text"],
            "Nice to meet you, Bob."
        );
        assert_eq!(rows[3]["sessionId"], file.session_id.as_str());
        drop(file);
        assert!(!path.exists());
        assert!(!path.parent().unwrap().exists());
    }
}
