//! One accepted connection, from the open-connection cap to its end.
//!
//! A connection first takes a place under `max_connections` (refused at once, and counted,
//! when there is none), then passes the source filter, then is served by hyper (HTTP/1 or
//! HTTP/2, sniffed). It is closed when it has no request in flight and has sent nothing for
//! `connection_idle_secs` — before the protocol is known, after an HTTP/2 preface, between
//! keep-alive requests alike — or when it has not completed a first request head within
//! [`FIRST_REQUEST_TIMEOUT`] (a client trickling bytes). Requests in flight, streaming
//! bodies included, keep it open; their own limits are the runner's.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::fd_limit;
use crate::http::{self, AppState, Body, ConnectionCounts};
use crate::net::filter::SourceFilter;

/// How long a client may take to send its request head (hyper's HTTP/1 timer).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may go without completing its first request head.
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long accepting waits for idle connections to close when descriptors ran out.
const SHED_WAIT: Duration = Duration::from_secs(1);

/// What accept loops need to serve a connection.
pub struct Server {
    pub state: Arc<AppState>,
    pub filter: Arc<SourceFilter>,
    /// Taken at shutdown to drain the watched connections.
    pub graceful: Mutex<Option<GracefulShutdown>>,
}

/// A place under `max_connections`; given back on drop.
pub struct ConnectionSlot {
    state: Arc<AppState>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.state.close_connection();
    }
}

impl Server {
    pub fn new(state: Arc<AppState>) -> Server {
        Server {
            filter: state.filter.clone(),
            state,
            graceful: Mutex::new(Some(GracefulShutdown::new())),
        }
    }

    /// accept() ran out of descriptors, as when the open-file limit was lowered after the
    /// start (prlimit): reads the limit again (raising the soft one to the hard one), lowers
    /// the connection cap to fit under it with the reserve for the CLIs' pipes, and closes
    /// idle connections — down to an eighth under the new cap, or by an eighth when the cap
    /// already holds — so that /health and new runs get descriptors again. Requests in flight are not
    /// touched. Returns once they are closed (at most [`SHED_WAIT`]): accepting meanwhile
    /// would refuse the next connection over the lowered cap.
    pub async fn out_of_descriptors(&self) {
        let current = self.state.current();
        let nofile = fd_limit::raise();
        let cap = fd_limit::connection_cap(
            current.settings.max_connections,
            current.settings.max_concurrent,
            nofile,
        );
        let counts = &self.state.connections;
        counts.max.store(cap, Ordering::SeqCst);
        let open = counts.open.load(Ordering::SeqCst);
        // An eighth of room under the cap, for the connections that come next (/health).
        let keep = open.min(cap) - open.min(cap) / 8;
        let excess = open.saturating_sub(keep);
        counts.excess.store(excess, Ordering::SeqCst);
        counts.shed.notify_waiters();
        tracing::warn!(
            open_file_limit = nofile,
            max_connections = cap,
            open,
            closing = excess,
            "out of file descriptors: closing idle connections and accepting at most {cap}; \
             raise the open-file limit (LimitNOFILE= in the unit, `ulimit -n`) or lower \
             `max_connections`"
        );
        let deadline = Instant::now() + SHED_WAIT;
        while counts.excess.load(Ordering::SeqCst) > 0
            && counts.open.load(Ordering::SeqCst) > keep
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Takes an accepted connection: cap, source filter, then serve. Never blocks the
    /// accept loop (a peer that needs the interfaces re-read is judged on its own task).
    pub fn accept(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        if !self.state.open_connection() {
            tracing::debug!(%peer, "connection refused: `max_connections` reached");
            return;
        }
        let slot = ConnectionSlot {
            state: self.state.clone(),
        };
        if self.filter.allows(peer.ip()) {
            self.serve(stream, peer, slot);
            return;
        }
        let server = self.clone();
        tokio::spawn(async move {
            if server.filter.admits(peer.ip()).await {
                server.serve(stream, peer, slot);
            } else {
                server.filter.count_rejected();
                tracing::debug!(%peer, "connection refused by the source filter (see `allow_from`)");
            }
        });
    }

    /// Serves one connection on its own task, watched for graceful shutdown and closed when
    /// it idles.
    fn serve(&self, stream: TcpStream, peer: SocketAddr, slot: ConnectionSlot) {
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let idle = self.state.current().settings.connection_idle();
        let state = self.state.clone();
        let service_activity = activity.clone();
        let service = service_fn(move |request| {
            let state = state.clone();
            let guard = service_activity.begin();
            async move {
                let response = http::handle(state, request).await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| guard.wrap(body)))
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A client that trickles its request head is cut off instead of holding a task.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let watched = match self.graceful.lock() {
            Ok(guard) => guard.as_ref().map(|g| g.watch(connection)),
            Err(_) => None,
        };
        let Some(connection) = watched else {
            return;
        };
        let state = self.state.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, "connection ended with an error: {e}");
                    }
                }
                why = activity.until_idle(idle, FIRST_REQUEST_TIMEOUT, &state.connections) => {
                    state.connections.timed_out.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "closing a connection: {why}");
                }
            }
        });
    }
}

/// What a connection has been doing.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    /// Milliseconds after `opened` of the last byte read or written.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    requests: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight {
            activity: self.clone(),
        }
    }

    /// Returns (with the reason) once the connection should be closed: idle too long, no
    /// request head in time, or idle while descriptors must be freed (`counts.excess`).
    async fn until_idle(
        &self,
        idle: Duration,
        first_request: Duration,
        counts: &ConnectionCounts,
    ) -> &'static str {
        loop {
            // Listening before looking, so that a shed between the two is not missed.
            let shed = counts.shed.notified();
            tokio::pin!(shed);
            shed.as_mut().enable();
            let busy = self.in_flight.load(Ordering::SeqCst) > 0;
            if !busy && counts.take_excess() {
                return "closed to free descriptors (the open-file limit is reached)";
            }
            let now = self.opened.elapsed();
            let mut wait = idle;
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                if self.requests.load(Ordering::SeqCst) == 0 {
                    if now >= first_request {
                        return "no complete request head in time";
                    }
                    wait = wait.min(first_request - now);
                }
                let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
                let quiet = now.saturating_sub(last);
                if quiet >= idle {
                    return "idle for `connection_idle_secs`";
                }
                wait = wait.min(idle - quiet);
            }
            tokio::select! {
                () = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
                () = &mut shed => {}
            }
        }
    }
}

/// A request in flight on a connection; ends with its response body.
struct InFlight {
    activity: Arc<Activity>,
}

impl InFlight {
    fn wrap(self, body: Body) -> Body {
        Guarded {
            inner: body,
            _in_flight: self,
        }
        .boxed()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity.touch();
        self.activity.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct Guarded {
    inner: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The TCP stream, noting every byte that moves.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A silent connection is closed after the idle limit; one with a request in flight is
    /// not, however long the request takes.
    #[tokio::test(start_paused = true)]
    async fn idles_out_only_without_requests_in_flight() {
        let activity = Arc::new(Activity::new());
        let started = tokio::time::Instant::now();
        let why = activity
            .until_idle(
                Duration::from_secs(5),
                Duration::from_secs(30),
                &ConnectionCounts::default(),
            )
            .await;
        assert_eq!(why, "idle for `connection_idle_secs`");
        assert!(started.elapsed() >= Duration::from_secs(5));

        let busy = Arc::new(Activity::new());
        let guard = busy.begin();
        let waiting = tokio::time::timeout(
            Duration::from_secs(120),
            busy.until_idle(
                Duration::from_secs(5),
                Duration::from_secs(30),
                &ConnectionCounts::default(),
            ),
        )
        .await;
        assert!(waiting.is_err(), "a request in flight keeps the connection");
        drop(guard);
    }

    /// Bytes that never make a request head do not keep a connection past the first-request
    /// limit.
    #[tokio::test(start_paused = true)]
    async fn trickling_without_a_request_is_cut_off() {
        let activity = Arc::new(Activity::new());
        let trickle = activity.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                trickle.touch();
            }
        });
        let why = activity
            .until_idle(
                Duration::from_secs(5),
                Duration::from_secs(30),
                &ConnectionCounts::default(),
            )
            .await;
        assert_eq!(why, "no complete request head in time");
    }

    /// Asked to free descriptors, idle connections close, as many as asked; one with a
    /// request in flight stays.
    #[tokio::test(start_paused = true)]
    async fn idle_connections_close_to_free_descriptors() {
        let counts = Arc::new(ConnectionCounts::default());
        let idle: Vec<_> = (0..3)
            .map(|_| {
                let counts = counts.clone();
                tokio::spawn(async move {
                    Activity::new()
                        .until_idle(Duration::from_secs(60), Duration::from_secs(30), &counts)
                        .await
                })
            })
            .collect();
        let busy = Arc::new(Activity::new());
        let guard = busy.begin();
        let busy_task = {
            let (busy, counts) = (busy.clone(), counts.clone());
            tokio::spawn(async move {
                busy.until_idle(Duration::from_secs(60), Duration::from_secs(30), &counts)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        counts.excess.store(2, Ordering::SeqCst);
        counts.shed.notify_waiters();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let closed = idle.iter().filter(|task| task.is_finished()).count();
        assert_eq!(closed, 2, "as many as asked");
        assert!(
            !busy_task.is_finished(),
            "a request in flight keeps its connection"
        );
        assert_eq!(counts.excess.load(Ordering::SeqCst), 0);
        drop(guard);
        busy_task.abort();
        for task in idle {
            task.abort();
        }
    }
}
