//! Shared test support: start the real daemon binary on port 0, find the fake and real
//! CLIs, and small process helpers. Each test file uses part of it.
#![allow(dead_code)]

pub mod fake_oauth;
pub mod login_env;
pub mod mock_anthropic;
pub mod procs;
pub mod skip;
pub mod tls_standin;

pub use skip::skip_or_fail;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fake CLI, built by `cargo test` from `examples/fake_claude.rs`.
pub fn fake_claude() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/examples/fake_claude
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let path = profile_dir.join("examples").join("fake_claude");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test` (it builds the examples)",
        path.display()
    );
    path
}

/// The real CLI 2.1.332 from the claude-agent-sdk wheel, if installed (see .ci/run).
/// Outside CI a missing CLI skips the caller (returns None, after saying why); in CI
/// (`CI` set) it fails the test, because CI must not skip.
pub fn real_claude() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CLAUDE_MAX_PROXY_TEST_CLI") {
        return Some(PathBuf::from(path));
    }
    let venv_lib = root().join(".venv/lib");
    if let Ok(entries) = std::fs::read_dir(&venv_lib) {
        for entry in entries.flatten() {
            let candidate = entry
                .path()
                .join("site-packages/claude_agent_sdk/_bundled/claude");
            if candidate.exists() {
                return Some(candidate);
            }
        }
    }
    skip_or_fail(
        "the real claude CLI is not installed (run .ci/run, or set CLAUDE_MAX_PROXY_TEST_CLI)",
    );
    None
}

/// The venv's Python with the openai SDK, if installed.
pub fn venv_python() -> Option<PathBuf> {
    let python = root().join(".venv/bin/python");
    let ok = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", "import openai, pytest"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if ok {
        Some(python)
    } else {
        skip_or_fail("the .venv with openai and pytest is missing (run .ci/run)");
        None
    }
}

/// Options for one daemon.
#[derive(Clone, Debug, Default)]
pub struct DaemonOptions {
    pub cli: Option<PathBuf>,
    /// Extra environment for the daemon (config overrides, fake CLI knobs).
    pub env: Vec<(String, String)>,
    /// Contents of a config file passed with --config.
    pub config_toml: Option<String>,
    pub args: Vec<String>,
    /// Don't pass the default `--port 0 --listen 127.0.0.1` (the config file decides).
    pub no_default_listen: bool,
    /// Run the daemon inside this network namespace (`ip netns exec`).
    pub netns: Option<String>,
    /// Start the daemon with this soft open-file limit (the hard limit unchanged).
    pub nofile_soft: Option<u64>,
    /// Files written into the daemon's HOME before it starts: (path relative to HOME,
    /// contents), e.g. the CLI's own login in `.claude/.credentials.json`.
    pub home_files: Vec<(String, String)>,
}

impl DaemonOptions {
    pub fn fake() -> DaemonOptions {
        DaemonOptions {
            cli: Some(fake_claude()),
            ..DaemonOptions::default()
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> DaemonOptions {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn config(mut self, toml: &str) -> DaemonOptions {
        self.config_toml = Some(toml.to_string());
        self
    }

    pub fn home_file(mut self, path: &str, contents: &str) -> DaemonOptions {
        self.home_files
            .push((path.to_string(), contents.to_string()));
        self
    }
}

/// A running daemon; killed on drop.
pub struct Daemon {
    pub base_url: String,
    pub port: u16,
    pub child: Child,
    /// The daemon's HOME (session files go under it).
    pub home: tempfile::TempDir,
    /// Where the fake CLI records its invocations.
    pub fake_log: tempfile::TempDir,
    /// The daemon's per-run working directories.
    pub work_dir: tempfile::TempDir,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Daemon {
    pub async fn start(options: DaemonOptions) -> Daemon {
        let home = tempfile::tempdir().expect("home");
        for (path, contents) in &options.home_files {
            let path = home.path().join(path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("home file dir");
            }
            std::fs::write(&path, contents).expect("write home file");
        }
        let fake_log = tempfile::tempdir().expect("fake log dir");
        let work_dir = tempfile::tempdir().expect("work dir");
        let daemon_bin = env!("CARGO_BIN_EXE_claude-max-proxy");
        let mut command = match &options.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, daemon_bin]);
                c
            }
            None => Command::new(daemon_bin),
        };
        if !options.no_default_listen {
            command.args(["--port", "0", "--listen", "127.0.0.1"]);
        }
        command
            .args(&options.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("RUST_LOG", "info,claude_max_proxy=debug")
            .env("FAKE_CLAUDE_LOG_DIR", fake_log.path())
            .env("CLAUDE_MAX_PROXY_WORK_DIR", work_dir.path())
            // Tests that count processes want none started ahead or kept between turns; the
            // pool and live conversations have their own tests.
            .env("CLAUDE_MAX_PROXY_WARM", "0")
            .env("CLAUDE_MAX_PROXY_LIVE_SESSIONS", "0")
            // Nor a usage check (a CLI process of its own, asking Anthropic): the quota
            // tests turn it on with a stand-in for Anthropic's usage endpoint.
            .env("CLAUDE_MAX_PROXY_QUOTA_REFRESH_SECS", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(cli) = &options.cli {
            command.env("CLAUDE_MAX_PROXY_CLI_PATH", cli);
        }
        if let Some(soft) = options.nofile_soft {
            // SAFETY: runs in the forked child before exec; getrlimit/setrlimit are
            // async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    let mut limit = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
                    limit.rlim_cur = soft.min(limit.rlim_max);
                    libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                    Ok(())
                });
            }
        }
        if let Some(toml) = &options.config_toml {
            let path = home.path().join("test-config.toml");
            std::fs::write(&path, toml).expect("write config");
            command.arg("--config").arg(path);
        }
        for (k, v) in &options.env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn daemon");
        let stdout = child.stdout.take().expect("stdout");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr_pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut s) = stderr.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("daemon printed nothing within 20 s")
            .expect("read daemon stdout")
            .unwrap_or_else(|| {
                panic!(
                    "daemon exited before printing its address; stderr: {}",
                    stderr.lock().map(|s| s.clone()).unwrap_or_default()
                )
            });
        let base_url = line
            .strip_prefix("Server running on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        let port = base_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Daemon {
            base_url,
            port,
            child,
            home,
            fake_log,
            work_dir,
            stderr,
        }
    }

    /// The config file given with --config (written from `config_toml`); rewrite it and
    /// send SIGHUP to test reloads.
    pub fn config_path(&self) -> PathBuf {
        self.home.path().join("test-config.toml")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// POST /v1/chat/completions with a JSON body.
    pub async fn post_chat(&self, body: &serde_json::Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url("/v1/chat/completions"))
            .json(body)
            .send()
            .await
            .expect("POST /v1/chat/completions")
    }

    /// GET /health as JSON.
    pub async fn health(&self) -> serde_json::Value {
        reqwest::get(self.url("/health"))
            .await
            .expect("GET /health")
            .json()
            .await
            .expect("/health is JSON")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("daemon pid")
    }

    /// The fake CLI's invocation records, oldest first.
    pub fn fake_records(&self) -> Vec<serde_json::Value> {
        let mut records: Vec<serde_json::Value> = std::fs::read_dir(self.fake_log.path())
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter_map(|t| serde_json::from_str(&t).ok())
                    .collect()
            })
            .unwrap_or_default();
        records.sort_by_key(|r| r["pid"].as_u64().unwrap_or(0));
        records
    }

    /// Sends SIGTERM and checks that the daemon's shutdown itself ended every process in
    /// `pids` (all running now), and returns the exit status.
    ///
    /// The daemon's children die with it anyway: its guardian process (or, without one,
    /// their parent-death signal) sends them SIGKILL when it exits, so "gone after the exit"
    /// proves nothing. What tells the two apart is the first fatal signal a child got, which
    /// the kernel keeps as its exit status: the shutdown sends SIGTERM, the guardian and the
    /// parent-death signal SIGKILL. This test process becomes a child subreaper, so a child
    /// the daemon did not reap before exiting is handed to it and its status can be read; a
    /// child the daemon reaped itself died while the daemon ran.
    pub async fn terminate_ending(&mut self, pids: &[u32]) -> std::process::ExitStatus {
        become_subreaper();
        let daemon = self.pid();
        for pid in pids {
            assert_eq!(
                parent_of(*pid),
                Some(daemon),
                "{pid} is not a running child of the daemon"
            );
        }
        assert!(!pids.is_empty(), "nothing to watch");
        let status = self.terminate().await;
        for pid in pids {
            let ended = tokio::time::timeout(Duration::from_secs(10), end_of_orphan(*pid))
                .await
                .unwrap_or_else(|_| panic!("{pid} still runs 10 s after the daemon exited"));
            if let Some(signal) = ended {
                assert_ne!(
                    signal,
                    libc::SIGKILL,
                    "{pid} was killed by the guardian or the parent-death signal at the \
                     daemon's exit: the shutdown did not end it; stderr:\n{}",
                    self.stderr()
                );
            }
        }
        status
    }

    /// Sends SIGTERM and waits for the exit status (bounded).
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        send_signal(self.pid(), libc::SIGTERM);
        tokio::time::timeout(Duration::from_secs(40), self.child.wait())
            .await
            .expect("daemon did not exit within 40 s of SIGTERM")
            .expect("wait daemon")
    }
}

/// The daemon with the real CLI in subscription mode (an OAuth token in its environment, no
/// CLI retries), pointed at a fresh mock Messages API; `None` (after saying why) without
/// the real CLI.
pub async fn real_cli_daemon(config: &str) -> Option<(mock_anthropic::MockAnthropic, Daemon)> {
    real_cli_daemon_with(config, &[]).await
}

/// [`real_cli_daemon`] with extra environment (it wins over the harness's defaults).
pub async fn real_cli_daemon_with(
    config: &str,
    env: &[(&str, &str)],
) -> Option<(mock_anthropic::MockAnthropic, Daemon)> {
    let cli = real_claude()?;
    let mock = mock_anthropic::MockAnthropic::start().await;
    let mut options = DaemonOptions {
        cli: Some(cli),
        ..DaemonOptions::default()
    }
    .config(config)
    .env("ANTHROPIC_BASE_URL", &mock.base_url())
    .env("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "0")
    .env("CLAUDE_CODE_OAUTH_TOKEN", "test-oauth-token");
    for (key, value) in env {
        options = options.env(key, value);
    }
    let daemon = Daemon::start(options).await;
    Some((mock, daemon))
}

/// Runs the pytest files in `dir` (relative to the crate root) against `base_url` with the
/// venv's Python; fails the test on a failure or a skip.
pub async fn run_pytest(python: &Path, dir: &str, base_url: &str, daemon: &Daemon) {
    run_pytest_with(python, dir, base_url, daemon, &[]).await;
}

/// [`run_pytest`] with extra environment for the tests (e.g. `MOCK_BASE_URL`).
pub async fn run_pytest_with(
    python: &Path,
    dir: &str,
    base_url: &str,
    daemon: &Daemon,
    env: &[(&str, &str)],
) {
    let output = tokio::process::Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", dir])
        .current_dir(root())
        .env("PROXY_BASE_URL", base_url)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "pytest failed:\n{stdout}\n{stderr}\ndaemon log:\n{}",
        daemon.stderr()
    );
    assert!(
        !stdout.contains("skipped"),
        "no SDK test may skip:\n{stdout}"
    );
}

pub fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// Makes this test process a child subreaper: what a daemon leaves when it exits becomes
/// our child (not init's), so its exit status can be read.
pub fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER has no memory-safety preconditions.
    let done = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(done, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
}

/// The parent pid of a live (non-zombie) process.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit(')').next()?.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.next()?.parse().ok()
}

/// Waits until `pid`, a child of an exited daemon, has ended: `None` when the daemon reaped
/// it itself (it is gone), else the signal that ended it (0 for a normal exit), read by
/// reaping it here (we are its subreaper).
async fn end_of_orphan(pid: u32) -> Option<i32> {
    loop {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return None;
        }
        let mut status = 0;
        // SAFETY: waitpid writes only to `status`; WNOHANG returns at once.
        let reaped = unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
        if reaped == pid as i32 {
            return Some(if libc::WIFSIGNALED(status) {
                libc::WTERMSIG(status)
            } else {
                0
            });
        }
        if reaped < 0 && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

/// Every process whose parent chain leads to `ancestor`, except a daemon's guardian (the
/// one process that lives as long as the daemon: `claude::guardian`).
pub fn descendants(ancestor: u32) -> Vec<u32> {
    let mut found = descendants_with_guardian(ancestor);
    found.retain(|pid| !procs::is_guardian(*pid));
    found
}

/// The guardian process the daemon `daemon` started, while it runs.
pub fn guardian_of(daemon: u32) -> Option<u32> {
    descendants_with_guardian(daemon)
        .into_iter()
        .find(|pid| procs::is_guardian(*pid))
}

fn descendants_with_guardian(ancestor: u32) -> Vec<u32> {
    let parents = procs::live_processes();
    let mut found = vec![ancestor];
    let mut changed = true;
    while changed {
        changed = false;
        for (pid, ppid) in &parents {
            if found.contains(ppid) && !found.contains(pid) {
                found.push(*pid);
                changed = true;
            }
        }
    }
    found.retain(|p| *p != ancestor);
    found
}

/// Polls `check` until it is true or `limit` passes.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Parses an SSE body into its `data:` payloads (comments dropped).
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// The text of a list of chunk payloads.
pub fn chunk_text(data: &[String]) -> String {
    data.iter()
        .filter(|d| d.as_str() != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// The named events of an SSE body (`event:` and `data:` lines): (name, data). Comment
/// frames (`: keep-alive`) are skipped; any other frame must have exactly one `event:` line
/// and one `data:` line holding JSON, else the test fails (a malformed frame is a bug of
/// the stream, not something to step over).
pub fn named_events(body: &str) -> Vec<(String, serde_json::Value)> {
    body.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .filter(|frame| !frame.lines().all(|l| l.starts_with(':')))
        .map(|frame| {
            let names: Vec<&str> = frame
                .lines()
                .filter_map(|l| l.strip_prefix("event: "))
                .collect();
            let data: Vec<&str> = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            let other = frame.lines().find(|l| {
                !l.starts_with("event: ") && !l.starts_with("data: ") && !l.starts_with(':')
            });
            assert!(
                names.len() == 1 && data.len() == 1 && other.is_none(),
                "malformed SSE frame (one `event:` and one `data:` line expected): {frame:?}"
            );
            let value = serde_json::from_str(data[0])
                .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {frame:?}"));
            (names[0].to_string(), value)
        })
        .collect()
}

/// Checks a Messages API event stream's grammar and returns its event names with runs of
/// the same name collapsed (`content_block_delta` × n → one). The grammar, as the API
/// documents it: `message_start` first; then content blocks, each `content_block_start`,
/// its deltas and `content_block_stop` with one index, indices 0, 1, 2… in order; `ping`
/// anywhere after `message_start`; then `message_delta` and `message_stop` last. Each
/// event's `data.type` is its name.
pub fn messages_event_sequence(events: &[(String, serde_json::Value)]) -> Vec<String> {
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    for (name, data) in events {
        assert_eq!(
            &data["type"], name,
            "each event's data names its type: {names:?}"
        );
    }
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    let mut open: Option<u64> = None;
    let mut next_index = 0;
    let mut delta_seen = false;
    for (name, data) in &events[1..events.len() - 1] {
        assert!(
            !delta_seen,
            "nothing but message_stop after message_delta: {names:?}"
        );
        let index = data["index"].as_u64();
        match name.as_str() {
            "ping" => {}
            "content_block_start" => {
                assert_eq!(
                    open, None,
                    "a block starts while another is open: {names:?}"
                );
                assert_eq!(index, Some(next_index), "block indices in order: {names:?}");
                open = index;
                next_index += 1;
            }
            "content_block_delta" => {
                assert!(
                    open.is_some() && index == open,
                    "a delta outside its block: {names:?}"
                );
            }
            "content_block_stop" => {
                assert!(
                    open.is_some() && index == open,
                    "a stop outside its block: {names:?}"
                );
                open = None;
            }
            "message_delta" => {
                assert_eq!(open, None, "message_delta with a block open: {names:?}");
                delta_seen = true;
            }
            other => panic!("unexpected event {other:?} in {names:?}"),
        }
    }
    assert!(delta_seen, "a message_delta before message_stop: {names:?}");
    let mut collapsed: Vec<String> = Vec::new();
    for name in names {
        if collapsed.last().map(String::as_str) != Some(name) {
            collapsed.push(name.to_string());
        }
    }
    collapsed
}
