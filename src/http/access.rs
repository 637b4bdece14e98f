//! Who may use the daemon from a browser's point of view: the Host and Origin checks that
//! run before anything else of a request is read.
//!
//! - **Host** (DNS rebinding): a web page can point its own name at 127.0.0.1 and then read
//!   the answers as same-origin. A request is answered only when its Host names this daemon:
//!   an IP address of this machine (loopback and listener addresses included), `localhost`
//!   or `*.localhost`, the names containers use for the host, the machine's hostname, or an
//!   entry of `allowed_hosts`. `check_host = false` (allowed only with `api_key`) turns it off.
//! - **Origin** (cross-site requests): a page can send a "simple" POST without a preflight.
//!   A request that carries an `Origin` is answered only when it is our own origin (a page
//!   this daemon served) or listed in `cors_origins`. Clients that are not browsers send no
//!   Origin and are not affected.

use std::net::IpAddr;

use hyper::header::{HOST, HeaderValue, ORIGIN};
use hyper::{HeaderMap, Uri};

use crate::conversation::{ApiError, ErrorKind};

/// Names containers and tools use for the host, always accepted.
const BUILT_IN_NAMES: &[&str] = &[
    "localhost",
    "host.docker.internal",
    "host.containers.internal",
    "gateway.docker.internal",
];

/// The longest foreign name or origin quoted back in an error.
const QUOTE_MAX: usize = 100;

/// Host names (not addresses) that name this daemon, lower-cased.
#[derive(Clone, Debug, Default)]
pub struct HostNames {
    names: Vec<String>,
}

impl HostNames {
    /// The built-in names, this machine's hostname and `allowed_hosts`.
    pub fn new(allowed_hosts: &[String]) -> HostNames {
        let mut names: Vec<String> = BUILT_IN_NAMES.iter().map(|n| n.to_string()).collect();
        if let Some(hostname) = machine_hostname() {
            names.push(hostname.to_ascii_lowercase());
        }
        names.extend(allowed_hosts.iter().map(|h| normalize(h)));
        HostNames { names }
    }

    fn contains(&self, name: &str) -> bool {
        name.ends_with(".localhost") || self.names.iter().any(|n| n == name)
    }
}

/// What the Host check needs to know about addresses.
pub trait LocalAddresses {
    /// Whether `ip` is an address of this machine (a listener's included).
    fn is_local(&self, ip: IpAddr) -> bool;
}

impl LocalAddresses for crate::net::filter::SourceFilter {
    fn is_local(&self, ip: IpAddr) -> bool {
        crate::net::filter::SourceFilter::is_local(self, ip)
    }
}

/// The host part of a request's authority (HTTP/2 `:authority` or the Host header), if any.
pub fn request_host(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let authority = match uri.authority() {
        Some(authority) => authority.as_str().to_string(),
        None => headers.get(HOST)?.to_str().ok()?.to_string(),
    };
    Some(authority)
}

/// Splits `host[:port]` / `[v6]:port` and returns the lower-cased host without a final dot.
fn host_part(authority: &str) -> String {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => authority,
        }
    };
    normalize(host)
}

fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Refuses a request whose Host does not name this daemon. No Host at all (HTTP/1.0
/// clients) is not a browser and passes.
pub fn check_host(
    authority: Option<&str>,
    names: &HostNames,
    addresses: &dyn LocalAddresses,
) -> Result<(), ApiError> {
    let Some(authority) = authority else {
        return Ok(());
    };
    let host = host_part(authority);
    let known = match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || addresses.is_local(ip),
        Err(_) => names.contains(&host),
    };
    if known {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorKind::HostNotAllowed,
        format!(
            "The Host `{}` does not name this proxy, so the request was refused (protection \
             against DNS rebinding by web pages). Use http://localhost:<port>, \
             http://host.docker.internal:<port> or an address of this machine; to reach it by \
             this name on purpose, add it to `allowed_hosts` in the config \
             (CLAUDE_MAX_PROXY_ALLOWED_HOSTS) and reload.",
            quote(&host)
        ),
    ))
}

/// How a request's Origin was judged.
#[derive(Debug, PartialEq, Eq)]
pub enum OriginVerdict {
    /// No Origin header (not a browser), or our own origin: no CORS headers.
    NotCrossSite,
    /// Listed in `cors_origins`: answer with these CORS headers.
    Cors(HeaderValue),
}

/// Refuses a request from a web page whose origin is neither ours nor in `cors_origins`.
pub fn check_origin(
    headers: &HeaderMap,
    authority: Option<&str>,
    cors_origins: &[String],
) -> Result<OriginVerdict, ApiError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(OriginVerdict::NotCrossSite);
    };
    let text = origin.to_str().unwrap_or("");
    if cors_origins.iter().any(|o| o == "*") {
        return Ok(OriginVerdict::Cors(HeaderValue::from_static("*")));
    }
    if !text.is_empty() && cors_origins.iter().any(|o| o == text) {
        return Ok(OriginVerdict::Cors(origin.clone()));
    }
    let same_origin = authority.is_some_and(|authority| {
        text.strip_prefix("http://")
            .is_some_and(|rest| rest.eq_ignore_ascii_case(authority))
    });
    if same_origin {
        return Ok(OriginVerdict::NotCrossSite);
    }
    Err(ApiError::new(
        ErrorKind::OriginNotAllowed,
        format!(
            "Requests from web pages are refused: the Origin `{}` is not this proxy's own and \
             is not listed in `cors_origins`. To let a browser app use the proxy, add its \
             origin to `cors_origins` in the config and reload.",
            quote(text)
        ),
    ))
}

fn quote(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(QUOTE_MAX)
        .collect()
}

/// This machine's hostname (for clients that use it to reach the daemon).
fn machine_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success
    // when the name fits, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Addresses(Vec<IpAddr>);

    impl LocalAddresses for Addresses {
        fn is_local(&self, ip: IpAddr) -> bool {
            self.0.contains(&ip)
        }
    }

    fn host_ok(authority: &str, allowed: &[&str]) -> bool {
        let names = HostNames::new(&allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let local = Addresses(vec!["172.17.0.1".parse().unwrap()]);
        check_host(Some(authority), &names, &local).is_ok()
    }

    #[test]
    fn host_names_of_this_daemon_pass_and_others_do_not() {
        for ok in [
            "127.0.0.1:3456",
            "localhost:3456",
            "LOCALHOST.",
            "app.localhost:3456",
            "[::1]:3456",
            "172.17.0.1:3456",
            "host.docker.internal:3456",
            "host.containers.internal",
            "gateway.docker.internal:1",
        ] {
            assert!(host_ok(ok, &[]), "{ok} should pass");
        }
        for bad in [
            "rebind.attacker.example:3456",
            "10.9.9.9:3456",
            "localhost.attacker.example",
            "[fe80::99]:3456",
        ] {
            assert!(!host_ok(bad, &[]), "{bad} should be refused");
        }
        assert!(host_ok("proxy.lan:3456", &["Proxy.LAN"]));
        let names = HostNames::new(&[]);
        let error = check_host(Some("evil.example:1"), &names, &Addresses(vec![])).unwrap_err();
        assert_eq!(error.status(), 403);
        assert!(error.message.contains("allowed_hosts"));
        assert!(check_host(None, &names, &Addresses(vec![])).is_ok());
    }

    #[test]
    fn foreign_origins_are_refused_unless_listed() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            check_origin(&headers, Some("127.0.0.1:3456"), &[]).unwrap(),
            OriginVerdict::NotCrossSite
        );
        headers.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        let error = check_origin(&headers, Some("127.0.0.1:3456"), &[]).unwrap_err();
        assert_eq!(error.status(), 403);
        assert!(error.message.contains("cors_origins"));
        let listed = vec!["https://evil.example".to_string()];
        assert!(matches!(
            check_origin(&headers, Some("127.0.0.1:3456"), &listed).unwrap(),
            OriginVerdict::Cors(_)
        ));
        headers.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:3456"));
        assert_eq!(
            check_origin(&headers, Some("127.0.0.1:3456"), &[]).unwrap(),
            OriginVerdict::NotCrossSite
        );
        headers.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(check_origin(&headers, Some("127.0.0.1:3456"), &[]).is_err());
    }
}
