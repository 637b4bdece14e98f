//! Doctor checks for the configuration and the listeners: the config loads and validates,
//! and every address `listen` means right now (IP literals, `docker`, `docker-bridges`, as
//! the daemon resolves them) accepts a TCP connection and answers `GET /health` as
//! claude-max-proxy. Connecting from the host proves the daemon listens there; whether a
//! container's packets get through is the firewall check's question.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Check;
use crate::config::{ConfigError, Loaded, Settings};
use crate::daemon::listeners::{ListenSpec, parse_specs};
use crate::net::docker::Discovery;
use crate::service::Status;

/// How long one connection attempt and its `/health` answer may take.
const PROBE_LIMIT: Duration = Duration::from_secs(3);

/// Whether the configuration loads.
pub fn config_check(loaded: &Result<Loaded, ConfigError>) -> Check {
    match loaded {
        Ok(loaded) => Check::ok(
            "config",
            match &loaded.file {
                Some(file) => format!("{} is valid", file.display()),
                None => "no config file; defaults, environment and flags are valid".to_string(),
            },
        ),
        Err(e) => Check::fail(
            "config",
            e.to_string(),
            "fix the key named above in the config file (or the CLAUDE_MAX_PROXY_* variable); \
             `claude-max-proxy config show` prints every value and its source once it is valid",
        ),
    }
}

/// One check per address the `listen` entries mean now.
pub async fn checks(
    settings: &Settings,
    discovery: &Discovery,
    service: Option<&Status>,
) -> Vec<Check> {
    let port = settings.port;
    if port == 0 {
        return vec![Check::skip(
            "listeners",
            "port = 0 picks a free port at every start: there is no fixed address to check",
        )];
    }
    let start = start_hint(service);
    let mut out = Vec::new();
    let mut loopback_answers = false;
    for spec in parse_specs(&settings.listen) {
        // (address to connect to, what to call it)
        let targets: Vec<(IpAddr, String)> = match &spec {
            ListenSpec::Addr(ip) => {
                let target = connect_target(*ip);
                let name = if target == *ip {
                    format!("listener {}", SocketAddr::new(*ip, port))
                } else {
                    format!("listener {} (via {target})", SocketAddr::new(*ip, port))
                };
                vec![(target, name)]
            }
            ListenSpec::Docker => named(discovery.docker_addresses(), port, "docker"),
            ListenSpec::DockerBridges => named(discovery.bridge_gateways(), port, "docker-bridges"),
        };
        if targets.is_empty() {
            let keyword = if spec == ListenSpec::Docker {
                "docker"
            } else {
                "docker-bridges"
            };
            out.push(Check::warn(
                format!("listener {keyword}"),
                "no Docker bridge address exists now (Docker not installed or not started); the \
                 daemon binds it when it appears",
                "start Docker (`sudo systemctl start docker`), or remove it from `listen` if \
                 containers do not need the proxy",
            ));
            continue;
        }
        for (ip, name) in targets {
            let check = probe(SocketAddr::new(ip, port), &name, &start, loopback_answers).await;
            if ip.is_loopback() && check.level == super::Level::Ok {
                loopback_answers = true;
            }
            out.push(check);
        }
    }
    out
}

fn named(ips: Vec<IpAddr>, port: u16, keyword: &str) -> Vec<(IpAddr, String)> {
    ips.into_iter()
        .map(|ip| {
            (
                ip,
                format!("listener {} ({keyword})", SocketAddr::new(ip, port)),
            )
        })
        .collect()
}

/// A wildcard listener is checked through loopback.
fn connect_target(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

/// How to start the daemon, depending on whether a service is installed.
fn start_hint(service: Option<&Status>) -> String {
    match service {
        Some(status) if status.installed_at.is_some() => format!(
            "start it: {}\nwhy it stopped: {}",
            status.start, status.logs
        ),
        _ => "start it: claude-max-proxy   (in the foreground)\n\
              or as a service: claude-max-proxy service install"
            .to_string(),
    }
}

async fn probe(addr: SocketAddr, name: &str, start: &str, loopback_answers: bool) -> Check {
    let stream = match tokio::time::timeout(PROBE_LIMIT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            let fix = if loopback_answers {
                format!(
                    "the running daemon does not listen on {}: add it to `listen` in the \
                     config file, then reload: systemctl --user reload claude-max-proxy (or \
                     `kill -HUP <pid>`)",
                    addr.ip()
                )
            } else {
                start.to_string()
            };
            return Check::fail(name, "connection refused: nothing listens here", fix);
        }
        Ok(Err(e)) => {
            return Check::fail(
                name,
                format!("cannot connect: {e}"),
                format!(
                    "check that {} is an address of this machine (`ip -br addr`)",
                    addr.ip()
                ),
            );
        }
        Err(_) => {
            return Check::fail(
                name,
                format!(
                    "no answer to the connection within {} s",
                    PROBE_LIMIT.as_secs()
                ),
                "a local firewall rule drops it: `sudo iptables -S INPUT` shows the rules",
            );
        }
    };
    match tokio::time::timeout(PROBE_LIMIT, get_health(stream, addr)).await {
        Ok(Ok(response)) => match identify(&response) {
            Some(version) => Check::ok(name, format!("claude-max-proxy {version} answers /health")),
            None => Check::fail(
                name,
                format!("something else listens here ({})", holder(addr.port())),
                format!(
                    "stop that program, or give claude-max-proxy another port: `port = {}` in \
                     the config file (or --port, CLAUDE_MAX_PROXY_PORT)",
                    addr.port().saturating_add(1)
                ),
            ),
        },
        Ok(Err(e)) => Check::fail(
            name,
            format!("connected, but /health failed: {e}"),
            "look at the daemon's log (`journalctl --user -u claude-max-proxy -e`); an \
             `allow_from` or source-filter rejection closes the connection at once",
        ),
        Err(_) => Check::fail(
            name,
            format!(
                "connected, but /health did not answer within {} s",
                PROBE_LIMIT.as_secs()
            ),
            "the daemon is stuck: restart it (`systemctl --user restart claude-max-proxy`) and \
             look at its log",
        ),
    }
}

/// Who holds the port, as far as /proc shows.
fn holder(port: u16) -> String {
    match crate::net::port_holder::find(port) {
        Some(h) => match (h.pid, h.command) {
            (Some(pid), Some(command)) => format!("pid {pid}, {command}"),
            (Some(pid), None) => format!("pid {pid}"),
            _ => format!("`ss -ltnp 'sport = :{port}'` shows who"),
        },
        None => format!("`ss -ltnp 'sport = :{port}'` shows who"),
    }
}

/// A minimal HTTP/1.1 `GET /health`, read until the server closes.
async fn get_health(mut stream: TcpStream, addr: SocketAddr) -> std::io::Result<String> {
    let host = match addr {
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
        SocketAddr::V4(v4) => v4.to_string(),
    };
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut bytes = Vec::new();
    // /health is small; more than 64 KiB is not our daemon.
    stream.take(64 * 1024).read_to_end(&mut bytes).await?;
    if bytes.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "the connection was closed without an answer",
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The version from a claude-max-proxy `/health` response, `None` for anything else.
fn identify(response: &str) -> Option<String> {
    let (head, body) = response.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return None;
    }
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let json_text = if chunked {
        // One or more chunks: take the text between the first `{` and the last `}`.
        let start = body.find('{')?;
        let end = body.rfind('}')?;
        body.get(start..=end)?
    } else {
        body
    };
    let value: serde_json::Value = serde_json::from_str(json_text.trim()).ok()?;
    if value.get("backend").and_then(|v| v.as_str()) != Some("claude-cli") {
        return None;
    }
    Some(
        value
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("(unknown version)")
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Level;

    #[test]
    fn identifies_our_health_answer_only() {
        let ours = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"status\":\"ok\",\"version\":\"0.1.0\",\"backend\":\"claude-cli\"}";
        assert_eq!(identify(ours).as_deref(), Some("0.1.0"));
        let chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3a\r\n{\"version\":\"0.2.0\",\"backend\":\"claude-cli\"}\r\n0\r\n\r\n";
        assert_eq!(identify(chunked).as_deref(), Some("0.2.0"));
        assert_eq!(identify("HTTP/1.1 200 OK\r\n\r\n{\"status\":\"ok\"}"), None);
        assert_eq!(identify("HTTP/1.1 404 Not Found\r\n\r\n{}"), None);
        assert_eq!(identify("SSH-2.0-OpenSSH_9.2\r\n"), None);
    }

    #[tokio::test]
    async fn refused_and_foreign_listeners_fail() {
        // A port that was free a moment ago: refused.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let settings = Settings {
            listen: vec!["127.0.0.1".into()],
            port,
            ..Settings::default()
        };
        let found = checks(&settings, &Discovery::default(), None).await;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].level, Level::Fail, "{found:?}");
        assert!(found[0].detail.contains("refused"));
        assert!(
            found[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("claude-max-proxy service install")
        );

        // Something that is not claude-max-proxy.
        let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = other.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = other.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\nhello").await;
            }
        });
        let settings = Settings {
            listen: vec!["127.0.0.1".into()],
            port,
            ..Settings::default()
        };
        let found = checks(&settings, &Discovery::default(), None).await;
        assert_eq!(found[0].level, Level::Fail, "{found:?}");
        assert!(found[0].detail.contains("something else"), "{found:?}");
    }

    #[tokio::test]
    async fn docker_without_bridges_warns_and_port_zero_skips() {
        let settings = Settings {
            listen: vec!["docker".into()],
            ..Settings::default()
        };
        let found = checks(&settings, &Discovery::default(), None).await;
        assert_eq!(found[0].level, Level::Warn);
        assert!(
            found[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("systemctl start docker")
        );
        let settings = Settings {
            port: 0,
            ..Settings::default()
        };
        assert_eq!(checks_level(&settings).await, Level::Skip);
    }

    async fn checks_level(settings: &Settings) -> Level {
        checks(settings, &Discovery::default(), None).await[0].level
    }
}
