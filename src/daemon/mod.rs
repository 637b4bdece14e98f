//! The daemon: binds the listeners, serves connections with hyper, and shuts down in
//! order — stop accepting, let in-flight requests finish (bounded), end every CLI process
//! group that is left. No HTTP logic here (that is `http`), no CLI logic (`runner`).

pub mod limiter;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Settings;
use crate::http::{self, AppState};
use crate::models::Catalog;
use crate::runner::Backend;

/// How long in-flight requests may run on after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Why the daemon could not start; the message says how to fix it.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Binds every configured address on the configured port (port 0: the first bind picks
/// one and the others reuse it).
pub async fn bind(settings: &Settings) -> Result<Vec<TcpListener>, StartError> {
    let mut listeners = Vec::new();
    let mut port = settings.port;
    for addr in &settings.listen {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| StartError(format!("`listen`: `{addr}` is not an IP address")))?;
        let socket = SocketAddr::new(ip, port);
        let listener = TcpListener::bind(socket)
            .await
            .map_err(|e| StartError(bind_error_message(socket, &e)))?;
        if port == 0 {
            port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        }
        listeners.push(listener);
    }
    Ok(listeners)
}

fn bind_error_message(addr: SocketAddr, error: &std::io::Error) -> String {
    let change = "Choose another port with --port <N>, CLAUDE_MAX_PROXY_PORT=<N> or `port = N` in the config file";
    match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "{addr} is already in use (is another claude-max-proxy or the old Node proxy running? \
             `ss -ltnp 'sport = :{}'` shows who holds it). {change}.",
            addr.port()
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!("not allowed to listen on {addr} (ports below 1024 need privileges). {change}.")
        }
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{addr} is not an address of this machine. Fix `listen` (--listen, \
             CLAUDE_MAX_PROXY_LISTEN) to name a local address such as 127.0.0.1."
        ),
        _ => format!("cannot listen on {addr}: {error}"),
    }
}

/// The URL a listener is reached at.
pub fn url_of(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V6(ip) => format!("http://[{ip}]:{}", addr.port()),
        IpAddr::V4(ip) => format!("http://{ip}:{}", addr.port()),
    }
}

/// Serves on `listeners` until `shutdown` completes, then drains and cleans up.
pub async fn serve(
    settings: Arc<Settings>,
    listeners: Vec<TcpListener>,
    shutdown: impl Future<Output = ()>,
) {
    let backend = Arc::new(Backend::new(settings.clone()));
    {
        let backend = backend.clone();
        tokio::spawn(async move { backend.refresh_cli().await });
    }
    let state = Arc::new(AppState {
        catalog: Catalog::from_settings(&settings),
        settings: settings.clone(),
        backend: backend.clone(),
        started: Instant::now(),
    });
    let graceful = Arc::new(GracefulShutdown::new());
    let (stop_tx, stop_rx) = watch::channel(false);

    let mut accept_tasks = Vec::new();
    for listener in listeners {
        let state = state.clone();
        let graceful = graceful.clone();
        let mut stop = stop_rx.clone();
        accept_tasks.push(tokio::spawn(async move {
            let mut backoff = Duration::from_millis(10);
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stop.changed() => break,
                };
                let (stream, peer) = match accepted {
                    Ok(pair) => {
                        backoff = Duration::from_millis(10);
                        pair
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let service = service_fn(move |request| http::handle(state.clone(), request));
                let connection = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(%peer, "connection ended with an error: {e}");
                    }
                });
            }
        }));
    }

    shutdown.await;
    tracing::info!("shutting down: no new connections; in-flight requests may finish");
    let _ = stop_tx.send(true);
    for task in accept_tasks {
        let _ = task.await;
    }
    // The accept tasks are done, so this is the last reference.
    if let Ok(graceful) = Arc::try_unwrap(graceful)
        && tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
    {
        tracing::warn!(
            "in-flight requests did not finish within {SHUTDOWN_GRACE:?}; stopping them"
        );
    }
    backend.limiter.close();
    backend.groups.terminate_all().await;
    tracing::info!("stopped");
}
