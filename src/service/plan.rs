//! What `service install`/`uninstall` do, as data: a [`Plan`] of directories, files and
//! commands, carried out by [`execute`] or printed by it as a shell script (`--dry-run`).
//! Also [`capture`], which runs a command with a time limit and keeps its output (used by
//! `service status` and `doctor`).
//!
//! The platform modules build plans; this module owns doing them and saying what was done.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// One thing an install or uninstall does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Create a directory and its parents.
    CreateDir(PathBuf),
    /// Write a file (replacing it) with these permission bits.
    Write {
        path: PathBuf,
        contents: String,
        mode: u32,
    },
    /// Remove a file if it is there.
    Remove(PathBuf),
    /// Run a command. When `must_succeed` is false a failure is reported and the plan goes
    /// on (stopping a service that is not running, for instance).
    Run {
        argv: Vec<String>,
        must_succeed: bool,
        /// What to tell the user when it fails: the exact commands that fix or finish it.
        fix: String,
    },
}

/// The steps of an install or uninstall, and what to tell the user afterwards.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Printed after the steps succeed (logs, start at boot, …).
    pub notes: Vec<String>,
}

/// The output of a finished command.
#[derive(Clone, Debug)]
pub struct Captured {
    /// The exit code; `None` when killed by a signal or the time limit.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The command ran past its time limit and was killed.
    pub timed_out: bool,
}

impl Captured {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty line of stderr (else stdout), for error messages.
    pub fn last_line(&self) -> String {
        let pick = |text: &str| {
            text.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        };
        pick(&self.stderr)
            .or_else(|| pick(&self.stdout))
            .unwrap_or_default()
    }
}

/// Runs `argv` with stdin closed, collecting stdout and stderr; kills it after `limit`.
pub fn capture(argv: &[String], limit: Duration) -> std::io::Result<Captured> {
    let Some((program, args)) = argv.split_first() else {
        return Err(std::io::Error::other("empty command"));
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Read both pipes on threads, so a chatty command cannot fill a pipe and stall.
    let stdout = child.stdout.take().map(read_in_background);
    let stderr = child.stderr.take().map(read_in_background);
    let deadline = Instant::now() + limit;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let join = |handle: Option<std::thread::JoinHandle<String>>| {
        handle.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Captured {
        code: status.and_then(|s| s.code()),
        stdout: join(stdout),
        stderr: join(stderr),
        timed_out,
    })
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// How long one install/uninstall command may take (`enable --now` waits for READY=1).
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// Carries out the plan, or with `dry_run` prints it as a shell script without touching
/// anything. Stops at the first failing step that must succeed, with its fix.
pub fn execute(plan: &Plan, dry_run: bool, out: &mut dyn Write) -> Result<(), Error> {
    if dry_run {
        write!(out, "{}", script(plan))?;
        return Ok(());
    }
    for step in &plan.steps {
        match step {
            Step::CreateDir(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!(
                        "cannot create {}: {e}; create it with `mkdir -p {}` and try again",
                        dir.display(),
                        shell_word(&dir.display().to_string())
                    )
                })?;
            }
            Step::Write {
                path,
                contents,
                mode,
            } => {
                write_file(path, contents, *mode)?;
                writeln!(out, "wrote {}", path.display())?;
            }
            Step::Remove(path) => match std::fs::remove_file(path) {
                Ok(()) => writeln!(out, "removed {}", path.display())?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(format!(
                        "cannot remove {}: {e}; remove it with `rm -f {}`",
                        path.display(),
                        shell_word(&path.display().to_string())
                    )
                    .into());
                }
            },
            Step::Run {
                argv,
                must_succeed,
                fix,
            } => {
                let shown = shell_line(argv);
                let failure = match capture(argv, STEP_LIMIT) {
                    Ok(done) if done.success() => None,
                    Ok(done) if done.timed_out => {
                        Some(format!("did not finish within {STEP_LIMIT:?}"))
                    }
                    Ok(done) => Some(format!(
                        "failed ({}): {}",
                        done.code
                            .map(|c| format!("exit status {c}"))
                            .unwrap_or_else(|| "killed".into()),
                        done.last_line()
                    )),
                    Err(e) => Some(format!("could not be started: {e}")),
                };
                match failure {
                    None => writeln!(out, "ran {shown}")?,
                    Some(why) if *must_succeed => {
                        return Err(format!("`{shown}` {why}\n{fix}").into());
                    }
                    Some(why) => writeln!(out, "ran {shown} (ignored: {why})")?,
                }
            }
        }
    }
    for note in &plan.notes {
        writeln!(out, "{note}")?;
    }
    Ok(())
}

fn write_file(path: &std::path::Path, contents: &str, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |e: std::io::Error| {
        format!(
            "cannot write {}: {e}; check the directory's owner and permissions (`ls -ld {}`)",
            path.display(),
            path.parent()
                .map(|p| shell_word(&p.display().to_string()))
                .unwrap_or_default()
        )
    };
    std::fs::write(path, contents).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    Ok(())
}

/// The plan as a shell script a user could run by hand (`--dry-run` prints this).
pub fn script(plan: &Plan) -> String {
    let mut out = String::from("# dry run: nothing was written and nothing was run.\n");
    for step in &plan.steps {
        match step {
            Step::CreateDir(dir) => {
                out.push_str(&format!(
                    "mkdir -p {}\n",
                    shell_word(&dir.display().to_string())
                ));
            }
            Step::Write {
                path,
                contents,
                mode,
            } => {
                let path = shell_word(&path.display().to_string());
                out.push_str(&format!(
                    "cat > {path} <<'CLAUDE_MAX_PROXY_EOF'\n{contents}"
                ));
                if !contents.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&format!("CLAUDE_MAX_PROXY_EOF\nchmod {mode:o} {path}\n"));
            }
            Step::Remove(path) => {
                out.push_str(&format!(
                    "rm -f {}\n",
                    shell_word(&path.display().to_string())
                ));
            }
            Step::Run {
                argv, must_succeed, ..
            } => {
                out.push_str(&shell_line(argv));
                if !must_succeed {
                    out.push_str(" || true");
                }
                out.push('\n');
            }
        }
    }
    for note in &plan.notes {
        for line in note.lines() {
            out.push_str(&format!("# {line}\n"));
        }
    }
    out
}

/// A command line as a user would type it.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_word(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One shell word: bare when plain, else single-quoted.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._+,:@=%-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            steps: vec![
                Step::CreateDir("/h/d".into()),
                Step::Write {
                    path: "/h/d/f".into(),
                    contents: "a\nb".into(),
                    mode: 0o644,
                },
                Step::Run {
                    argv: vec!["systemctl".into(), "--user".into(), "daemon-reload".into()],
                    must_succeed: true,
                    fix: String::new(),
                },
                Step::Run {
                    argv: vec!["x".into(), "it's".into()],
                    must_succeed: false,
                    fix: String::new(),
                },
            ],
            notes: vec!["Logs: journalctl".into()],
        }
    }

    #[test]
    fn dry_run_is_a_shell_script() {
        let text = script(&plan());
        assert_eq!(
            text,
            "# dry run: nothing was written and nothing was run.\n\
             mkdir -p /h/d\n\
             cat > /h/d/f <<'CLAUDE_MAX_PROXY_EOF'\na\nb\nCLAUDE_MAX_PROXY_EOF\nchmod 644 /h/d/f\n\
             systemctl --user daemon-reload\n\
             x 'it'\\''s' || true\n\
             # Logs: journalctl\n"
        );
    }

    #[test]
    fn execute_writes_runs_and_stops_at_a_failure_with_its_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/unit");
        let plan = Plan {
            steps: vec![
                Step::CreateDir(dir.path().join("sub")),
                Step::Write {
                    path: file.clone(),
                    contents: "x".into(),
                    mode: 0o600,
                },
                Step::Run {
                    argv: vec!["false".into()],
                    must_succeed: false,
                    fix: String::new(),
                },
                Step::Run {
                    argv: vec!["sh".into(), "-c".into(), "echo boom >&2; exit 4".into()],
                    must_succeed: true,
                    fix: "run the fix".into(),
                },
                Step::Remove(file.clone()),
            ],
            notes: vec![],
        };
        let mut out = Vec::new();
        let err = execute(&plan, false, &mut out).unwrap_err().to_string();
        assert!(
            err.contains("exit status 4") && err.contains("boom"),
            "{err}"
        );
        assert!(err.ends_with("run the fix"), "{err}");
        assert!(file.exists(), "the step after the failure must not run");
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("ran false (ignored"), "{out}");
    }

    #[test]
    fn capture_times_out() {
        let done = capture(&["sleep".into(), "5".into()], Duration::from_millis(100)).unwrap();
        assert!(done.timed_out && !done.success());
    }
}
