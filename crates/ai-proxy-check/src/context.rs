//! Where the check runs: inside a container or not (the same URL means different things in
//! each), and the /etc/hosts it sees. Read once at start; the diagnoses depend on it.

use std::net::IpAddr;

/// The surroundings of this process.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `Some("docker")`, `Some("podman")`, `Some(<$container>)` inside a container.
    pub container: Option<String>,
    /// The text of /etc/hosts (empty when missing).
    pub hosts: String,
}

impl Context {
    /// Looks at this process's filesystem and environment. `AI_PROXY_CHECK_CONTAINER`
    /// overrides the guess (`none` = on the host; `docker`, `podman`…), for hosts that are
    /// themselves containers and for tests.
    pub fn detect() -> Context {
        let forced = std::env::var("AI_PROXY_CHECK_CONTAINER").ok();
        let container = if let Some(forced) = forced.filter(|v| !v.is_empty()) {
            (forced != "none").then_some(forced)
        } else if std::path::Path::new("/.dockerenv").exists() {
            Some("docker".to_string())
        } else if std::path::Path::new("/run/.containerenv").exists() {
            Some("podman".to_string())
        } else {
            std::env::var("container").ok().filter(|v| !v.is_empty())
        };
        Context {
            container,
            hosts: std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        }
    }

    pub fn in_container(&self) -> bool {
        self.container.is_some()
    }

    /// The addresses /etc/hosts gives `name`, in file order.
    pub fn hosts_entries(&self, name: &str) -> Vec<IpAddr> {
        hosts_lookup(&self.hosts, name)
    }
}

/// Looks `name` up in hosts-file `text` (case-insensitive; comments ignored).
pub fn hosts_lookup(text: &str, name: &str) -> Vec<IpAddr> {
    let name = name.trim_end_matches('.');
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next().and_then(|f| f.parse::<IpAddr>().ok()) else {
            continue;
        };
        if fields.any(|n| n.trim_end_matches('.').eq_ignore_ascii_case(name))
            && !found.contains(&ip)
        {
            found.push(ip);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hosts_files_like_docker_writes_them() {
        let text = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n\
                    # comment host.docker.internal\n\
                    172.17.0.1\thost.docker.internal\n172.18.0.3\t3f2a1b\n";
        assert_eq!(
            hosts_lookup(text, "HOST.docker.internal."),
            vec!["172.17.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(hosts_lookup(text, "localhost").len(), 2);
        assert!(hosts_lookup(text, "host.containers.internal").is_empty());
        assert!(hosts_lookup("garbage line\n", "garbage").is_empty());
    }
}
