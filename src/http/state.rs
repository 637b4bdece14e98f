//! What handlers see: the current configuration (swapped whole on reload; in-flight requests
//! keep the one they started with), the one runner of the daemon's lifetime, and the
//! daemon's observable state for /health.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use super::access::HostNames;
use metrics_exporter_prometheus::PrometheusHandle;

use super::body::BodyBudget;
use super::models::Listing;
use super::operator::health::QuotaJsonCache;
use super::recent::RecentRequests;
use crate::api::responses::ResponseStore;
use crate::config::Settings;
use crate::models::Catalog;
use crate::net::filter::SourceFilter;
use crate::runner::Backend;

/// One configuration generation.
#[derive(Debug)]
pub struct Generation {
    pub settings: Arc<Settings>,
    pub catalog: Catalog,
    /// The catalog's model objects, serialized once for `GET /v1/models`.
    pub models: Listing,
    /// The daemon's one runner (the same in every generation).
    pub backend: Arc<Backend>,
    /// The key clients must send on /v1/*, if any.
    pub api_key: Option<String>,
    /// Host names (besides addresses) that name this daemon.
    pub host_names: HostNames,
    /// Where `login` stores its token (read on each /health and page view, so a new login
    /// or a logout shows at once; the path itself is worked out once).
    pub token_path: Option<PathBuf>,
}

impl Generation {
    pub fn new(
        settings: Arc<Settings>,
        api_key: Option<String>,
        backend: Arc<Backend>,
    ) -> Generation {
        let catalog = Catalog::from_settings(&settings);
        Generation {
            models: Listing::new(&catalog),
            catalog,
            host_names: HostNames::new(&settings.allowed_hosts),
            token_path: crate::login::token_path(&settings),
            backend,
            settings,
            api_key,
        }
    }
}

/// Open connections against `max_connections`, and how many were refused.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    pub open: AtomicUsize,
    /// The effective cap (the config's, lowered to fit the open-file limit).
    pub max: AtomicUsize,
    pub refused: AtomicU64,
    pub timed_out: AtomicU64,
    /// Idle connections to close now to free descriptors (set when accept() ran out of
    /// them); each idle connection woken by `shed` takes one.
    pub excess: AtomicUsize,
    /// Wakes idle connections to look at `excess`.
    pub shed: tokio::sync::Notify,
}

impl ConnectionCounts {
    /// Takes one of the `excess` places (for an idle connection that then closes).
    pub fn take_excess(&self) -> bool {
        self.excess
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// The addresses the daemon listens on, each also as a URL (made once, when they are set:
/// /health and the status page show them on every read).
#[derive(Debug, Default)]
pub struct Listeners {
    pub addrs: Vec<SocketAddr>,
    pub urls: Vec<String>,
}

/// Shared by every connection.
#[derive(Debug)]
pub struct AppState {
    current: RwLock<Arc<Generation>>,
    pub started: Instant,
    listeners: RwLock<Arc<Listeners>>,
    pub filter: Arc<SourceFilter>,
    pub connections: ConnectionCounts,
    /// Request body bytes being read right now, against `body_budget_bytes`.
    pub body_budget: BodyBudget,
    /// The last requests, for the status page.
    pub recent: Arc<RecentRequests>,
    /// Renders `/metrics` (None: no recorder could be installed).
    pub metrics: Option<PrometheusHandle>,
    /// Recent Responses API answers, for `previous_response_id`.
    pub responses: Arc<ResponseStore>,
    /// /health's `quota` part, serialized.
    pub health_quota: QuotaJsonCache,
}

impl AppState {
    pub fn new(
        current: Generation,
        filter: Arc<SourceFilter>,
        metrics: Option<PrometheusHandle>,
    ) -> AppState {
        let budget = current.settings.body_budget_bytes;
        AppState {
            current: RwLock::new(Arc::new(current)),
            started: Instant::now(),
            listeners: RwLock::default(),
            filter,
            connections: ConnectionCounts::default(),
            body_budget: BodyBudget::new(budget),
            recent: Arc::default(),
            metrics,
            responses: Arc::default(),
            health_quota: QuotaJsonCache::default(),
        }
    }

    /// The current configuration generation.
    pub fn current(&self) -> Arc<Generation> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Installs a new generation (reload).
    pub fn swap(&self, next: Generation) {
        self.body_budget.set_limit(next.settings.body_budget_bytes);
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(next);
        }
    }

    pub fn set_listeners(&self, addrs: Vec<SocketAddr>) {
        let urls = addrs.iter().copied().map(crate::net::url_of).collect();
        if let Ok(mut listeners) = self.listeners.write() {
            *listeners = Arc::new(Listeners { addrs, urls });
        }
    }

    /// The addresses the daemon listens on, and their URLs.
    pub fn listeners(&self) -> Arc<Listeners> {
        match self.listeners.read() {
            Ok(listeners) => listeners.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Counts a connection as open (false when at the cap: refuse it).
    pub fn open_connection(&self) -> bool {
        let max = self.connections.max.load(Ordering::SeqCst);
        let admitted = self
            .connections
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < max).then_some(open + 1)
            })
            .is_ok();
        if !admitted {
            self.connections.refused.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }

    pub fn close_connection(&self) {
        self.connections.open.fetch_sub(1, Ordering::SeqCst);
    }
}
