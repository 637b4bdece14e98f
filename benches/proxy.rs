//! The benchmark harness: `cargo bench --bench proxy` writes BENCHMARKS.md.
//!
//! Every figure is set against a baseline measured in the same run, on the same machine,
//! so the ratios mean something even where the absolute numbers move from machine to
//! machine:
//!
//! 1. The CLI path: the fake CLI (fixed start delay, fixed delta cadence) spawned directly
//!    with the daemon's own argv and environment, vs. the same fake through the daemon;
//!    time to first token and total time, p50/p99, at concurrency 1, 4 and 16
//!    ([`cli_path`]).
//! 2. The real CLI 2.1.332 against the mock Messages API: alone, through the daemon cold,
//!    and through the daemon with the warm pool (config key `warm`; reported as not
//!    available while the daemon does not know the key) ([`real_cli`]).
//! 3. The HTTP layer: requests/s and p99 for /health and /v1/models vs. a bare hyper server
//!    (this binary, re-executed); the daemon's RSS idle and with 256 open SSE streams, and
//!    its CPU while they stream (from /proc/<pid>, CLI processes excluded) ([`http_layer`]).
//! 4. Start to READY (sd_notify over a unix datagram socket) vs. the bare server's start;
//!    an `ai-proxy-check` run vs. the same requests made in-process; binary sizes
//!    ([`start_and_sizes`]).
//! 5. Agent loops and chats that offer tools with the real CLI ([`agent_loops`]): a 5-turn
//!    tool loop with the defaults vs. all cold, and an Open WebUI-shaped chat, against the
//!    bare CLI per step.
//!
//! This file holds what the sections share: the binaries, starting a daemon, the clients,
//! the statistics. Everything runs on loopback, and every loop is bounded in count and in
//! time.
//!
//! Environment: `PROXY_BENCH_QUICK=1` for a smoke run with small counts (its figures are not
//! for BENCHMARKS.md: it writes BENCHMARKS.quick.md); `CLAUDE_MAX_PROXY_WARM=<n>` the pool
//! size the warm measurement asks for (default 1).

#[path = "../tests/support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "../tests/support/procs.rs"]
mod procs;

#[path = "proxy/agent_loops.rs"]
mod agent_loops;
#[path = "proxy/cli_path.rs"]
mod cli_path;
#[path = "proxy/http_layer.rs"]
mod http_layer;
#[path = "proxy/real_cli.rs"]
mod real_cli;
#[path = "proxy/start_and_sizes.rs"]
mod start_and_sizes;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use claude_max_proxy::claude::command::{self, RunSpec};
use claude_max_proxy::claude::stream_input;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use mock_anthropic::MockAnthropic;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Environment variable that turns this binary into the bare baseline server.
const BASELINE_SERVER_ENV: &str = "PROXY_BENCH_BASELINE_SERVER";
/// The warm-pool slot: the pool size asked of the daemon for the warm measurement.
const WARM_ENV: &str = "CLAUDE_MAX_PROXY_WARM";
/// Upper bound for any single step (a start, a request, a stream).
const STEP_LIMIT: Duration = Duration::from_secs(60);
/// The fake CLI's start delay and delta cadence for section 1.
const FAKE_START_MS: u64 = 50;
const FAKE_DELTA_MS: u64 = 10;
/// The model id clients ask for, and what the daemon passes to the CLI for it.
const CLIENT_MODEL: &str = "claude-opus-4";
const CLI_MODEL: &str = "opus";
/// The real CLI's model (the mock accepts any).
const REAL_MODEL: &str = "claude-sonnet-4-5";
const REAL_SYSTEM: &str = "You are terse.";
const OAUTH_TOKEN: &str = "bench-oauth-token";

/// Counts for a full run and for a smoke run.
#[derive(Clone, Copy)]
struct Counts {
    /// Section 1: requests per side per concurrency level is `per_level * concurrency`,
    /// at least `min_per_level`.
    cli_min_per_level: usize,
    cli_rounds: usize,
    real_runs: usize,
    http_conns: usize,
    http_per_conn: usize,
    /// Section 3: rounds of baseline, /health, /v1/models in turn (the median is reported).
    http_rounds: usize,
    streams: usize,
    stream_window: Duration,
    starts: usize,
    checks: usize,
}

const FULL: Counts = Counts {
    cli_min_per_level: 60,
    cli_rounds: 8,
    real_runs: 12,
    http_conns: 32,
    http_per_conn: 3000,
    http_rounds: 5,
    streams: 256,
    stream_window: Duration::from_secs(5),
    starts: 10,
    checks: 10,
};

const QUICK: Counts = Counts {
    cli_min_per_level: 8,
    cli_rounds: 1,
    real_runs: 2,
    http_conns: 8,
    http_per_conn: 50,
    http_rounds: 1,
    streams: 32,
    stream_window: Duration::from_secs(1),
    starts: 2,
    checks: 2,
};

fn main() {
    if std::env::var_os(BASELINE_SERVER_ENV).is_some() {
        http_layer::baseline_server();
        return;
    }
    // `cargo test --benches` runs this without `--bench`: nothing to test here.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/proxy.rs: run it with `cargo bench --bench proxy`");
        return;
    }
    let quick = std::env::var_os("PROXY_BENCH_QUICK").is_some_and(|v| v != "0");
    let counts = if quick { QUICK } else { FULL };
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = runtime.block_on(run(counts, quick));
    let partial = std::env::var_os("PROXY_BENCH_ONLY").is_some();
    let name = if quick || partial {
        "BENCHMARKS.quick.md"
    } else {
        "BENCHMARKS.md"
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::write(&path, &report).expect("write the report");
    println!("{report}");
    println!("written to {}", path.display());
}

async fn run(counts: Counts, quick: bool) -> String {
    let bins = Binaries::find();
    let mut out = String::new();
    let started = Instant::now();
    writeln!(out, "# Benchmarks\n").unwrap();
    writeln!(
        out,
        "Written by `cargo bench --bench proxy` (benches/proxy.rs){}. Every figure is set \
         against a baseline measured in the same run on the same machine; the ratios are the \
         point, the absolute numbers move with the machine. Release build (`[profile.release]`, \
         thin LTO); everything on loopback; the load generator shares the machine's cores with \
         the server it measures.\n",
        if quick {
            " in quick mode (small counts: a smoke run, not for reading)"
        } else {
            ""
        }
    )
    .unwrap();
    out.push_str(&machine(&bins));

    // PROXY_BENCH_ONLY=2 (or 1,3 …) runs only those sections (while working on one).
    let only = std::env::var("PROXY_BENCH_ONLY").unwrap_or_default();
    let wanted = |n: &str| only.is_empty() || only.split(',').any(|s| s.trim() == n);
    if wanted("1") {
        eprintln!("[1/5] the CLI path with the fake CLI");
        out.push_str(&cli_path::cli_path(&bins, counts).await);
    }
    if wanted("2") {
        eprintln!("[2/5] the real CLI against the mock Messages API");
        out.push_str(&real_cli::real_cli(&bins, counts).await);
    }
    if wanted("3") {
        eprintln!("[3/5] the HTTP layer");
        out.push_str(&http_layer::http_layer(&bins, counts).await);
    }
    if wanted("4") {
        eprintln!("[4/5] start, ai-proxy-check, sizes");
        out.push_str(&start_and_sizes::start_and_sizes(&bins, counts).await);
    }
    if wanted("5") {
        eprintln!("[5/5] agent loops and chats that offer tools");
        out.push_str(&agent_loops::agent_loops(&bins, counts).await);
    }
    writeln!(
        out,
        "\n_The whole run took {:.0} s._",
        started.elapsed().as_secs_f64()
    )
    .unwrap();
    out
}

// ---------------------------------------------------------------------------------------
// Binaries, processes, the machine
// ---------------------------------------------------------------------------------------

struct Binaries {
    daemon: PathBuf,
    fake: PathBuf,
    real: Option<PathBuf>,
    check: PathBuf,
    me: PathBuf,
}

impl Binaries {
    fn find() -> Binaries {
        let daemon = PathBuf::from(env!("CARGO_BIN_EXE_claude-max-proxy"));
        let me = std::env::current_exe().expect("own path");
        Binaries {
            fake: build_fake(&daemon),
            real: real_cli_path(),
            check: build_check(&daemon),
            daemon,
            me,
        }
    }
}

/// `cargo bench` builds the daemon but not the examples: build the fake CLI in release too.
fn build_fake(daemon: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "--example", "fake_claude"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build for the fake CLI");
    assert!(status.success(), "building examples/fake_claude.rs failed");
    let fake = daemon
        .parent()
        .expect("target dir")
        .join("examples/fake_claude");
    assert!(fake.exists(), "{} is missing", fake.display());
    fake
}

/// `ai-proxy-check` is its own workspace crate, which `cargo bench` does not build for this
/// bench: build it in release too (it lands next to the daemon).
fn build_check(daemon: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "-p", "ai-proxy-check"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build for ai-proxy-check");
    assert!(status.success(), "building crates/ai-proxy-check failed");
    let check = daemon.parent().expect("target dir").join("ai-proxy-check");
    assert!(check.exists(), "{} is missing", check.display());
    check
}

/// The real CLI 2.1.332 from the claude-agent-sdk wheel in .venv (see .ci/run).
fn real_cli_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CLAUDE_MAX_PROXY_TEST_CLI") {
        return Some(PathBuf::from(path));
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    std::fs::read_dir(lib).ok()?.flatten().find_map(|entry| {
        let path = entry
            .path()
            .join("site-packages/claude_agent_sdk/_bundled/claude");
        path.exists().then_some(path)
    })
}

/// 256 streams need ~1,100 descriptors in the daemon (socket + three pipes each): take the
/// hard limit, which children inherit.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn first_line(path: &str, prefix: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        l.strip_prefix(prefix)
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
    })
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn machine(bins: &Binaries) -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = first_line("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into());
    let memory = first_line("/proc/meminfo", "MemTotal")
        .and_then(|m| {
            m.split_whitespace()
                .next()
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let rustc = command_output("rustc", &["-V"]).unwrap_or_else(|| "unknown".into());
    let commit = command_output(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ],
    )
    .unwrap_or_else(|| "unknown".into());
    let real = match &bins.real {
        Some(path) => command_output(&path.display().to_string(), &["--version"])
            .unwrap_or_else(|| "present, no version".into()),
        None => "not installed".into(),
    };
    format!(
        "## Machine\n\n| | |\n|---|---|\n| CPUs (nproc) | {cpus} |\n| CPU | {model} |\n\
         | memory | {memory} |\n| kernel | {kernel} |\n| rustc | {rustc} |\n\
         | commit | {commit} |\n| real CLI | {real} |\n\n"
    )
}

/// A running daemon (release build), killed on drop.
struct Daemon {
    child: Child,
    port: u16,
    _home: tempfile::TempDir,
}

impl Daemon {
    fn pid(&self) -> u32 {
        self.child.id().expect("daemon pid")
    }
}

/// Starts the daemon on 127.0.0.1:0 with a clean environment plus `env`. `Err` carries the
/// exit status and stderr when it stops instead of starting.
async fn start_daemon(daemon: &Path, cli: &Path, env: &[(&str, &str)]) -> Result<Daemon, String> {
    let home = tempfile::tempdir().expect("home");
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let mut command = Command::new(daemon);
    command
        .args(["--port", "0", "--listen", "127.0.0.1"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("RUST_LOG", "info")
        .env("CLAUDE_MAX_PROXY_CLI_PATH", cli)
        .env("CLAUDE_MAX_PROXY_WORK_DIR", &work)
        // The measured processes are the requests' own: no usage check besides them.
        .env("CLAUDE_MAX_PROXY_QUOTA_REFRESH_SECS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn the daemon");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(STEP_LIMIT, lines.next_line())
        .await
        .map_err(|_| "the daemon printed nothing".to_string())?
        .ok()
        .flatten();
    let Some(line) = line else {
        let mut text = String::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), stderr.read_to_string(&mut text)).await;
        let status = child.wait().await.ok();
        return Err(format!("{status:?}: {}", text.trim()));
    };
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    // Keep draining both pipes so the daemon never blocks on them.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink).await;
    });
    Ok(Daemon {
        child,
        port,
        _home: home,
    })
}

/// Resident set and peak resident set of `pid`, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU time of `pid` (the process only, not its children).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state(0) ppid(1) … utime(11) stime(12).
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(ticks as f64 / per_sec)
}

fn children_of(pid: u32) -> usize {
    child_pids(pid).len()
}

/// The pids of `pid`'s live (not zombie) children, the daemon's guardian left out.
fn child_pids(pid: u32) -> Vec<u32> {
    let mut children = child_pids_with_guardian(pid);
    children.retain(|child| !procs::is_guardian(*child));
    children
}

/// The daemon's guardian process (`claude::guardian`), its one long-lived child.
fn guardian_of(daemon: u32) -> Option<u32> {
    child_pids_with_guardian(daemon)
        .into_iter()
        .find(|child| procs::is_guardian(*child))
}

fn child_pids_with_guardian(pid: u32) -> Vec<u32> {
    procs::live_processes()
        .into_iter()
        .filter(|(_, parent)| *parent == pid)
        .map(|(child, _)| child)
        .collect()
}

async fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

// ---------------------------------------------------------------------------------------
// Statistics and formatting
// ---------------------------------------------------------------------------------------

/// Nearest-rank percentile of unsorted samples.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b <= 0.0 {
        "–".into()
    } else {
        format!("{:.2}×", a / b)
    }
}

fn dratio(a: Duration, b: Duration) -> String {
    ratio(a.as_secs_f64(), b.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Time to first token and total time of one answer.
#[derive(Clone, Copy, Debug)]
struct Timing {
    first: Duration,
    total: Duration,
}

fn firsts(t: &[Timing]) -> Vec<Duration> {
    t.iter().map(|t| t.first).collect()
}

fn totals(t: &[Timing]) -> Vec<Duration> {
    t.iter().map(|t| t.total).collect()
}

// ---------------------------------------------------------------------------------------
// Clients: the CLI spawned directly, and streaming requests through the daemon
// ---------------------------------------------------------------------------------------

/// How to run a CLI directly, the way the daemon would.
struct DirectCli {
    cli: PathBuf,
    model: &'static str,
    system_prompt: Option<&'static str>,
    max_retries: u32,
    env: Vec<(String, String)>,
    /// The prompt as one stream-json user message (stdin open until the result), as the
    /// daemon gives a new conversation to its CLI; else `-p` text (stdin closed after it),
    /// as a person runs the CLI.
    stream_input: bool,
    /// One HOME for the whole series, like the daemon's (the CLI keeps state under it).
    home: tempfile::TempDir,
}

impl DirectCli {
    /// The real CLI alone against the mock at `base_url`, as the daemon runs it (the bench's
    /// OAuth token, the bench's model and system prompt, no retries).
    fn real(cli: &Path, base_url: &str) -> DirectCli {
        DirectCli {
            cli: cli.to_path_buf(),
            model: REAL_MODEL,
            system_prompt: Some(REAL_SYSTEM),
            max_retries: 0,
            stream_input: false,
            env: vec![
                ("ANTHROPIC_BASE_URL".into(), base_url.to_string()),
                ("CLAUDE_CODE_OAUTH_TOKEN".into(), OAUTH_TOKEN.into()),
            ],
            home: tempfile::tempdir().expect("home"),
        }
    }

    /// Spawns the CLI with the daemon's argv and environment, writes `prompt` to stdin and
    /// times the first `text_delta` and the `result` line.
    async fn run(&self, prompt: &str) -> Timing {
        let dir = tempfile::tempdir().expect("run dir");
        let system_file = self.system_prompt.map(|text| {
            let path = dir.path().join("system-prompt.txt");
            std::fs::write(&path, text).expect("system prompt file");
            path
        });
        // The token, when there is one, is in `self.env`, as in the daemon's environment.
        let spec = RunSpec {
            system_prompt_file: system_file.as_deref(),
            max_retries: self.max_retries,
            stream_input: self.stream_input,
            ..RunSpec::plain(&self.cli, self.model, dir.path())
        };
        let invocation = command::build(&spec, &[]);
        let started = Instant::now();
        let mut command = Command::new(&invocation.program);
        command
            .args(&invocation.args)
            .current_dir(&invocation.cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in invocation.env_set.iter().chain(&self.env) {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn the CLI");
        let mut stdin = child.stdin.take().expect("stdin");
        let kept_stdin = if self.stream_input {
            let line = stream_input::user_message_line(vec![stream_input::text_block(prompt)]);
            stdin.write_all(&line).await.expect("prompt");
            Some(stdin)
        } else {
            stdin.write_all(prompt.as_bytes()).await.expect("prompt");
            drop(stdin);
            None
        };
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut first = None;
        let timing = tokio::time::timeout(STEP_LIMIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if first.is_none() && line.contains("\"text_delta\"") {
                    first = Some(started.elapsed());
                }
                if line.contains("\"type\":\"result\"") {
                    let total = started.elapsed();
                    return Timing {
                        first: first.unwrap_or(total),
                        total,
                    };
                }
            }
            panic!("the CLI ended without a result")
        })
        .await
        .expect("a direct CLI run hung");
        // A stream-json CLI waits for the next message until its stdin ends.
        drop(kept_stdin);
        let _ = tokio::time::timeout(STEP_LIMIT, child.wait()).await;
        timing
    }
}

/// One keep-alive HTTP/1.1 connection to the daemon, as an SDK client would hold it.
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Conn { sender }
    }

    /// Waits until the connection can take the next request.
    async fn ready(&mut self) {
        tokio::time::timeout(STEP_LIMIT, self.sender.ready())
            .await
            .expect("connection not ready in time")
            .expect("connection closed");
    }

    /// `GET path` as JSON.
    async fn get_json(&mut self, path: &str) -> Value {
        self.ready().await;
        let request = Request::get(path)
            .header("host", "127.0.0.1")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let response = self.sender.send_request(request).await.expect("GET");
        let body = response.into_body().collect().await.expect("body");
        serde_json::from_slice(&body.to_bytes()).expect("JSON")
    }

    /// `GET path`, body read to the end; returns the status.
    async fn get(&mut self, path: &str) -> u16 {
        let request = Request::get(path)
            .header("host", "127.0.0.1")
            .body(Full::new(Bytes::new()))
            .expect("request");
        self.ready().await;
        let response = self.sender.send_request(request).await.expect("GET");
        let status = response.status().as_u16();
        response.into_body().collect().await.expect("body");
        status
    }

    /// A streaming chat completion; times the first content delta and `[DONE]`.
    async fn stream_chat(&mut self, body: &Value) -> Timing {
        self.stream_chat_until(body, "\"delta\":{\"content\":\"")
            .await
    }

    /// A streaming chat completion; times the first chunk containing `first_marker` and
    /// `[DONE]`.
    async fn stream_chat_until(&mut self, body: &Value, first_marker: &str) -> Timing {
        self.stream_chat_text(body, &[first_marker]).await.0
    }

    /// A streaming chat completion: the time to the first chunk containing any of
    /// `first_markers` and to `[DONE]`, and the whole SSE text.
    async fn stream_chat_text(&mut self, body: &Value, first_markers: &[&str]) -> (Timing, String) {
        let started = Instant::now();
        let request = Request::post("/v1/chat/completions")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        self.ready().await;
        let response = tokio::time::timeout(STEP_LIMIT, self.sender.send_request(request))
            .await
            .expect("response headers hung")
            .expect("POST");
        assert_eq!(response.status(), 200, "chat completion failed");
        let mut body = response.into_body();
        let mut seen = Vec::new();
        let mut first = None;
        loop {
            let frame = tokio::time::timeout(STEP_LIMIT, body.frame())
                .await
                .expect("stream hung");
            let Some(frame) = frame else {
                panic!("the stream ended without [DONE]");
            };
            let frame = frame.expect("stream frame");
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen.extend_from_slice(&data);
            let text = String::from_utf8_lossy(&seen);
            if first.is_none() && first_markers.iter().any(|m| text.contains(m)) {
                first = Some(started.elapsed());
            }
            if text.contains("data: [DONE]") {
                let total = started.elapsed();
                let text = text.into_owned();
                // Read the end of the chunked body so the connection can be reused.
                let _ = tokio::time::timeout(STEP_LIMIT, body.collect()).await;
                let timing = Timing {
                    first: first.unwrap_or(total),
                    total,
                };
                return (timing, text);
            }
            if text.contains("data: {\"error\"") {
                panic!("the stream failed: {text}");
            }
        }
    }
}

fn chat(model: &str, system: Option<&str>, text: &str) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": text}));
    json!({"model": model, "stream": true, "messages": messages})
}
