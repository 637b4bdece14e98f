//! `claude-max-proxy doctor`: checks what usually goes wrong, one line each with OK, WARN,
//! FAIL or SKIP, and under every WARN or FAIL the exact command that fixes it.
//!
//! Groups, one file each: [`cli`] (the claude CLI: found, version, logged in),
//! [`listeners`] (the config and every configured listener, connected to and asked for
//! `/health`), [`docker`] (docker0, the `host-gateway-ip` override), [`firewall`] (ufw,
//! the iptables INPUT chain), [`service`] (the user service). This module owns the
//! [`Check`]/[`Report`] types, their text form and the exit code: 1 when any check FAILs,
//! else 0. WARN means "works, but probably not as you want"; SKIP means "could not look".

pub mod cli;
pub mod docker;
pub mod firewall;
pub mod listeners;
pub mod service;

use crate::config::{self, Inputs};
use crate::exit::Exit;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    /// Could not be checked here (no permission, nothing to check).
    Skip,
    Warn,
    Fail,
}

impl Level {
    /// The fixed-width tag at the start of a line.
    pub fn tag(self) -> &'static str {
        match self {
            Level::Ok => "OK  ",
            Level::Skip => "SKIP",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub level: Level,
    /// What was checked, e.g. `claude CLI` or `listener 127.0.0.1:3456`.
    pub name: String,
    /// What was found.
    pub detail: String,
    /// The commands or edits that fix it (for WARN and FAIL).
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(Level::Ok, name, detail, None)
    }

    pub fn skip(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(Level::Skip, name, detail, None)
    }

    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(Level::Warn, name, detail, Some(fix.into()))
    }

    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::new(Level::Fail, name, detail, Some(fix.into()))
    }

    fn new(
        level: Level,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            level,
            name: name.into(),
            detail: detail.into(),
            fix,
        }
    }
}

/// All checks, in the order they ran.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// The text `doctor` prints.
    pub fn render(&self) -> String {
        let mut out = format!("claude-max-proxy doctor {}\n\n", crate::VERSION);
        for check in &self.checks {
            out.push_str(&format!(
                "{}  {}: {}\n",
                check.level.tag(),
                check.name,
                check.detail
            ));
            if let Some(fix) = &check.fix {
                for (i, line) in fix.lines().enumerate() {
                    let lead = if i == 0 { "fix: " } else { "     " };
                    out.push_str(&format!("      {lead}{line}\n"));
                }
            }
        }
        let count = |level| self.checks.iter().filter(|c| c.level == level).count();
        let (fails, warns) = (count(Level::Fail), count(Level::Warn));
        out.push('\n');
        out.push_str(&match (fails, warns) {
            (0, 0) => "All checks passed.\n".to_string(),
            (0, w) => format!("No failures, {w} warning(s).\n"),
            (f, w) => format!("{f} check(s) failed, {w} warning(s).\n"),
        });
        out
    }

    /// 1 when anything failed, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.checks.iter().any(|c| c.level == Level::Fail))
    }
}

/// Runs every check with this process's configuration inputs.
pub async fn run(inputs: &Inputs) -> Report {
    let mut report = Report::default();
    let loaded = config::load(inputs);
    let settings = match &loaded {
        Ok(loaded) => loaded.settings.clone(),
        Err(_) => fallback_settings(inputs),
    };
    report.checks.extend(cli::checks(&settings).await);
    report.checks.push(listeners::config_check(&loaded));
    let discovery = crate::net::docker::discover();
    let service = service::probe(inputs);
    match &loaded {
        Ok(loaded) => report
            .checks
            .extend(listeners::checks(&loaded.settings, &discovery, service.as_ref().ok()).await),
        Err(_) => report.checks.push(Check::skip(
            "listeners",
            "not checked: the configuration is invalid",
        )),
    }
    report.checks.extend(docker::checks(&settings, &discovery));
    report
        .checks
        .push(firewall::check(settings.port, &discovery));
    report.checks.push(service::check(&service));
    report
}

/// With a broken config file the other checks still use the flags and environment (a
/// `--cli-path`, say): the settings without the file, else the defaults.
fn fallback_settings(inputs: &Inputs) -> config::Settings {
    let config_var = format!("{}_CONFIG", config::ENV_PREFIX);
    let without_file = Inputs {
        config_file: None,
        flags: inputs.flags.clone(),
        env: inputs
            .env
            .iter()
            .filter(|(k, _)| *k != config_var && k != "XDG_CONFIG_HOME" && k != "HOME")
            .cloned()
            .collect(),
        ..Inputs::default()
    };
    config::load(&without_file)
        .map(|loaded| loaded.settings)
        .unwrap_or_default()
}

/// `claude-max-proxy doctor`: prints the report; a failed check is exit 1.
pub async fn main(inputs: &Inputs) -> Exit {
    let report = run(inputs).await;
    print!("{}", report.render());
    if report.exit_code() == 0 {
        Exit::Success
    } else {
        Exit::Failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_tags_fixes_and_exit_code() {
        let mut report = Report {
            checks: vec![
                Check::ok("claude CLI", "/usr/bin/claude"),
                Check::warn(
                    "service",
                    "not installed",
                    "claude-max-proxy service install",
                ),
            ],
        };
        let text = report.render();
        assert!(
            text.contains("\nOK    claude CLI: /usr/bin/claude\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\nWARN  service: not installed\n      fix: claude-max-proxy service install\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("No failures, 1 warning(s).\n"), "{text}");
        assert_eq!(report.exit_code(), 0);

        report.checks.push(Check::fail(
            "listener 127.0.0.1:3456",
            "refused",
            "start it\nor this",
        ));
        let text = report.render();
        assert!(
            text.contains("      fix: start it\n           or this\n"),
            "{text}"
        );
        assert!(
            text.ends_with("1 check(s) failed, 1 warning(s).\n"),
            "{text}"
        );
        assert_eq!(report.exit_code(), 1);
    }
}
