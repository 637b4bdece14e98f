//! From a failure to its likely cause and the exact fix. Pure: it only looks at the failure,
//! the facts gathered before it, and where the check runs (in a container or not), so each
//! branch is unit-tested below.

use std::net::IpAddr;

use crate::context::Context;
use crate::stage::{Facts, Failure, Problem, Stage};

/// The compose line that makes `host.docker.internal` resolve on Linux.
pub const EXTRA_HOSTS: &str = r#"extra_hosts: ["host.docker.internal:host-gateway"]"#;

/// What probably happened and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    pub cause: String,
    pub fix: String,
}

fn diagnosis(cause: impl Into<String>, fix: impl Into<String>) -> Diagnosis {
    Diagnosis {
        cause: cause.into(),
        fix: fix.into(),
    }
}

/// The advice that ends most fixes.
const DOCTOR: &str = "run `claude-max-proxy doctor` on the host";

/// Where the check was pointed, as the diagnoses word it.
struct Place {
    /// The URL's host (empty before the URL parsed).
    host: String,
    port: u16,
    /// The address tried (`172.17.0.1:3456`), else `host:port`.
    peer: String,
    /// `http://host.docker.internal:<port>`: the URL that reaches the host from a container.
    host_url: String,
}

impl Place {
    fn of(facts: &Facts) -> Place {
        let port = facts.port.unwrap_or(3456);
        let host = facts.host.clone().unwrap_or_default();
        let peer = facts
            .peer
            .map(|p| p.to_string())
            .unwrap_or_else(|| format!("{host}:{port}"));
        Place {
            host_url: format!("http://host.docker.internal:{port}"),
            host,
            port,
            peer,
        }
    }
}

/// Explains `failure`, by kind of problem.
pub fn diagnose(failure: &Failure, facts: &Facts, context: &Context) -> Diagnosis {
    let place = Place::of(facts);
    match &failure.problem {
        Problem::MissingUrl | Problem::BadUrl => url_problem(failure, &place),
        Problem::NoSuchName | Problem::ResolveTimeout => {
            name_problem(&place.host, failure, context)
        }
        Problem::Refused | Problem::Unreachable | Problem::ConnectTimeout => {
            connect_problem(failure, facts, context, &place)
        }
        Problem::Closed | Problem::NoAnswer | Problem::NotHttp | Problem::NotTheProxy => {
            no_answer(failure, facts, &place)
        }
        Problem::Unauthorized { .. } | Problem::HostNotAllowed | Problem::OriginNotAllowed => {
            refusal(failure, &place)
        }
        Problem::Status(_)
        | Problem::Degraded
        | Problem::NoModels
        | Problem::NotLoggedIn
        | Problem::StreamFailed
        | Problem::UnknownEndpoint
        | Problem::Busy { .. } => daemon_problem(failure, &place),
    }
}

/// No URL, or one an OpenAI client cannot use.
fn url_problem(failure: &Failure, place: &Place) -> Diagnosis {
    let host_url = &place.host_url;
    match failure.problem {
        Problem::MissingUrl => diagnosis(
            "AI_PROXY_URL is not set for this container",
            format!(
                "set AI_PROXY_URL={host_url} (compose: see compose/compose.override.yaml, or put \
                 it in .env; Podman: http://host.containers.internal:3456), or pass --url"
            ),
        ),
        // BadUrl.
        _ => diagnosis(
            "AI_PROXY_URL is not a URL an OpenAI client can use",
            format!("use the form {host_url} (an OpenAI base URL ending in /v1 works too)"),
        ),
    }
}

/// The TCP connection failed: refused, unreachable or timed out.
fn connect_problem(
    failure: &Failure,
    facts: &Facts,
    context: &Context,
    place: &Place,
) -> Diagnosis {
    let Place {
        host,
        port,
        peer,
        host_url,
    } = place;
    match failure.problem {
        Problem::Refused | Problem::ConnectTimeout if loopback_in_container(facts, context) => {
            container_loopback(host, peer, *port)
        }
        Problem::Refused if facts.loopback_host => diagnosis(
            format!("the daemon is not running on this machine: nothing listens on {peer}"),
            format!(
                "start it (`claude-max-proxy`, or `systemctl --user start claude-max-proxy` when \
                 installed as a service) on port {port}, then {DOCTOR}"
            ),
        ),
        Problem::Refused => diagnosis(
            format!(
                "nothing accepts connections on {peer}: the daemon is not running on the host, or \
                 it listens on loopback only and not on the Docker bridge (or a firewall rejects \
                 the connection)"
            ),
            format!(
                "on the host, make `listen` include `docker` (config.toml: listen = \
                 [\"127.0.0.1\", \"docker\"], the default) and port {port}, start the daemon, and \
                 {DOCTOR}"
            ),
        ),
        Problem::Unreachable => diagnosis(
            format!(
                "no route to {peer}: this address is not reachable from here, or a firewall \
                 rejects it with \"host unreachable\""
            ),
            format!(
                "use AI_PROXY_URL={host_url} with `{EXTRA_HOSTS}`; if that is already so, allow \
                 the bridge in the host's firewall: {}",
                firewall_rules(*port)
            ),
        ),
        // ConnectTimeout.
        _ => diagnosis(
            format!(
                "the TCP connection to {peer} timed out: a firewall on the host drops traffic from \
                 the Docker bridge (e.g. ufw's default \"deny incoming\"){}",
                from(facts)
            ),
            format!(
                "allow container traffic to port {port} on the host: {}",
                firewall_rules(*port)
            ),
        ),
    }
}

/// Connected, but no usable HTTP answer: closed, silent, not HTTP, or not the proxy.
fn no_answer(failure: &Failure, facts: &Facts, place: &Place) -> Diagnosis {
    let Place { port, peer, .. } = place;
    match (&failure.stage, &failure.problem) {
        (Stage::Chat, Problem::Closed | Problem::NoAnswer) => diagnosis(
            "the completion did not finish: the CLI on the host is slow or stuck, or the daemon \
             stopped",
            format!(
                "read the daemon's log on the host (`journalctl --user -u claude-max-proxy`, or \
                 its terminal); raise --chat-timeout for slow models; {DOCTOR}"
            ),
        ),
        (_, Problem::Closed) => diagnosis(
            format!(
                "{peer} accepted the connection and closed it without answering: the daemon's \
                 source filter refused this client{} (only loopback, the Docker bridge subnets and \
                 `allow_from` may connect), or another program holds port {port}",
                from(facts)
            ),
            format!(
                "on the host, add this network to `allow_from` in config.toml{}, or check who \
                 listens with `ss -ltnp 'sport = :{port}'`; {DOCTOR}",
                facts
                    .local
                    .and_then(subnet_of)
                    .map(|s| format!(" (allow_from = [\"{s}\"])"))
                    .unwrap_or_default()
            ),
        ),
        // NoAnswer, NotHttp, NotTheProxy.
        _ => diagnosis(
            format!("{peer} is not claude-max-proxy, or the daemon is stuck"),
            format!(
                "point AI_PROXY_URL at the proxy's port (default 3456); on the host `ss -ltnp \
                 'sport = :{port}'` shows who listens on {port}; {DOCTOR}"
            ),
        ),
    }
}

/// 401/403: the client key, or the daemon's Host and Origin guards.
fn refusal(failure: &Failure, place: &Place) -> Diagnosis {
    match failure.problem {
        Problem::Unauthorized { key_sent: false } => diagnosis(
            "the proxy requires an API key (its `api_key` is set) and AI_PROXY_KEY is not set",
            "set AI_PROXY_KEY to the proxy's `api_key` (compose: `AI_PROXY_KEY: ${AI_PROXY_KEY}` \
             under environment, the value in .env)",
        ),
        Problem::Unauthorized { key_sent: true } => diagnosis(
            "the proxy rejected AI_PROXY_KEY: it does not match the `api_key` configured on the \
             host",
            "set AI_PROXY_KEY to the value of `api_key` (or the first line of `api_key_file`) \
             in the host's config.toml; `claude-max-proxy config show` on the host shows whether \
             one is set",
        ),
        Problem::HostNotAllowed => host_not_allowed(place),
        // OriginNotAllowed.
        _ => diagnosis(
            "the proxy refused a browser `Origin` header (it turns web pages away); \
             ai-proxy-check sends none, so something between here and the daemon adds one",
            format!(
                "point AI_PROXY_URL straight at the daemon ({}), not through an HTTP proxy or \
                 gateway; {DOCTOR}",
                place.host_url
            ),
        ),
    }
}

/// 403 `host_not_allowed`: the daemon answers only to its own names (DNS-rebinding
/// protection); the URL's host must be added to `allowed_hosts`, or the URL must use a name
/// it knows.
fn host_not_allowed(place: &Place) -> Diagnosis {
    let Place { host, host_url, .. } = place;
    let add = format!(
        "on the host add `allowed_hosts = [\"{host}\"]` to ~/.config/claude-max-proxy/config.toml \
         (or add \"{host}\" to the list if it is there) and reload: `systemctl --user reload \
         claude-max-proxy` (or `kill -HUP <pid>`)"
    );
    let fix = if host == "host.docker.internal" {
        add
    } else {
        format!("{add}; or use AI_PROXY_URL={host_url} (with `{EXTRA_HOSTS}` on Linux)")
    };
    diagnosis(
        format!(
            "the proxy refused the Host name `{host}` (DNS-rebinding protection): it answers only \
             to its own names and those in `allowed_hosts`"
        ),
        fix,
    )
}

/// The daemon answered, but with a problem of its own (or upstream's).
fn daemon_problem(failure: &Failure, place: &Place) -> Diagnosis {
    match (&failure.stage, &failure.problem) {
        (Stage::Health, Problem::Status(status)) if *status >= 500 => diagnosis(
            "the daemon runs but reported a problem (its message is above)",
            format!("fix what the daemon reported; {DOCTOR} and read its log"),
        ),
        (_, Problem::Degraded) => diagnosis(
            "the daemon runs but is not ready (its report is above)",
            format!(
                "{DOCTOR}; a missing CLI: install Claude Code on the host or set `cli_path`; not \
                 logged in: `claude-max-proxy login`"
            ),
        ),
        (_, Problem::NoModels) => diagnosis(
            "the proxy lists no models",
            "check `models` in the host's config.toml (`claude-max-proxy config show`)",
        ),
        (_, Problem::NotLoggedIn) => diagnosis(
            "the claude CLI on the host is not logged in (or its login expired)",
            "on the host run `claude-max-proxy login` (or `claude auth login`), then retry",
        ),
        (_, Problem::Busy { retry_after }) => busy(*retry_after),
        (Stage::Chat, Problem::Status(404)) => diagnosis(
            "the proxy does not serve this model",
            "pick one of the ids /v1/models lists with --model",
        ),
        (Stage::Chat, Problem::Status(429)) => diagnosis(
            "the proxy is busy, or the subscription's rate limit was hit",
            "retry later, or raise `max_concurrent` / `queue_limit` on the host",
        ),
        (_, Problem::UnknownEndpoint) => diagnosis(
            "the daemon does not serve this API (the error above names the request): it is \
             older than this ai-proxy-check",
            "upgrade claude-max-proxy on the host (`packaging/install.sh` from a current \
             checkout, or the current Debian package) and restart it; `--api chat` checks the \
             API every version serves",
        ),
        (Stage::Chat, Problem::Status(529)) => diagnosis(
            "Anthropic is overloaded (529 `overloaded_error`, passed on by the proxy)",
            "retry in a minute (`--wait 2m` retries on its own); nothing is wrong with the setup",
        ),
        (_, Problem::Status(415)) => diagnosis(
            "the proxy refused the request's Content-Type (415): it takes only \
             `application/json`, which ai-proxy-check sends, so something between here and the \
             daemon changed the request",
            format!(
                "point AI_PROXY_URL straight at the daemon ({}), not through an HTTP proxy or \
                 gateway; {DOCTOR}",
                place.host_url
            ),
        ),
        // Other statuses, StreamFailed.
        _ => diagnosis(
            "the proxy answered with an error (its message is above)",
            format!("fix what the daemon reported; {DOCTOR} and read its log"),
        ),
    }
}

/// 503 with `Retry-After`: over capacity for now.
fn busy(retry_after: Option<u64>) -> Diagnosis {
    let (header, when) = match retry_after {
        Some(secs) => (format!(": {secs} s"), format!("after {secs} s")),
        None => (String::new(), "in a few seconds".to_string()),
    };
    diagnosis(
        format!(
            "the proxy turned the request away for now (503, Retry-After{header}): it is over its \
             connection cap or its budget for request bodies, or Anthropic is overloaded (the \
             message above says which)"
        ),
        format!(
            "retry {when} (`--wait 30s` retries on its own); if it lasts, fewer clients should \
             use the proxy at once: read the daemon's log on the host (`journalctl --user -u \
             claude-max-proxy`) and {DOCTOR}"
        ),
    )
}

/// The name did not resolve: which name decides the fix.
fn name_problem(host: &str, failure: &Failure, context: &Context) -> Diagnosis {
    let podman = context.container.as_deref() == Some("podman");
    match host {
        "host.docker.internal" if podman => diagnosis(
            "`host.docker.internal` is not defined in this Podman container",
            "use AI_PROXY_URL=http://host.containers.internal:3456 (Podman adds that name), or add \
             `--add-host=host.docker.internal:host-gateway`",
        ),
        "host.docker.internal" => diagnosis(
            "`host.docker.internal` does not resolve in this container: Docker Engine on Linux \
             only defines it when asked (Docker Desktop always does)",
            format!(
                "add `{EXTRA_HOSTS}` to this service (as in compose/compose.override.yaml), or \
                 `--add-host=host.docker.internal:host-gateway` to `docker run`"
            ),
        ),
        "host.containers.internal" => diagnosis(
            "`host.containers.internal` does not resolve: only Podman defines it",
            format!(
                "with Docker use AI_PROXY_URL=http://host.docker.internal:3456 and `{EXTRA_HOSTS}`"
            ),
        ),
        _ => diagnosis(
            match failure.problem {
                Problem::ResolveTimeout => {
                    format!("`{host}` is not in /etc/hosts and the DNS server did not answer")
                }
                _ => format!("`{host}` is neither in /etc/hosts nor known to DNS"),
            },
            format!(
                "check the spelling in AI_PROXY_URL; to reach the host from a container use \
                 http://host.docker.internal:3456 with `{EXTRA_HOSTS}`"
            ),
        ),
    }
}

/// `localhost`/127.0.0.1 inside a container: that is the container itself.
fn container_loopback(host: &str, peer: &str, port: u16) -> Diagnosis {
    diagnosis(
        format!(
            "inside a container `{host}` is the container itself, not the host: nothing listens \
             on {peer} here"
        ),
        format!(
            "point AI_PROXY_URL at the host: http://host.docker.internal:{port} plus \
             `{EXTRA_HOSTS}` (Podman: http://host.containers.internal:{port})"
        ),
    )
}

fn loopback_in_container(facts: &Facts, context: &Context) -> bool {
    let all_loopback =
        !facts.addresses.is_empty() && facts.addresses.iter().all(IpAddr::is_loopback);
    context.in_container() && (facts.loopback_host || all_loopback)
}

/// The allow rules for a host firewall, ufw and iptables.
fn firewall_rules(port: u16) -> String {
    format!(
        "`sudo ufw allow in on docker0 to any port {port} proto tcp` (compose networks use br-… \
         bridges: `sudo ufw allow from 172.16.0.0/12 to any port {port} proto tcp`), or with \
         iptables `sudo iptables -I INPUT -i docker0 -p tcp --dport {port} -j ACCEPT` (and `-s \
         172.16.0.0/12` instead of `-i docker0` for compose networks)"
    )
}

/// ` (this client: 172.18.0.2)` when known.
fn from(facts: &Facts) -> String {
    facts
        .local
        .map(|l| format!(" (this client: {l})"))
        .unwrap_or_default()
}

/// The /16 around an IPv4 address (Docker's default bridge size), for `allow_from` advice.
fn subnet_of(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, _, _] = v4.octets();
            Some(format!("{a}.{b}.0.0/16"))
        }
        IpAddr::V6(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn failure(stage: Stage, problem: Problem) -> Failure {
        Failure {
            stage,
            elapsed: Duration::ZERO,
            problem,
            detail: "DETAIL".to_string(),
        }
    }

    fn facts(host: &str, addresses: &[&str]) -> Facts {
        let addresses: Vec<IpAddr> = addresses.iter().map(|a| a.parse().unwrap()).collect();
        Facts {
            host: Some(host.to_string()),
            port: Some(3456),
            loopback_host: host == "localhost" || host.starts_with("127."),
            peer: addresses
                .first()
                .map(|a| std::net::SocketAddr::new(*a, 3456)),
            addresses,
            local: Some("172.18.0.5".parse().unwrap()),
        }
    }

    fn in_container() -> Context {
        Context {
            container: Some("docker".into()),
            hosts: String::new(),
        }
    }

    #[test]
    fn unresolvable_host_docker_internal_needs_extra_hosts() {
        let d = diagnose(
            &failure(Stage::Resolve, Problem::NoSuchName),
            &facts("host.docker.internal", &[]),
            &in_container(),
        );
        assert!(d.cause.contains("Docker Engine on Linux"), "{d:?}");
        assert!(d.fix.contains(EXTRA_HOSTS), "{d:?}");
        let podman = Context {
            container: Some("podman".into()),
            hosts: String::new(),
        };
        let d = diagnose(
            &failure(Stage::Resolve, Problem::ResolveTimeout),
            &facts("host.docker.internal", &[]),
            &podman,
        );
        assert!(d.fix.contains("host.containers.internal"), "{d:?}");
        let d = diagnose(
            &failure(Stage::Resolve, Problem::NoSuchName),
            &facts("proxy.example", &[]),
            &in_container(),
        );
        assert!(
            d.cause.contains("`proxy.example`") && d.fix.contains("spelling"),
            "{d:?}"
        );
    }

    #[test]
    fn loopback_inside_a_container_is_the_container() {
        for host in ["localhost", "127.0.0.1"] {
            let d = diagnose(
                &failure(Stage::Connect, Problem::Refused),
                &facts(host, &["127.0.0.1"]),
                &in_container(),
            );
            assert!(d.cause.contains("the container itself"), "{d:?}");
            assert!(d.fix.contains("host.docker.internal:3456"), "{d:?}");
        }
        // On the host, the same refusal means the daemon is not running.
        let d = diagnose(
            &failure(Stage::Connect, Problem::Refused),
            &facts("127.0.0.1", &["127.0.0.1"]),
            &Context::default(),
        );
        assert!(d.cause.contains("not running on this machine"), "{d:?}");
    }

    #[test]
    fn refused_on_the_bridge_means_listen_docker() {
        let d = diagnose(
            &failure(Stage::Connect, Problem::Refused),
            &facts("host.docker.internal", &["172.17.0.1"]),
            &in_container(),
        );
        assert!(d.cause.contains("172.17.0.1:3456"), "{d:?}");
        assert!(
            d.fix.contains("`docker`") && d.fix.contains("claude-max-proxy doctor"),
            "{d:?}"
        );
    }

    #[test]
    fn timeout_means_firewall() {
        let d = diagnose(
            &failure(Stage::Connect, Problem::ConnectTimeout),
            &facts("host.docker.internal", &["172.17.0.1"]),
            &in_container(),
        );
        assert!(
            d.cause.contains("firewall") && d.cause.contains("172.18.0.5"),
            "{d:?}"
        );
        assert!(
            d.fix
                .contains("sudo ufw allow in on docker0 to any port 3456 proto tcp"),
            "{d:?}"
        );
        assert!(
            d.fix
                .contains("iptables -I INPUT -i docker0 -p tcp --dport 3456 -j ACCEPT"),
            "{d:?}"
        );
    }

    #[test]
    fn closed_suggests_allow_from() {
        let d = diagnose(
            &failure(Stage::Health, Problem::Closed),
            &facts("10.0.0.2", &["10.0.0.2"]),
            &in_container(),
        );
        assert!(d.cause.contains("source filter"), "{d:?}");
        assert!(d.fix.contains("allow_from = [\"172.18.0.0/16\"]"), "{d:?}");
    }

    #[test]
    fn a_refused_host_name_says_how_to_allow_it() {
        let ctx = in_container();
        let refused = failure(Stage::Health, Problem::HostNotAllowed);
        let d = diagnose(&refused, &facts("proxy.lan", &["10.0.0.2"]), &ctx);
        assert_eq!(
            d.cause,
            "the proxy refused the Host name `proxy.lan` (DNS-rebinding protection): it answers \
             only to its own names and those in `allowed_hosts`"
        );
        assert!(
            d.fix.starts_with(
                "on the host add `allowed_hosts = [\"proxy.lan\"]` to \
                 ~/.config/claude-max-proxy/config.toml"
            ),
            "{d:?}"
        );
        assert!(
            d.fix.contains("systemctl --user reload claude-max-proxy"),
            "{d:?}"
        );
        let other_name = format!(
            "or use AI_PROXY_URL=http://host.docker.internal:3456 (with `{EXTRA_HOSTS}` on Linux)"
        );
        assert!(d.fix.ends_with(&other_name), "{d:?}");
        // Refused under host.docker.internal itself: only allowing it helps.
        let d = diagnose(
            &refused,
            &facts("host.docker.internal", &["172.17.0.1"]),
            &ctx,
        );
        assert!(
            d.fix.contains("allowed_hosts = [\"host.docker.internal\"]"),
            "{d:?}"
        );
        assert!(!d.fix.contains("or use AI_PROXY_URL"), "{d:?}");
    }

    #[test]
    fn other_refusals_of_the_daemon() {
        let f = facts("host.docker.internal", &["172.17.0.1"]);
        let ctx = in_container();
        let d = diagnose(&failure(Stage::Models, Problem::OriginNotAllowed), &f, &ctx);
        assert!(
            d.cause.contains("`Origin`") && d.fix.contains("not through an HTTP proxy"),
            "{d:?}"
        );
        let d = diagnose(&failure(Stage::Chat, Problem::Status(415)), &f, &ctx);
        assert!(d.cause.contains("`application/json`"), "{d:?}");
        let busy = Problem::Busy {
            retry_after: Some(5),
        };
        let d = diagnose(&failure(Stage::Health, busy), &f, &ctx);
        assert!(
            d.cause.contains("Retry-After: 5 s") && d.cause.contains("connection cap"),
            "{d:?}"
        );
        assert!(d.fix.starts_with("retry after 5 s"), "{d:?}");
        let busy = Problem::Busy { retry_after: None };
        let d = diagnose(&failure(Stage::Chat, busy), &f, &ctx);
        assert!(d.fix.starts_with("retry in a few seconds"), "{d:?}");
        let d = diagnose(&failure(Stage::Chat, Problem::UnknownEndpoint), &f, &ctx);
        assert!(
            d.cause.contains("older") && d.fix.contains("--api chat"),
            "{d:?}"
        );
        let d = diagnose(&failure(Stage::Chat, Problem::Status(529)), &f, &ctx);
        assert!(d.cause.contains("overloaded"), "{d:?}");
    }

    #[test]
    fn keys_and_daemon_reports() {
        let f = facts("host.docker.internal", &["172.17.0.1"]);
        let ctx = in_container();
        let missing = Problem::Unauthorized { key_sent: false };
        let d = diagnose(&failure(Stage::Models, missing), &f, &ctx);
        assert!(d.cause.contains("AI_PROXY_KEY is not set") && d.fix.contains("AI_PROXY_KEY"));
        let wrong = Problem::Unauthorized { key_sent: true };
        let d = diagnose(&failure(Stage::Models, wrong), &f, &ctx);
        assert!(d.cause.contains("rejected AI_PROXY_KEY"), "{d:?}");
        let d = diagnose(&failure(Stage::Health, Problem::Status(503)), &f, &ctx);
        assert!(
            d.cause.contains("reported a problem") && d.fix.contains("doctor"),
            "{d:?}"
        );
        let d = diagnose(&failure(Stage::Chat, Problem::NotLoggedIn), &f, &ctx);
        assert!(d.fix.contains("claude-max-proxy login"), "{d:?}");
        let d = diagnose(&failure(Stage::Url, Problem::MissingUrl), &f, &ctx);
        assert!(
            d.fix
                .contains("AI_PROXY_URL=http://host.docker.internal:3456"),
            "{d:?}"
        );
    }
}
