//! Doctor check for a host firewall that will likely drop container → host traffic:
//! ufw enabled with a deny/reject incoming policy and no rule for the port, or (without
//! ufw) an iptables INPUT chain whose policy or last rule drops and that has no rule
//! accepting docker0, `br-+` or the port. Read-only; rules that need root to read are
//! reported as not checked, with the command that shows them.
//!
//! The fix is always the exact allow rule for docker0 and each compose bridge.

use std::path::Path;
use std::time::Duration;

use super::Check;
use crate::net::docker::Discovery;
use crate::service::plan;

const NAME: &str = "firewall";
const UFW_CONF: &str = "/etc/ufw/ufw.conf";
const UFW_DEFAULTS: &str = "/etc/default/ufw";
const UFW_RULES: &[&str] = &["/etc/ufw/user.rules", "/etc/ufw/user6.rules"];

/// The firewall check for `port`.
pub fn check(port: u16, discovery: &Discovery) -> Check {
    let bridges = bridge_names(discovery);
    if ufw_enabled(&std::fs::read_to_string(UFW_CONF).unwrap_or_default()) {
        return ufw_check(port, &bridges);
    }
    iptables_check(port)
}

/// docker0 first, then the compose bridges (`br-…`) that exist now.
fn bridge_names(discovery: &Discovery) -> Vec<String> {
    let mut names = vec!["docker0".to_string()];
    for bridge in &discovery.bridges {
        if !names.contains(&bridge.interface) {
            names.push(bridge.interface.clone());
        }
    }
    names
}

fn ufw_enabled(conf: &str) -> bool {
    conf.lines()
        .map(str::trim)
        .any(|l| l.eq_ignore_ascii_case("ENABLED=yes"))
}

/// `DEFAULT_INPUT_POLICY` from /etc/default/ufw (ufw's default is DROP).
fn ufw_input_policy(defaults: &str) -> String {
    defaults
        .lines()
        .find_map(|l| l.trim().strip_prefix("DEFAULT_INPUT_POLICY="))
        .map(|v| v.trim_matches('"').to_ascii_uppercase())
        .unwrap_or_else(|| "DROP".to_string())
}

/// Whether ufw's rule file has an allow rule for `port` over TCP (or for every port).
/// Lines look like `### tuple ### allow tcp 3456 0.0.0.0/0 any 0.0.0.0/0 in_docker0`.
fn ufw_allows(rules: &str, port: u16) -> bool {
    let port = port.to_string();
    rules.lines().any(|line| {
        let Some(tuple) = line.trim().strip_prefix("### tuple ###") else {
            return false;
        };
        let fields: Vec<&str> = tuple.split_whitespace().collect();
        match fields.as_slice() {
            [action, proto, dport, ..] => {
                action.starts_with("allow")
                    && (*proto == "tcp" || *proto == "any")
                    && (*dport == "any" || dport.split(',').any(|p| port_in(p, &port)))
            }
            _ => false,
        }
    })
}

/// `3456` or a range `3000:4000` containing the port.
fn port_in(spec: &str, port: &str) -> bool {
    match spec.split_once(':') {
        Some((lo, hi)) => match (lo.parse::<u32>(), hi.parse::<u32>(), port.parse::<u32>()) {
            (Ok(lo), Ok(hi), Ok(p)) => lo <= p && p <= hi,
            _ => false,
        },
        None => spec == port,
    }
}

fn ufw_fix(port: u16, bridges: &[String]) -> String {
    bridges
        .iter()
        .map(|b| format!("sudo ufw allow in on {b} to any port {port} proto tcp"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ufw_check(port: u16, bridges: &[String]) -> Check {
    let policy = ufw_input_policy(&std::fs::read_to_string(UFW_DEFAULTS).unwrap_or_default());
    if policy == "ACCEPT" {
        return Check::ok(
            NAME,
            "ufw is active and accepts incoming traffic by default",
        );
    }
    let mut readable = false;
    for file in UFW_RULES {
        if let Ok(rules) = std::fs::read_to_string(Path::new(file)) {
            readable = true;
            if ufw_allows(&rules, port) {
                return Check::ok(
                    NAME,
                    format!("ufw is active ({policy} incoming) and a rule allows port {port}/tcp"),
                );
            }
        }
    }
    let detail = if readable {
        format!(
            "ufw is active, drops incoming traffic ({policy}) and no rule allows port \
             {port}/tcp: containers cannot reach the proxy"
        )
    } else {
        format!(
            "ufw is active and drops incoming traffic ({policy}); its rules need root to read \
             (`sudo ufw status`): containers are likely blocked"
        )
    };
    Check::warn(NAME, detail, ufw_fix(port, bridges))
}

/// What the INPUT chain does to a container's connection to `port`.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Policy ACCEPT and no final drop.
    Open,
    /// Drops by default, but a rule accepts the bridge or the port.
    Allowed,
    /// Drops by default (policy or last rule) and nothing accepts it.
    Dropped(String),
}

/// Reads `iptables -S INPUT`.
fn iptables_verdict(rules: &str, port: u16) -> Verdict {
    let dport = format!("--dport {port}");
    let mut policy = "ACCEPT".to_string();
    let mut last_drops = false;
    let mut accepted = false;
    for line in rules.lines().map(str::trim) {
        if let Some(p) = line.strip_prefix("-P INPUT ") {
            policy = p.trim().to_string();
            continue;
        }
        let Some(rule) = line.strip_prefix("-A INPUT") else {
            continue;
        };
        let rule = rule.trim();
        let unconditional = rule.starts_with("-j ");
        last_drops =
            unconditional && (rule.starts_with("-j DROP") || rule.starts_with("-j REJECT"));
        if rule.contains("-j ACCEPT")
            && (unconditional
                || rule.contains("-i docker0")
                || rule.contains("-i br-+")
                || rule.contains(&dport))
        {
            accepted = true;
        }
    }
    let drops = policy != "ACCEPT" || last_drops;
    match (drops, accepted) {
        (false, _) => Verdict::Open,
        (true, true) => Verdict::Allowed,
        (true, false) => Verdict::Dropped(if policy != "ACCEPT" {
            format!("policy {policy}")
        } else {
            "a final DROP/REJECT rule".to_string()
        }),
    }
}

fn iptables_fix(port: u16) -> String {
    format!(
        "sudo iptables -I INPUT -i docker0 -p tcp --dport {port} -j ACCEPT\n\
         sudo iptables -I INPUT -i br-+ -p tcp --dport {port} -j ACCEPT   (compose networks)\n\
         keep them after a reboot: sudo netfilter-persistent save   (package iptables-persistent)"
    )
}

/// `iptables` on PATH, else in the sbin directories a user's PATH often lacks.
fn find_iptables() -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| !d.is_empty())
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join("iptables"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

fn iptables_check(port: u16) -> Check {
    let Some(iptables) = find_iptables() else {
        return Check::skip(NAME, "no ufw, and no iptables command to read the rules");
    };
    let argv = vec![iptables, "-S".to_string(), "INPUT".to_string()];
    let done = match plan::capture(&argv, Duration::from_secs(5)) {
        Ok(done) => done,
        Err(e) => return Check::skip(NAME, format!("cannot run {}: {e}", argv[0])),
    };
    if !done.success() {
        return Check::skip(
            NAME,
            format!(
                "ufw is not enabled; the iptables INPUT chain needs root to read ({}): \
                 `sudo iptables -S INPUT` shows it",
                done.last_line()
            ),
        );
    }
    match iptables_verdict(&done.stdout, port) {
        Verdict::Open => Check::ok(
            NAME,
            "ufw is not enabled; the iptables INPUT policy is ACCEPT",
        ),
        Verdict::Allowed => Check::ok(
            NAME,
            format!("the iptables INPUT chain drops by default but accepts docker0/port {port}"),
        ),
        Verdict::Dropped(why) => Check::warn(
            NAME,
            format!(
                "the iptables INPUT chain drops by default ({why}) and no rule accepts docker0 \
                 or port {port}: containers cannot reach the proxy"
            ),
            iptables_fix(port),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ufw_files_are_read() {
        assert!(ufw_enabled("# comment\nENABLED=yes\nLOGLEVEL=low\n"));
        assert!(!ufw_enabled("ENABLED=no\n"));
        assert_eq!(ufw_input_policy("DEFAULT_INPUT_POLICY=\"DROP\"\n"), "DROP");
        assert_eq!(
            ufw_input_policy("DEFAULT_INPUT_POLICY=\"ACCEPT\"\n"),
            "ACCEPT"
        );
        let rules = "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n\
                     -A ufw-user-input -p tcp --dport 22 -j ACCEPT\n";
        assert!(!ufw_allows(rules, 3456));
        let rules = "### tuple ### allow tcp 3456 0.0.0.0/0 any 0.0.0.0/0 in_docker0\n";
        assert!(ufw_allows(rules, 3456));
        assert!(ufw_allows(
            "### tuple ### allow any 3000:4000 0.0.0.0/0 any 0.0.0.0/0 in\n",
            3456
        ));
        assert!(!ufw_allows(
            "### tuple ### deny tcp 3456 0.0.0.0/0 any 0.0.0.0/0 in\n",
            3456
        ));
    }

    #[test]
    fn the_ufw_fix_names_every_bridge() {
        let fix = ufw_fix(3456, &["docker0".into(), "br-abc".into()]);
        assert_eq!(
            fix,
            "sudo ufw allow in on docker0 to any port 3456 proto tcp\n\
             sudo ufw allow in on br-abc to any port 3456 proto tcp"
        );
    }

    #[test]
    fn iptables_input_chain_verdicts() {
        assert_eq!(iptables_verdict("-P INPUT ACCEPT\n", 3456), Verdict::Open);
        assert_eq!(
            iptables_verdict("-P INPUT DROP\n-A INPUT -i lo -j ACCEPT\n", 3456),
            Verdict::Dropped("policy DROP".into())
        );
        assert_eq!(
            iptables_verdict(
                "-P INPUT DROP\n-A INPUT -i docker0 -p tcp -m tcp --dport 3456 -j ACCEPT\n",
                3456
            ),
            Verdict::Allowed
        );
        assert_eq!(
            iptables_verdict(
                "-P INPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\n-A INPUT -j REJECT --reject-with icmp-host-prohibited\n",
                3456
            ),
            Verdict::Dropped("a final DROP/REJECT rule".into())
        );
        assert!(
            iptables_fix(3456)
                .contains("sudo iptables -I INPUT -i docker0 -p tcp --dport 3456 -j ACCEPT")
        );
    }
}
