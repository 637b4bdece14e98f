//! systemd integration through `sd-notify`: READY/STATUS/RELOADING/STOPPING, and the
//! watchdog. Every call is a no-op without `NOTIFY_SOCKET`.
//!
//! The watchdog ping is earned, not sent blindly: every half `WATCHDOG_USEC` the daemon asks
//! itself `GET /health` through one of its own listeners, and pings only when that answers.
//! A wedged accept loop or runtime therefore stops the pings and systemd restarts the unit.

use std::future::Future;
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
    earn_pings(
        period,
        || healthy(target(), period),
        || send(&[NotifyState::Watchdog]),
    )
    .await
}

/// Every `period` (the first at once), runs `check` and calls `ping` when it passes.
async fn earn_pings<F: Future<Output = bool>>(
    period: Duration,
    mut check: impl FnMut() -> F,
    mut ping: impl FnMut(),
) {
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        if check().await {
            ping();
        }
    }
}

/// Whether `GET /health` through `addr` answers 200 within `limit`.
async fn healthy(addr: Option<SocketAddr>, limit: Duration) -> bool {
    let Some(addr) = addr else {
        return false;
    };
    match tokio::time::timeout(limit, self_check(addr)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(%addr, "watchdog self-check failed: {e}; not pinging");
            false
        }
        Err(_) => {
            tracing::warn!(%addr, "watchdog self-check timed out; not pinging");
            false
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

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_millis(300);

    /// How many pings `earn_pings` sends in `window` of (paused, exact) time.
    async fn pings_in(window: Duration, passes: bool) -> usize {
        let mut pings = 0;
        let run = earn_pings(PERIOD, || async move { passes }, || pings += 1);
        assert!(tokio::time::timeout(window, run).await.is_err());
        pings
    }

    /// One ping per period, the first at once: 11 in 10.5 periods.
    #[tokio::test(start_paused = true)]
    async fn pings_once_per_period_while_the_check_passes() {
        assert_eq!(pings_in(PERIOD * 10 + PERIOD / 2, true).await, 11);
    }

    #[tokio::test(start_paused = true)]
    async fn no_ping_while_the_check_fails() {
        assert_eq!(pings_in(PERIOD * 10, false).await, 0);
    }

    /// A listener that answers 200, one that accepts and never answers (the check gives up
    /// after its limit), a closed port and no listener at all. Real time: paused time
    /// would jump to the limit while a socket is still connecting.
    #[tokio::test]
    async fn the_check_wants_a_200_in_time() {
        let generous = Duration::from_secs(30);
        let answers = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let answers_at = answers.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = answers.accept().await {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
            }
        });
        assert!(healthy(Some(answers_at), generous).await);

        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_at = silent.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                held.push(stream);
            }
        });
        let started = tokio::time::Instant::now();
        assert!(!healthy(Some(silent_at), PERIOD).await);
        assert!(
            started.elapsed() >= PERIOD,
            "gave up at its limit, not before"
        );
        held.abort();

        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_at = closed.local_addr().unwrap();
        drop(closed);
        assert!(!healthy(Some(closed_at), generous).await);
        assert!(!healthy(None, generous).await);
    }
}
