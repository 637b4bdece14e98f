//! Records what the real CLI prints when the daemon runs it against the mock Messages API
//! (`tests/support/mock_anthropic.rs`), into a fixture folder that the fake CLI
//! (`examples/fake_claude.rs`, scenario `replay:<folder>`) can replay.
//!
//! ```sh
//! cargo run --example record_cli -- <fixture dir> <mock model> [max retries] [prompt]
//! ```
//!
//! The CLI is `$CLAUDE_MAX_PROXY_TEST_CLI`, else the one bundled in the `claude-agent-sdk`
//! wheel under `.venv/`. It is run as the daemon runs a new conversation's CLI — the argv and
//! environment come from `claude::command::build` (subscription mode, the mock's OAuth token,
//! `CLAUDE_CODE_MAX_RETRIES` = max retries, default 2 like the daemon's `cli_max_retries`),
//! the prompt (default `Say hi`) as one stream-json user message on stdin — with a fresh
//! `HOME` and working directory, and `ANTHROPIC_BASE_URL` pointing at the mock. The mock's
//! model steers the answer (`claude-maxtok-1`: `stop_reason` max_tokens; `err-401`,
//! `err-429`, `err-529`: that API error).
//!
//! Written: `stdout.txt` (the stream-json lines), `stderr.txt`, `meta.json` (argv, the
//! environment set, exit code, wall time, arrival time of each stdout line: what the replay
//! paces itself by) and `requests.jsonl` (every request the mock saw; credentials masked).

#[path = "../tests/support/mock_anthropic.rs"]
mod mock_anthropic;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use claude_max_proxy::claude::command::{RunSpec, build};
use claude_max_proxy::claude::stream_input;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

type Error = Box<dyn std::error::Error>;

/// The real CLI: `$CLAUDE_MAX_PROXY_TEST_CLI`, else the wheel's under `.venv/lib/*/`.
fn real_cli() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("CLAUDE_MAX_PROXY_TEST_CLI") {
        return Ok(PathBuf::from(path));
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    for entry in std::fs::read_dir(&lib)?.flatten() {
        let candidate = entry
            .path()
            .join("site-packages/claude_agent_sdk/_bundled/claude");
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(format!("no claude CLI under {} (run .ci/run)", lib.display()).into())
}

/// A recorded request as JSON, with `x-api-key` and `authorization` masked.
fn request_json(request: &mock_anthropic::RecordedRequest) -> Value {
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .map(|(name, value)| {
            let shown = if name == "x-api-key" || name == "authorization" {
                "<masked>".to_string()
            } else {
                value.clone()
            };
            (name.clone(), json!(shown))
        })
        .collect();
    json!({"method": request.method, "path": request.path, "headers": headers,
           "body": request.body})
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(out), Some(model)) = (args.first(), args.get(1)) else {
        return Err("usage: record_cli <fixture dir> <mock model> [max retries] [prompt]".into());
    };
    let retries: u32 = args.get(2).map(|r| r.parse()).transpose()?.unwrap_or(2);
    let prompt = args.get(3).map(String::as_str).unwrap_or("Say hi");
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;

    let cli = real_cli()?;
    let mock = mock_anthropic::MockAnthropic::start().await;
    let home = tempfile::tempdir()?;
    let cwd = tempfile::tempdir()?;
    let spec = RunSpec {
        oauth_token: Some(mock_anthropic::MOCK_OAUTH_TOKEN),
        max_retries: retries,
        stream_input: true,
        ..RunSpec::plain(&cli, model, cwd.path())
    };
    let invocation = build(&spec, &[]);
    let stdin_bytes = stream_input::user_message_line(vec![stream_input::text_block(prompt)]);

    let started = Instant::now();
    let mut child = tokio::process::Command::new(&invocation.program)
        .args(&invocation.args)
        .current_dir(&invocation.cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("ANTHROPIC_BASE_URL", mock.base_url())
        .envs(invocation.env_set.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    stdin.write_all(&stdin_bytes).await?;
    drop(stdin);
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let stderr_task = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let mut stdout = String::new();
    let mut times = Vec::new();
    while let Some(line) = lines.next_line().await? {
        times.push((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let status = child.wait().await?;
    let wall = started.elapsed().as_secs_f64();
    let stderr_text = stderr_task.await?;

    let env: serde_json::Map<String, Value> = invocation
        .env_set
        .iter()
        .map(|(k, v)| {
            let shown = if k == "CLAUDE_CODE_OAUTH_TOKEN" {
                "<the mock's token>"
            } else {
                v
            };
            (k.clone(), json!(shown))
        })
        .collect();
    let argv: Vec<String> = invocation
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let meta = json!({
        "cli_version": "2.1.332",
        "cmd": argv,
        "env": env,
        "rc": status.code(),
        "wall_s": (wall * 1000.0).round() / 1000.0,
        "first_stdout_byte_s": times.first(),
        "line_times_s": times,
        "stdin": String::from_utf8_lossy(&stdin_bytes),
    });
    std::fs::write(out.join("stdout.txt"), &stdout)?;
    std::fs::write(out.join("stderr.txt"), &stderr_text)?;
    std::fs::write(
        out.join("meta.json"),
        serde_json::to_string_pretty(&meta)? + "\n",
    )?;
    let requests: String = mock
        .requests()
        .iter()
        .map(|r| request_json(r).to_string() + "\n")
        .collect();
    std::fs::write(out.join("requests.jsonl"), requests)?;
    println!(
        "{}: exit {:?}, {} stdout lines, {} requests to the mock, {wall:.1} s",
        out.display(),
        status.code(),
        times.len(),
        mock.requests().len()
    );
    Ok(())
}
