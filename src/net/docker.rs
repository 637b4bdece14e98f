//! Where containers reach the host: Docker's bridge interfaces and their gateways.
//!
//! `host.docker.internal:host-gateway` resolves to docker0's address (usually 172.17.0.1) for
//! containers on any bridge network, unless `/etc/docker/daemon.json` moves it with
//! `host-gateway-ip` / `host-gateway-ips`. Compose networks are `br-*` bridges whose traffic
//! reaches the host with a source address in their own subnet. This module reads both, from
//! the interface list and the daemon file, as plain data; the listener and the source filter
//! decide what to do with it.

use std::net::IpAddr;
use std::path::Path;

use crate::net::Cidr;

/// The default daemon config file.
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// One address of a bridge interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeAddr {
    pub interface: String,
    pub ip: IpAddr,
    pub prefix: u8,
}

/// What was found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    /// docker0's addresses (IPv4, and IPv6 if it has a global one).
    pub docker0: Vec<BridgeAddr>,
    /// Every Docker bridge address: docker0 and `br-*`.
    pub bridges: Vec<BridgeAddr>,
    /// `host-gateway-ip(s)` from daemon.json.
    pub host_gateway_override: Vec<IpAddr>,
    /// Every address of this host: a connection from one of them comes from a local
    /// process (e.g. `curl http://172.17.0.1:3456` on the host uses the primary address).
    pub local_addrs: Vec<IpAddr>,
}

impl Discovery {
    /// The addresses `listen = "docker"` means: the host-gateway override when set, else
    /// docker0's addresses.
    pub fn docker_addresses(&self) -> Vec<IpAddr> {
        if !self.host_gateway_override.is_empty() {
            return self.host_gateway_override.clone();
        }
        self.docker0.iter().map(|b| b.ip).collect()
    }

    /// The addresses `listen = "docker-bridges"` means: every bridge gateway.
    pub fn bridge_gateways(&self) -> Vec<IpAddr> {
        self.bridges.iter().map(|b| b.ip).collect()
    }

    /// The subnets containers connect from.
    pub fn bridge_subnets(&self) -> Vec<Cidr> {
        self.bridges
            .iter()
            .map(|b| Cidr::new(b.ip, b.prefix))
            .collect()
    }
}

/// Whether an interface name is a Docker bridge.
pub fn is_docker_bridge(name: &str) -> bool {
    name == "docker0" || name.starts_with("br-")
}

/// Reads the interfaces and daemon.json of this machine.
pub fn discover() -> Discovery {
    let interfaces: Vec<(String, IpAddr, u8)> = if_addrs::get_if_addrs()
        .map(|list| {
            list.into_iter()
                .map(|iface| {
                    let prefix = match &iface.addr {
                        if_addrs::IfAddr::V4(a) => a.prefixlen,
                        if_addrs::IfAddr::V6(a) => a.prefixlen,
                    };
                    (iface.name.clone(), iface.ip(), prefix)
                })
                .collect()
        })
        .unwrap_or_default();
    let daemon_json = std::fs::read_to_string(Path::new(DAEMON_JSON)).ok();
    discover_from(&interfaces, daemon_json.as_deref())
}

/// The pure part of [`discover`]: from (interface, address, prefix) triples and the
/// daemon.json text.
pub fn discover_from(interfaces: &[(String, IpAddr, u8)], daemon_json: Option<&str>) -> Discovery {
    let mut discovery = Discovery {
        local_addrs: interfaces.iter().map(|(_, ip, _)| *ip).collect(),
        ..Discovery::default()
    };
    for (name, ip, prefix) in interfaces {
        if !is_docker_bridge(name) {
            continue;
        }
        // Link-local IPv6 addresses need a scope id to be bound; they are not gateways.
        if let IpAddr::V6(v6) = ip
            && (v6.segments()[0] & 0xffc0) == 0xfe80
        {
            continue;
        }
        let addr = BridgeAddr {
            interface: name.clone(),
            ip: *ip,
            prefix: *prefix,
        };
        if name == "docker0" {
            discovery.docker0.push(addr.clone());
        }
        discovery.bridges.push(addr);
    }
    discovery.host_gateway_override = daemon_json.map(host_gateway_ips).unwrap_or_default();
    discovery
}

/// `host-gateway-ip` (string) and `host-gateway-ips` (list) from daemon.json.
pub fn host_gateway_ips(daemon_json: &str) -> Vec<IpAddr> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(daemon_json) else {
        return Vec::new();
    };
    let mut ips = Vec::new();
    if let Some(ip) = value
        .get("host-gateway-ip")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
    {
        ips.push(ip);
    }
    if let Some(list) = value.get("host-gateway-ips").and_then(|v| v.as_array()) {
        ips.extend(
            list.iter()
                .filter_map(|v| v.as_str())
                .filter_map(|s| s.parse::<IpAddr>().ok()),
        );
    }
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, ip: &str, prefix: u8) -> (String, IpAddr, u8) {
        (name.to_string(), ip.parse().unwrap(), prefix)
    }

    #[test]
    fn finds_docker0_and_compose_bridges() {
        let found = discover_from(
            &[
                iface("lo", "127.0.0.1", 8),
                iface("eth0", "10.0.0.5", 24),
                iface("docker0", "172.17.0.1", 16),
                iface("docker0", "fe80::1", 64),
                iface("br-1234", "172.18.0.1", 16),
            ],
            None,
        );
        assert_eq!(
            found.docker_addresses(),
            vec!["172.17.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(found.bridge_gateways().len(), 2);
        let subnets = found.bridge_subnets();
        assert!(
            subnets
                .iter()
                .any(|c| c.contains("172.18.3.4".parse().unwrap()))
        );
        assert!(
            !subnets
                .iter()
                .any(|c| c.contains("10.0.0.9".parse().unwrap()))
        );
    }

    #[test]
    fn host_gateway_override_wins() {
        let found = discover_from(
            &[iface("docker0", "172.17.0.1", 16)],
            Some(r#"{"host-gateway-ip": "192.168.77.1", "host-gateway-ips": ["fd00::1", "bad"]}"#),
        );
        let want: Vec<IpAddr> = vec!["192.168.77.1".parse().unwrap(), "fd00::1".parse().unwrap()];
        assert_eq!(found.docker_addresses(), want);
    }

    #[test]
    fn no_docker_means_no_addresses() {
        let found = discover_from(&[iface("lo", "127.0.0.1", 8)], Some("not json"));
        assert!(found.docker_addresses().is_empty());
        assert!(found.bridge_subnets().is_empty());
    }
}
