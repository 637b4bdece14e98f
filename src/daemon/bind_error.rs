//! What a failed bind means and how to fix it: the busy port's holder when /proc shows it,
//! the privilege a low port needs, the address that is not this machine's.

use std::net::SocketAddr;

use super::{StartError, exit};
use crate::net::port_holder;

/// The error for a failed bind, naming the holder of a busy port when /proc shows it.
pub fn bind_error(addr: SocketAddr, error: &std::io::Error) -> StartError {
    let change = "Choose another port with --port <N>, CLAUDE_MAX_PROXY_PORT=<N> or `port = N` in the config file";
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            let holder = match port_holder::find(addr.port()) {
                Some(port_holder::Holder {
                    pid: Some(pid),
                    command,
                    ..
                }) => format!(
                    "held by pid {pid} ({})",
                    command.unwrap_or_else(|| "command unknown".into())
                ),
                Some(port_holder::Holder { uid: Some(uid), .. }) => {
                    format!("held by a process of uid {uid} (not visible to this user)")
                }
                _ => format!("`ss -ltnp 'sport = :{}'` shows who holds it", addr.port()),
            };
            StartError::new(
                format!(
                    "{addr} is already in use, {holder}. Stop that process (another \
                     claude-max-proxy or the old Node proxy?), or: {change}."
                ),
                exit::ADDR_IN_USE,
            )
        }
        std::io::ErrorKind::PermissionDenied => StartError::new(
            format!(
                "not allowed to listen on {addr} (ports below 1024 need privileges). {change}."
            ),
            exit::PERMISSION,
        ),
        std::io::ErrorKind::AddrNotAvailable => StartError::new(
            format!(
                "{addr} is not an address of this machine. Fix `listen` (--listen, \
                 CLAUDE_MAX_PROXY_LISTEN) to name a local address such as 127.0.0.1, or use \
                 `docker` for the Docker bridge."
            ),
            exit::ADDR_NOT_AVAILABLE,
        ),
        _ => StartError::new(format!("cannot listen on {addr}: {error}"), exit::RUNTIME),
    }
}
