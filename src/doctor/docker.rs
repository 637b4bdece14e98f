//! Doctor checks for Docker networking: docker0 and its address (what
//! `host.docker.internal:host-gateway` resolves to), and a `host-gateway-ip(s)` override
//! in /etc/docker/daemon.json that moves it. Discovery itself is
//! [`crate::net::docker`]'s, the same the listeners use.

use std::net::IpAddr;
use std::path::Path;

use super::Check;
use crate::config::Settings;
use crate::net::docker::{DAEMON_JSON, Discovery, host_gateway_ips};

/// docker0, then the host-gateway override.
pub fn checks(settings: &Settings, discovery: &Discovery) -> Vec<Check> {
    let daemon_json = read_daemon_json(Path::new(DAEMON_JSON));
    vec![
        docker0_check(settings, discovery),
        host_gateway_check(discovery, &daemon_json),
    ]
}

fn uses_docker(settings: &Settings) -> bool {
    settings
        .listen
        .iter()
        .any(|l| l == "docker" || l == "docker-bridges")
}

fn docker0_check(settings: &Settings, discovery: &Discovery) -> Check {
    if discovery.docker0.is_empty() {
        return if uses_docker(settings) {
            Check::warn(
                "docker0",
                "no docker0 interface: Docker is not installed or not started",
                "start Docker (`sudo systemctl start docker`); the daemon binds docker0's \
                 address as soon as it appears",
            )
        } else {
            Check::skip("docker0", "not present (and `listen` does not use it)")
        };
    }
    let addrs: Vec<String> = discovery
        .docker0
        .iter()
        .map(|b| format!("{}/{}", b.ip, b.prefix))
        .collect();
    let bridges = discovery
        .bridges
        .iter()
        .filter(|b| b.interface != "docker0")
        .count();
    let mut detail = addrs.join(", ");
    if bridges > 0 {
        detail.push_str(&format!(" (and {bridges} compose bridge address(es))"));
    }
    if !uses_docker(settings) {
        detail
            .push_str("; `listen` does not include `docker`, so containers cannot reach the proxy");
        return Check::warn(
            "docker0",
            detail,
            "add \"docker\" to `listen` in the config file (e.g. listen = [\"127.0.0.1\", \
             \"docker\"]) if containers should use the proxy",
        );
    }
    Check::ok("docker0", detail)
}

/// What reading daemon.json gave.
#[derive(Debug, PartialEq, Eq)]
pub enum DaemonJson {
    Missing,
    Unreadable(String),
    Invalid(String),
    Text(String),
}

fn read_daemon_json(path: &Path) -> DaemonJson {
    match std::fs::read_to_string(path) {
        Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(_) => DaemonJson::Text(text),
            Err(e) => DaemonJson::Invalid(e.to_string()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DaemonJson::Missing,
        Err(e) => DaemonJson::Unreadable(e.to_string()),
    }
}

fn host_gateway_check(discovery: &Discovery, daemon_json: &DaemonJson) -> Check {
    const NAME: &str = "host-gateway";
    let gateway = || {
        discovery
            .docker0
            .first()
            .map(|b| format!("docker0's address {}", b.ip))
            .unwrap_or_else(|| "docker0's address".to_string())
    };
    let text = match daemon_json {
        DaemonJson::Missing => {
            return Check::ok(
                NAME,
                format!(
                    "no {DAEMON_JSON}: host.docker.internal:host-gateway is {}",
                    gateway()
                ),
            );
        }
        DaemonJson::Unreadable(e) => {
            return Check::skip(NAME, format!("cannot read {DAEMON_JSON}: {e}"));
        }
        DaemonJson::Invalid(e) => {
            return Check::warn(
                NAME,
                format!("{DAEMON_JSON} is not valid JSON ({e}); Docker will not start with it"),
                format!(
                    "fix the file, then `sudo systemctl restart docker`; `python3 -m json.tool {DAEMON_JSON}` shows where it breaks"
                ),
            );
        }
        DaemonJson::Text(text) => text,
    };
    let overrides = host_gateway_ips(text);
    if overrides.is_empty() {
        return Check::ok(
            NAME,
            format!(
                "no host-gateway-ip override in {DAEMON_JSON}: host-gateway is {}",
                gateway()
            ),
        );
    }
    let shown: Vec<String> = overrides.iter().map(IpAddr::to_string).collect();
    let foreign: Vec<String> = overrides
        .iter()
        .filter(|ip| !discovery.local_addrs.contains(ip))
        .map(IpAddr::to_string)
        .collect();
    if foreign.is_empty() {
        Check::ok(
            NAME,
            format!(
                "{DAEMON_JSON} sets host-gateway to {}; `listen = \"docker\"` follows it",
                shown.join(", ")
            ),
        )
    } else {
        Check::warn(
            NAME,
            format!(
                "{DAEMON_JSON} sets host-gateway to {}, but {} is not an address of this host",
                shown.join(", "),
                foreign.join(", ")
            ),
            format!(
                "containers would reach nothing there: set `host-gateway-ip` in {DAEMON_JSON} to \
                 a local address (or remove it) and `sudo systemctl restart docker`"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Level;
    use crate::net::docker::discover_from;

    fn discovery(daemon_json: Option<&str>) -> Discovery {
        discover_from(
            &[
                ("lo".into(), "127.0.0.1".parse().unwrap(), 8),
                ("docker0".into(), "172.17.0.1".parse().unwrap(), 16),
                ("br-1234".into(), "172.18.0.1".parse().unwrap(), 16),
            ],
            daemon_json,
        )
    }

    #[test]
    fn docker0_is_reported_with_its_address() {
        let check = docker0_check(&Settings::default(), &discovery(None));
        assert_eq!(check.level, Level::Ok);
        assert_eq!(
            check.detail,
            "172.17.0.1/16 (and 1 compose bridge address(es))"
        );
        let check = docker0_check(&Settings::default(), &Discovery::default());
        assert_eq!(check.level, Level::Warn);
    }

    #[test]
    fn host_gateway_override_is_shown_and_checked() {
        let json = r#"{"host-gateway-ip": "172.18.0.1"}"#;
        let check = host_gateway_check(&discovery(Some(json)), &DaemonJson::Text(json.into()));
        assert_eq!(check.level, Level::Ok, "{check:?}");
        assert!(check.detail.contains("172.18.0.1"));
        let json = r#"{"host-gateway-ips": ["10.9.9.9"]}"#;
        let check = host_gateway_check(&discovery(Some(json)), &DaemonJson::Text(json.into()));
        assert_eq!(check.level, Level::Warn, "{check:?}");
        let check = host_gateway_check(&discovery(None), &DaemonJson::Missing);
        assert!(check.detail.contains("172.17.0.1"), "{check:?}");
        let check = host_gateway_check(&discovery(None), &DaemonJson::Invalid("eof".into()));
        assert_eq!(check.level, Level::Warn);
    }

    #[test]
    fn reading_daemon_json_tells_missing_from_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        assert_eq!(read_daemon_json(&path), DaemonJson::Missing);
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(read_daemon_json(&path), DaemonJson::Invalid(_)));
        std::fs::write(&path, "{}").unwrap();
        assert_eq!(read_daemon_json(&path), DaemonJson::Text("{}".into()));
    }
}
