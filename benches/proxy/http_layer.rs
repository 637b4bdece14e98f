//! Section 3: the HTTP layer — requests/s and p99 of /health and /v1/models against a
//! bare hyper server (this binary, re-executed), and the daemon's memory and CPU.

use super::*;

/// The bare baseline: hyper's auto connection builder on a multi-thread runtime, like the
/// daemon, answering every request with a small fixed JSON body. Prints its port.
pub(super) fn baseline_server() {
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

pub(super) async fn start_baseline(me: &Path) -> (Child, u16) {
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
pub(super) struct Load {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    requests: usize,
}

pub(super) async fn load(port: u16, path: &'static str, conns: usize, per_conn: usize) -> Load {
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

/// The round with the median requests/s.
fn median(mut rounds: Vec<Load>) -> Load {
    rounds.sort_by(|a, b| a.per_sec.total_cmp(&b.per_sec));
    rounds.swap_remove(rounds.len() / 2)
}

pub(super) async fn http_layer(bins: &Binaries, counts: Counts) -> String {
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

    let (conns, per_conn, rounds) = (counts.http_conns, counts.http_per_conn, counts.http_rounds);
    // The three in turn, round after round, so that a slow moment of the machine falls on
    // all of them; each reported by its median round.
    let (mut bases, mut healths, mut models) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..counts.http_rounds {
        bases.push(load(baseline_port, "/", conns, per_conn).await);
        healths.push(load(daemon.port, "/health", conns, per_conn).await);
        models.push(load(daemon.port, "/v1/models", conns, per_conn).await);
    }
    // Each round's ratio against the baseline of the same round: how far apart rounds
    // are tells how much of a difference between two runs is the machine.
    let spread = |of: &[Load]| {
        let ratios: Vec<f64> = of
            .iter()
            .zip(&bases)
            .map(|(l, b)| l.per_sec / b.per_sec)
            .collect();
        let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{low:.2}–{high:.2}×")
    };
    let (health_spread, models_spread) = (spread(&healths), spread(&models));
    let (base, health, models) = (median(bases), median(healths), median(models));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (daemon_after, _) = rss_kib(pid);

    writeln!(
        out,
        "## 3. The HTTP layer\n\n\
         {conns} keep-alive connections, up to {per_conn} sequential requests each (at most \
         30 s), in {rounds} rounds of baseline, `/health` and `/v1/models` in turn; each row \
         is its median round. **Baseline:** a bare hyper server (the same `auto::Builder` on a \
         multi-thread runtime, a fixed 31-byte JSON answer), run as its own process like the \
         daemon. Targets (issue 24): `/health` ≥ 0.75×, `/v1/models` ≥ 1.0× of the \
         baseline's requests/s. *Rounds* gives the lowest and highest of the rounds' own \
         ratios (each round against the baseline measured just before it).\n\n\
         | endpoint | requests | requests/s | vs. baseline | rounds | p50 | p99 | p99 vs. baseline |\n\
         |---|---|---|---|---|---|---|---|"
    )
    .unwrap();
    for (name, l, rounds) in [
        ("bare hyper (baseline)", &base, String::new()),
        ("`GET /health`", &health, health_spread),
        ("`GET /v1/models`", &models, models_spread),
    ] {
        writeln!(
            out,
            "| {name} | {} | {:.0} | {} | {rounds} | {} ms | {} ms | {} |",
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
pub(super) async fn open_streams(
    bins: &Binaries,
    n: usize,
    window: Duration,
) -> (u64, u64, f64, u64, usize) {
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
