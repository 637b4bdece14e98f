//! The source filter: which peers may talk to the daemon at all.
//!
//! Loopback always; the host's own addresses; the Docker bridge subnets as currently found on
//! the interfaces; and the configured `allow_from` CIDRs. Anything else is closed right after
//! `accept`, before any HTTP is read, logged at debug and counted (the count is in /health).
//!
//! Before refusing, the interfaces are read again (a Docker network created a moment ago
//! must not lose its first connection to the poll interval) — at most once a second and on
//! the blocking pool, so a flood of refused connections cannot tie up the runtime.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::docker::{self, Discovery};
use crate::net::Cidr;

#[derive(Debug, Default)]
pub struct SourceFilter {
    /// Bridge subnets, host addresses and `allow_from`, replaced as interfaces come and go
    /// and on reload.
    allowed: RwLock<Vec<Cidr>>,
    /// The configured `allow_from`, kept to recompute `allowed` on demand.
    allow_from: RwLock<Vec<Cidr>>,
    /// This host's own addresses, as last read.
    local: RwLock<Vec<IpAddr>>,
    /// When a refused peer last made us read the interfaces.
    last_refresh: Mutex<Option<Instant>>,
    rejected: AtomicU64,
}

/// How often a refused connection may make the filter read the interfaces again.
const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

impl SourceFilter {
    pub fn new() -> SourceFilter {
        SourceFilter::default()
    }

    /// Replaces the allowed networks.
    pub fn set_allowed(&self, networks: Vec<Cidr>) {
        if let Ok(mut allowed) = self.allowed.write() {
            *allowed = networks;
        }
    }

    /// Sets `allow_from` and recomputes the allowed networks from `discovery`.
    pub fn update(&self, allow_from: Vec<Cidr>, discovery: &Discovery) {
        if let Ok(mut configured) = self.allow_from.write() {
            *configured = allow_from;
        }
        self.recompute(discovery);
    }

    fn recompute(&self, discovery: &Discovery) {
        if let Ok(mut local) = self.local.write() {
            local.clone_from(&discovery.local_addrs);
        }
        let mut networks = discovery.bridge_subnets();
        networks.extend(
            discovery
                .local_addrs
                .iter()
                .map(|ip| Cidr::new(*ip, if ip.is_ipv4() { 32 } else { 128 })),
        );
        if let Ok(configured) = self.allow_from.read() {
            networks.extend(configured.iter().copied());
        }
        self.set_allowed(networks);
    }

    /// Whether `peer` may connect, reading the interfaces again (rate-limited, off the
    /// runtime's workers) before refusing.
    pub async fn admits(self: &Arc<Self>, peer: IpAddr) -> bool {
        if self.allows(peer) {
            return true;
        }
        let due = match self.last_refresh.lock() {
            Ok(mut last) => {
                let due = last.is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL);
                if due {
                    *last = Some(Instant::now());
                }
                due
            }
            Err(_) => false,
        };
        if !due {
            return false;
        }
        let filter = self.clone();
        let refreshed = tokio::task::spawn_blocking(move || {
            filter.recompute(&docker::discover());
        })
        .await;
        refreshed.is_ok() && self.allows(peer)
    }

    /// Whether `ip` is one of this host's addresses (as last read).
    pub fn is_local(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.local
            .read()
            .map(|local| local.contains(&canonical))
            .unwrap_or(false)
    }

    pub fn allowed(&self) -> Vec<Cidr> {
        self.allowed.read().map(|a| a.clone()).unwrap_or_default()
    }

    /// Whether `peer` may connect.
    pub fn allows(&self, peer: IpAddr) -> bool {
        let canonical = peer.to_canonical();
        if canonical.is_loopback() {
            return true;
        }
        self.allowed
            .read()
            .map(|allowed| allowed.iter().any(|net| net.contains(canonical)))
            .unwrap_or(false)
    }

    /// Counts one refused connection.
    pub fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_always_others_only_when_allowed() {
        let filter = SourceFilter::new();
        assert!(filter.allows("127.0.0.1".parse().unwrap()));
        assert!(filter.allows("::1".parse().unwrap()));
        assert!(filter.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!filter.allows("172.17.0.2".parse().unwrap()));
        filter.set_allowed(vec![Cidr::parse("172.17.0.0/16").unwrap()]);
        assert!(filter.allows("172.17.0.2".parse().unwrap()));
        assert!(!filter.allows("192.168.1.10".parse().unwrap()));
    }

    /// A refused peer reads the interfaces at most once a second.
    #[tokio::test]
    async fn refused_peers_refresh_at_most_once_a_second() {
        let filter = Arc::new(SourceFilter::new());
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(!filter.admits(stranger).await);
        let first = filter.last_refresh.lock().unwrap().unwrap();
        assert!(!filter.admits(stranger).await);
        assert_eq!(filter.last_refresh.lock().unwrap().unwrap(), first);
    }
}
