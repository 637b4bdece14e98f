//! The TCP connect stage: try each resolved address in turn and classify the failure
//! (refused, unreachable, timed out), since each has a different fix.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::timing::secs;

/// How a connection attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    Refused,
    Unreachable,
    TimedOut,
    Other,
}

/// Connects to the first address that accepts; on failure, the classification of the most
/// telling error (a timeout beats unreachable beats refused: it is the one a user must fix
/// first) and one line per address.
pub async fn connect(
    addresses: &[IpAddr],
    port: u16,
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), (ConnectFailure, String)> {
    let mut worst: Option<ConnectFailure> = None;
    let mut details = Vec::new();
    for ip in addresses {
        let addr = SocketAddr::new(*ip, port);
        let failure = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok((stream, addr)),
            Ok(Err(e)) => {
                details.push(format!("{addr}: {}", describe(&e)));
                classify(&e)
            }
            Err(_) => {
                details.push(format!("{addr}: no answer within {}", secs(timeout)));
                ConnectFailure::TimedOut
            }
        };
        worst = Some(match worst {
            Some(previous) if rank(previous) >= rank(failure) => previous,
            _ => failure,
        });
    }
    Err((worst.unwrap_or(ConnectFailure::Other), details.join("; ")))
}

/// Classifies a connect error.
pub fn classify(error: &io::Error) -> ConnectFailure {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => ConnectFailure::Refused,
        io::ErrorKind::TimedOut => ConnectFailure::TimedOut,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            ConnectFailure::Unreachable
        }
        _ => ConnectFailure::Other,
    }
}

fn rank(failure: ConnectFailure) -> u8 {
    match failure {
        ConnectFailure::Other => 0,
        ConnectFailure::Refused => 1,
        ConnectFailure::Unreachable => 2,
        ConnectFailure::TimedOut => 3,
    }
}

/// A short, stable description of a connect error.
fn describe(error: &io::Error) -> String {
    match classify(error) {
        ConnectFailure::Refused => "connection refused".to_string(),
        ConnectFailure::Unreachable => "no route to host".to_string(),
        ConnectFailure::TimedOut => "timed out".to_string(),
        ConnectFailure::Other => error.to_string(),
    }
}

/// This side's address towards `peer`, without sending anything (a connected UDP socket only
/// asks the routing table). In a container this is the container's own address.
pub fn local_address_towards(peer: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(peer).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_connect_errors() {
        let e = |k| io::Error::from(k);
        assert_eq!(
            classify(&e(io::ErrorKind::ConnectionRefused)),
            ConnectFailure::Refused
        );
        assert_eq!(
            classify(&e(io::ErrorKind::TimedOut)),
            ConnectFailure::TimedOut
        );
        assert_eq!(
            classify(&io::Error::from_raw_os_error(113)),
            ConnectFailure::Unreachable
        );
        assert_eq!(
            classify(&e(io::ErrorKind::PermissionDenied)),
            ConnectFailure::Other
        );
    }

    #[tokio::test]
    async fn refused_on_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let (failure, detail) = connect(&[ip], port, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert_eq!(failure, ConnectFailure::Refused);
        assert!(detail.contains("connection refused"), "{detail}");
    }

    #[test]
    fn local_address() {
        let local = local_address_towards("127.0.0.1:9".parse().unwrap());
        assert_eq!(local, Some("127.0.0.1".parse().unwrap()));
    }
}
