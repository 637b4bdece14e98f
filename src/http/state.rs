//! What handlers see: the live configuration (swapped whole on reload; in-flight requests
//! keep the one they started with) and the daemon's observable state for /health.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::claude::process::ProcessGroups;
use crate::config::Settings;
use crate::daemon::filter::SourceFilter;
use crate::models::Catalog;
use crate::runner::Backend;

/// One configuration generation.
#[derive(Debug)]
pub struct Live {
    pub settings: Arc<Settings>,
    pub catalog: Catalog,
    pub backend: Arc<Backend>,
    /// The key clients must send on /v1/*, if any.
    pub api_key: Option<String>,
}

impl Live {
    pub fn new(settings: Arc<Settings>, api_key: Option<String>, groups: ProcessGroups) -> Live {
        Live {
            catalog: Catalog::from_settings(&settings),
            backend: Arc::new(Backend::new(settings.clone(), groups)),
            settings,
            api_key,
        }
    }
}

/// Shared by every connection.
#[derive(Debug)]
pub struct AppState {
    live: RwLock<Arc<Live>>,
    pub started: Instant,
    listeners: RwLock<Vec<SocketAddr>>,
    pub filter: Arc<SourceFilter>,
}

impl AppState {
    pub fn new(live: Live, filter: Arc<SourceFilter>) -> AppState {
        AppState {
            live: RwLock::new(Arc::new(live)),
            started: Instant::now(),
            listeners: RwLock::new(Vec::new()),
            filter,
        }
    }

    /// The current configuration generation.
    pub fn live(&self) -> Arc<Live> {
        match self.live.read() {
            Ok(live) => live.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Installs a new generation (reload).
    pub fn swap(&self, live: Live) {
        if let Ok(mut current) = self.live.write() {
            *current = Arc::new(live);
        }
    }

    pub fn set_listeners(&self, addrs: Vec<SocketAddr>) {
        if let Ok(mut listeners) = self.listeners.write() {
            *listeners = addrs;
        }
    }

    pub fn listener_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.read().map(|l| l.clone()).unwrap_or_default()
    }
}
