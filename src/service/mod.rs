//! `claude-max-proxy service install|uninstall|status`: the daemon as a per-user service —
//! a systemd user unit on Linux, a launchd agent on macOS.
//!
//! [`render`] fills in the templates from `systemd/` and `launchd/` (embedded in the
//! binary); `linux` and `macos` decide where the file goes and which commands load it, as a
//! [`plan::Plan`]; [`plan::execute`] carries the plan out, or prints it as a shell script
//! with `--dry-run`. Checking the service from `doctor` goes through [`status`].
//!
//! Exit codes: 0 done (for `status`: installed and running), 1 a step failed, 2 invalid
//! configuration (install refuses it), 3 `status`: not installed or not running.

pub mod plan;
pub mod render;

#[cfg(target_os = "linux")]
mod linux;
// Compiled for tests on every host, so the macOS plan is checked on Linux too.
#[cfg(any(target_os = "macos", test))]
mod macos;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::config::{self, Inputs};
use crate::exit::{Exit, Failure, Outcome};

/// The `service` subcommands.
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write the service file, load it and start the daemon now and at every login.
    Install {
        /// Print the files and commands instead of writing and running them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop the daemon and remove the service file.
    Uninstall {
        /// Print the commands instead of running them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Say whether the service is installed and running, and where its logs are.
    Status,
}

/// Everything an install needs to know about this user and this binary.
#[derive(Clone, Debug)]
pub struct Context {
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`, where systemd looks for user units (default `~/.config`).
    pub xdg_config_home: Option<PathBuf>,
    /// PATH for the service: the installing shell's, plus the claude CLI's directory.
    pub path: String,
    /// The absolute path of this binary: the service's program.
    pub exe: PathBuf,
    /// A config file named with `--config` or `CLAUDE_MAX_PROXY_CONFIG`, passed on.
    pub config_file: Option<PathBuf>,
    /// The user name (for `loginctl enable-linger`).
    pub user: String,
    pub uid: u32,
}

impl Context {
    /// Reads the context from this process's environment.
    pub fn from_env(inputs: &Inputs) -> Result<Context, Error> {
        let env = |key: &str| {
            inputs
                .env
                .iter()
                .find(|(k, v)| k == key && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let home = env("HOME").map(PathBuf::from).ok_or(
            "HOME is not set: the service files go under your home directory; run this as \
             the user who will run the daemon, from a login shell",
        )?;
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program's own path: {e}"))?;
        if exe.display().to_string().ends_with(" (deleted)") {
            return Err(format!(
                "{} was replaced while running; run the newly installed `claude-max-proxy \
                 service install` again",
                exe.display()
            )
            .into());
        }
        let config_file = inputs
            .config_file
            .clone()
            .or_else(|| env(&format!("{}_CONFIG", config::ENV_PREFIX)).map(PathBuf::from))
            .map(|p| std::path::absolute(&p).unwrap_or(p));
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        Ok(Context {
            path: service_path(env("PATH").as_deref().unwrap_or("")),
            xdg_config_home: env("XDG_CONFIG_HOME").map(PathBuf::from),
            user: env("USER")
                .or_else(|| env("LOGNAME"))
                .or_else(|| user_name(uid))
                .unwrap_or_else(|| "$USER".to_string()),
            home,
            exe,
            config_file,
            uid,
        })
    }

    /// The service's command line: this binary, and `--config FILE` when one was named.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![self.exe.display().to_string()];
        if let Some(file) = &self.config_file {
            argv.push("--config".into());
            argv.push(file.display().to_string());
        }
        argv
    }
}

/// The name of `uid` from /etc/passwd (USER and LOGNAME are unset under some `su`/`sudo`
/// and in containers).
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

/// The PATH a service gets: the absolute entries of the installing shell's PATH, then the
/// system directories if missing (service managers start with a minimal PATH, and the
/// claude CLI may need `node` from it).
pub fn service_path(shell_path: &str) -> String {
    let mut dirs: Vec<String> = Vec::new();
    let fallback = ["/usr/local/bin", "/usr/bin", "/bin"];
    for dir in shell_path.split(':').chain(fallback) {
        if dir.starts_with('/') && !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_string());
        }
    }
    dirs.join(":")
}

/// What the service manager says about the service.
#[derive(Clone, Debug)]
pub struct Status {
    /// "systemd user unit claude-max-proxy.service" or "launchd agent io.github…".
    pub what: String,
    /// The file `service install` writes.
    pub file: PathBuf,
    /// The service file found (the user's, or one shipped by a package).
    pub installed_at: Option<PathBuf>,
    /// The installed file differs from what `service install` would write now (an older
    /// version, or the binary moved).
    pub outdated: bool,
    /// Enabled at login, as the manager says it (`enabled`, `disabled`, …).
    pub enabled: Option<String>,
    /// The manager's state word (`active`, `failed`, `running`, …).
    pub state: Option<String>,
    pub running: bool,
    /// Why the service manager could not be asked.
    pub manager_error: Option<String>,
    /// The command that shows the logs.
    pub logs: String,
    /// The command that (re)starts the service.
    pub start: String,
}

impl Status {
    /// The human-readable report of `service status`.
    pub fn render(&self) -> String {
        let file = match &self.installed_at {
            Some(p) if self.outdated => format!(
                "{} (installed, but not what this binary would write: run `claude-max-proxy \
                 service install` again)",
                p.display()
            ),
            Some(p) => format!("{} (installed)", p.display()),
            None => format!(
                "{} (not installed: run `claude-max-proxy service install`)",
                self.file.display()
            ),
        };
        let mut out = format!("service: {}\nfile:    {file}\n", self.what);
        if let Some(enabled) = &self.enabled {
            out.push_str(&format!("enabled: {enabled}\n"));
        }
        match (&self.state, &self.manager_error) {
            (Some(state), _) => out.push_str(&format!("state:   {state}\n")),
            (None, Some(why)) => out.push_str(&format!("state:   unknown ({why})\n")),
            (None, None) => {}
        }
        out.push_str(&format!("logs:    {}\n", self.logs));
        out
    }
}

/// The service's status on this platform.
pub fn status(ctx: &Context) -> Result<Status, Error> {
    platform::status(ctx)
}

/// Runs `claude-max-proxy service <action>`, printing to stdout.
pub fn main(action: &Action, inputs: &Inputs) -> Outcome {
    let mut out = std::io::stdout().lock();
    let result = run(action, inputs, &mut out);
    let _ = out.flush();
    result.map_err(|e| Failure::new(Exit::Failure, e.to_string()))
}

/// `main` without the process: the exit code, or the error to print.
pub fn run(action: &Action, inputs: &Inputs, out: &mut dyn Write) -> Result<Exit, Error> {
    let ctx = Context::from_env(inputs)?;
    match action {
        Action::Install { dry_run } => {
            if let Err(e) = config::load(inputs) {
                writeln!(
                    out,
                    "claude-max-proxy: {e}\nThe service would not start with this \
                     configuration: fix it first (`claude-max-proxy config show` prints it \
                     once it is valid), then run `claude-max-proxy service install` again."
                )?;
                return Ok(Exit::Config);
            }
            // In a dry run the output is a shell script: notes are comments there.
            let note = if *dry_run { "# note:" } else { "note:" };
            for line in not_carried_over(inputs) {
                writeln!(out, "{note} {line}")?;
            }
            if looks_like_build_dir(&ctx.exe) {
                writeln!(
                    out,
                    "{note} the service will run {} from a build directory; \
                     `packaging/install.sh` installs the binaries to ~/.local/bin first",
                    ctx.exe.display()
                )?;
            }
            plan::execute(&platform::install_plan(&ctx)?, *dry_run, out)?;
            Ok(Exit::Success)
        }
        Action::Uninstall { dry_run } => {
            plan::execute(&platform::uninstall_plan(&ctx)?, *dry_run, out)?;
            Ok(Exit::Success)
        }
        Action::Status => {
            let status = platform::status(&ctx)?;
            write!(out, "{}", status.render())?;
            Ok(if status.running {
                Exit::Success
            } else {
                Exit::NotRunning
            })
        }
    }
}

/// Settings given on this command line or in this shell that the service will not see.
fn not_carried_over(inputs: &Inputs) -> Vec<String> {
    let mut lines = Vec::new();
    for (key, _, flag) in &inputs.flags {
        lines.push(format!(
            "{flag} applies to this command only, not to the service: put `{key} = …` in the \
             config file"
        ));
    }
    let prefix = format!("{}_", config::ENV_PREFIX);
    let config_var = format!("{}_CONFIG", config::ENV_PREFIX);
    for (name, _) in &inputs.env {
        if name.starts_with(&prefix) && *name != config_var {
            let key = name[prefix.len()..].to_ascii_lowercase();
            lines.push(format!(
                "{name} is set in this shell but the service will not see it: put `{key} = …` \
                 in the config file"
            ));
        }
    }
    lines
}

fn looks_like_build_dir(exe: &Path) -> bool {
    let text = exe.display().to_string();
    text.contains("/target/release/") || text.contains("/target/debug/")
}

#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(target_os = "macos")]
use macos as platform;

/// Other systems: no service manager support yet.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod platform {
    use super::{Context, Status, plan::Plan};
    use crate::Error;

    const UNSUPPORTED: &str = "`claude-max-proxy service` supports systemd (Linux) and launchd \
                               (macOS) only; run `claude-max-proxy` from your system's own \
                               service manager";

    pub fn install_plan(_: &Context) -> Result<Plan, Error> {
        Err(UNSUPPORTED.into())
    }
    pub fn uninstall_plan(_: &Context) -> Result<Plan, Error> {
        Err(UNSUPPORTED.into())
    }
    pub fn status(_: &Context) -> Result<Status, Error> {
        Err(UNSUPPORTED.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_path_keeps_absolute_dirs_and_adds_system_ones() {
        assert_eq!(
            service_path("/home/u/.nvm/bin:relative::/usr/bin:/home/u/.nvm/bin"),
            "/home/u/.nvm/bin:/usr/bin:/usr/local/bin:/bin"
        );
        assert_eq!(service_path(""), "/usr/local/bin:/usr/bin:/bin");
    }

    #[test]
    fn flags_and_env_that_the_service_will_not_see_are_named() {
        let inputs = Inputs {
            config_file: None,
            flags: vec![("port".into(), "4000".into(), "--port".into())],
            env: vec![
                ("CLAUDE_MAX_PROXY_MAX_CONCURRENT".into(), "2".into()),
                ("CLAUDE_MAX_PROXY_CONFIG".into(), "/x.toml".into()),
                ("HOME".into(), "/h".into()),
            ],
            ..Inputs::default()
        };
        let lines = not_carried_over(&inputs);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("--port") && lines[0].contains("port = …"));
        assert!(lines[1].contains("CLAUDE_MAX_PROXY_MAX_CONCURRENT"));
    }

    #[test]
    fn status_render_says_how_to_install() {
        let status = Status {
            what: "systemd user unit claude-max-proxy.service".into(),
            file: "/h/.config/systemd/user/claude-max-proxy.service".into(),
            installed_at: None,
            outdated: false,
            enabled: None,
            state: None,
            running: false,
            manager_error: Some("Failed to connect to bus".into()),
            logs: "journalctl --user -u claude-max-proxy -f".into(),
            start: "systemctl --user restart claude-max-proxy.service".into(),
        };
        let text = status.render();
        assert!(text.contains("not installed: run `claude-max-proxy service install`"));
        assert!(text.contains("unknown (Failed to connect to bus)"));
        assert!(text.contains("journalctl --user -u claude-max-proxy -f"));
    }
}
