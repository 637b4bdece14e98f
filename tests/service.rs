//! `claude-max-proxy service …`: the rendered unit passes `systemd-analyze verify`, the
//! plist parses with Python's plistlib, `install --dry-run` prints the files and commands,
//! and a real install/status/uninstall in a temporary HOME drives a fake `systemctl` that
//! records its arguments.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use claude_max_proxy::service::render;

const BIN: &str = env!("CARGO_BIN_EXE_claude-max-proxy");

/// `systemd-analyze`, or a skip (a failure in CI).
fn systemd_analyze() -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("systemd-analyze"))
        .find(|p| p.exists());
    if found.is_none() {
        support::skip_or_fail(
            "systemd-analyze is missing (Debian: `apt-get install -y systemd`; .ci/run installs it)",
        );
    }
    found
}

/// Runs `systemd-analyze --user verify` on a unit file; returns (success, stderr).
fn verify(unit: &Path, analyze: &Path) -> (bool, String) {
    // A user-mode verify needs a runtime directory, even an empty one.
    let runtime = tempfile::tempdir().unwrap();
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = Command::new(analyze)
        .args(["--user", "verify"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The unit as `service install` renders it verifies without a single warning.
#[test]
fn rendered_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit_path = dir.path().join(render::UNIT_NAME);
    let unit = render::systemd_unit(
        &[BIN.to_string(), "--config".into(), "/etc/x.toml".into()],
        "/usr/local/bin:/usr/bin:/bin",
    )
    .unwrap();
    std::fs::write(&unit_path, &unit).unwrap();
    let (ok, stderr) = verify(&unit_path, &analyze);
    assert!(
        ok && stderr.trim().is_empty(),
        "verify failed:\n{stderr}\n{unit}"
    );

    // A missing program is what verify catches: the check is real.
    let broken = render::systemd_unit(&["/nonexistent/claude-max-proxy".into()], "/bin").unwrap();
    std::fs::write(&unit_path, broken).unwrap();
    let (ok, stderr) = verify(&unit_path, &analyze);
    assert!(!ok, "verify accepted a missing program: {stderr}");
}

/// Odd characters in the program path (space, `%`) and the arguments (`$`, quotes) are
/// quoted so that systemd reads them back.
#[test]
fn unit_with_an_odd_program_path_verifies() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let odd_dir = dir.path().join("my tools 100%");
    std::fs::create_dir(&odd_dir).unwrap();
    let exe = odd_dir.join("claude-max-proxy");
    std::fs::copy(BIN, &exe).unwrap();
    let unit_path = dir.path().join(render::UNIT_NAME);
    let argv = [
        exe.display().to_string(),
        "--config".to_string(),
        "/cfg/$HOME \"x\".toml".to_string(),
    ];
    let unit = render::systemd_unit(&argv, "/odd 50%:/usr/bin:/bin").unwrap();
    std::fs::write(&unit_path, &unit).unwrap();
    let (ok, stderr) = verify(&unit_path, &analyze);
    assert!(
        ok && stderr.trim().is_empty(),
        "verify failed:\n{stderr}\n{unit}"
    );
}

/// The launchd plist parses with a real plist parser and has the keys launchd needs.
#[test]
fn plist_parses_with_python_plistlib() {
    let argv = vec![
        "/Users/a&b/.local/bin/claude-max-proxy".to_string(),
        "--config".into(),
        "/Users/a&b/c <1>.toml".into(),
    ];
    let plist = render::launchd_plist(
        &argv,
        Path::new("/Users/a&b"),
        Path::new("/Users/a&b/Library/Logs/claude-max-proxy.log"),
        "/opt/homebrew/bin:/usr/bin:/bin",
    )
    .unwrap();
    let script =
        "import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))";
    let child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            support::skip_or_fail(&format!("python3 is needed to parse the plist: {e}"));
            return;
        }
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plist.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "plistlib rejected it: {}\n{plist}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["Label"], "io.github.claude-max-proxy");
    assert_eq!(parsed["ProgramArguments"], serde_json::json!(argv));
    assert_eq!(parsed["RunAtLoad"], true);
    assert_eq!(parsed["KeepAlive"]["SuccessfulExit"], false);
    assert_eq!(
        parsed["StandardOutPath"],
        "/Users/a&b/Library/Logs/claude-max-proxy.log"
    );
    assert_eq!(parsed["StandardErrorPath"], parsed["StandardOutPath"]);
    assert_eq!(
        parsed["EnvironmentVariables"]["PATH"],
        "/opt/homebrew/bin:/usr/bin:/bin"
    );
    assert_eq!(parsed["WorkingDirectory"], "/Users/a&b");
}

/// A temporary HOME, and a directory with a fake `systemctl` that appends its argv to a log
/// and answers `is-active` with `$FAKE_SYSTEMCTL_ACTIVE` (default `inactive`).
struct Sandbox {
    home: tempfile::TempDir,
    bin: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let sandbox = Sandbox {
            home: tempfile::tempdir().unwrap(),
            bin: tempfile::tempdir().unwrap(),
        };
        let fake = sandbox.bin.path().join("systemctl");
        std::fs::write(
            &fake,
            "#!/bin/sh\n\
             echo \"$*\" >> \"$FAKE_SYSTEMCTL_LOG\"\n\
             if [ -n \"$FAKE_SYSTEMCTL_FAIL\" ]; then echo \"$FAKE_SYSTEMCTL_FAIL\" >&2; exit 1; fi\n\
             case \"$2\" in\n\
               is-active) state=${FAKE_SYSTEMCTL_ACTIVE:-inactive}; echo \"$state\"; [ \"$state\" = active ];;\n\
               is-enabled) echo enabled;;\n\
             esac\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        sandbox
    }

    fn log(&self) -> PathBuf {
        self.bin.path().join("systemctl.log")
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn unit(&self) -> PathBuf {
        self.home
            .path()
            .join(".config/systemd/user/claude-max-proxy.service")
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let path = format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("USER", "alice")
            .env("PATH", path)
            .env("FAKE_SYSTEMCTL_LOG", self.log());
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `--dry-run` prints the unit and the systemctl commands, and writes and runs nothing.
#[test]
fn install_dry_run_prints_the_file_and_the_commands() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(&["service", "install", "--dry-run"], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let unit = sandbox.unit();
    for expected in [
        format!("mkdir -p {}\n", unit.parent().unwrap().display()),
        format!("cat > {} <<'CLAUDE_MAX_PROXY_EOF'\n", unit.display()),
        format!("ExecStart={BIN}\n"),
        "Type=notify\n".to_string(),
        format!("chmod 644 {}\n", unit.display()),
        "systemctl --user daemon-reload\nsystemctl --user enable --now claude-max-proxy.service\n"
            .to_string(),
        "# Logs:   journalctl --user -u claude-max-proxy -f\n".to_string(),
        "loginctl enable-linger alice".to_string(),
    ] {
        assert!(
            stdout.contains(&expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(!unit.exists(), "a dry run wrote the unit");
    // Only the read-only `is-active` question reached systemctl.
    assert_eq!(
        sandbox.calls(),
        vec!["--user is-active claude-max-proxy.service"]
    );
}

/// A real install writes the unit, reloads systemd and enables the service; status reads
/// it back; a second install restarts the running service; uninstall undoes it all.
#[test]
fn install_status_reinstall_uninstall_with_a_fake_systemctl() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(&["service", "install"], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let unit = std::fs::read_to_string(sandbox.unit()).expect("the unit file landed");
    assert!(unit.contains(&format!("ExecStart={BIN}\n")), "{unit}");
    let mode = std::fs::metadata(sandbox.unit())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    assert_eq!(
        sandbox.calls(),
        vec![
            "--user is-active claude-max-proxy.service",
            "--user daemon-reload",
            "--user enable --now claude-max-proxy.service",
        ]
    );
    assert!(
        stdout.contains(&format!("wrote {}", sandbox.unit().display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("journalctl --user -u claude-max-proxy -f"),
        "{stdout}"
    );

    // Status: installed, inactive → exit 3; active → exit 0.
    let out = sandbox.run(&["service", "status"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("(installed)") && stdout.contains("state:   inactive"),
        "{stdout}"
    );
    let out = sandbox.run(
        &["service", "status"],
        &[("FAKE_SYSTEMCTL_ACTIVE", "active")],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("enabled: enabled") && stdout.contains("state:   active"),
        "{stdout}"
    );

    // Installing over a running service restarts it, so a new binary takes effect.
    std::fs::remove_file(sandbox.log()).unwrap();
    let out = sandbox.run(
        &["service", "install"],
        &[("FAKE_SYSTEMCTL_ACTIVE", "active")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        sandbox.calls().last().map(String::as_str),
        Some("--user restart claude-max-proxy.service")
    );

    std::fs::remove_file(sandbox.log()).unwrap();
    let out = sandbox.run(&["service", "uninstall"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!sandbox.unit().exists());
    assert_eq!(
        sandbox.calls(),
        vec![
            "--user disable --now claude-max-proxy.service",
            "--user daemon-reload"
        ]
    );
}

/// `--config` is carried into ExecStart as an absolute path; a broken config is refused
/// before anything is written (exit 2).
#[test]
fn install_carries_the_config_file_and_refuses_a_broken_one() {
    let sandbox = Sandbox::new();
    let config = sandbox.home.path().join("proxy.toml");
    std::fs::write(&config, "port = 4567\n").unwrap();
    let out = sandbox.run(
        &[
            "--config",
            config.to_str().unwrap(),
            "service",
            "install",
            "--dry-run",
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("ExecStart={BIN} --config {}\n", config.display())),
        "{stdout}"
    );

    std::fs::write(&config, "port = \"not a port\"\n").unwrap();
    std::fs::remove_file(sandbox.log()).unwrap();
    let out = sandbox.run(
        &["--config", config.to_str().unwrap(), "service", "install"],
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("port") && stdout.contains("fix it first"),
        "{stdout}"
    );
    assert!(!sandbox.unit().exists());
    assert!(sandbox.calls().is_empty());
}

/// Without a reachable user manager, install fails with the commands that finish the job.
#[test]
fn unreachable_systemd_gives_the_exact_commands() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(
        &["service", "install"],
        &[(
            "FAKE_SYSTEMCTL_FAIL",
            "Failed to connect to bus: No medium found",
        )],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Failed to connect to bus"), "{stderr}");
    assert!(
        stderr.contains(
            "systemctl --user daemon-reload && systemctl --user enable --now claude-max-proxy.service"
        ),
        "{stderr}"
    );
    assert!(
        sandbox.unit().exists(),
        "the unit is written before systemctl runs"
    );
}
