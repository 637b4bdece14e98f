//! `claude-max-proxy doctor` against a real daemon: every configured listener answers
//! (exit 0), a stopped daemon is a FAIL with the fix (exit 1), the `docker` listener on this
//! machine's docker0, a broken config, and the real CLI without a login.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use support::{Daemon, DaemonOptions};

const BIN: &str = env!("CARGO_BIN_EXE_claude-max-proxy");

/// A stand-in CLI that answers `--version` and `auth status --json` as CLI 2.1.332 does
/// when logged in.
fn logged_in_cli(dir: &Path) -> String {
    let path = dir.join("claude");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         case \"$1\" in\n\
           --version) echo '2.1.332 (Claude Code)';;\n\
           auth) echo '{\"loggedIn\": true, \"authMethod\": \"claude.ai\"}';;\n\
           *) exit 1;;\n\
         esac\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// Runs `doctor` with these global flags in a clean environment and an empty HOME.
async fn doctor(flags: &[&str], home: &Path) -> Output {
    tokio::process::Command::new(BIN)
        .args(flags)
        .arg("doctor")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("USER", "alice")
        .output()
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running daemon: the CLI, login, config and listener checks pass; exit 0.
#[tokio::test]
async fn doctor_passes_against_a_running_daemon() {
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let dir = tempfile::tempdir().unwrap();
    let cli = logged_in_cli(dir.path());
    let port = daemon.port.to_string();
    let out = doctor(
        &["--port", &port, "--listen", "127.0.0.1", "--cli-path", &cli],
        dir.path(),
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for line in [
        format!("OK    claude CLI: {cli}\n"),
        "OK    CLI version: 2.1.332\n".to_string(),
        "OK    login: the CLI is logged in (claude.ai)\n".to_string(),
        "OK    config: no config file; defaults, environment and flags are valid\n".to_string(),
        format!(
            "OK    listener 127.0.0.1:{port}: claude-max-proxy {} answers /health\n",
            claude_max_proxy::VERSION
        ),
        "WARN  service: systemd user unit claude-max-proxy.service is not installed".to_string(),
        "      fix: claude-max-proxy service install\n".to_string(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("FAIL"), "{text}");
    assert!(text.contains("firewall: "), "{text}");
    assert!(text.contains("host-gateway: "), "{text}");
}

/// The same daemon stopped: the listener is a FAIL with how to start it; exit 1.
#[tokio::test]
async fn doctor_fails_against_a_stopped_daemon() {
    let mut daemon = Daemon::start(DaemonOptions::fake()).await;
    let port = daemon.port.to_string();
    let status = daemon.terminate().await;
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    let cli = logged_in_cli(dir.path());
    let out = doctor(
        &["--port", &port, "--listen", "127.0.0.1", "--cli-path", &cli],
        dir.path(),
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "FAIL  listener 127.0.0.1:{port}: connection refused: nothing listens here\n      \
             fix: start it: claude-max-proxy   (in the foreground)\n"
        )),
        "{text}"
    );
    assert!(text.contains("check(s) failed"), "{text}");
}

/// `listen = docker` is checked at docker0's address (or the host-gateway override), as the
/// daemon resolves it on this machine.
#[tokio::test]
async fn doctor_checks_the_docker_listener() {
    let docker = claude_max_proxy::net::docker::discover().docker_addresses();
    let Some(gateway) = docker.iter().find(|ip| ip.is_ipv4()).copied() else {
        support::skip_or_fail("this machine has no docker0 address (install and start Docker)");
        return;
    };
    let daemon = Daemon::start(DaemonOptions {
        no_default_listen: true,
        args: ["--port", "0", "--listen", "127.0.0.1,docker"]
            .map(String::from)
            .to_vec(),
        ..DaemonOptions::fake()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cli = logged_in_cli(dir.path());
    let port = daemon.port.to_string();
    let out = doctor(
        &[
            "--port",
            &port,
            "--listen",
            "127.0.0.1,docker",
            "--cli-path",
            &cli,
        ],
        dir.path(),
    )
    .await;
    let text = stdout(&out);
    let line = format!(
        "OK    listener {gateway}:{port} (docker): claude-max-proxy {} answers /health\n",
        claude_max_proxy::VERSION
    );
    assert!(
        text.contains(&line),
        "missing {line:?} in:\n{text}\n{}",
        daemon.stderr()
    );
    assert!(text.contains("OK    docker0: "), "{text}");
}

/// A broken config file is one FAIL naming the key; listeners are not checked; exit 1.
#[tokio::test]
async fn doctor_reports_a_broken_config() {
    let dir = tempfile::tempdir().unwrap();
    let cli = logged_in_cli(dir.path());
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "max_concurrent = 0\n").unwrap();
    let out = doctor(
        &["--config", config.to_str().unwrap(), "--cli-path", &cli],
        dir.path(),
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  config: invalid configuration: `max_concurrent`"),
        "{text}"
    );
    assert!(
        text.contains(&format!("OK    claude CLI: {cli}\n")),
        "{text}"
    );
    assert!(
        text.contains("SKIP  listeners: not checked: the configuration is invalid"),
        "{text}"
    );
}

/// The real CLI 2.1.332 with an empty HOME is not logged in: FAIL with the login commands.
#[tokio::test]
async fn doctor_with_the_real_cli_and_no_login_fails() {
    let Some(cli) = support::real_claude() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = doctor(
        &["--cli-path", cli.to_str().unwrap(), "--port", "1"],
        dir.path(),
    )
    .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("OK    CLI version: 2.1.332\n"), "{text}");
    assert!(
        text.contains("FAIL  login: the CLI is not logged in and no token is stored\n"),
        "{text}"
    );
    assert!(text.contains("claude auth login"), "{text}");
}
