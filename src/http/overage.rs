//! Extra usage (overage): when the subscription's window is used up and extra usage is on,
//! Anthropic still serves requests but bills them. The last quota report predicts it for
//! the next request: such a request is marked (`x-claude-overage: true`, the log line) or,
//! with `refuse_overage = true`, refused before any CLI starts.

use super::Generation;
use crate::clock;
use crate::conversation::{ApiError, ErrorKind};
use crate::quota;

/// Whether the request about to start will likely be billed as extra usage; an error when
/// that is refused by the config.
pub fn check(current: &Generation) -> Result<bool, ApiError> {
    let now = clock::now();
    if !current.backend.quota.overage_expected(now) {
        return Ok(false);
    }
    if !current.settings.refuse_overage {
        return Ok(true);
    }
    let last = current.backend.quota.snapshot().last;
    let window = last
        .as_ref()
        .and_then(|l| l.representative.as_deref())
        .map(quota::window_name)
        .unwrap_or_else(|| "usage".to_string());
    let reset = last.as_ref().and_then(|l| l.resets_at);
    let until = match reset {
        Some(reset) => format!(" until the window resets at {}", clock::moment(reset, now)),
        None => String::new(),
    };
    let mut error = ApiError::new(
        ErrorKind::Billing,
        format!(
            "The subscription's {window} limit is used up and this request would be billed as \
             extra usage, which `refuse_overage = true` forbids. Requests are refused{until}; \
             set `refuse_overage = false` to allow extra usage."
        ),
    );
    if let Some(reset) = reset {
        error = error.with_retry_after((reset - now).max(1) as u64);
    }
    Err(error)
}
