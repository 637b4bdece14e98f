//! The daemon: listeners (loopback, Docker bridges, explicit addresses) that follow the
//! interfaces, the source filter, systemd notifications, reload and an orderly shutdown —
//! stop accepting, let in-flight requests finish within `shutdown_grace_secs`, end every CLI
//! process group that is left. No HTTP logic here (that is `http`), no CLI logic (`runner`).
//!
//! [`run`] takes its controls (stop, stop now, reload) as a channel, so tests and `main`
//! decide where they come from.

pub mod docker;
pub mod entry;
pub mod filter;
pub mod limiter;
pub mod listeners;
pub mod notify;
pub mod port_holder;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::claude::process::ProcessGroups;
use crate::config::{self, Inputs, Settings};
use crate::http::{self, AppState, Live};
use crate::net::Cidr;
use filter::SourceFilter;
use listeners::{ListenSpec, Listeners};

/// How long a client may take to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How often interfaces are re-read (Docker may start, stop or add networks at any time).
const INTERFACE_POLL: Duration = Duration::from_secs(1);

/// What the daemon is told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop accepting, let in-flight requests finish (bounded), exit.
    Stop,
    /// Stop at once: end every CLI now.
    StopNow,
    /// Re-read the configuration; keep the old one if the new one is invalid.
    Reload,
}

/// Why the daemon could not start; the message says how to fix it.
#[derive(Debug)]
pub struct StartError {
    pub message: String,
    /// The process exit code for this failure (documented in the README).
    pub exit_code: u8,
}

impl StartError {
    fn new(message: String, exit_code: u8) -> StartError {
        StartError { message, exit_code }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StartError {}

/// Exit codes for startup failures.
pub mod exit {
    pub const RUNTIME: u8 = 1;
    pub const CONFIG: u8 = 2;
    pub const ADDR_IN_USE: u8 = 3;
    pub const PERMISSION: u8 = 4;
    pub const ADDR_NOT_AVAILABLE: u8 = 5;
}

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

/// The URL a listener is reached at.
pub fn url_of(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V6(ip) => format!("http://[{ip}]:{}", addr.port()),
        IpAddr::V4(ip) => format!("http://{ip}:{}", addr.port()),
    }
}

/// What accept loops need to serve a connection.
pub struct Server {
    pub state: Arc<AppState>,
    pub filter: Arc<SourceFilter>,
    /// Taken at shutdown to drain the watched connections.
    graceful: Mutex<Option<GracefulShutdown>>,
}

impl Server {
    /// Serves one accepted connection on its own task, watched for graceful shutdown.
    pub fn serve_connection(&self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let state = self.state.clone();
        let service = service_fn(move |request| http::handle(state.clone(), request));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A client that trickles its request head is cut off instead of holding a task.
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let watched = match self.graceful.lock() {
            Ok(guard) => guard.as_ref().map(|g| g.watch(connection)),
            Err(_) => None,
        };
        if let Some(connection) = watched {
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(%peer, "connection ended with an error: {e}");
                }
            });
        }
    }
}

/// The settings that decide the client API key: `api_key`, else the first line of
/// `api_key_file`.
fn client_api_key(settings: &Settings) -> Result<Option<String>, String> {
    if let Some(key) = &settings.api_key {
        return Ok(Some(key.trim().to_string()));
    }
    let Some(path) = &settings.api_key_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("`api_key_file`: cannot read {}: {e}", path.display()))?;
    let key = text.lines().next().unwrap_or("").trim().to_string();
    if key.is_empty() {
        return Err(format!("`api_key_file`: {} is empty", path.display()));
    }
    Ok(Some(key))
}

/// Builds the live state for `settings`, refusing wildcard listeners without a key.
fn build_live(settings: Settings, groups: &ProcessGroups) -> Result<Live, String> {
    let api_key = client_api_key(&settings)?;
    let wildcard = listeners::parse_specs(&settings.listen)
        .iter()
        .any(|s| matches!(s, ListenSpec::Addr(ip) if listeners::is_wildcard(ip)));
    if wildcard && api_key.is_none() {
        return Err(
            "`listen` includes 0.0.0.0 or ::, which opens the proxy (and your subscription) to \
             the whole network. Set `api_key` (or `api_key_file`) too, or listen on \
             127.0.0.1 and `docker` only."
                .to_string(),
        );
    }
    Ok(Live::new(Arc::new(settings), api_key, groups.clone()))
}

/// The `allow_from` networks of `settings` (validated by the config).
fn allow_from(settings: &Settings) -> Vec<Cidr> {
    settings
        .allow_from
        .iter()
        .filter_map(|c| Cidr::parse(c))
        .collect()
}

/// Reads the interfaces, refreshes the source filter and binds or drops listeners to match
/// `settings.listen` on `port` (0: the first bind picks it). Returns whether the listener
/// set changed; /health's list is updated either way.
async fn follow_interfaces(
    settings: &Settings,
    port: &mut u16,
    listeners: &mut Listeners,
    server: &Arc<Server>,
) -> Result<bool, StartError> {
    let discovery = docker::discover();
    server.filter.update(allow_from(settings), &discovery);
    let specs = listeners::parse_specs(&settings.listen);
    let (wanted, explicit) = listeners::wanted(&specs, &discovery);
    let result = listeners.reconcile(&wanted, &explicit, port, server).await;
    server.state.set_listeners(listeners.addrs());
    result
}

fn status_line(addrs: &[SocketAddr]) -> String {
    if addrs.is_empty() {
        return "waiting for a listen address to appear".to_string();
    }
    let urls: Vec<String> = addrs.iter().map(|a| url_of(*a)).collect();
    format!("listening on {}", urls.join(", "))
}

/// Runs the daemon until told to stop. `on_ready` gets the bound addresses once, before
/// READY=1 is sent.
pub async fn run(
    inputs: Inputs,
    settings: Settings,
    mut controls: mpsc::Receiver<Control>,
    on_ready: impl FnOnce(&[SocketAddr]),
) -> Result<(), StartError> {
    let groups = ProcessGroups::default();
    let live = build_live(settings, &groups).map_err(|m| StartError::new(m, exit::CONFIG))?;
    let filter = Arc::new(SourceFilter::new());
    let state = Arc::new(AppState::new(live, filter.clone()));
    let server = Arc::new(Server {
        state: state.clone(),
        filter: filter.clone(),
        graceful: Mutex::new(Some(GracefulShutdown::new())),
    });

    let mut settings = state.live().settings.clone();
    let mut port = settings.port;
    let mut listeners = Listeners::new();
    follow_interfaces(&settings, &mut port, &mut listeners, &server).await?;
    if listeners.addrs().is_empty() {
        tracing::warn!(
            "no listen address is available yet (`listen` = {:?}); waiting for it to appear",
            settings.listen
        );
    }
    {
        let backend = state.live().backend.clone();
        tokio::spawn(async move {
            backend.refresh_cli().await;
            match backend.cli_state().located {
                crate::claude::locate::Located::Found(path) => tracing::info!(
                    cli = %path.display(),
                    version = backend.cli_state().version.as_deref().unwrap_or("unknown"),
                    "using the claude CLI"
                ),
                crate::claude::locate::Located::Missing { searched } => {
                    tracing::warn!("{}", crate::claude::locate::missing_message(&searched))
                }
            }
        });
    }
    on_ready(&listeners.addrs());
    notify::ready(&status_line(&listeners.addrs()));
    if let Some(interval) = notify::watchdog_interval() {
        let state = state.clone();
        tokio::spawn(notify::watchdog(interval, move || {
            state.listener_addrs().first().copied()
        }));
    }

    let mut ticker = tokio::time::interval(INTERFACE_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop_now = false;
    loop {
        tokio::select! {
            control = controls.recv() => match control {
                Some(Control::Reload) => {
                    notify::reloading();
                    match reload(&inputs, &groups, &state) {
                        Ok(new) => {
                            if new.port != settings.port {
                                port = new.port;
                            }
                            settings = Arc::new(new);
                            if let Err(e) = follow_interfaces(&settings, &mut port, &mut listeners, &server).await {
                                tracing::error!("after reload: {e}");
                            }
                            tracing::info!("configuration reloaded");
                        }
                        Err(e) => tracing::error!("reload failed, keeping the running configuration: {e}"),
                    }
                    notify::ready(&status_line(&listeners.addrs()));
                }
                Some(Control::StopNow) => {
                    stop_now = true;
                    break;
                }
                Some(Control::Stop) | None => break,
            },
            _ = ticker.tick() => {
                match follow_interfaces(&settings, &mut port, &mut listeners, &server).await {
                    Ok(true) => notify::status(&status_line(&listeners.addrs())),
                    Ok(false) => {}
                    Err(e) => tracing::warn!("{e}"),
                }
            }
        }
    }

    notify::stopping();
    tracing::info!("shutting down: no new connections; in-flight requests may finish");
    listeners.close_all().await;
    let graceful = server.graceful.lock().ok().and_then(|mut g| g.take());
    if !stop_now && let Some(graceful) = graceful {
        let grace = settings.shutdown_grace();
        tokio::select! {
            result = tokio::time::timeout(grace, graceful.shutdown()) => {
                if result.is_err() {
                    tracing::warn!("in-flight requests did not finish within {grace:?}; stopping them");
                }
            }
            _ = wait_for_stop_now(&mut controls) => {
                tracing::warn!("second interrupt: stopping in-flight requests now");
            }
        }
    }
    state.live().backend.limiter.close();
    state.live().backend.pool.clear();
    groups.terminate_all().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_stop_now(controls: &mut mpsc::Receiver<Control>) {
    loop {
        match controls.recv().await {
            Some(Control::StopNow) => return,
            Some(_) => continue,
            None => std::future::pending::<()>().await,
        }
    }
}

/// Loads the configuration again and swaps it in.
fn reload(inputs: &Inputs, groups: &ProcessGroups, state: &AppState) -> Result<Settings, String> {
    let loaded = config::load(inputs).map_err(|e| e.to_string())?;
    let live = build_live(loaded.settings.clone(), groups)?;
    let backend = live.backend.clone();
    let old = state.live();
    state.swap(live);
    // Warm processes were started for the old configuration.
    old.backend.pool.clear();
    tokio::spawn(async move { backend.refresh_cli().await });
    Ok(loaded.settings)
}
