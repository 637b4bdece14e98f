//! Name resolution with hickory-resolver's system configuration: /etc/hosts first, then the
//! name servers of /etc/resolv.conf. Pure Rust, so it works in a static binary in an empty
//! (`FROM scratch`) image, where glibc's getaddrinfo would need NSS modules it cannot load.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// Why a name did not resolve.
#[derive(Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// The name does not exist (NXDOMAIN, no records, or no name server to ask).
    NotFound(String),
    /// No name server answered in time.
    Timeout,
}

/// Resolves `name` to its addresses, IPv4 first.
pub async fn resolve(name: &str, timeout: Duration) -> Result<Vec<IpAddr>, ResolveError> {
    // A container always has /etc/resolv.conf; without one, /etc/hosts still works.
    let mut builder = match TokioResolver::builder_tokio() {
        Ok(builder) => builder,
        Err(_) => TokioResolver::builder_with_config(
            ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
            TokioRuntimeProvider::default(),
        ),
    };
    let options = builder.options_mut();
    options.use_hosts_file = ResolveHosts::Always;
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.timeout = timeout;
    options.attempts = 1;
    let resolver = builder
        .build()
        .map_err(|e| ResolveError::NotFound(format!("resolver setup failed: {e}")))?;
    // The resolver's own timeout is per query; this bounds the whole lookup (search list…).
    let lookup = tokio::time::timeout(timeout + Duration::from_secs(1), resolver.lookup_ip(name))
        .await
        .map_err(|_| ResolveError::Timeout)?;
    match lookup {
        Ok(found) => {
            let addresses: Vec<IpAddr> = found.iter().collect();
            if addresses.is_empty() {
                Err(ResolveError::NotFound("no addresses".to_string()))
            } else {
                Ok(addresses)
            }
        }
        Err(e) if e.is_nx_domain() => Err(ResolveError::NotFound("no such name (NXDOMAIN)".into())),
        Err(e) if e.is_no_records_found() => {
            Err(ResolveError::NotFound("no A/AAAA records".to_string()))
        }
        Err(e) if e.to_string().contains("timed out") => Err(ResolveError::Timeout),
        Err(e) => Err(ResolveError::NotFound(e.to_string())),
    }
}
