//! The benchmark harness: `cargo bench --bench proxy` writes BENCHMARKS.md.
//!
//! Every figure is set against a baseline measured in the same run, on the same machine,
//! so the ratios mean something even where the absolute numbers move from machine to
//! machine:
//!
//! 1. The CLI path: the fake CLI (fixed start delay, fixed delta cadence) spawned directly
//!    with the daemon's own argv and environment, vs. the same fake through the daemon;
//!    time to first token and total time, p50/p99, at concurrency 1, 4 and 16.
//! 2. The real CLI 2.1.332 against the mock Messages API: alone, through the daemon cold,
//!    and through the daemon with the warm pool (config key `warm`; reported as not
//!    available while the daemon does not know the key).
//! 3. The HTTP layer: requests/s and p99 for /health and /v1/models vs. a bare hyper server
//!    (this binary, re-executed); the daemon's RSS idle and with 256 open SSE streams, and
//!    its CPU while they stream (from /proc/<pid>, CLI processes excluded).
//! 4. Start to READY (sd_notify over a unix datagram socket) vs. the bare server's start;
//!    an `ai-proxy-check` run vs. the same requests made in-process; binary sizes.
//! 5. Agent loops and chats that offer tools with the real CLI ([`agent_loops`]): a 5-turn
//!    tool loop with the defaults vs. all cold, and an Open WebUI-shaped chat, against the
//!    bare CLI per step.
//!
//! Everything runs on loopback, and every loop is bounded in count and in time.
//!
//! Environment: `PROXY_BENCH_QUICK=1` for a smoke run with small counts (its figures are not
//! for BENCHMARKS.md: it writes BENCHMARKS.quick.md); `CLAUDE_MAX_PROXY_WARM=<n>` the pool
//! size the warm measurement asks for (default 1).

#[path = "../tests/support/mock_anthropic.rs"]
mod mock_anthropic;

#[path = "proxy/agent_loops.rs"]
mod agent_loops;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use claude_max_proxy::claude::command::{self, RunSpec};
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
    http_per_conn: 500,
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
    streams: 32,
    stream_window: Duration::from_secs(1),
    starts: 2,
    checks: 2,
};

fn main() {
    if std::env::var_os(BASELINE_SERVER_ENV).is_some() {
        baseline_server();
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
        out.push_str(&cli_path(&bins, counts).await);
    }
    if wanted("2") {
        eprintln!("[2/5] the real CLI against the mock Messages API");
        out.push_str(&real_cli(&bins, counts).await);
    }
    if wanted("3") {
        eprintln!("[3/5] the HTTP layer");
        out.push_str(&http_layer(&bins, counts).await);
    }
    if wanted("4") {
        eprintln!("[4/5] start, ai-proxy-check, sizes");
        out.push_str(&start_and_sizes(&bins, counts).await);
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
    children.retain(|child| !is_guardian(*child));
    children
}

/// The daemon's guardian process (`claude::guardian`), its one long-lived child.
fn guardian_of(daemon: u32) -> Option<u32> {
    child_pids_with_guardian(daemon)
        .into_iter()
        .find(|child| is_guardian(*child))
}

fn is_guardian(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == b"guard-process-groups")
    })
}

fn child_pids_with_guardian(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit(')').next()?.to_string();
                    let mut f = rest.split_whitespace();
                    let state = f.next()?;
                    let ppid: u32 = f.next()?.parse().ok()?;
                    Some(ppid == pid && state != "Z")
                })
                .unwrap_or(false)
        })
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
    /// One HOME for the whole series, like the daemon's (the CLI keeps state under it).
    home: tempfile::TempDir,
}

impl DirectCli {
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
        stdin.write_all(prompt.as_bytes()).await.expect("prompt");
        drop(stdin);
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

// ---------------------------------------------------------------------------------------
// 1. The CLI path
// ---------------------------------------------------------------------------------------

async fn cli_path(bins: &Binaries, counts: Counts) -> String {
    let delta = FAKE_DELTA_MS.to_string();
    let daemon = start_daemon(
        &bins.daemon,
        &bins.fake,
        &[
            ("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "64"),
            ("CLAUDE_MAX_PROXY_QUEUE_LIMIT", "256"),
            ("CLAUDE_MAX_PROXY_WARM", "0"),
            ("FAKE_CLAUDE_DELTA_MS", &delta),
        ],
    )
    .await
    .expect("start the daemon");
    let pooled = start_daemon(
        &bins.daemon,
        &bins.fake,
        &[
            ("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "64"),
            ("FAKE_CLAUDE_DELTA_MS", &delta),
        ],
    )
    .await
    .expect("start the daemon with the warm pool");
    let direct = Arc::new(DirectCli {
        cli: bins.fake.clone(),
        model: CLI_MODEL,
        system_prompt: None,
        max_retries: 2,
        env: vec![("FAKE_CLAUDE_DELTA_MS".into(), delta.clone())],
        home: tempfile::tempdir().expect("home"),
    });
    let prompt = format!("@fake:slow_start:{FAKE_START_MS} bench");
    let body = Arc::new(chat(CLIENT_MODEL, None, &prompt));

    let mut out = String::new();
    writeln!(
        out,
        "## 1. Overhead on the CLI path (fake CLI)\n\n\
         The fake CLI (`examples/fake_claude.rs`, release) waits {FAKE_START_MS} ms, then \
         streams 6 deltas {FAKE_DELTA_MS} ms apart. **Baseline:** the same fake spawned \
         directly with the daemon's own argv and environment (`claude::command::build`), \
         prompt on stdin, timed to its first `text_delta` line and its `result` line. \
         **Through the daemon:** a streaming request on a keep-alive connection, timed to \
         the first content chunk and to `data: [DONE]`. Both kinds alternate in every \
         client, so they run under the same load; `max_concurrent` is 64 and the warm pool \
         is off (`warm = 0`: every request spawns its CLI, like the baseline), except in the \
         last row, which uses the default pool (`warm = 1`; a warm fake has been spawned and \
         is waiting on stdin, so only its scripted start delay is left). Target (issue 24): \
         ≤ 1 ms added at p50 up to 16 concurrent.\n"
    )
    .unwrap();
    writeln!(
        out,
        "| concurrency | requests per side | first token p50: direct → daemon (added, ratio) | first token p99: direct → daemon | total p50: direct → daemon (added, ratio) | total p99: direct → daemon |\n|---|---|---|---|---|---|"
    )
    .unwrap();

    // Warm the page cache and the daemon.
    let mut conn = Conn::open(daemon.port).await;
    for _ in 0..3 {
        direct.run(&prompt).await;
        conn.stream_chat(&body).await;
    }

    let levels = [
        (1usize, daemon.port, ""),
        (4, daemon.port, ""),
        (16, daemon.port, ""),
        (1, pooled.port, " (warm pool on)"),
    ];
    for (concurrency, port, note) in levels {
        let per_client = (counts.cli_min_per_level / concurrency)
            .max(counts.cli_rounds)
            .max(1);
        let (via_direct, via_daemon) =
            measure_level(&direct, &body, &prompt, port, concurrency, per_client).await;
        let row = |d: &[Duration], p: &[Duration], pct: f64, with_added: bool| {
            let (a, b) = (percentile(d, pct), percentile(p, pct));
            if with_added {
                let added = b.as_secs_f64() * 1000.0 - a.as_secs_f64() * 1000.0;
                format!(
                    "{} → {} ms ({added:+.2} ms, {})",
                    ms(a),
                    ms(b),
                    dratio(b, a)
                )
            } else {
                format!("{} → {} ms", ms(a), ms(b))
            }
        };
        let (df, pf) = (firsts(&via_direct), firsts(&via_daemon));
        let (dt, pt) = (totals(&via_direct), totals(&via_daemon));
        writeln!(
            out,
            "| {concurrency}{note} | {} | {} | {} | {} | {} |",
            via_daemon.len(),
            row(&df, &pf, 50.0, true),
            row(&df, &pf, 99.0, false),
            row(&dt, &pt, 50.0, true),
            row(&dt, &pt, 99.0, false),
        )
        .unwrap();
    }
    writeln!(
        out,
        "\n(p99 is the nearest-rank percentile: with fewer than 100 samples it is the slowest \
         one.)\n"
    )
    .unwrap();
    drop(daemon);
    drop(pooled);
    out
}

/// `concurrency` clients, each alternating a direct run and a request through the daemon
/// `per_client` times; returns (direct, through the daemon).
async fn measure_level(
    direct: &Arc<DirectCli>,
    body: &Arc<Value>,
    prompt: &str,
    port: u16,
    concurrency: usize,
    per_client: usize,
) -> (Vec<Timing>, Vec<Timing>) {
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..concurrency {
        let direct = direct.clone();
        let body = body.clone();
        let prompt = prompt.to_string();
        tasks.spawn(async move {
            let mut conn = Conn::open(port).await;
            let mut via_direct = Vec::new();
            let mut via_daemon = Vec::new();
            for i in 0..per_client {
                // Alternate which goes first, so neither always follows the other.
                if (i + client) % 2 == 0 {
                    via_direct.push(direct.run(&prompt).await);
                    via_daemon.push(conn.stream_chat(&body).await);
                } else {
                    via_daemon.push(conn.stream_chat(&body).await);
                    via_direct.push(direct.run(&prompt).await);
                }
            }
            (via_direct, via_daemon)
        });
    }
    let mut via_direct = Vec::new();
    let mut via_daemon = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (d, p) = result.expect("client");
        via_direct.extend(d);
        via_daemon.extend(p);
    }
    (via_direct, via_daemon)
}

// ---------------------------------------------------------------------------------------
// 2. The real CLI
// ---------------------------------------------------------------------------------------

async fn real_cli(bins: &Binaries, counts: Counts) -> String {
    let pause = pause();
    let mut out = format!(
        "## 2. The real CLI 2.1.332 against the mock Messages API\n\n\
         The CLI from the `claude-agent-sdk` wheel with `ANTHROPIC_BASE_URL` pointing at \
         `tests/support/mock_anthropic.rs` (in this process), subscription mode (OAuth \
         token), a system prompt, one request at a time. **Baseline:** the CLI alone (a new \
         conversation), spawned with the daemon's argv and environment, prompt on stdin. Time \
         to first token is to the first text delta. Between requests the client waits \
         {} ms (`PROXY_BENCH_PAUSE_MS`; as between a person's messages, time for a \
         pre-started process to finish its own start). Targets (issue 12): a new \
         conversation through the warm pool ≤ 0.3 of the bare CLI, later turns through a live \
         process ≤ 0.15, and no path slower than before when the pool misses. Later turns are \
         never started ahead: a `-p` process gives up on a stdin that brings no data within \
         3 s, so the pool serves new conversations only and live processes serve later \
         turns.\n\n",
        pause.as_millis()
    );
    let Some(real) = &bins.real else {
        out.push_str(
            "_Not measured: the real CLI is not installed (run `.ci/run`, or set \
             `CLAUDE_MAX_PROXY_TEST_CLI`)._\n\n",
        );
        return out;
    };
    let mock = MockAnthropic::start().await;
    // The mock refuses credentials it was not told about.
    mock.accept(mock_anthropic::Credential::OAuthToken(
        OAUTH_TOKEN.to_string(),
    ));
    let base_url = mock.base_url();
    let env = [
        ("ANTHROPIC_BASE_URL", base_url.as_str()),
        ("CLAUDE_CODE_OAUTH_TOKEN", OAUTH_TOKEN),
        ("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "0"),
    ];
    let direct = DirectCli {
        cli: real.clone(),
        model: REAL_MODEL,
        system_prompt: Some(REAL_SYSTEM),
        max_retries: 0,
        env: vec![
            ("ANTHROPIC_BASE_URL".into(), base_url.clone()),
            ("CLAUDE_CODE_OAUTH_TOKEN".into(), OAUTH_TOKEN.into()),
        ],
        home: tempfile::tempdir().expect("home"),
    };
    // One run first: the first run of a 400 MB binary reads it from disk.
    direct.run("Say hi").await;
    let mut alone = Vec::new();
    for _ in 0..counts.real_runs {
        tokio::time::sleep(pause).await;
        alone.push(direct.run("Say hi").await);
    }
    // Rows are written at the end, against the baseline measured before and after them (the
    // machine's speed drifts over the minutes this takes).
    let mut measured: Vec<(String, Vec<Timing>)> = Vec::new();
    let row = |out: &mut String, base: Duration, name: &str, runs: &[Timing]| {
        let f = firsts(runs);
        writeln!(
            out,
            "| {name} | {} | {} ms | {} ms | {} ms | {} |",
            runs.len(),
            ms(percentile(&f, 50.0)),
            ms(percentile(&f, 100.0)),
            ms(percentile(&totals(runs), 50.0)),
            dratio(percentile(&f, 50.0), base)
        )
        .unwrap();
    };
    let setups: [(&str, &str, &str, bool); 4] = [
        (
            "new conversation: daemon, cold (`warm = 0`, `live_sessions = 0`; the prompt as \
             one stream-json message)",
            "0",
            "0",
            false,
        ),
        (
            "new conversation: daemon, warm (defaults: `warm = 1`, `live_sessions = 4`)",
            "1",
            "4",
            false,
        ),
        (
            "**turns 2–5:** daemon, resumed session, cold (`warm = 0`, `live_sessions = 0`)",
            "0",
            "0",
            true,
        ),
        ("turns 2–5: daemon, live process (defaults)", "1", "4", true),
    ];
    let tool_setups: [(&str, &str); 2] = [
        (
            "**first tool call** (a new conversation with a client tool): daemon, cold (`warm = 0`)",
            "0",
        ),
        ("first tool call: daemon, warm (`warm = 1`)", "1"),
    ];
    for (name, warm, live, turns) in setups {
        let mut daemon_env = env.to_vec();
        daemon_env.push((WARM_ENV, warm));
        daemon_env.push(("CLAUDE_MAX_PROXY_LIVE_SESSIONS", live));
        let daemon = match start_daemon(&bins.daemon, real, &daemon_env).await {
            Ok(daemon) => daemon,
            Err(why) => {
                let why = why.lines().last().unwrap_or("").trim().replace('|', "\\|");
                writeln!(out, "| {name} | – | not available: {why} | | | |").unwrap();
                continue;
            }
        };
        let mut conn = Conn::open(daemon.port).await;
        // The first request teaches the pool the setup.
        conn.stream_chat(&chat(REAL_MODEL, Some(REAL_SYSTEM), "warm up"))
            .await;
        let mut runs = Vec::new();
        if turns {
            for c in 0..counts.real_runs.div_ceil(2) {
                let mut history = vec![format!("conversation {c} turn 1")];
                tokio::time::sleep(pause).await;
                conn.stream_chat(&conversation_body(&history)).await;
                for turn in 2..=5 {
                    let last = history.last().cloned().unwrap_or_default();
                    history.push(mock_anthropic::mock_reply(&last));
                    history.push(format!("conversation {c} turn {turn}"));
                    tokio::time::sleep(pause).await;
                    runs.push(conn.stream_chat(&conversation_body(&history)).await);
                }
            }
        } else {
            for i in 0..counts.real_runs {
                tokio::time::sleep(pause).await;
                let body = chat(REAL_MODEL, Some(REAL_SYSTEM), &format!("Say hi {i}"));
                runs.push(conn.stream_chat(&body).await);
            }
        }
        let served = conn.get_json("/health").await["served"].clone();
        measured.push((name.to_string(), runs));
        eprintln!("  {name}: served {served}");
        drop(conn);
        drop(daemon);
    }
    for (name, warm) in tool_setups {
        let mut daemon_env = env.to_vec();
        daemon_env.push((WARM_ENV, warm));
        let Ok(daemon) = start_daemon(&bins.daemon, real, &daemon_env).await else {
            writeln!(out, "| {name} | – | not available | | | |").unwrap();
            continue;
        };
        let mut conn = Conn::open(daemon.port).await;
        conn.stream_chat_until(&tool_body(0), "\"tool_calls\"")
            .await;
        let mut runs = Vec::new();
        for i in 1..=counts.real_runs {
            tokio::time::sleep(pause).await;
            runs.push(
                conn.stream_chat_until(&tool_body(i), "\"tool_calls\"")
                    .await,
            );
        }
        let served = conn.get_json("/health").await["served"].clone();
        measured.push((name.to_string(), runs));
        eprintln!("  {name}: served {served}");
    }
    for _ in 0..counts.real_runs {
        tokio::time::sleep(pause).await;
        alone.push(direct.run("Say hi").await);
    }
    let base = percentile(&firsts(&alone), 50.0);
    writeln!(
        out,
        "| | samples | first token p50 | first token max | total p50 | first token vs. CLI alone |\n|---|---|---|---|---|---|"
    )
    .unwrap();
    row(
        &mut out,
        base,
        "**new conversation:** CLI alone (baseline; half before the rows below, half after)",
        &alone,
    );
    for (name, runs) in &measured {
        row(&mut out, base, name, runs);
    }
    out.push('\n');
    out
}

/// A new conversation offering one client function, whose prompt makes the mock call it.
fn tool_body(i: usize) -> Value {
    json!({"model": REAL_MODEL, "stream": true,
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "messages": [{"role": "system", "content": REAL_SYSTEM},
            {"role": "user", "content": format!("weather {i}?\nCALL get_weather {{\"city\":\"Oslo\"}}")}]})
}

/// The pause before each measured request: `PROXY_BENCH_PAUSE_MS`, 3000 by default.
fn pause() -> Duration {
    let ms = std::env::var("PROXY_BENCH_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    Duration::from_millis(ms)
}

/// A streaming chat body for a conversation (user, assistant, …, user) with the system
/// prompt.
fn conversation_body(turns: &[String]) -> Value {
    let mut messages = vec![json!({"role": "system", "content": REAL_SYSTEM})];
    for (i, text) in turns.iter().enumerate() {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(json!({"role": role, "content": text}));
    }
    json!({"model": REAL_MODEL, "stream": true, "messages": messages})
}

// ---------------------------------------------------------------------------------------
// 3. The HTTP layer
// ---------------------------------------------------------------------------------------

/// The bare baseline: hyper's auto connection builder on a multi-thread runtime, like the
/// daemon, answering every request with a small fixed JSON body. Prints its port.
fn baseline_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!(
            "Server running on http://{}",
            listener.local_addr().expect("addr")
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    let mut response = hyper::Response::new(Full::new(Bytes::from_static(
                        br#"{"status":"ok","baseline":true}"#,
                    )));
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(TokioIo::new(stream), service)
                .await;
            });
        }
    });
}

async fn start_baseline(me: &Path) -> (Child, u16) {
    let mut child = Command::new(me)
        .env(BASELINE_SERVER_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the baseline server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(STEP_LIMIT, lines.next_line())
        .await
        .expect("baseline server start")
        .ok()
        .flatten()
        .expect("baseline server line");
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    (child, port)
}

/// Request rate and latencies of `path` over `conns` keep-alive connections.
struct Load {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    requests: usize,
}

async fn load(port: u16, path: &'static str, conns: usize, per_conn: usize) -> Load {
    // Warm-up, not measured.
    let mut warm = Conn::open(port).await;
    for _ in 0..100 {
        assert_eq!(warm.get(path).await, 200, "{path}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        tasks.spawn(async move {
            let mut conn = Conn::open(port).await;
            let mut latencies = Vec::with_capacity(per_conn);
            for _ in 0..per_conn {
                if Instant::now() > deadline {
                    break;
                }
                let t = Instant::now();
                assert_eq!(conn.get(path).await, 200);
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(result) = tasks.join_next().await {
        latencies.extend(result.expect("load client"));
    }
    let elapsed = started.elapsed();
    Load {
        per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        requests: latencies.len(),
    }
}

async fn http_layer(bins: &Binaries, counts: Counts) -> String {
    let mut out = String::new();
    let (baseline, baseline_port) = start_baseline(&bins.me).await;
    let baseline_pid = baseline.id().expect("baseline pid");
    let daemon = start_daemon(&bins.daemon, &bins.fake, &[("CLAUDE_MAX_PROXY_WARM", "0")])
        .await
        .expect("start the daemon");
    let pid = daemon.pid();
    // Idle right after start (the CLI's version probe has run by now).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (daemon_fresh, _) = rss_kib(pid);
    let (baseline_fresh, _) = rss_kib(baseline_pid);
    let guardian_fresh = guardian_of(pid).map(|g| rss_kib(g).0).unwrap_or(0);

    let (conns, per_conn) = (counts.http_conns, counts.http_per_conn);
    let base = load(baseline_port, "/", conns, per_conn).await;
    let health = load(daemon.port, "/health", conns, per_conn).await;
    let models = load(daemon.port, "/v1/models", conns, per_conn).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (daemon_after, _) = rss_kib(pid);

    writeln!(
        out,
        "## 3. The HTTP layer\n\n\
         {conns} keep-alive connections, up to {per_conn} sequential requests each (at most \
         30 s). **Baseline:** a bare hyper server (the same `auto::Builder` on a \
         multi-thread runtime, a fixed 31-byte JSON answer), run as its own process like the \
         daemon. Targets (issue 24): `/health` ≥ 0.75×, `/v1/models` ≥ 1.0× of the \
         baseline's requests/s.\n\n\
         | endpoint | requests | requests/s | vs. baseline | p50 | p99 | p99 vs. baseline |\n\
         |---|---|---|---|---|---|---|"
    )
    .unwrap();
    for (name, l) in [
        ("bare hyper (baseline)", &base),
        ("`GET /health`", &health),
        ("`GET /v1/models`", &models),
    ] {
        writeln!(
            out,
            "| {name} | {} | {:.0} | {} | {} ms | {} ms | {} |",
            l.requests,
            l.per_sec,
            ratio(l.per_sec, base.per_sec),
            ms(l.p50),
            ms(l.p99),
            dratio(l.p99, base.p99)
        )
        .unwrap();
    }
    drop(baseline);

    // Open SSE streams.
    let streams = counts.streams;
    let (idle, busy, cpu, peak, cli_count) =
        open_streams(bins, streams, counts.stream_window).await;
    writeln!(
        out,
        "\n### Memory and CPU of the daemon process (from /proc/<pid>; CLI processes excluded)\n\n\
         | state | RSS | vs. baseline | target |\n|---|---|---|---|\n\
         | bare hyper server, idle (baseline) | {} | 1.00× | |\n\
         | daemon, idle after start | {} | {} | ≤ 20 MB |\n\
         | daemon, idle after the load above | {} | {} | ≤ 20 MB |\n\
         | daemon, idle before the streams (baseline for the next row) | {} | {} | |\n\
         | daemon, {streams} open SSE streams (peak over {:.0} s) | {} | {} of idle, {:.1} KiB per stream | ≤ 64 MB |\n\
         | the daemon's guardian process (`guard-process-groups`), idle after start; mostly the binary's shared pages | {} | {} | |\n\n\
         With {streams} streams open ({cli_count} fake CLIs running, a delta every 200 ms on \
         each: {:.0} chunks/s) the daemon used **{:.1}% of one core** (user + system time \
         over {:.0} s).\n",
        mib(baseline_fresh),
        mib(daemon_fresh),
        ratio(daemon_fresh as f64, baseline_fresh as f64),
        mib(daemon_after),
        ratio(daemon_after as f64, baseline_fresh as f64),
        mib(idle),
        ratio(idle as f64, baseline_fresh as f64),
        counts.stream_window.as_secs_f64(),
        mib(peak.max(busy)),
        ratio(peak.max(busy) as f64, idle as f64),
        peak.max(busy).saturating_sub(idle) as f64 / streams as f64,
        mib(guardian_fresh),
        ratio(guardian_fresh as f64, baseline_fresh as f64),
        streams as f64 * 5.0,
        cpu,
        counts.stream_window.as_secs_f64(),
    )
    .unwrap();
    drop(daemon);
    out
}

/// Opens `n` streaming requests whose fake CLIs send a delta every 200 ms for ~20 s, waits
/// until each has its first content, then watches the daemon for `window`. Returns the
/// daemon's idle RSS before, RSS at the end, its CPU use in % of one core, peak RSS during
/// the window, and how many CLIs ran.
async fn open_streams(bins: &Binaries, n: usize, window: Duration) -> (u64, u64, f64, u64, usize) {
    // The largest `max_concurrent` the config accepts is 256.
    let limit = n.min(256).to_string();
    let daemon = start_daemon(
        &bins.daemon,
        &bins.fake,
        &[
            ("CLAUDE_MAX_PROXY_MAX_CONCURRENT", &limit),
            ("CLAUDE_MAX_PROXY_QUEUE_LIMIT", "64"),
            // No pre-started or kept CLI: every child is one of the streams.
            ("CLAUDE_MAX_PROXY_WARM", "0"),
            ("CLAUDE_MAX_PROXY_LIVE_SESSIONS", "0"),
        ],
    )
    .await
    .expect("start the daemon");
    let pid = daemon.pid();
    let mut warm = Conn::open(daemon.port).await;
    warm.stream_chat(&chat(CLIENT_MODEL, None, "warm up")).await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, _) = rss_kib(pid);

    // ~105 deltas of 6 characters, 200 ms apart: each stream lasts ~20 s.
    let text = format!("@fake:slow:200 {}", "stream ".repeat(90));
    let body = chat(CLIENT_MODEL, None, &text).to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \
         application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let flowing = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..n {
        let request = request.clone();
        let flowing = flowing.clone();
        let port = daemon.port;
        clients.spawn(async move {
            let mut stream = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            stream.write_all(request.as_bytes()).await.expect("send");
            let mut seen = Vec::new();
            let mut counted = false;
            let mut buf = [0u8; 4096];
            // Read until the test ends (the task is aborted) or the stream does.
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => {
                        if !counted {
                            seen.extend_from_slice(&buf[..k]);
                            if String::from_utf8_lossy(&seen).contains("\"delta\":{\"content\":") {
                                counted = true;
                                flowing.fetch_add(1, Ordering::SeqCst);
                                seen = Vec::new();
                            }
                        }
                    }
                }
            }
        });
    }
    let all = wait_until(STEP_LIMIT, || flowing.load(Ordering::SeqCst) >= n).await;
    assert!(
        all,
        "only {} of {n} streams got content",
        flowing.load(Ordering::SeqCst)
    );
    let cli_count = children_of(pid);
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < window {
        peak = peak.max(rss_kib(pid).0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu = (cpu_time(pid) - cpu_before).as_secs_f64() / started.elapsed().as_secs_f64() * 100.0;
    let (busy, _) = rss_kib(pid);
    clients.abort_all();
    while clients.join_next().await.is_some() {}
    // Every client is gone: every CLI must go too.
    let ended = wait_until(Duration::from_secs(30), || children_of(pid) == 0).await;
    assert!(ended, "{} CLIs outlived their clients", children_of(pid));
    drop(daemon);
    (idle, busy, cpu, peak, cli_count)
}

// ---------------------------------------------------------------------------------------
// 4. Start to READY, ai-proxy-check, binary sizes
// ---------------------------------------------------------------------------------------

/// Spawns the daemon with NOTIFY_SOCKET and times READY=1; returns the running daemon.
async fn start_to_ready(bins: &Binaries) -> (Duration, Child, u16) {
    let dir = tempfile::tempdir().expect("dir");
    let socket_path = dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).expect("bind notify socket");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let started = Instant::now();
    let mut child = Command::new(&bins.daemon)
        .args(["--port", "0", "--listen", "127.0.0.1"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("RUST_LOG", "info")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("CLAUDE_MAX_PROXY_CLI_PATH", &bins.fake)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the daemon");
    let mut buf = [0u8; 4096];
    let ready = tokio::time::timeout(STEP_LIMIT, async {
        loop {
            let n = socket.recv(&mut buf).await.expect("recv notify");
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.lines().any(|l| l == "READY=1") {
                return started.elapsed();
            }
        }
    })
    .await
    .expect("no READY=1");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = lines
        .next_line()
        .await
        .ok()
        .flatten()
        .expect("address line");
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    (ready, child, port)
}

async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
    }
    let _ = tokio::time::timeout(STEP_LIMIT, child.wait()).await;
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Size after `strip`, if strip is installed.
fn stripped_size(path: &Path) -> Option<u64> {
    let dir = tempfile::tempdir().ok()?;
    let copy = dir.path().join("stripped");
    let ok = std::process::Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(path)
        .status()
        .ok()?
        .success();
    ok.then(|| file_size(&copy)).flatten()
}

async fn start_and_sizes(bins: &Binaries, counts: Counts) -> String {
    let mut out = String::from("## 4. Start, ai-proxy-check, binary sizes\n\n");
    let mut ready = Vec::new();
    let mut baseline = Vec::new();
    for _ in 0..counts.starts {
        let (took, child, _) = start_to_ready(bins).await;
        ready.push(took);
        stop(child).await;
        let started = Instant::now();
        let (child, _) = start_baseline(&bins.me).await;
        baseline.push(started.elapsed());
        drop(child);
    }
    writeln!(
        out,
        "**Start to READY**: spawn → `READY=1` on `NOTIFY_SOCKET` (a unix datagram socket), \
         `--listen 127.0.0.1`, {} starts. **Baseline:** the bare hyper server, spawn → its \
         address line.\n\n\
         | | p50 | max | vs. baseline |\n|---|---|---|---|\n\
         | bare hyper server (baseline) | {} ms | {} ms | 1.00× |\n\
         | daemon to READY=1 | {} ms | {} ms | {} |\n",
        counts.starts,
        ms(percentile(&baseline, 50.0)),
        ms(percentile(&baseline, 100.0)),
        ms(percentile(&ready, 50.0)),
        ms(percentile(&ready, 100.0)),
        dratio(percentile(&ready, 50.0), percentile(&baseline, 50.0)),
    )
    .unwrap();

    let check = &bins.check;
    let (_, daemon, port) = start_to_ready(bins).await;
    let url = format!("http://127.0.0.1:{port}");
    let mut runs = Vec::new();
    let mut inproc = Vec::new();
    for _ in 0..counts.checks {
        let started = Instant::now();
        let status = tokio::time::timeout(
            STEP_LIMIT,
            Command::new(check)
                .env_clear()
                .env("AI_PROXY_URL", &url)
                .env("AI_PROXY_CHECK_CONTAINER", "none")
                .arg("--quiet")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
        )
        .await
        .expect("ai-proxy-check hung")
        .expect("run ai-proxy-check");
        runs.push(started.elapsed());
        assert!(status.success(), "ai-proxy-check failed: {status}");
        let started = Instant::now();
        let mut conn = Conn::open(port).await;
        assert_eq!(conn.get("/health").await, 200);
        assert_eq!(conn.get("/v1/models").await, 200);
        inproc.push(started.elapsed());
    }
    writeln!(
        out,
        "**ai-proxy-check** against a ready daemon (process start to exit, all stages \
         passing), {} runs. **Baseline:** the same requests in-process (connect, \
         `GET /health`, `GET /v1/models`).\n\n\
         | | p50 | max | vs. baseline |\n|---|---|---|---|\n\
         | in-process requests (baseline) | {} ms | {} ms | 1.00× |\n\
         | `ai-proxy-check` | {} ms | {} ms | {} |\n",
        counts.checks,
        ms(percentile(&inproc, 50.0)),
        ms(percentile(&inproc, 100.0)),
        ms(percentile(&runs, 50.0)),
        ms(percentile(&runs, 100.0)),
        dratio(percentile(&runs, 50.0), percentile(&inproc, 50.0)),
    )
    .unwrap();
    stop(daemon).await;

    writeln!(
        out,
        "**Binary sizes** (this release build, dynamically linked; the static `ai-proxy-check` \
         for scratch images is built by `packaging/build-check.sh`):\n\n\
         | binary | size | stripped |\n|---|---|---|"
    )
    .unwrap();
    let binaries = [
        ("claude-max-proxy", &bins.daemon),
        ("ai-proxy-check", &bins.check),
    ];
    for (name, path) in binaries {
        let size = file_size(path).map(|b| mib(b / 1024)).unwrap_or("–".into());
        let stripped = stripped_size(path)
            .map(|b| mib(b / 1024))
            .unwrap_or("– (no `strip`)".into());
        writeln!(out, "| `{name}` | {size} | {stripped} |").unwrap();
    }
    out
}
