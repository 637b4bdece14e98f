//! Linux: a systemd *user* unit in `$XDG_CONFIG_HOME/systemd/user/` (`~/.config/…`),
//! loaded and started with `systemctl --user`, logging to the journal.
//!
//! A user manager runs while the user is logged in; `loginctl enable-linger` keeps it
//! running from boot. The Debian package ships the same unit in /usr/lib/systemd/user/,
//! which a unit in the home directory overrides.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::plan::{self, Plan, Step};
use super::render::{self, UNIT_NAME};
use super::{Context, Status};
use crate::Error;

/// Where a distribution package puts the unit.
const PACKAGED_UNIT: &str = "/usr/lib/systemd/user/claude-max-proxy.service";

/// The command that follows the logs.
pub const LOGS: &str = "journalctl --user -u claude-max-proxy -f";

/// How long a `systemctl` query may take.
const QUERY_LIMIT: Duration = Duration::from_secs(10);

/// `~/.config/systemd/user` (or under `$XDG_CONFIG_HOME`).
pub fn unit_dir(ctx: &Context) -> PathBuf {
    ctx.xdg_config_home
        .clone()
        .unwrap_or_else(|| ctx.home.join(".config"))
        .join("systemd/user")
}

fn unit_path(ctx: &Context) -> PathBuf {
    unit_dir(ctx).join(UNIT_NAME)
}

fn systemctl(args: &[&str]) -> Vec<String> {
    std::iter::once("systemctl")
        .chain(std::iter::once("--user"))
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

/// What to do when a `systemctl --user` step fails.
fn systemctl_fix(ctx: &Context) -> String {
    format!(
        "If it says \"Failed to connect to bus\", no systemd user manager is reachable from this \
         shell (usual under `su`, `sudo` or in a container). The unit file is written; log in \
         as {user} directly (ssh or console) and run:\n  \
         systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}\n\
         Otherwise the daemon did not start: `journalctl --user -u claude-max-proxy -e` says why, \
         `claude-max-proxy doctor` checks the usual causes.",
        user = ctx.user
    )
}

/// Installs the unit and starts it; restarts it when it was already running (so a new
/// binary or unit takes effect).
pub fn install_plan(ctx: &Context) -> Result<Plan, Error> {
    let unit = render::systemd_unit(&ctx.argv(), &ctx.path)?;
    let fix = systemctl_fix(ctx);
    let run = |args: &[&str]| Step::Run {
        argv: systemctl(args),
        must_succeed: true,
        fix: fix.clone(),
    };
    let was_running = query(&["is-active", UNIT_NAME]).is_some_and(|(state, _)| state == "active");
    let mut steps = vec![
        Step::CreateDir(unit_dir(ctx)),
        Step::Write {
            path: unit_path(ctx),
            contents: unit,
            mode: 0o644,
        },
        run(&["daemon-reload"]),
        run(&["enable", "--now", UNIT_NAME]),
    ];
    if was_running {
        steps.push(run(&["restart", UNIT_NAME]));
    }
    let mut notes = vec![
        "claude-max-proxy runs now and at every login.".to_string(),
        format!("Logs:   {LOGS}"),
        "Status: claude-max-proxy service status (or `claude-max-proxy doctor`)".to_string(),
    ];
    notes.push(linger_note(&ctx.user));
    Ok(Plan { steps, notes })
}

/// Whether the user manager starts at boot, and how to make it.
fn linger_note(user: &str) -> String {
    if Path::new("/var/lib/systemd/linger").join(user).exists() {
        format!("Lingering is on for {user}: the service also starts at boot, before any login.")
    } else {
        format!(
            "To start it at boot, before you log in: loginctl enable-linger {user}\n\
             (without it the service runs only while {user} is logged in)"
        )
    }
}

/// Stops and disables the unit, removes the file, reloads systemd.
pub fn uninstall_plan(ctx: &Context) -> Result<Plan, Error> {
    let mut notes = Vec::new();
    let path = unit_path(ctx);
    if !path.exists() {
        notes.push(format!("{} was not installed.", path.display()));
    }
    if Path::new(PACKAGED_UNIT).exists() {
        notes.push(format!(
            "{PACKAGED_UNIT} belongs to the installed package and stays; it is disabled \
             (remove the package with `sudo apt remove claude-max-proxy`)."
        ));
    }
    let lenient = |args: &[&str]| Step::Run {
        argv: systemctl(args),
        must_succeed: false,
        fix: String::new(),
    };
    Ok(Plan {
        steps: vec![
            lenient(&["disable", "--now", UNIT_NAME]),
            Step::Remove(path),
            lenient(&["daemon-reload"]),
        ],
        notes,
    })
}

/// Asks `systemctl --user <args>` for one word (`active`, `enabled`, …). `None` with the
/// reason when the manager cannot be asked.
fn query(args: &[&str]) -> Option<(String, String)> {
    match plan::capture(&systemctl(args), QUERY_LIMIT) {
        Ok(done) => {
            let word = done.stdout.trim().to_string();
            if word.is_empty() {
                None
            } else {
                Some((word, done.stderr))
            }
        }
        Err(_) => None,
    }
}

/// The unit file, and what `systemctl --user` says about it.
pub fn status(ctx: &Context) -> Result<Status, Error> {
    let path = unit_path(ctx);
    let installed_at = [path.clone(), PathBuf::from(PACKAGED_UNIT)]
        .into_iter()
        .find(|p| p.exists());
    let outdated = if installed_at.as_deref() == Some(path.as_path()) {
        let expected = render::systemd_unit(&ctx.argv(), &ctx.path)?;
        std::fs::read_to_string(&path).map_or(true, |text| text != expected)
    } else {
        false
    };
    let (enabled, state, manager_error) =
        match plan::capture(&systemctl(&["is-active", UNIT_NAME]), QUERY_LIMIT) {
            Ok(done) if !done.stdout.trim().is_empty() => (
                query(&["is-enabled", UNIT_NAME]).map(|(w, _)| w),
                Some(done.stdout.trim().to_string()),
                None,
            ),
            Ok(done) => (None, None, Some(done.last_line())),
            Err(e) => (None, None, Some(format!("cannot run systemctl: {e}"))),
        };
    Ok(Status {
        what: format!("systemd user unit {UNIT_NAME}"),
        file: path,
        installed_at,
        outdated,
        running: state.as_deref() == Some("active"),
        enabled,
        state,
        manager_error,
        logs: LOGS.to_string(),
        start: format!("systemctl --user restart {UNIT_NAME}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(home: &Path) -> Context {
        Context {
            home: home.to_path_buf(),
            xdg_config_home: None,
            path: "/usr/bin:/bin".into(),
            exe: "/opt/cmp/claude-max-proxy".into(),
            config_file: Some("/etc/cmp.toml".into()),
            user: "alice".into(),
            uid: 1000,
        }
    }

    #[test]
    fn install_writes_the_unit_then_reloads_and_enables() {
        let plan = install_plan(&ctx(Path::new("/home/alice"))).unwrap();
        let Step::Write { path, contents, .. } = &plan.steps[1] else {
            panic!("{:?}", plan.steps);
        };
        assert_eq!(
            path,
            Path::new("/home/alice/.config/systemd/user/claude-max-proxy.service")
        );
        assert!(contents.contains("ExecStart=/opt/cmp/claude-max-proxy --config /etc/cmp.toml\n"));
        let script = plan::script(&plan);
        assert!(
            script.contains("systemctl --user daemon-reload\n"),
            "{script}"
        );
        assert!(
            script.contains("systemctl --user enable --now claude-max-proxy.service\n"),
            "{script}"
        );
        assert!(script.contains("journalctl --user -u claude-max-proxy -f"));
        assert!(
            script.contains("loginctl enable-linger alice") || script.contains("Lingering is on")
        );
    }

    #[test]
    fn xdg_config_home_moves_the_unit() {
        let mut c = ctx(Path::new("/home/alice"));
        c.xdg_config_home = Some("/cfg".into());
        assert_eq!(unit_dir(&c), Path::new("/cfg/systemd/user"));
    }

    #[test]
    fn uninstall_disables_removes_and_reloads() {
        let plan = uninstall_plan(&ctx(Path::new("/nonexistent-home"))).unwrap();
        let script = plan::script(&plan);
        assert!(
            script.contains("systemctl --user disable --now claude-max-proxy.service || true\n"),
            "{script}"
        );
        assert!(
            script.contains(
                "rm -f /nonexistent-home/.config/systemd/user/claude-max-proxy.service\n"
            )
        );
        assert!(script.contains("was not installed"), "{script}");
    }
}
