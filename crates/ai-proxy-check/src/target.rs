//! The target: `AI_PROXY_URL` parsed into scheme, host, port and the paths the checks use.
//!
//! Only what an OpenAI client would accept as a base URL: `http://host[:port][/prefix]`.
//! The prefix may end in `/v1` (the usual OpenAI base URL) or not; `/health` is asked at the
//! prefix without `/v1`, the API under it with `/v1`. Errors are plain strings naming what is
//! wrong; the diagnosis (cause and fix) is added by `diagnose`.

use std::fmt;
use std::net::IpAddr;

/// The host part of the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A DNS name (lower-cased), resolved through /etc/hosts and resolv.conf.
    Name(String),
    /// An IPv4 or IPv6 literal; no resolution needed.
    Ip(IpAddr),
}

/// A parsed `AI_PROXY_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub host: Host,
    pub port: u16,
    /// Whether the URL named the port (a URL without one means 80, rarely what is meant).
    pub explicit_port: bool,
    /// The path before `/v1`, without a trailing slash (usually empty).
    pub prefix: String,
}

impl Target {
    /// Parses `text`; the error says what is wrong in words a user can act on.
    pub fn parse(text: &str) -> Result<Target, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the URL is empty".to_string());
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!(
                "`{text}` has no scheme; it must start with http:// (e.g. http://host.docker.internal:3456)"
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "http" => {}
            "https" => {
                return Err(
                    "https:// is not served by the proxy (it speaks plain HTTP on the host); use http://"
                        .to_string(),
                );
            }
            other => return Err(format!("scheme `{other}` is not supported; use http://")),
        }
        // Query and fragment do not matter for a base URL.
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(
                "the URL holds user:password@; the proxy takes a key in AI_PROXY_KEY instead"
                    .to_string(),
            );
        }
        let (host, port) = split_host_port(authority)?;
        let host = parse_host(host)?;
        let (port, explicit_port) = match port {
            Some(p) => (
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("port `{p}` is not a number between 1 and 65535"))?,
                true,
            ),
            None => (80, false),
        };
        let mut prefix = path.trim_end_matches('/').to_string();
        if prefix.ends_with("/v1") {
            prefix.truncate(prefix.len() - 3);
        }
        Ok(Target {
            host,
            port,
            explicit_port,
            prefix,
        })
    }

    /// `host:port` as the `Host` header wants it (IPv6 in brackets).
    pub fn authority(&self) -> String {
        match &self.host {
            Host::Name(name) => format!("{name}:{}", self.port),
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            Host::Ip(ip) => format!("{ip}:{}", self.port),
        }
    }

    /// The path of the daemon's health endpoint.
    pub fn health_path(&self) -> String {
        format!("{}/health", self.prefix)
    }

    /// The path of an OpenAI endpoint, e.g. `api_path("models")`.
    pub fn api_path(&self, endpoint: &str) -> String {
        format!("{}/v1/{endpoint}", self.prefix)
    }

    /// Whether the host is loopback by name or address (`localhost`, 127.0.0.0/8, ::1).
    pub fn is_loopback(&self) -> bool {
        match &self.host {
            Host::Name(name) => name == "localhost" || name.ends_with(".localhost"),
            Host::Ip(ip) => ip.is_loopback(),
        }
    }

    /// The host as written (without brackets).
    pub fn host_text(&self) -> String {
        match &self.host {
            Host::Name(name) => name.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.prefix)
    }
}

/// Splits `host[:port]` / `[v6][:port]`.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(format!("`{authority}`: unclosed [ in an IPv6 address"));
        };
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("`{authority}`: unexpected text after ]")),
            },
        };
    }
    match authority.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => Err(format!(
            "`{authority}`: an IPv6 address must be in brackets, e.g. http://[::1]:3456"
        )),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

/// An IP literal, or a name made of letters, digits, `-`, `_` and dots.
fn parse_host(host: &str) -> Result<Host, String> {
    if host.is_empty() {
        return Err("the URL has no host (e.g. http://host.docker.internal:3456)".to_string());
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    let valid = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !valid {
        return Err(format!("`{host}` is not a valid host name"));
    }
    Ok(Host::Name(host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_container_url() {
        let t = Target::parse("http://host.docker.internal:3456").unwrap();
        assert_eq!(t.host, Host::Name("host.docker.internal".into()));
        assert_eq!(t.port, 3456);
        assert!(t.explicit_port);
        assert_eq!(t.health_path(), "/health");
        assert_eq!(t.api_path("models"), "/v1/models");
        assert_eq!(t.authority(), "host.docker.internal:3456");
        assert_eq!(t.to_string(), "http://host.docker.internal:3456");
    }

    #[test]
    fn accepts_an_openai_base_url_and_prefixes() {
        let t = Target::parse("HTTP://Proxy.Local:3456/v1/").unwrap();
        assert_eq!(t.host, Host::Name("proxy.local".into()));
        assert_eq!(t.health_path(), "/health");
        assert_eq!(t.api_path("chat/completions"), "/v1/chat/completions");
        let t = Target::parse("http://gw:8080/ai/v1?x=1#frag").unwrap();
        assert_eq!(t.health_path(), "/ai/health");
        assert_eq!(t.api_path("models"), "/ai/v1/models");
        let t = Target::parse("http://gw/ai").unwrap();
        assert_eq!((t.port, t.explicit_port), (80, false));
        assert_eq!(t.api_path("models"), "/ai/v1/models");
    }

    #[test]
    fn ip_literals_and_loopback() {
        let t = Target::parse("http://127.0.0.1:3456").unwrap();
        assert_eq!(t.host, Host::Ip("127.0.0.1".parse().unwrap()));
        assert!(t.is_loopback());
        let t = Target::parse("http://[::1]:3456/").unwrap();
        assert_eq!(t.authority(), "[::1]:3456");
        assert!(t.is_loopback());
        assert!(
            Target::parse("http://localhost:3456")
                .unwrap()
                .is_loopback()
        );
        assert!(
            !Target::parse("http://172.17.0.1:3456")
                .unwrap()
                .is_loopback()
        );
    }

    #[test]
    fn rejects_what_a_client_could_not_use() {
        let err = |s: &str| Target::parse(s).unwrap_err();
        assert!(err("").contains("empty"));
        assert!(err("host.docker.internal:3456").contains("http://"));
        assert!(err("https://h:3456").contains("plain HTTP"));
        assert!(err("ftp://h").contains("not supported"));
        assert!(err("http://:3456").contains("no host"));
        assert!(err("http://h:99999").contains("between 1 and 65535"));
        assert!(err("http://h:0").contains("between 1 and 65535"));
        assert!(err("http://h:port").contains("between 1 and 65535"));
        assert!(err("http://u:p@h:1").contains("AI_PROXY_KEY"));
        assert!(err("http://::1:3456").contains("brackets"));
        assert!(err("http://[::1:3456").contains("unclosed"));
        assert!(err("http://bad host:1").contains("not a valid host name"));
        assert!(err("http://a..b:1").contains("not a valid host name"));
    }
}
