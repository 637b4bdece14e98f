//! The error a client gets when Anthropic refused a request for the subscription's limit:
//! 429 with `Retry-After` until the window resets, and a message that says which window
//! and when, from the freshest data the book has (the refusing `rate_limit_event` itself,
//! else the latest `get_usage` answer or earlier events).

use crate::claude::rate_limit::RateLimitInfo;
use crate::clock;
use crate::conversation::{ApiError, ErrorKind};

use super::{QuotaSnapshot, WindowState, window_label, window_name};

/// How long to tell a client to wait when nobody reported when the window resets.
const UNKNOWN_RESET_RETRY_SECS: u64 = 60;

/// The error for a request a `rate_limit_event` says was refused. `known` is the book
/// after recording that event: it supplies the reset time when the event names its window
/// but not the reset, and the used-up window when the event names neither.
pub fn limit_error(info: &RateLimitInfo, known: &QuotaSnapshot, now: i64) -> ApiError {
    let named = info.rate_limit_type.as_deref().map(|name| {
        let reset = info.resets_at.filter(|r| *r > now).or_else(|| {
            known
                .windows
                .iter()
                .find(|w| w.window == name && w.model.is_none())
                .and_then(|w| w.resets_at)
                .filter(|r| *r > now)
        });
        (window_name(name), reset)
    });
    let (name, reset) = match named {
        Some((name, Some(reset))) => (name, Some(reset)),
        named => match binding(known, now) {
            Some(window) => (
                window_label(&window.window, window.model.as_deref()),
                window.resets_at,
            ),
            None => named.unwrap_or_else(|| ("usage".to_string(), None)),
        },
    };
    let overage = match &info.overage_disabled_reason {
        Some(reason) => format!(" Extra usage is not available ({reason})."),
        None => String::new(),
    };
    refusal(&name, reset, &overage, now)
}

/// An upstream 429 the CLI reported without a `rate_limit_event` (its API error result):
/// when the book knows a used-up window, the message names it and `Retry-After` runs to its
/// reset; otherwise the error is left as it is.
pub fn explain(error: ApiError, known: &QuotaSnapshot, now: i64) -> ApiError {
    if error.kind != ErrorKind::RateLimited {
        return error;
    }
    match binding(known, now) {
        Some(window) => refusal(
            &window_label(&window.window, window.model.as_deref()),
            window.resets_at,
            "",
            now,
        ),
        None => error,
    }
}

/// The used-up window that keeps requests refused longest (several may be used up; the
/// request waits for the last of them).
fn binding(known: &QuotaSnapshot, now: i64) -> Option<&WindowState> {
    known
        .windows
        .iter()
        .filter(|w| w.exhausted() && w.resets_at.is_some_and(|r| r > now))
        .max_by_key(|w| w.resets_at)
}

fn refusal(window: &str, reset: Option<i64>, extra: &str, now: i64) -> ApiError {
    let (when, retry) = match reset {
        Some(reset) => (
            format!("it resets at {}", clock::moment(reset, now)),
            (reset - now).max(1) as u64,
        ),
        None => (
            "its reset time was not reported".to_string(),
            UNKNOWN_RESET_RETRY_SECS,
        ),
    };
    ApiError::new(
        ErrorKind::RateLimited,
        format!(
            "The subscription's {window} limit is reached; {when}. Anthropic refuses requests \
             until then, so the proxy did not retry.{extra} `claude-max-proxy status` and \
             GET /health show every window."
        ),
    )
    .with_retry_after(retry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::usage::{PlanUsage, UsageWindow};
    use crate::quota::QuotaBook;
    use crate::quota::tests::report;

    #[test]
    fn a_refusal_says_which_window_and_when() {
        let error = limit_error(
            &report("rejected", 1.0, false),
            &QuotaSnapshot::default(),
            10_000 - 3_600,
        );
        assert_eq!(error.status(), 429);
        assert_eq!(error.retry_after, Some(3_600));
        assert!(error.message.contains("5-hour"), "{}", error.message);
        assert!(error.message.contains("in 1 h 0 min"), "{}", error.message);
    }

    /// An event without a reset time takes it from the latest `get_usage` answer.
    #[test]
    fn a_missing_reset_comes_from_the_usage_answer() {
        let book = QuotaBook::new();
        book.record_usage(
            &PlanUsage {
                rate_limits_available: true,
                rate_limits_known: true,
                windows: vec![UsageWindow {
                    window: "seven_day".into(),
                    model: None,
                    utilization: Some(1.0),
                    resets_at: Some(100_000),
                }],
                ..PlanUsage::default()
            },
            1_000,
        );
        let mut info = report("rejected", 1.0, false);
        info.rate_limit_type = Some("seven_day".into());
        info.resets_at = None;
        let error = limit_error(&info, &book.snapshot(), 1_000);
        assert_eq!(error.retry_after, Some(99_000));
        assert!(error.message.contains("weekly"), "{}", error.message);
        let mut bare = report("rejected", 1.0, false);
        bare.rate_limit_type = None;
        bare.resets_at = None;
        let error = limit_error(&bare, &book.snapshot(), 1_000);
        assert_eq!(error.retry_after, Some(99_000), "{}", error.message);
    }

    /// A bare upstream 429 names the used-up window the book knows (the one that resets
    /// last), and stays generic when none is known.
    #[test]
    fn a_bare_429_is_explained_from_the_book() {
        let generic = ApiError::new(ErrorKind::RateLimited, "rate limit").with_retry_after(60);
        let book = QuotaBook::new();
        assert_eq!(
            explain(generic.clone(), &book.snapshot(), 0).message,
            "rate limit"
        );
        book.record_usage(
            &PlanUsage {
                rate_limits_available: true,
                rate_limits_known: true,
                windows: vec![
                    UsageWindow {
                        window: "five_hour".into(),
                        model: None,
                        utilization: Some(1.0),
                        resets_at: Some(5_000),
                    },
                    UsageWindow {
                        window: "model_scoped".into(),
                        model: Some("Fable".into()),
                        utilization: Some(1.0),
                        resets_at: Some(90_000),
                    },
                    UsageWindow {
                        window: "seven_day".into(),
                        model: None,
                        utilization: Some(0.5),
                        resets_at: Some(200_000),
                    },
                ],
                ..PlanUsage::default()
            },
            1_000,
        );
        let explained = explain(generic, &book.snapshot(), 1_000);
        assert!(
            explained.message.contains("weekly Fable"),
            "{}",
            explained.message
        );
        assert_eq!(explained.retry_after, Some(89_000));
        let other = ApiError::new(ErrorKind::QueueFull, "busy");
        assert_eq!(explain(other, &book.snapshot(), 1_000).message, "busy");
    }
}
