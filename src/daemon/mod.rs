//! The daemon: listeners (loopback, Docker bridges, explicit addresses) that follow the
//! interfaces, connections, systemd notifications, reload and an orderly shutdown — stop
//! accepting, let in-flight requests finish within `shutdown_grace_secs`, end every CLI
//! process group that is left. No HTTP logic here (that is `http`), no CLI logic (`runner`).
//!
//! [`run`] takes its controls (stop, stop now, reload) as a channel, so tests and `main`
//! decide where they come from. It is three steps: [`start`] (runner, state, listeners),
//! `serve` (controls and the interface poll until told to stop) and `drain`.
//!
//! - [`connection`]: one accepted connection (cap, filter, idle limits).
//! - [`listeners`]: the listening sockets and their accept loops.
//! - `bind_error`: what a failed bind means.
//! - `fd_limit`: the open-file limit and the connection cap under it.
//! - [`notify`]: systemd notifications (sd-notify).
//! - [`entry`]: the `serve` command as a process (logging, runtime, signals).

mod bind_error;
pub mod connection;
pub mod entry;
mod fd_limit;
pub mod listeners;
pub mod notify;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::claude::process::ProcessGroups;
use crate::config::{self, Inputs, Settings};
use crate::http::{AppState, Generation};
use crate::net::docker::{self, Discovery};
use crate::net::filter::SourceFilter;
use crate::net::{Cidr, url_of};
use crate::runner::Backend;
pub use bind_error::bind_error;
use connection::Server;
use listeners::{ListenSpec, Listeners};

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
    /// The process exit code for this failure (documented in docs/operations.md).
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

/// Builds the configuration generation for `settings` on the daemon's one runner, refusing wildcard
/// listeners without a key.
fn build_generation(settings: Arc<Settings>, backend: &Arc<Backend>) -> Result<Generation, String> {
    let api_key = settings.client_api_key()?;
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
    Ok(Generation::new(settings, api_key, backend.clone()))
}

/// Where and how the daemon listens: the part of the settings that only changes when a
/// reload's binds succeed.
#[derive(Clone, Debug)]
struct ListenPlan {
    listen: Vec<String>,
    allow_from: Vec<Cidr>,
    /// The port (0 until the first bind picks one).
    port: u16,
}

impl ListenPlan {
    fn from_settings(settings: &Settings) -> ListenPlan {
        ListenPlan {
            listen: settings.listen.clone(),
            allow_from: settings
                .allow_from
                .iter()
                .filter_map(|c| Cidr::parse(c))
                .collect(),
            port: settings.port,
        }
    }
}

/// What the running daemon holds.
struct Daemon {
    state: Arc<AppState>,
    server: Arc<Server>,
    backend: Arc<Backend>,
    listeners: Listeners,
    plan: ListenPlan,
    /// The open-file limit in force (after raising it).
    nofile: Option<u64>,
}

impl Daemon {
    /// Reads the interfaces (on the blocking pool), refreshes the source filter and binds or
    /// drops listeners to match `plan`. On success `plan` (with the port chosen) becomes the
    /// daemon's; on failure nothing changes. Returns whether the listener set changed.
    async fn follow_interfaces(&mut self, mut plan: ListenPlan) -> Result<bool, StartError> {
        let discovery = tokio::task::spawn_blocking(docker::discover)
            .await
            .unwrap_or_else(|_| Discovery::default());
        let specs = listeners::parse_specs(&plan.listen);
        let (wanted, explicit) = listeners::wanted(&specs, &discovery);
        let result = self
            .listeners
            .reconcile(&wanted, &explicit, &mut plan.port, &self.server)
            .await;
        if result.is_ok() {
            self.server
                .filter
                .update(plan.allow_from.clone(), &discovery);
            self.plan = plan;
        }
        self.state.set_listeners(self.listeners.addrs());
        result
    }

    fn status_line(&self) -> String {
        let addrs = self.listeners.addrs();
        if addrs.is_empty() {
            return "waiting for a listen address to appear".to_string();
        }
        let urls: Vec<String> = addrs.iter().map(|a| url_of(*a)).collect();
        format!("listening on {}", urls.join(", "))
    }

    fn apply_connection_cap(&self, settings: &Settings) {
        let cap = fd_limit::connection_cap(
            settings.max_connections,
            settings.max_concurrent,
            self.nofile,
        );
        if cap < settings.max_connections {
            tracing::warn!(
                max_connections = settings.max_connections,
                open_file_limit = self.nofile,
                "the open-file limit allows {cap} connections only; raise it (LimitNOFILE= in \
                 the unit, `ulimit -n`) or lower `max_connections`"
            );
        }
        self.state.connections.max.store(cap, Ordering::SeqCst);
    }
}

/// Starts the runner, the shared state and the listeners.
async fn start(settings: Settings) -> Result<Daemon, StartError> {
    let nofile = fd_limit::raise();
    let settings = Arc::new(settings);
    let backend = Arc::new(
        Backend::new(
            settings.clone(),
            ProcessGroups::guarded(&crate::claude::guardian::own_binary()),
        )
        .map_err(|e| StartError::new(e.to_string(), exit::CONFIG))?,
    );
    let current = build_generation(settings.clone(), &backend)
        .map_err(|m| StartError::new(m, exit::CONFIG))?;
    let filter = Arc::new(SourceFilter::new());
    // Installed even with `metrics = false`, so that a reload can turn the endpoint on.
    let metrics = crate::telemetry::install();
    let state = Arc::new(AppState::new(current, filter, metrics));
    let server = Arc::new(Server::new(state.clone()));
    let mut daemon = Daemon {
        state,
        server,
        backend,
        listeners: Listeners::new(),
        plan: ListenPlan::from_settings(&settings),
        nofile,
    };
    daemon.apply_connection_cap(&settings);
    let plan = daemon.plan.clone();
    daemon.follow_interfaces(plan).await?;
    if daemon.listeners.addrs().is_empty() {
        tracing::warn!(
            "no listen address is available yet (`listen` = {:?}); waiting for it to appear",
            settings.listen
        );
    }
    let backend = daemon.backend.clone();
    tokio::spawn(async move {
        backend.refresh_cli().await;
        // The plan's usage, asked once the CLI's path and version are known.
        backend.start_usage_refresh();
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
    Ok(daemon)
}

/// Runs the daemon until told to stop. `on_ready` gets the bound addresses once, before
/// READY=1 is sent.
pub async fn run(
    inputs: Inputs,
    settings: Settings,
    mut controls: mpsc::Receiver<Control>,
    on_ready: impl FnOnce(&[SocketAddr]),
) -> Result<(), StartError> {
    let mut daemon = start(settings).await?;
    on_ready(&daemon.listeners.addrs());
    notify::ready(&daemon.status_line());
    if let Some(interval) = notify::watchdog_interval() {
        let state = daemon.state.clone();
        tokio::spawn(notify::watchdog(interval, move || {
            state.listeners().addrs.first().copied()
        }));
    }
    let stop_now = serve(&mut daemon, &inputs, &mut controls).await;
    drain(daemon, stop_now, &mut controls).await;
    Ok(())
}

/// Follows controls and interfaces until told to stop; returns whether to stop at once.
async fn serve(
    daemon: &mut Daemon,
    inputs: &Inputs,
    controls: &mut mpsc::Receiver<Control>,
) -> bool {
    let mut ticker = tokio::time::interval(INTERFACE_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            control = controls.recv() => match control {
                Some(Control::Reload) => reload(daemon, inputs).await,
                Some(Control::StopNow) => return true,
                Some(Control::Stop) | None => return false,
            },
            _ = ticker.tick() => {
                let plan = daemon.plan.clone();
                match daemon.follow_interfaces(plan).await {
                    Ok(true) => notify::status(&daemon.status_line()),
                    Ok(false) => {}
                    Err(e) => tracing::warn!("{e}"),
                }
            }
        }
    }
}

/// Loads the configuration again and applies it: the runner is reconfigured in place, the
/// HTTP side gets a new generation, listeners move only if the new ones can be bound.
async fn reload(daemon: &mut Daemon, inputs: &Inputs) {
    notify::reloading();
    let applied = config::load(inputs)
        .map_err(|e| e.to_string())
        .and_then(|loaded| {
            let settings = Arc::new(loaded.settings);
            build_generation(settings.clone(), &daemon.backend).map(|current| (settings, current))
        });
    let (settings, current) = match applied {
        Ok(applied) => applied,
        Err(e) => {
            tracing::error!("reload failed, keeping the running configuration: {e}");
            notify::ready(&format!("{}; reload failed: {e}", daemon.status_line()));
            return;
        }
    };
    daemon.state.swap(current);
    daemon.backend.reconfigure(settings.clone()).await;
    daemon.apply_connection_cap(&settings);
    let mut plan = ListenPlan::from_settings(&settings);
    if plan.port == 0 || plan.port == daemon.plan.port {
        plan.port = daemon.plan.port;
    }
    match daemon.follow_interfaces(plan).await {
        Ok(_) => {
            tracing::info!("configuration reloaded");
            notify::ready(&daemon.status_line());
        }
        Err(e) => {
            tracing::error!(
                "configuration reloaded, but the new listeners could not be bound, so the old \
                 ones stay: {e}"
            );
            notify::ready(&format!(
                "{}; reload could not move the listeners: {e}",
                daemon.status_line()
            ));
        }
    }
}

/// Stops accepting, lets in-flight requests finish (bounded; a second interrupt cuts it
/// short), then ends every CLI process group that is left.
async fn drain(mut daemon: Daemon, stop_now: bool, controls: &mut mpsc::Receiver<Control>) {
    notify::stopping();
    tracing::info!("shutting down: no new connections; in-flight requests may finish");
    daemon.listeners.close_all().await;
    let graceful = daemon
        .server
        .graceful
        .lock()
        .ok()
        .and_then(|mut g| g.take());
    if !stop_now && let Some(graceful) = graceful {
        let grace = daemon.backend.settings().shutdown_grace();
        tokio::select! {
            result = tokio::time::timeout(grace, graceful.shutdown()) => {
                if result.is_err() {
                    tracing::warn!("in-flight requests did not finish within {grace:?}; stopping them");
                }
            }
            _ = wait_for_stop_now(controls) => {
                tracing::warn!("second interrupt: stopping in-flight requests now");
            }
        }
    }
    daemon.backend.close();
    daemon.backend.groups.terminate_all().await;
    tracing::info!("stopped");
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
