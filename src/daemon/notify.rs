//! systemd integration through `sd-notify`: READY/STATUS/RELOADING/STOPPING, and the
//! watchdog. Every call is a no-op without `NOTIFY_SOCKET`.
//!
//! The watchdog ping is earned, not sent blindly: every half `WATCHDOG_USEC` the daemon asks
//! itself `GET /health` through one of its own listeners, and pings only when that answers.
//! A wedged accept loop or runtime therefore stops the pings and systemd restarts the unit.

use std::net::SocketAddr;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("sd_notify failed: {e}");
    }
}

/// READY=1 with a STATUS line listing the listeners.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// STATUS=… only.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// RELOADING=1 (with MONOTONIC_USEC, which systemd 253+ requires).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// STOPPING=1.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// The watchdog interval systemd asked for, if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Pings the watchdog every `interval / 2` while `GET /health` on `target()` answers 200.
pub async fn watchdog(interval: Duration, target: impl Fn() -> Option<SocketAddr>) {
    let period = interval / 2;
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        let Some(addr) = target() else {
            continue;
        };
        match tokio::time::timeout(period, self_check(addr)).await {
            Ok(Ok(())) => send(&[NotifyState::Watchdog]),
            Ok(Err(e)) => tracing::warn!(%addr, "watchdog self-check failed: {e}; not pinging"),
            Err(_) => tracing::warn!(%addr, "watchdog self-check timed out; not pinging"),
        }
    }
}

/// One `GET /health` through the serving path.
async fn self_check(addr: SocketAddr) -> std::io::Result<()> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    // The Host is the address itself: it passes the daemon's Host check like any client's.
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        crate::net::url_of(addr).trim_start_matches("http://")
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    if head.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(std::io::Error::other("/health did not answer 200"))
    }
}
