//! CLI failures → OpenAI errors, each with the status a client can act on and a message
//! that says what to do.

use crate::claude::events::{AssistantEvent, ResultEvent};
use crate::conversation::{ApiError, ErrorKind};

/// Retry-After for an upstream rate limit when the CLI does not tell us more.
pub const RATE_LIMIT_RETRY_SECS: u64 = 30;
/// Retry-After for an overloaded upstream.
pub const OVERLOADED_RETRY_SECS: u64 = 10;

/// How to fix a missing or rejected login.
pub const LOGIN_HINT: &str = "Log in on the host where the proxy runs: run \
    `claude-max-proxy login` (it stores a token the daemon uses from then on; if a stored \
    token broke, `claude-max-proxy logout` first), or `claude auth login` for the CLI's own \
    login. In api-key mode, check ANTHROPIC_API_KEY. Then retry.";

/// Removes the CLI's "API Error: 400 " prefix, leaving upstream's own words.
fn upstream_detail(text: &str, status: Option<u16>) -> String {
    let mut detail = text.trim();
    if let Some(rest) = detail.strip_prefix("API Error:") {
        detail = rest.trim_start();
        if let Some(status) = status
            && let Some(rest) = detail.strip_prefix(&status.to_string())
        {
            detail = rest.trim_start();
        }
    }
    truncate(detail, 500)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn looks_like_auth(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "not logged in",
        "invalid api key",
        "please run /login",
        "oauth token",
        "authentication_error",
        "authentication failed",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// Billing refusals: the account has no credit or the plan does not cover the request.
/// They are not login problems, and logging in again would not help.
fn looks_like_billing(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "credit balance",
        "billing_error",
        "insufficient credit",
        "purchase credits",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

fn billing_error(detail: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Billing,
        format!(
            "Anthropic refused the request for billing reasons ({detail}). This is not a login \
             problem: with `auth_mode = \"subscription\"` check that the logged-in account has \
             an active Claude plan (claude.ai → Settings → Billing); with `auth_mode = \
             \"api-key\"` add credits to the API key's organisation (console.anthropic.com → \
             Billing). Nothing was retried."
        ),
    )
}

/// Maps an `is_error` result (and the synthetic assistant message before it, if any).
pub fn from_result(result: &ResultEvent, synthetic: Option<&AssistantEvent>) -> ApiError {
    let status = result
        .api_error_status
        .or_else(|| synthetic.and_then(|s| s.api_error_status));
    let text = result
        .result
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| synthetic.map(|s| s.text.clone()))
        .unwrap_or_default();
    let tag = synthetic.and_then(|s| s.error.as_deref()).unwrap_or("");
    let detail = upstream_detail(&text, status);

    if status == Some(402) || tag == "billing_error" || looks_like_billing(&text) {
        return billing_error(&detail);
    }
    if status == Some(401) || tag == "authentication_failed" || looks_like_auth(&text) {
        return ApiError::new(
            ErrorKind::Authentication,
            format!(
                "The claude CLI could not authenticate with Anthropic ({detail}). {LOGIN_HINT}"
            ),
        );
    }
    by_status(status, tag, detail)
}

/// The error of an upstream status the CLI reported (or, without one, of the CLI's tag).
fn by_status(status: Option<u16>, tag: &str, detail: String) -> ApiError {
    match status {
        Some(403) => ApiError::new(
            ErrorKind::PermissionDenied,
            format!(
                "Anthropic refused this account ({detail}). Check that the logged-in \
                 subscription can use this model."
            ),
        ),
        Some(404) => ApiError {
            param: Some("model".into()),
            ..ApiError::new(
                ErrorKind::ModelNotFound,
                format!(
                    "Anthropic does not know this model, or this account cannot use it \
                     ({detail}). Pick another id (GET /v1/models lists the current ones)."
                ),
            )
        },
        Some(413) => ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("Anthropic rejected the request as too large ({detail})."),
        ),
        Some(400) | Some(422) => ApiError::new(
            ErrorKind::InvalidRequest,
            format!("Anthropic rejected the request: {detail}"),
        ),
        Some(429) => ApiError::new(
            ErrorKind::RateLimited,
            format!(
                "The subscription's rate limit was reached ({detail}). Wait and retry; usage \
                 limits reset on Anthropic's schedule."
            ),
        )
        .with_retry_after(RATE_LIMIT_RETRY_SECS),
        Some(503) | Some(529) => ApiError::new(
            ErrorKind::Overloaded,
            format!("Anthropic is overloaded ({detail}). Retry in a few seconds."),
        )
        .with_retry_after(OVERLOADED_RETRY_SECS),
        Some(s) if s >= 500 => ApiError::new(
            ErrorKind::BadGateway,
            format!("Anthropic returned an error ({s}: {detail}). Retry later."),
        ),
        Some(s) => ApiError::new(
            ErrorKind::BadGateway,
            format!("Anthropic returned status {s}: {detail}"),
        ),
        None if tag == "rate_limit" => ApiError::new(
            ErrorKind::RateLimited,
            format!("The subscription's rate limit was reached ({detail})."),
        )
        .with_retry_after(RATE_LIMIT_RETRY_SECS),
        None => ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "The claude CLI reported an error: {}",
                if detail.is_empty() {
                    "(no message)".to_string()
                } else {
                    detail
                }
            ),
        ),
    }
}

/// Maps a CLI that ended without a result. `stderr_tail` is the end of its stderr.
pub fn from_exit(
    exit: Option<std::process::ExitStatus>,
    stderr_tail: &str,
    saw_garbage: bool,
) -> ApiError {
    let last_line = stderr_tail
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| truncate(l, 300))
        .unwrap_or_default();
    if looks_like_billing(stderr_tail) {
        return billing_error(&last_line);
    }
    if looks_like_auth(stderr_tail) {
        return ApiError::new(
            ErrorKind::Authentication,
            format!("The claude CLI is not logged in ({last_line}). {LOGIN_HINT}"),
        );
    }
    let how = match exit {
        Some(status) => match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            _ => "ended".to_string(),
        },
        None => "ended".to_string(),
    };
    let mut message = format!("The claude CLI {how} before finishing its answer");
    if !last_line.is_empty() {
        message.push_str(&format!(" (stderr: {last_line})"));
    }
    if saw_garbage {
        message.push_str(
            ". It printed lines that are not stream-json: check that `cli_path` points at the \
             official claude CLI",
        );
    }
    message.push_str(". Run `claude -p hello` on the host to see the problem.");
    ApiError::new(ErrorKind::BadGateway, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: Option<u16>, text: &str) -> ResultEvent {
        ResultEvent {
            is_error: true,
            api_error_status: status,
            result: Some(text.to_string()),
            ..ResultEvent::default()
        }
    }

    #[test]
    fn statuses_map_as_documented() {
        let cases = [
            (Some(400), "API Error: 400 model: bad model (mock)", 400),
            (Some(401), "Invalid API key · Fix external API key", 401),
            (Some(403), "API Error: 403 forbidden", 403),
            (Some(429), "API Error: 429 rate limited", 429),
            (Some(529), "API Error: 529 Overloaded", 503),
            (Some(503), "API Error: 503", 503),
            (Some(500), "API Error: 500 boom", 502),
            (None, "Not logged in · Please run /login", 401),
            (None, "something odd", 502),
            (Some(400), "Credit balance is too low", 402),
            (None, "Credit balance is too low", 402),
            (Some(402), "API Error: 402 billing", 402),
        ];
        for (status, text, want) in cases {
            let err = from_result(&result(status, text), None);
            assert_eq!(err.status(), want, "{status:?} {text}");
        }
    }

    /// A billing refusal says what to do about billing, and never to log in again.
    #[test]
    fn billing_is_not_reported_as_a_login_problem() {
        let err = from_result(&result(Some(400), "Credit balance is too low"), None);
        assert_eq!(err.status(), 402);
        assert!(err.message.contains("Billing"), "{}", err.message);
        assert!(!err.message.contains(LOGIN_HINT), "{}", err.message);
        assert!(
            !err.message.contains("claude-max-proxy login"),
            "{}",
            err.message
        );
        let exit = from_exit(None, "Error: Credit balance is too low\n", false);
        assert_eq!(exit.status(), 402);
    }

    #[test]
    fn upstream_words_are_kept_without_the_cli_prefix() {
        let err = from_result(
            &result(Some(400), "API Error: 400 model: bad model (mock)"),
            None,
        );
        assert!(
            err.message.contains("model: bad model (mock)"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("API Error"), "{}", err.message);
    }

    #[test]
    fn auth_errors_say_how_to_log_in_and_rate_limits_have_retry_after() {
        let err = from_result(&result(Some(401), "Invalid API key"), None);
        assert!(
            err.message.contains("claude-max-proxy login"),
            "{}",
            err.message
        );
        let err = from_result(&result(Some(429), "API Error: 429 slow down"), None);
        assert_eq!(err.retry_after, Some(RATE_LIMIT_RETRY_SECS));
    }

    #[test]
    fn exits_without_result_are_bad_gateway_with_stderr() {
        use std::os::unix::process::ExitStatusExt;
        let err = from_exit(
            Some(std::process::ExitStatus::from_raw(3 << 8)),
            "fatal: boom\n",
            false,
        );
        assert_eq!(err.status(), 502);
        assert!(
            err.message.contains("code 3") && err.message.contains("fatal: boom"),
            "{}",
            err.message
        );
        let err = from_exit(None, "", true);
        assert!(err.message.contains("cli_path"), "{}", err.message);
    }
}
