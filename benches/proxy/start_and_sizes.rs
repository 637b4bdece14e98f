//! Section 4: start to READY, an `ai-proxy-check` run, binary sizes.

use super::http_layer::start_baseline;
use super::*;

/// Spawns the daemon with NOTIFY_SOCKET and times READY=1; returns the running daemon.
pub(super) async fn start_to_ready(bins: &Binaries) -> (Duration, Child, u16) {
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

pub(super) async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
    }
    let _ = tokio::time::timeout(STEP_LIMIT, child.wait()).await;
}

pub(super) fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Size after `strip`, if strip is installed.
pub(super) fn stripped_size(path: &Path) -> Option<u64> {
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

pub(super) async fn start_and_sizes(bins: &Binaries, counts: Counts) -> String {
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
