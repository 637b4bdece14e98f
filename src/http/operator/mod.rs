//! The operator's wing of the HTTP side: what a person or a monitor reads about the daemon
//! itself, never a model request — `GET /health` ([`health`]), the status page at `/`
//! ([`status`] gathers its view, [`status_page`] renders it), `GET /metrics` ([`metrics`])
//! and what a caller without the API key sees of them ([`keyless`]).

pub mod health;
pub mod keyless;
pub mod metrics;
pub mod status;
pub mod status_page;
