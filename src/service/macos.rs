//! macOS: a launchd agent in `~/Library/LaunchAgents/io.github.claude-max-proxy.plist`,
//! loaded into the user's GUI domain with `launchctl bootstrap gui/<uid>`, logging to
//! `~/Library/Logs/claude-max-proxy.log`.
//!
//! The plan is built on every host (tests run it on Linux); only macOS runs it.
#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::path::PathBuf;
use std::time::Duration;

use super::plan::{self, Plan, Step};
use super::render::{self, LAUNCHD_LABEL};
use super::{Context, Status};
use crate::Error;

/// How long a `launchctl print` may take.
const QUERY_LIMIT: Duration = Duration::from_secs(10);

fn plist_path(ctx: &Context) -> PathBuf {
    ctx.home
        .join("Library/LaunchAgents")
        .join(format!("{LAUNCHD_LABEL}.plist"))
}

fn log_path(ctx: &Context) -> PathBuf {
    ctx.home.join("Library/Logs/claude-max-proxy.log")
}

fn domain(ctx: &Context) -> String {
    format!("gui/{}", ctx.uid)
}

fn target(ctx: &Context) -> String {
    format!("gui/{}/{LAUNCHD_LABEL}", ctx.uid)
}

fn launchctl(args: &[&str]) -> Vec<String> {
    std::iter::once("launchctl")
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

fn logs(ctx: &Context) -> String {
    format!(
        "tail -f {}",
        plan::shell_word(&log_path(ctx).display().to_string())
    )
}

/// Writes the plist and (re)loads it; RunAtLoad starts the daemon at once.
pub fn install_plan(ctx: &Context) -> Result<Plan, Error> {
    let plist = render::launchd_plist(&ctx.argv(), &ctx.home, &log_path(ctx), &ctx.path)?;
    let path = plist_path(ctx);
    let path_text = path.display().to_string();
    let fix = format!(
        "launchd refused the agent. Check the file with `plutil -lint {file}`, look at \
         {log}, then try `launchctl bootout {target}; launchctl bootstrap {domain} {file}`. \
         Run this from a session of the logged-in user (not over `sudo`).",
        file = plan::shell_word(&path_text),
        log = log_path(ctx).display(),
        target = target(ctx),
        domain = domain(ctx),
    );
    let mut steps = vec![
        Step::CreateDir(ctx.home.join("Library/LaunchAgents")),
        Step::CreateDir(ctx.home.join("Library/Logs")),
        Step::Write {
            path,
            contents: plist,
            mode: 0o644,
        },
    ];
    if loaded(ctx) {
        // A loaded job keeps its old definition: unload it so the new file takes effect.
        steps.push(Step::Run {
            argv: launchctl(&["bootout", &target(ctx)]),
            must_succeed: false,
            fix: String::new(),
        });
    }
    steps.push(Step::Run {
        argv: launchctl(&["enable", &target(ctx)]),
        must_succeed: false,
        fix: String::new(),
    });
    steps.push(Step::Run {
        argv: launchctl(&["bootstrap", &domain(ctx), &path_text]),
        must_succeed: true,
        fix,
    });
    Ok(Plan {
        steps,
        notes: vec![
            "claude-max-proxy runs now and at every login.".to_string(),
            format!("Logs:   {}", logs(ctx)),
            "Status: claude-max-proxy service status (or `claude-max-proxy doctor`)".to_string(),
        ],
    })
}

/// Unloads the agent and removes the plist.
pub fn uninstall_plan(ctx: &Context) -> Result<Plan, Error> {
    let path = plist_path(ctx);
    let mut notes = Vec::new();
    if !path.exists() {
        notes.push(format!("{} was not installed.", path.display()));
    }
    Ok(Plan {
        steps: vec![
            Step::Run {
                argv: launchctl(&["bootout", &target(ctx)]),
                must_succeed: false,
                fix: String::new(),
            },
            Step::Remove(path),
        ],
        notes,
    })
}

fn loaded(ctx: &Context) -> bool {
    plan::capture(&launchctl(&["print", &target(ctx)]), QUERY_LIMIT).is_ok_and(|d| d.success())
}

/// The plist, and what `launchctl print` says about the job.
pub fn status(ctx: &Context) -> Result<Status, Error> {
    let path = plist_path(ctx);
    let installed_at = path.exists().then(|| path.clone());
    let outdated = match &installed_at {
        Some(p) => {
            let expected =
                render::launchd_plist(&ctx.argv(), &ctx.home, &log_path(ctx), &ctx.path)?;
            std::fs::read_to_string(p).map_or(true, |text| text != expected)
        }
        None => false,
    };
    let (state, manager_error) =
        match plan::capture(&launchctl(&["print", &target(ctx)]), QUERY_LIMIT) {
            Ok(done) if done.success() => (
                Some(parse_state(&done.stdout).unwrap_or_else(|| "loaded".to_string())),
                None,
            ),
            Ok(_) => (Some("not loaded".to_string()), None),
            Err(e) => (None, Some(format!("cannot run launchctl: {e}"))),
        };
    Ok(Status {
        what: format!("launchd agent {LAUNCHD_LABEL}"),
        file: path,
        enabled: installed_at
            .as_ref()
            .map(|_| "at login (RunAtLoad)".to_string()),
        installed_at,
        outdated,
        running: state.as_deref().is_some_and(|s| s.starts_with("running")),
        state,
        manager_error,
        logs: logs(ctx),
        start: format!("launchctl kickstart -k {}", target(ctx)),
    })
}

/// `state = running` and `pid = 123` from `launchctl print` → "running (pid 123)".
fn parse_state(print: &str) -> Option<String> {
    let field = |name: &str| {
        print.lines().find_map(|line| {
            let (key, value) = line.trim().split_once(" = ")?;
            (key == name).then(|| value.trim().to_string())
        })
    };
    let state = field("state")?;
    Some(match field("pid") {
        Some(pid) => format!("{state} (pid {pid})"),
        None => state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ctx() -> Context {
        Context {
            home: "/Users/alice".into(),
            xdg_config_home: None,
            path: "/opt/homebrew/bin:/usr/bin:/bin".into(),
            exe: "/Users/alice/.local/bin/claude-max-proxy".into(),
            config_file: None,
            user: "alice".into(),
            uid: 501,
        }
    }

    #[test]
    fn install_writes_the_plist_and_bootstraps_it() {
        let plan = install_plan(&ctx()).unwrap();
        let script = plan::script(&plan);
        assert!(script.contains(
            "cat > /Users/alice/Library/LaunchAgents/io.github.claude-max-proxy.plist <<"
        ));
        assert!(script.contains(
            "launchctl bootstrap gui/501 /Users/alice/Library/LaunchAgents/io.github.claude-max-proxy.plist\n"
        ), "{script}");
        assert!(script.contains("<string>/Users/alice/Library/Logs/claude-max-proxy.log</string>"));
        assert!(script.contains("tail -f /Users/alice/Library/Logs/claude-max-proxy.log"));
    }

    #[test]
    fn uninstall_boots_out_and_removes() {
        let script = plan::script(&uninstall_plan(&ctx()).unwrap());
        assert!(script.contains("launchctl bootout gui/501/io.github.claude-max-proxy || true\n"));
        assert!(script.contains(
            "rm -f /Users/alice/Library/LaunchAgents/io.github.claude-max-proxy.plist\n"
        ));
    }

    #[test]
    fn status_without_launchctl_is_not_installed() {
        let status = status(&ctx()).unwrap();
        assert!(status.installed_at.is_none() && !status.running);
        assert_eq!(
            status.file,
            Path::new("/Users/alice/Library/LaunchAgents/io.github.claude-max-proxy.plist")
        );
    }

    #[test]
    fn launchctl_print_state_is_parsed() {
        let print = "gui/501/io.github.claude-max-proxy = {\n\tactive count = 1\n\tstate = running\n\tpid = 4242\n}\n";
        assert_eq!(parse_state(print).as_deref(), Some("running (pid 4242)"));
        assert_eq!(parse_state("nothing"), None);
    }
}
