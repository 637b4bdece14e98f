//! Doctor check for the user service: installed (and current), and running. The facts come
//! from [`crate::service::status`], the same answer `claude-max-proxy service status` gives.

use super::Check;
use crate::config::Inputs;
use crate::service::{self, Context, Status};

const NAME: &str = "service";

/// Asks the service manager once; the listener checks reuse the answer for their hints.
pub fn probe(inputs: &Inputs) -> Result<Status, String> {
    let ctx = Context::from_env(inputs).map_err(|e| e.to_string())?;
    service::status(&ctx).map_err(|e| e.to_string())
}

/// The check line for the service.
pub fn check(status: &Result<Status, String>) -> Check {
    let status = match status {
        Ok(status) => status,
        Err(why) => return Check::skip(NAME, why.clone()),
    };
    let Some(file) = &status.installed_at else {
        return Check::warn(
            NAME,
            format!(
                "{} is not installed: the daemon runs only while started by hand",
                status.what
            ),
            "claude-max-proxy service install",
        );
    };
    if status.outdated {
        return Check::warn(
            NAME,
            format!(
                "{} differs from what this binary would install (older version, or the binary moved)",
                file.display()
            ),
            "claude-max-proxy service install   (rewrites it and restarts the service)",
        );
    }
    match (&status.state, &status.manager_error) {
        (Some(state), _) if status.running => Check::ok(
            NAME,
            format!("{} is {state} ({})", status.what, file.display()),
        ),
        (Some(state), _) => Check::fail(
            NAME,
            format!("{} is installed but {state}", status.what),
            format!(
                "start it: {}\nwhy it stopped: {}",
                status.start, status.logs
            ),
        ),
        (None, why) => Check::warn(
            NAME,
            format!(
                "{} is installed, but the service manager cannot be asked ({})",
                status.what,
                why.as_deref().unwrap_or("no answer")
            ),
            "run `claude-max-proxy service status` from a login session of this user (not \
             under su/sudo)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Level;

    fn status() -> Status {
        Status {
            what: "systemd user unit claude-max-proxy.service".into(),
            file: "/h/.config/systemd/user/claude-max-proxy.service".into(),
            installed_at: Some("/h/.config/systemd/user/claude-max-proxy.service".into()),
            outdated: false,
            enabled: Some("enabled".into()),
            state: Some("active".into()),
            running: true,
            manager_error: None,
            logs: "journalctl --user -u claude-max-proxy -f".into(),
            start: "systemctl --user restart claude-max-proxy.service".into(),
        }
    }

    #[test]
    fn levels_follow_the_service_state() {
        assert_eq!(check(&Ok(status())).level, Level::Ok);
        let failed = Status {
            state: Some("failed".into()),
            running: false,
            ..status()
        };
        let c = check(&Ok(failed));
        assert_eq!(c.level, Level::Fail);
        assert!(
            c.fix
                .unwrap()
                .contains("systemctl --user restart claude-max-proxy.service")
        );
        let missing = Status {
            installed_at: None,
            ..status()
        };
        assert_eq!(
            check(&Ok(missing)).fix.as_deref(),
            Some("claude-max-proxy service install")
        );
        let unknown = Status {
            state: None,
            running: false,
            manager_error: Some("Failed to connect to bus".into()),
            ..status()
        };
        assert_eq!(check(&Ok(unknown)).level, Level::Warn);
    }
}
