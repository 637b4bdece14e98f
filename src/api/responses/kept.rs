//! What the kept answers give back: `GET /v1/responses/{id}` (the response object as it
//! was given), `DELETE /v1/responses/{id}` (forgotten: it can no longer be continued) and
//! `GET /v1/responses/{id}/input_items` (the request's own input items, a page at a time).
//! Anything not kept is 404 `ResponseNotFound`.

use std::time::Duration;

use serde_json::{Value, json};

use super::input_list::{ListQuery, page};
use super::store::ResponseStore;
use crate::conversation::{ApiError, ErrorKind};

/// The kept response `id`, as it was given.
pub fn retrieve(store: &ResponseStore, id: &str, kept_for: Duration) -> Result<Value, ApiError> {
    store.response(id, kept_for).ok_or_else(|| not_kept(id))
}

/// Forgets the kept response `id`; the deletion object.
pub fn delete(store: &ResponseStore, id: &str, kept_for: Duration) -> Result<Value, ApiError> {
    if store.remove(id, kept_for) {
        Ok(json!({"id": id, "object": "response", "deleted": true}))
    } else {
        Err(not_kept(id))
    }
}

/// A page of the kept response's own input items, as `query` asks.
pub fn input_items(
    store: &ResponseStore,
    id: &str,
    kept_for: Duration,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let query = ListQuery::parse(query)?;
    store
        .with_input_items(id, kept_for, |items| page(items, &query))
        .unwrap_or_else(|| Err(not_kept(id)))
}

fn not_kept(id: &str) -> ApiError {
    ApiError::new(
        ErrorKind::ResponseNotFound,
        format!(
            "Response with id '{id}' not found. This proxy keeps the last `responses_kept` \
             answers stored with `store: true` (within `responses_kept_mb`) for \
             `responses_kept_secs` seconds, in memory (a restart forgets them)."
        ),
    )
}
