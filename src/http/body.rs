//! Request bodies: only JSON, bounded in size (`max_body_bytes`), in time
//! (`body_read_timeout_secs`) and together (`body_budget_bytes`: the bytes of every body
//! being read at once, so many slow uploads cannot hold the daemon's memory).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};

use crate::conversation::{ApiError, ErrorKind};

/// Retry-After when the body budget is spent.
const BUDGET_RETRY_SECS: u64 = 2;

/// The bytes of request bodies being read, against a limit.
#[derive(Debug)]
pub struct BodyBudget {
    limit: AtomicUsize,
    used: Arc<AtomicUsize>,
}

/// Bytes taken from the budget; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    bytes: usize,
    used: Arc<AtomicUsize>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

impl BodyBudget {
    pub fn new(limit: usize) -> BodyBudget {
        BodyBudget {
            limit: AtomicUsize::new(limit),
            used: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::SeqCst);
    }

    /// Bytes reserved right now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    fn take(&self, bytes: usize) -> bool {
        let limit = self.limit.load(Ordering::SeqCst);
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok()
    }

    /// Reserves `bytes`, or `None` when the budget cannot hold them.
    pub fn reserve(&self, bytes: usize) -> Option<Reservation> {
        self.take(bytes).then(|| Reservation {
            bytes,
            used: self.used.clone(),
        })
    }

    /// Grows a reservation by `bytes`; false when the budget cannot hold them.
    fn grow(&self, reservation: &mut Reservation, bytes: usize) -> bool {
        if self.take(bytes) {
            reservation.bytes += bytes;
            true
        } else {
            false
        }
    }
}

/// Limits for one body.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// Refuses a POST whose body is not declared as JSON (415). Web pages can send text/plain
/// or form bodies cross-site without a preflight; API clients always send JSON.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if media_type.as_deref() == Some("application/json") {
        return Ok(());
    }
    let sent = match &media_type {
        Some(t) => format!("`{}`", t.chars().take(80).collect::<String>()),
        None => "no Content-Type".to_string(),
    };
    Err(ApiError::new(
        ErrorKind::UnsupportedMediaType,
        format!(
            "The request body must be JSON with `Content-Type: application/json` (got {sent}). \
             With curl add -H 'Content-Type: application/json'."
        ),
    ))
}

/// Reads the whole body within the limits. The reservation holds its bytes in the budget
/// until the caller has parsed them and drops it.
pub async fn read(
    request: Request<Incoming>,
    limits: BodyLimits,
    budget: &BodyBudget,
) -> Result<(Bytes, Reservation), ApiError> {
    let max = limits.max_bytes;
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large(max));
    }
    let declared = declared.unwrap_or(0) as usize;
    let mut reservation = budget.reserve(declared).ok_or_else(over_budget)?;
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let mut body = request.into_body();
    let mut buffer = BytesMut::with_capacity(declared.min(64 * 1024));
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(too_slow(limits.timeout)),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::invalid(
                    "body",
                    format!("Could not read the request body: {e}"),
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let total = buffer.len() + data.len();
        if total > max {
            return Err(too_large(max));
        }
        let missing = total.saturating_sub(reservation.bytes);
        if missing > 0 && !budget.grow(&mut reservation, missing) {
            return Err(over_budget());
        }
        buffer.extend_from_slice(&data);
    }
    Ok((buffer.freeze(), reservation))
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        format!(
            "The request body is larger than {max} bytes (`max_body_bytes`). Send a shorter \
             conversation or raise the limit."
        ),
    )
}

fn too_slow(limit: Duration) -> ApiError {
    ApiError::new(
        ErrorKind::RequestTimeout,
        format!(
            "The request body did not arrive within {} s (`body_read_timeout_secs`); send it \
             at once, or raise the limit.",
            limit.as_secs()
        ),
    )
}

fn over_budget() -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        "The proxy is reading too many request bodies at once (`body_budget_bytes`); retry \
         in a moment.",
    )
    .with_retry_after(BUDGET_RETRY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn budget_reserves_grows_and_gives_back() {
        let budget = BodyBudget::new(100);
        let mut a = budget.reserve(60).unwrap();
        assert!(budget.reserve(50).is_none());
        assert!(!budget.grow(&mut a, 41));
        assert!(budget.grow(&mut a, 40));
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 0);
        assert!(budget.reserve(100).is_some());
    }

    #[test]
    fn only_json_bodies_are_accepted() {
        let mut headers = HeaderMap::new();
        assert_eq!(require_json(&headers).unwrap_err().status(), 415);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let error = require_json(&headers).unwrap_err();
        assert!(error.message.contains("text/plain"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(require_json(&headers).is_ok());
    }
}
