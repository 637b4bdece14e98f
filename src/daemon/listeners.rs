//! The set of listening sockets and their accept loops.
//!
//! `listen` entries are IP literals (bound at start; failure is fatal) or the keywords
//! `docker` / `docker-bridges` (bound when the address exists, dropped when it goes away,
//! re-checked every second). Each accept loop applies the source filter before any HTTP is
//! read and hands accepted connections to [`super::Server::serve_connection`]. Dropping a
//! listener stops accepting on it; its open connections carry on.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::docker::Discovery;
use super::{Server, StartError};

/// One `listen` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenSpec {
    Addr(IpAddr),
    /// The address containers reach the host by (`host-gateway`).
    Docker,
    /// Every Docker bridge gateway.
    DockerBridges,
}

/// Parses `listen` (already validated by the config).
pub fn parse_specs(listen: &[String]) -> Vec<ListenSpec> {
    listen
        .iter()
        .filter_map(|entry| match entry.as_str() {
            "docker" => Some(ListenSpec::Docker),
            "docker-bridges" => Some(ListenSpec::DockerBridges),
            other => other.parse().ok().map(ListenSpec::Addr),
        })
        .collect()
}

/// The addresses the specs mean right now, and which of them were named explicitly.
pub fn wanted(specs: &[ListenSpec], discovery: &Discovery) -> (BTreeSet<IpAddr>, BTreeSet<IpAddr>) {
    let mut all = BTreeSet::new();
    let mut explicit = BTreeSet::new();
    for spec in specs {
        match spec {
            ListenSpec::Addr(ip) => {
                all.insert(*ip);
                explicit.insert(*ip);
            }
            ListenSpec::Docker => all.extend(discovery.docker_addresses()),
            ListenSpec::DockerBridges => all.extend(discovery.bridge_gateways()),
        }
    }
    (all, explicit)
}

/// Whether an address listens on every interface.
pub fn is_wildcard(ip: &IpAddr) -> bool {
    ip.is_unspecified()
}

struct Bound {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The live listeners.
#[derive(Default)]
pub struct Listeners {
    bound: BTreeMap<SocketAddr, Bound>,
    /// Keyword addresses that failed to bind, so the failure is logged once, not every tick.
    failing: BTreeSet<SocketAddr>,
}

impl Listeners {
    pub fn new() -> Listeners {
        Listeners::default()
    }

    /// Bound addresses, sorted.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.bound.keys().copied().collect()
    }

    /// Binds what is wanted and not bound, drops what is bound and no longer wanted.
    /// `port` 0 takes the port of the first listener bound. Failing to bind an explicit
    /// address is an error; keyword addresses are retried on the next call. Returns whether
    /// anything changed.
    pub async fn reconcile(
        &mut self,
        wanted: &BTreeSet<IpAddr>,
        explicit: &BTreeSet<IpAddr>,
        port: &mut u16,
        server: &Arc<Server>,
    ) -> Result<bool, StartError> {
        let mut changed = false;
        let stale: Vec<SocketAddr> = self
            .bound
            .keys()
            .filter(|addr| !wanted.contains(&addr.ip()) || addr.port() != *port && *port != 0)
            .copied()
            .collect();
        for addr in stale {
            if let Some(bound) = self.bound.remove(&addr) {
                let _ = bound.stop.send(());
                let _ = bound.task.await;
                tracing::info!(%addr, "stopped listening on {}", super::url_of(addr));
                changed = true;
            }
        }
        // Explicit addresses first, so that port 0 is chosen by a fatal bind.
        let mut order: Vec<IpAddr> = explicit.iter().copied().collect();
        order.extend(wanted.iter().filter(|ip| !explicit.contains(ip)));
        for ip in order {
            if self.bound.keys().any(|a| a.ip() == ip) {
                continue;
            }
            let addr = SocketAddr::new(ip, *port);
            match bind(addr) {
                Ok(listener) => {
                    let local = listener.local_addr().unwrap_or(addr);
                    if *port == 0 {
                        *port = local.port();
                    }
                    self.failing.remove(&addr);
                    let (stop, stopped) = oneshot::channel();
                    let task = tokio::spawn(accept_loop(listener, server.clone(), stopped));
                    tracing::info!(addr = %local, "listening on {}", super::url_of(local));
                    self.bound.insert(local, Bound { stop, task });
                    changed = true;
                }
                Err(error) if explicit.contains(&ip) => {
                    return Err(super::bind_error(addr, &error));
                }
                Err(error) => {
                    if self.failing.insert(addr) {
                        tracing::warn!(%addr, "cannot listen on {addr} yet: {error}; will retry");
                    }
                }
            }
        }
        Ok(changed)
    }

    /// Stops every accept loop and waits for them.
    pub async fn close_all(&mut self) {
        for (_, bound) in std::mem::take(&mut self.bound) {
            let _ = bound.stop.send(());
            let _ = bound.task.await;
        }
    }
}

/// A listening socket with SO_REUSEADDR (quick restarts) and, for IPv6, V6ONLY (so `::1`
/// does not also take IPv4).
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(listener: TcpListener, server: Arc<Server>, mut stop: oneshot::Receiver<()>) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                if !server.filter.admits(peer.ip()) {
                    server.filter.count_rejected();
                    tracing::debug!(%peer, "connection refused by the source filter (see `allow_from`)");
                    drop(stream);
                    continue;
                }
                server.serve_connection(stream, peer);
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::docker::discover_from;

    #[test]
    fn specs_resolve_against_discovery() {
        let specs = parse_specs(&["127.0.0.1".into(), "docker".into()]);
        let none = discover_from(&[], None);
        let (all, explicit) = wanted(&specs, &none);
        assert_eq!(all.len(), 1);
        assert_eq!(explicit.len(), 1);
        let with_docker = discover_from(
            &[
                ("docker0".into(), "172.17.0.1".parse().unwrap(), 16),
                ("br-x".into(), "172.18.0.1".parse().unwrap(), 16),
            ],
            None,
        );
        let (all, _) = wanted(&specs, &with_docker);
        assert!(all.contains(&"172.17.0.1".parse().unwrap()));
        assert!(!all.contains(&"172.18.0.1".parse().unwrap()));
        let (all, _) = wanted(&parse_specs(&["docker-bridges".into()]), &with_docker);
        assert_eq!(all.len(), 2);
    }
}
