//! The host daemon's networking and process management, for real: listeners on a bridge
//! named docker0 inside a network namespace the test makes (appearing after start, going
//! away), the real docker0 of this machine, the source filter, the client API key, CORS,
//! sd-notify against a real datagram socket, SIGHUP reloads and a second SIGINT.

mod support;

use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Daemon, DaemonOptions, eventually};

/// A network namespace for one test, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn create(tag: &str) -> Option<Netns> {
        let name = format!("cmp-{tag}-{}", std::process::id());
        let _ = StdCommand::new("ip").args(["netns", "del", &name]).output();
        let ok = StdCommand::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            support::skip_or_fail("cannot create a network namespace (needs root and iproute2)");
            return None;
        }
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        Some(ns)
    }

    /// `ip -n <ns> …`, which must succeed.
    fn ip(&self, args: &[&str]) {
        let status = StdCommand::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .status()
            .expect("run ip");
        assert!(status.success(), "ip -n {} {args:?} failed", self.name);
    }

    /// Adds a bridge interface with an address, like Docker's docker0 / br-*.
    fn add_bridge(&self, name: &str, cidr: &str) {
        self.ip(&["link", "add", name, "type", "bridge"]);
        self.ip(&["addr", "add", cidr, "dev", name]);
        self.ip(&["link", "set", name, "up"]);
    }

    /// Listening TCP sockets inside the namespace, as `addr:port` strings.
    fn listening(&self) -> Vec<String> {
        let out = StdCommand::new("ip")
            .args(["netns", "exec", &self.name, "ss", "-ltnH"])
            .output()
            .expect("ss");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
            .collect()
    }

    /// An HTTP GET from inside the namespace: (status code, body); status 0 when the
    /// connection failed or was closed without an answer.
    fn get(&self, url: &str, source: Option<&str>) -> (u16, String) {
        let mut args = vec![
            "netns",
            "exec",
            &self.name,
            "curl",
            "-s",
            "-m",
            "3",
            "-w",
            "\n%{http_code}",
        ];
        if let Some(source) = source {
            args.push("--interface");
            args.push(source);
        }
        args.push(url);
        let out = StdCommand::new("ip").args(&args).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = StdCommand::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// listen = 127.0.0.1 + docker: docker0 appearing after start is bound, its removal is
/// survived, nothing listens on a wildcard address, and the source filter closes
/// connections from other networks until `allow_from` (reloaded with SIGHUP) admits them.
#[tokio::test]
async fn docker_listener_follows_the_interface_and_filters_sources() {
    let Some(ns) = Netns::create("listen") else {
        return;
    };
    let options = DaemonOptions {
        netns: Some(ns.name.clone()),
        no_default_listen: true,
        args: vec!["--port".into(), "0".into()],
        ..DaemonOptions::fake()
    }
    .config("listen = [\"127.0.0.1\", \"docker\"]\n");
    let daemon = Daemon::start(options).await;
    let port = daemon.port;
    let sockets = ns.listening();
    assert_eq!(
        sockets,
        vec![format!("127.0.0.1:{port}")],
        "only loopback before docker0 exists"
    );

    // Docker starts: docker0 appears.
    ns.add_bridge("docker0", "172.30.99.1/24");
    let gateway = format!("172.30.99.1:{port}");
    assert!(
        wait_until(Duration::from_secs(5), || ns.listening().contains(&gateway)),
        "docker0's address was not bound: {:?}",
        ns.listening()
    );
    for socket in ns.listening() {
        assert!(
            !socket.starts_with("0.0.0.0")
                && !socket.starts_with('*')
                && !socket.starts_with("[::]"),
            "{socket}"
        );
    }
    let (status, body) = ns.get(&format!("http://127.0.0.1:{port}/health"), None);
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&body).unwrap();
    let listeners: Vec<&str> = health["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        listeners.contains(&format!("http://172.30.99.1:{port}").as_str()),
        "{listeners:?}"
    );

    // From the bridge subnet: allowed.
    let (status, _) = ns.get(&format!("http://{gateway}/v1/models"), Some("172.30.99.1"));
    assert_eq!(status, 200);

    // From another machine on another network (a second namespace joined by a veth pair,
    // routing to the bridge address): closed before HTTP, and counted.
    let Some(lan) = Netns::create("lan") else {
        return;
    };
    ns.ip(&[
        "link", "add", "lan0", "type", "veth", "peer", "name", "lan1", "netns", &lan.name,
    ]);
    ns.ip(&["addr", "add", "10.99.0.1/24", "dev", "lan0"]);
    ns.ip(&["link", "set", "lan0", "up"]);
    lan.ip(&["addr", "add", "10.99.0.2/24", "dev", "lan1"]);
    lan.ip(&["link", "set", "lan1", "up"]);
    lan.ip(&["route", "add", "172.30.99.0/24", "via", "10.99.0.1"]);
    // Give the daemon a poll interval to see the new interface (it must still refuse).
    std::thread::sleep(Duration::from_millis(1500));
    let (status, _) = lan.get(&format!("http://{gateway}/health"), None);
    assert_eq!(status, 0, "a connection from 10.99.0.2 must be refused");
    let (_, body) = ns.get(&format!("http://127.0.0.1:{port}/health"), None);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert!(
        health["rejected_connections"].as_u64().unwrap() >= 1,
        "{health}"
    );

    // allow_from, reloaded with SIGHUP, admits that network.
    std::fs::write(
        daemon.config_path(),
        "listen = [\"127.0.0.1\", \"docker\"]\nallow_from = [\"10.99.0.0/24\"]\n",
    )
    .unwrap();
    support::send_signal(daemon.pid(), libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(5), || lan
            .get(&format!("http://{gateway}/health"), None)
            .0
            == 200),
        "allow_from was not applied by the reload"
    );

    // Docker stops: docker0 goes away; loopback keeps serving.
    ns.ip(&["link", "del", "docker0"]);
    assert!(
        wait_until(Duration::from_secs(5), || !ns
            .listening()
            .contains(&gateway)),
        "the listener on the removed address was not dropped"
    );
    let (status, _) = ns.get(&format!("http://127.0.0.1:{port}/health"), None);
    assert_eq!(status, 200);
    assert!(
        eventually(Duration::from_secs(3), || daemon
            .stderr()
            .contains("stopped listening on http://172.30.99.1"))
        .await,
        "{}",
        daemon.stderr()
    );
}

/// `docker-bridges` binds every bridge gateway, compose networks (br-*) included.
#[tokio::test]
async fn docker_bridges_binds_every_bridge() {
    let Some(ns) = Netns::create("bridges") else {
        return;
    };
    ns.add_bridge("docker0", "172.30.97.1/24");
    ns.add_bridge("br-0123456789ab", "172.30.96.1/24");
    let options = DaemonOptions {
        netns: Some(ns.name.clone()),
        no_default_listen: true,
        args: vec![
            "--port".into(),
            "0".into(),
            "--listen".into(),
            "127.0.0.1,docker-bridges".into(),
        ],
        ..DaemonOptions::fake()
    };
    let daemon = Daemon::start(options).await;
    let port = daemon.port;
    let sockets = ns.listening();
    for want in [format!("172.30.97.1:{port}"), format!("172.30.96.1:{port}")] {
        assert!(sockets.contains(&want), "{want} missing from {sockets:?}");
    }
}

/// On this machine's real docker0, the default `listen` binds loopback and docker0 only.
#[tokio::test]
async fn real_docker0_is_bound_by_default() {
    let Some(docker0) = real_docker0() else {
        support::skip_or_fail(
            "this machine has no docker0 with an IPv4 address (is Docker running?)",
        );
        return;
    };
    let options = DaemonOptions {
        no_default_listen: true,
        args: vec!["--port".into(), "0".into()],
        ..DaemonOptions::fake()
    };
    let daemon = Daemon::start(options).await;
    let health: Value = reqwest::get(daemon.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listeners: Vec<String> = health["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    assert!(
        listeners.contains(&format!("http://{docker0}:{}", daemon.port)),
        "{listeners:?}"
    );
    assert!(
        listeners.contains(&format!("http://127.0.0.1:{}", daemon.port)),
        "{listeners:?}"
    );
    assert_eq!(listeners.len(), 2, "nothing else: {listeners:?}");
    let out = StdCommand::new("ss").args(["-ltnH"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let port_suffix = format!(":{}", daemon.port);
    let local: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter(|addr| addr.ends_with(&port_suffix))
        .collect();
    assert_eq!(local.len(), 2, "{local:?}");
    for addr in local {
        assert!(
            !addr.starts_with("0.0.0.0") && !addr.starts_with('*') && !addr.starts_with("[::]"),
            "wildcard listener: {addr}"
        );
    }
    // The bridge address answers too.
    let response = reqwest::get(format!("http://{docker0}:{}/health", daemon.port))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn real_docker0() -> Option<String> {
    let out = StdCommand::new("ip")
        .args(["-4", "-o", "addr", "show", "docker0"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let inet = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)?;
    inet.split('/').next().map(str::to_string)
}

/// 0.0.0.0 needs an API key; with one it starts.
#[tokio::test]
async fn wildcard_listen_requires_an_api_key() {
    let home = tempfile::tempdir().unwrap();
    let output = StdCommand::new(env!("CARGO_BIN_EXE_claude-max-proxy"))
        .args(["--port", "0", "--listen", "0.0.0.0"])
        .env_clear()
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("api_key") && err.contains("0.0.0.0"), "{err}");

    let options = DaemonOptions {
        no_default_listen: true,
        args: vec![
            "--port".into(),
            "0".into(),
            "--listen".into(),
            "0.0.0.0".into(),
        ],
        ..DaemonOptions::fake()
    }
    .env("CLAUDE_MAX_PROXY_API_KEY", "k");
    let daemon = Daemon::start(options).await;
    assert!(daemon.base_url.starts_with("http://0.0.0.0:"));
}

/// With `api_key`, /v1/* needs the Bearer key; /health stays open and shows no secret.
#[tokio::test]
async fn api_key_protects_v1_only() {
    let daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_API_KEY", "sekrit-key")).await;
    let client = reqwest::Client::new();
    let url = daemon.url("/v1/models");
    let none = client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let wrong = client.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client
        .get(&url)
        .bearer_auth("sekrit-key")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    let chat = client
        .post(daemon.url("/v1/chat/completions"))
        .json(&serde_json::json!({"model":"opus","messages":[{"role":"user","content":"x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 401, "chat needs the key too");
    let health = client.get(daemon.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let text = health.text().await.unwrap();
    assert!(!text.contains("sekrit-key"), "{text}");
    assert!(text.contains("\"client_auth\":\"api-key\""), "{text}");
    // The key may also come from a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, "file-key\n").unwrap();
    let daemon = Daemon::start(
        DaemonOptions::fake().env("CLAUDE_MAX_PROXY_API_KEY_FILE", file.to_str().unwrap()),
    )
    .await;
    let ok = client
        .get(daemon.url("/v1/models"))
        .bearer_auth("file-key")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// CORS is off unless configured (pages of other origins are refused, with no CORS
/// header); configured origins get preflights and headers.
#[tokio::test]
async fn cors_is_opt_in() {
    let client = reqwest::Client::new();
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let response = client
        .get(daemon.url("/v1/models"))
        .header("origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
    let preflight = client
        .request(reqwest::Method::OPTIONS, daemon.url("/v1/chat/completions"))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 403);

    let daemon = Daemon::start(
        DaemonOptions::fake().env("CLAUDE_MAX_PROXY_CORS_ORIGINS", "http://app.example"),
    )
    .await;
    let preflight = client
        .request(reqwest::Method::OPTIONS, daemon.url("/v1/chat/completions"))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let response = client
        .get(daemon.url("/v1/models"))
        .header("origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let other = client
        .get(daemon.url("/v1/models"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

/// sd-notify over a real datagram socket: READY with STATUS, WATCHDOG pings (their period,
/// half of WATCHDOG_USEC, is pinned in paused time by `daemon::notify`'s unit tests),
/// RELOADING then READY on SIGHUP, STOPPING on SIGTERM — in that order. Each step waits for
/// the message it expects, never for a length of time.
#[tokio::test]
async fn sd_notify_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&path).unwrap();
    let mut daemon = Daemon::start(
        DaemonOptions::fake()
            .env("NOTIFY_SOCKET", path.to_str().unwrap())
            .env("WATCHDOG_USEC", "600000"),
    )
    .await;
    let mut messages: Vec<String> = Vec::new();
    // Reads messages until `done` holds for what was read (bounded: a missing message fails).
    async fn read_until(
        socket: &tokio::net::UnixDatagram,
        messages: &mut Vec<String>,
        what: &str,
        done: impl Fn(&[String]) -> bool,
    ) {
        let mut buf = [0u8; 4096];
        while !done(messages) {
            let n = tokio::time::timeout(Duration::from_secs(20), socket.recv(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {what} within 20 s: {messages:?}"))
                .expect("recv");
            messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    let has =
        |needle: &'static str| move |m: &[String]| m.iter().any(|m| m.lines().any(|l| l == needle));
    let pings = |m: &[String]| m.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    read_until(&socket, &mut messages, "READY and three pings", |m| {
        has("READY=1")(m) && pings(m) >= 3
    })
    .await;
    support::send_signal(daemon.pid(), libc::SIGHUP);
    read_until(&socket, &mut messages, "READY after RELOADING", |m| {
        m.iter()
            .skip_while(|m| !m.contains("RELOADING=1"))
            .any(|m| m.contains("READY=1"))
    })
    .await;
    support::send_signal(daemon.pid(), libc::SIGTERM);
    read_until(&socket, &mut messages, "STOPPING", has("STOPPING=1")).await;
    let status = tokio::time::timeout(Duration::from_secs(10), daemon.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());

    let position = |needle: &str| messages.iter().position(|m| m.lines().any(|l| l == needle));
    let ready = position("READY=1").expect("READY=1");
    assert!(
        messages[ready].contains("STATUS=listening on http://127.0.0.1:"),
        "{:?}",
        messages[ready]
    );
    let first_ping = position("WATCHDOG=1").expect("WATCHDOG=1");
    let reloading = position("RELOADING=1").expect("RELOADING=1");
    assert!(
        messages[reloading].contains("MONOTONIC_USEC="),
        "{:?}",
        messages[reloading]
    );
    let ready_again = messages
        .iter()
        .skip(reloading)
        .position(|m| m.contains("READY=1"))
        .expect("READY after RELOADING");
    let stopping = position("STOPPING=1").expect("STOPPING=1");
    assert!(
        ready < first_ping && first_ping < reloading && reloading + ready_again < stopping,
        "{messages:?}"
    );
}

/// SIGHUP applies a new port and key; an invalid file keeps the running configuration.
#[tokio::test]
async fn sighup_reload_applies_or_keeps() {
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port_a, port_b) = (free_port(), free_port());
    let options = DaemonOptions {
        no_default_listen: true,
        ..DaemonOptions::fake()
    }
    .config(&format!(
        "listen = [\"127.0.0.1\"]\nport = {port_a}\napi_key = \"k1\"\n"
    ));
    let daemon = Daemon::start(options).await;
    // No connection reuse: an open connection outlives its listener, by design.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let models = |port: u16, key: &'static str| {
        let client = client.clone();
        async move {
            client
                .get(format!("http://127.0.0.1:{port}/v1/models"))
                .bearer_auth(key)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(models(port_a, "k1").await, 200);

    // An invalid file: logged, old configuration kept.
    std::fs::write(daemon.config_path(), "port = \"not a port\"\n").unwrap();
    support::send_signal(daemon.pid(), libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || daemon
            .stderr()
            .contains("reload failed"))
        .await
    );
    assert_eq!(models(port_a, "k1").await, 200);

    // A valid change: new port and key.
    std::fs::write(
        daemon.config_path(),
        format!("listen = [\"127.0.0.1\"]\nport = {port_b}\napi_key = \"k2\"\n"),
    )
    .unwrap();
    support::send_signal(daemon.pid(), libc::SIGHUP);
    let mut switched = false;
    for _ in 0..50 {
        if models(port_b, "k2").await == 200 {
            switched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(switched, "new port/key not applied: {}", daemon.stderr());
    assert_eq!(models(port_b, "k1").await, 401, "the old key is gone");
    assert_eq!(models(port_a, "k2").await, 0, "the old port is closed");
}

/// A second SIGINT during the drain stops at once and leaves no CLI behind.
#[tokio::test]
async fn second_sigint_stops_at_once() {
    let mut daemon =
        Daemon::start(DaemonOptions::fake().env("CLAUDE_MAX_PROXY_STREAM_HEADER_HOLD_MS", "50"))
            .await;
    let response = reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(&serde_json::json!({"model":"opus","stream":true,"messages":[{"role":"user","content":"@fake:hang"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pid = daemon.pid();
    assert!(
        eventually(Duration::from_secs(5), || !support::descendants(pid)
            .is_empty())
        .await
    );
    let children = support::descendants(pid);
    support::send_signal(pid, libc::SIGINT);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        support::alive(pid),
        "the first SIGINT waits for in-flight requests"
    );
    let started = Instant::now();
    support::send_signal(pid, libc::SIGINT);
    let status = tokio::time::timeout(Duration::from_secs(5), daemon.child.wait())
        .await
        .expect("exit")
        .unwrap();
    assert!(status.success());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        children.iter().all(|c| !support::alive(*c)),
        "CLI left behind"
    );
    drop(response);
}
