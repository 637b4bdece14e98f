//! The set of listening sockets and their accept loops.
//!
//! `listen` entries are IP literals (bound at start; failure is fatal) or the keywords
//! `docker` / `docker-bridges` (bound when the address exists, dropped when it goes away,
//! re-checked every second). Each accept loop hands accepted connections to
//! [`Server::accept`] (connection cap and source filter before any HTTP is read). Dropping
//! a listener stops accepting on it; its open connections carry on.
//!
//! New listeners are bound before stale ones are dropped: a reload to a busy port keeps the
//! daemon listening where it was, and says why.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::connection::Server;
use super::{StartError, bind_error::bind_error};
use crate::net::docker::Discovery;

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

    /// Binds what is wanted and not bound, then drops what is bound and no longer wanted.
    /// `port` 0 takes the port of the first listener bound. Failing to bind an explicit
    /// address, or an address that is listening now on another port (a port change), is an
    /// error and changes nothing: the new sockets are closed, the old ones kept. Keyword
    /// addresses that are not up yet are retried on the next call. Returns whether anything
    /// changed.
    pub async fn reconcile(
        &mut self,
        wanted: &BTreeSet<IpAddr>,
        explicit: &BTreeSet<IpAddr>,
        port: &mut u16,
        server: &Arc<Server>,
    ) -> Result<bool, StartError> {
        let mut chosen_port = *port;
        let mut fresh: Vec<(SocketAddr, TcpListener)> = Vec::new();
        // Explicit addresses first, so that port 0 is chosen by a fatal bind.
        let mut order: Vec<IpAddr> = explicit.iter().copied().collect();
        order.extend(wanted.iter().filter(|ip| !explicit.contains(ip)));
        for ip in order {
            let current = self
                .bound
                .keys()
                .any(|a| a.ip() == ip && a.port() == chosen_port);
            if current && chosen_port != 0 {
                continue;
            }
            let addr = SocketAddr::new(ip, chosen_port);
            match bind(addr) {
                Ok(listener) => {
                    let local = listener.local_addr().unwrap_or(addr);
                    if chosen_port == 0 {
                        chosen_port = local.port();
                    }
                    self.failing.remove(&addr);
                    fresh.push((local, listener));
                }
                Err(error) if explicit.contains(&ip) || self.bound.keys().any(|a| a.ip() == ip) => {
                    // Dropping `fresh` closes what this call bound; the old listeners stay.
                    return Err(bind_error(addr, &error));
                }
                Err(error) => {
                    if self.failing.insert(addr) {
                        tracing::warn!(%addr, "cannot listen on {addr} yet: {error}; will retry");
                    }
                }
            }
        }
        *port = chosen_port;
        let mut changed = false;
        for (local, listener) in fresh {
            let (stop, stopped) = oneshot::channel();
            let task = tokio::spawn(accept_loop(listener, server.clone(), stopped));
            tracing::info!(addr = %local, "listening on {}", crate::net::url_of(local));
            self.bound.insert(local, Bound { stop, task });
            changed = true;
        }
        let stale: Vec<SocketAddr> = self
            .bound
            .keys()
            .filter(|addr| !wanted.contains(&addr.ip()) || addr.port() != *port)
            .copied()
            .collect();
        for addr in stale {
            if let Some(bound) = self.bound.remove(&addr) {
                let _ = bound.stop.send(());
                let _ = bound.task.await;
                tracing::info!(%addr, "stopped listening on {}", crate::net::url_of(addr));
                changed = true;
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
                server.accept(stream, peer);
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving; when it is
                // descriptors, free some first.
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    server.out_of_descriptors().await;
                }
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
    use crate::net::docker::discover_from;

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
