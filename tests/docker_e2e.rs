//! End to end with the real Docker engine on this machine (no image is pulled: the check's
//! image is `FROM scratch` and built here). The daemon runs on the host with the fake CLI,
//! listening on loopback and the Docker bridge (`--listen 127.0.0.1,docker`); containers
//! reach it as `host.docker.internal` through `host-gateway`.
//!
//! Covered: `compose.yaml` + `compose.override.yaml` up (a user-defined compose network, the
//! check gating an app that streams a completion, the key passed through), `docker run` on
//! the default bridge, and the failures a user meets first, each with its exit code and
//! hint: daemon stopped, daemon on loopback only, compose without the override, wrong key.
//! And `claude-code.yaml`: Claude Code (the real CLI 2.1.332, in an image built by
//! `compose/claude-code/build-rootfs.sh`) answering through the daemon's Messages API.
//!
//! Each test uses its own image tag and compose project, and a [`Cleanup`] guard removes
//! what it created even when an assertion fails. Without a reachable Docker engine the tests
//! skip (and fail when CI is set).

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use support::{Daemon, DaemonOptions};

/// How to run compose here: `docker compose` (plugin) or `docker-compose` (standalone).
fn compose_command() -> Option<Vec<String>> {
    for candidate in [vec!["docker", "compose"], vec!["docker-compose"]] {
        let ok = Command::new(candidate[0])
            .args(&candidate[1..])
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(candidate.into_iter().map(String::from).collect());
        }
    }
    None
}

/// docker0's IPv4 address (what `host-gateway` means by default).
fn docker0_ipv4() -> Option<String> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .find(|i| i.name == "docker0" && i.ip().is_ipv4())
        .map(|i| i.ip().to_string())
}

/// What the tests need from this machine.
struct Env {
    compose: Vec<String>,
    docker0: String,
    /// The static binary, built once per test run by packaging/build-check.sh.
    context: PathBuf,
}

/// Docker, compose, docker0 and the static binary; `None` (after saying why) to skip.
fn env() -> Option<&'static Env> {
    static ENV: OnceLock<Result<Env, String>> = OnceLock::new();
    let result = ENV.get_or_init(|| {
        let docker_ok = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !docker_ok {
            return Err("the Docker engine is not reachable (`docker info` failed)".into());
        }
        let compose = compose_command()
            .ok_or("neither `docker compose` nor `docker-compose` works".to_string())?;
        let docker0 = docker0_ipv4().ok_or("docker0 has no IPv4 address".to_string())?;
        let root = support::root();
        let output = Command::new("bash")
            .arg(root.join("packaging/build-check.sh"))
            .current_dir(&root)
            .output()
            .map_err(|e| format!("run packaging/build-check.sh: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "packaging/build-check.sh failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        eprintln!("{}", String::from_utf8_lossy(&output.stdout).trim());
        Ok(Env {
            compose,
            docker0,
            context: root.join("compose"),
        })
    });
    match result {
        Ok(env) => Some(env),
        Err(why) if why.starts_with("packaging/") => panic!("{why}"),
        Err(why) => {
            support::skip_or_fail(why);
            None
        }
    }
}

/// Removes this test's containers, compose projects, volumes and image, also on panic.
struct Cleanup {
    compose: Vec<String>,
    image: String,
    projects: Vec<String>,
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.containers {
            let _ = quiet(Command::new("docker").args(["rm", "-f", name]));
        }
        for project in &self.projects {
            let mut down = compose_base(&self.compose, project, &[], &[]);
            down.args(["down", "--volumes", "--remove-orphans"]);
            let _ = quiet(&mut down);
        }
        for volume in &self.volumes {
            let _ = quiet(Command::new("docker").args(["volume", "rm", "-f", volume]));
        }
        let _ = quiet(Command::new("docker").args(["rmi", "-f", &self.image]));
    }
}

fn quiet(command: &mut Command) -> std::io::Result<std::process::ExitStatus> {
    command.stdout(Stdio::null()).stderr(Stdio::null()).status()
}

/// A per-test unique suffix (names must be lowercase for compose projects and tags).
fn unique(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{test}-{}-{nanos:x}", std::process::id())
}

/// One test's Docker resources.
struct Lab {
    env: &'static Env,
    image: String,
    id: String,
    cleanup: Cleanup,
}

impl Lab {
    /// Builds this test's image tag from compose/Dockerfile.check.
    fn new(test: &str) -> Option<Lab> {
        let env = env()?;
        let id = unique(test);
        let image = format!("ai-proxy-check-e2e:{id}");
        let cleanup = Cleanup {
            compose: env.compose.clone(),
            image: image.clone(),
            projects: Vec::new(),
            containers: Vec::new(),
            volumes: Vec::new(),
        };
        let output = Command::new("docker")
            .args(["build", "-q", "-f"])
            .arg(env.context.join("Dockerfile.check"))
            .args(["-t", &image])
            .arg(&env.context)
            .output()
            .expect("docker build");
        assert!(
            output.status.success(),
            "docker build failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(Lab {
            env,
            image,
            id,
            cleanup,
        })
    }

    /// `docker run` of the check on the default bridge, with host-gateway; exit code and
    /// output.
    fn run_check(&mut self, port: u16, key: Option<&str>, args: &[&str]) -> (i32, String) {
        let name = format!(
            "ai-proxy-check-{}-{}",
            self.id,
            self.cleanup.containers.len()
        );
        self.cleanup.containers.push(name.clone());
        let mut command = Command::new("docker");
        command
            .args(["run", "--rm", "--name", &name])
            .args(["--add-host", "host.docker.internal:host-gateway"])
            .args([
                "-e",
                &format!("AI_PROXY_URL=http://host.docker.internal:{port}"),
            ]);
        if let Some(key) = key {
            command.args(["-e", &format!("AI_PROXY_KEY={key}")]);
        }
        command.arg(&self.image).args(args);
        let output = timed(&mut command, Duration::from_secs(120));
        let text = combined(&output);
        eprintln!(
            "--- docker run {args:?} → {:?}\n{text}",
            output.status.code()
        );
        (output.status.code().unwrap_or(-1), text)
    }

    /// `compose up` of compose/compose.yaml (+ the override when asked) in a fresh project;
    /// each service's exit code (None: never ran) and the project's logs.
    fn compose_up(&mut self, port: u16, key: &str, with_override: bool, wait: &str) -> ComposeRun {
        let project = format!("aipc-{}", self.id).replace(':', "-");
        self.cleanup.projects.push(project.clone());
        let mut files = vec!["compose.yaml"];
        if with_override {
            files.push("compose.override.yaml");
        }
        let url = format!("http://host.docker.internal:{port}");
        let vars = [
            ("AI_PROXY_URL", url.as_str()),
            ("AI_PROXY_KEY", key),
            ("AI_PROXY_CHECK_IMAGE", self.image.as_str()),
            ("AI_PROXY_WAIT", wait),
        ];
        let mut up = compose_base(&self.env.compose, &project, &files, &vars);
        up.args(["up", "--no-build", "--no-color"]);
        let output = timed(&mut up, Duration::from_secs(180));
        let up_text = combined(&output);
        let mut run = ComposeRun {
            up_code: output.status.code().unwrap_or(-1),
            up_output: up_text,
            check: None,
            app: None,
            check_logs: String::new(),
            app_logs: String::new(),
        };
        for service in ["ai-proxy-check", "app"] {
            let mut ps = compose_base(&self.env.compose, &project, &files, &vars);
            ps.args(["ps", "-a", "-q", service]);
            let ids = timed(&mut ps, Duration::from_secs(60));
            let Some(id) = String::from_utf8_lossy(&ids.stdout)
                .lines()
                .next()
                .map(str::to_string)
            else {
                continue;
            };
            let code = Command::new("docker")
                .args([
                    "inspect",
                    "-f",
                    "{{.State.ExitCode}} {{.State.Running}}",
                    &id,
                ])
                .output()
                .expect("docker inspect");
            let state = String::from_utf8_lossy(&code.stdout).trim().to_string();
            let exit = match state.split_once(' ') {
                Some((code, "false")) => code.parse().ok(),
                _ => None,
            };
            let logs = combined(&timed(
                Command::new("docker").args(["logs", &id]),
                Duration::from_secs(60),
            ));
            if service == "app" {
                (run.app, run.app_logs) = (exit, logs);
            } else {
                (run.check, run.check_logs) = (exit, logs);
            }
        }
        eprintln!(
            "--- compose up {files:?} → {}\n{}\n--- ai-proxy-check ({:?}):\n{}\n--- app ({:?}):\n{}",
            run.up_code, run.up_output, run.check, run.check_logs, run.app, run.app_logs
        );
        run
    }
}

/// What `compose up` did.
struct ComposeRun {
    up_code: i32,
    up_output: String,
    check: Option<i32>,
    app: Option<i32>,
    check_logs: String,
    app_logs: String,
}

/// `<compose> -p <project> -f compose/<file>…` with the variables set (and the caller's
/// own AI_PROXY_* ignored).
fn compose_base(
    compose: &[String],
    project: &str,
    files: &[&str],
    vars: &[(&str, &str)],
) -> Command {
    let mut command = Command::new(&compose[0]);
    command.args(&compose[1..]).args(["-p", project]);
    let dir = support::root().join("compose");
    for file in files {
        command.arg("-f").arg(dir.join(file));
    }
    if files.is_empty() {
        // `down` by project name needs a file to parse; the base file suffices.
        command.arg("-f").arg(dir.join("compose.yaml"));
    }
    for name in [
        "AI_PROXY_URL",
        "AI_PROXY_KEY",
        "AI_PROXY_CHECK_IMAGE",
        "AI_PROXY_WAIT",
    ] {
        command.env_remove(name);
    }
    for (k, v) in vars {
        command.env(k, v);
    }
    command
}

/// Runs `command` to completion, killing it after `limit` (the guard cleans up after it).
fn timed(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            _ => {
                let _ = child.kill();
                break;
            }
        }
    }
    child.wait_with_output().expect("collect output")
}

fn combined(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The daemon on loopback + the Docker bridge (or loopback only), fake CLI, optional client
/// key.
async fn daemon(bridge: bool, key: Option<&str>) -> Daemon {
    // The setup the README gives: loopback + `docker` (the address `host-gateway` means).
    let listen = if bridge {
        "127.0.0.1,docker"
    } else {
        "127.0.0.1"
    };
    let mut options = DaemonOptions {
        no_default_listen: true,
        args: vec![
            "--port".into(),
            "0".into(),
            "--listen".into(),
            listen.into(),
        ],
        ..DaemonOptions::fake()
    };
    if let Some(key) = key {
        options = options.env("CLAUDE_MAX_PROXY_API_KEY", key);
    }
    Daemon::start(options).await
}

/// compose.yaml + compose.override.yaml: the check passes on the compose network, then the
/// app streams a completion through the proxy; the key reaches both.
#[tokio::test]
async fn compose_with_override_streams_a_completion() {
    let Some(mut lab) = Lab::new("compose-ok") else {
        return;
    };
    let key = format!("key-{}", lab.id);
    let daemon = daemon(true, Some(&key)).await;
    let run = lab.compose_up(daemon.port, &key, true, "30s");
    assert_eq!(run.check, Some(0), "the check failed:\n{}", run.check_logs);
    assert_eq!(
        run.app,
        Some(0),
        "the app failed:\n{}\n{}",
        run.app_logs,
        run.up_output
    );
    assert_eq!(run.up_code, 0, "{}", run.up_output);
    assert!(
        run.check_logs.contains("(from /etc/hosts)"),
        "{}",
        run.check_logs
    );
    assert!(
        run.check_logs.contains("client key required"),
        "{}",
        run.check_logs
    );
    assert!(
        run.app_logs.contains("first token after"),
        "{}",
        run.app_logs
    );
    assert!(
        run.app_logs.contains("Hello from the fake"),
        "{}",
        run.app_logs
    );
    // The check connected from the compose network, not the default bridge.
    let connect = run
        .check_logs
        .lines()
        .find(|l| l.contains("connect  ok"))
        .unwrap_or_default()
        .to_string();
    assert!(
        connect.contains(&format!("{}:{}", lab.env.docker0, daemon.port)),
        "{connect}"
    );
    assert!(
        !connect.contains("(from 172.17."),
        "not on a compose network: {connect}"
    );
}

/// `docker run` on the default bridge with --add-host: every stage and a streamed
/// completion pass from a scratch image.
#[tokio::test]
async fn default_bridge_docker_run_streams_a_completion() {
    let Some(mut lab) = Lab::new("bridge-ok") else {
        return;
    };
    let daemon = daemon(true, None).await;
    let (code, text) = lab.run_check(daemon.port, None, &["--chat"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("chat     ok"), "{text}");
    assert!(
        text.contains("(from 172.17."),
        "not on the default bridge: {text}"
    );
}

/// Daemon stopped, and daemon listening on loopback only: both refused (exit 5) with the
/// `listen`/doctor hint.
#[tokio::test]
async fn refused_when_stopped_or_loopback_only() {
    let Some(mut lab) = Lab::new("refused") else {
        return;
    };
    let mut stopped = daemon(true, None).await;
    let port = stopped.port;
    stopped.terminate().await;
    let (code, text) = lab.run_check(port, None, &[]);
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("connection refused"), "{text}");
    assert!(
        text.contains("the daemon is not running on the host"),
        "{text}"
    );
    assert!(text.contains("make `listen` include `docker`"), "{text}");
    assert!(text.contains("claude-max-proxy doctor"), "{text}");

    let loopback = daemon(false, None).await;
    let (code, text) = lab.run_check(loopback.port, None, &[]);
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("listens on loopback only"), "{text}");
    assert!(text.contains("make `listen` include `docker`"), "{text}");
}

/// compose.yaml without the override on Linux: host.docker.internal does not resolve
/// (exit 4) and the fix is the extra_hosts line; the app never starts.
#[tokio::test]
async fn compose_without_override_does_not_resolve() {
    let Some(mut lab) = Lab::new("no-override") else {
        return;
    };
    let daemon = daemon(true, None).await;
    let run = lab.compose_up(daemon.port, "", false, "1s");
    assert_eq!(run.check, Some(4), "{}", run.check_logs);
    assert!(
        run.check_logs
            .contains(r#"extra_hosts: ["host.docker.internal:host-gateway"]"#),
        "{}",
        run.check_logs
    );
    assert_eq!(run.app, None, "the app must not start: {}", run.app_logs);
    assert_ne!(run.up_code, 0, "{}", run.up_output);
}

/// A wrong AI_PROXY_KEY: exit 8 naming AI_PROXY_KEY, at once (no retries), app not started.
#[tokio::test]
async fn compose_with_a_wrong_key_is_rejected() {
    let Some(mut lab) = Lab::new("wrong-key") else {
        return;
    };
    let daemon = daemon(true, Some("the-right-key")).await;
    let run = lab.compose_up(daemon.port, "a-wrong-key", true, "30s");
    assert_eq!(run.check, Some(8), "{}", run.check_logs);
    assert!(
        run.check_logs.contains("rejected AI_PROXY_KEY"),
        "{}",
        run.check_logs
    );
    // Earlier attempts may fail while the daemon picks up the new compose network; the 401
    // itself is never retried.
    let retried_401 = run
        .check_logs
        .lines()
        .any(|l| l.contains(": attempt ") && l.contains("models failed"));
    assert!(!retried_401, "{}", run.check_logs);
    assert!(!run.check_logs.contains("a-wrong-key"), "the key leaked");
    assert_eq!(run.app, None, "the app must not start: {}", run.app_logs);
}

/// compose/claude-code.yaml: Claude Code in an image built from this machine's files (the
/// real CLI from .venv, gathered by build-rootfs.sh; nothing pulled) answers `-p` through the
/// daemon's Messages API with the proxy's key, in the workspace it was given.
#[tokio::test]
async fn claude_code_in_a_container_answers_through_the_messages_api() {
    let Some(env) = env() else {
        return;
    };
    let Some(cli) = support::real_claude() else {
        return;
    };
    let id = unique("claude-code");
    let image = format!("claude-code-e2e:{id}");
    let project = format!("ccode-{id}");
    let _cleanup = Cleanup {
        compose: env.compose.clone(),
        image: image.clone(),
        projects: vec![project.clone()],
        containers: Vec::new(),
        volumes: vec![format!("{project}_claude-code-home")],
    };
    let scratch = tempfile::tempdir().expect("scratch dir");
    let rootfs = scratch.path().join("rootfs");
    let root = support::root();
    let built = Command::new("bash")
        .arg(root.join("compose/claude-code/build-rootfs.sh"))
        .env("CLAUDE_BIN", &cli)
        .env("CLAUDE_CODE_ROOTFS", &rootfs)
        .output()
        .expect("run build-rootfs.sh");
    assert!(
        built.status.success(),
        "build-rootfs.sh: {}",
        combined(&built)
    );
    let output = timed(
        Command::new("docker")
            .args(["build", "-q", "-t", &image, "-f"])
            .arg(root.join("compose/claude-code/Dockerfile"))
            .arg(scratch.path()),
        Duration::from_secs(300),
    );
    assert!(
        output.status.success(),
        "docker build: {}",
        combined(&output)
    );
    let workspace = scratch.path().join("workspace");
    std::fs::create_dir(&workspace).expect("workspace");
    std::fs::write(workspace.join("NOTES.md"), "the e2e workspace\n").expect("write");
    let key = format!("key-{id}");
    let daemon = daemon(true, Some(&key)).await;
    let url = format!("http://host.docker.internal:{}", daemon.port);
    let workspace_text = workspace.to_string_lossy().into_owned();
    let vars = [
        ("CLAUDE_CODE_IMAGE", image.as_str()),
        ("ANTHROPIC_BASE_URL", url.as_str()),
        ("AI_PROXY_KEY", key.as_str()),
        ("CLAUDE_CODE_WORKSPACE", workspace_text.as_str()),
    ];
    let mut run = Command::new(&env.compose[0]);
    run.args(&env.compose[1..])
        .args(["-p", &project, "-f"])
        .arg(root.join("compose/claude-code.yaml"))
        .args([
            "run",
            "--rm",
            "-T",
            "claude-code",
            "-p",
            "say hi to the proxy",
        ]);
    for name in [
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "CLAUDE_CODE_MODEL",
    ] {
        run.env_remove(name);
    }
    for (k, v) in vars {
        run.env(k, v);
    }
    let output = timed(&mut run, Duration::from_secs(180));
    let text = combined(&output);
    eprintln!("--- claude-code run → {:?}\n{text}", output.status.code());
    assert_eq!(
        output.status.code(),
        Some(0),
        "{text}\ndaemon log:\n{}",
        daemon.stderr()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Hello from the fake. You said:") && stdout.contains("say hi to the proxy"),
        "{stdout}"
    );
    // The daemon's log is read by a task of this runtime, which the blocking run above held
    // up: let it catch up.
    let served = r#"endpoint="messages""#;
    for _ in 0..50 {
        if daemon.stderr().contains(served) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        daemon.stderr().contains(served),
        "the CLI came in through the Messages API: {}",
        daemon.stderr()
    );
    // The daemon requires its key: the answer proves the CLI sent AI_PROXY_KEY.
}
