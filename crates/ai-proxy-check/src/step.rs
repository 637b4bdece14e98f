//! One HTTP step, shared by the `/health`, `/v1/models` and `--chat` stages (so it sits below
//! them and below `check`): the error a step returns before its stage is known
//! ([`StepError`]; `check` adds the stage and the time), the cap on answers read whole, one
//! request with the step timeout ([`exchange`]), client failures as problems
//! ([`http_problem`]), and the refusals any endpoint of the daemon may answer ([`refusal`]:
//! its Host and Origin guards, and 503 with `Retry-After` when it is over capacity).

use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderMap, RETRY_AFTER};
use hyper::{Method, StatusCode};

use crate::answers;
use crate::client::{self, Client, HttpError};
use crate::stage::Problem;
use crate::timing::secs;

/// Largest answer read whole (`/health`, `/v1/models`, error bodies; the real ones are a
/// few KB).
pub const BODY_LIMIT: usize = 1 << 20;

/// A failure before the stage is known (`check` maps it onto the stage).
pub type StepError = (Problem, String);

/// An HTTP answer read whole.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The `Retry-After` header as sent (seconds, or an HTTP date).
    pub retry_after: Option<String>,
    pub body: Bytes,
}

impl Answer {
    /// The message of an OpenAI error body (with its code), else a one-line snippet.
    pub fn message(&self) -> String {
        answers::error_message(&self.body)
    }

    /// `GET /health answered 403 Forbidden: <message> [code]`, for `request`.
    pub fn detail(&self, request: &str) -> String {
        format!("{request} answered {}: {}", self.status, self.message())
    }
}

/// The `Retry-After` header of an answer, if it has one.
pub fn retry_after(headers: &HeaderMap) -> Option<String> {
    headers
        .get(RETRY_AFTER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
}

/// One request with the step timeout; the status, `Retry-After` and the (capped) body.
pub async fn exchange(
    client: &mut Client,
    method: Method,
    path: &str,
    json: Option<Bytes>,
    timeout: Duration,
) -> Result<Answer, StepError> {
    let work = async {
        let response = client.send(method, path, json).await?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = client::read_body(response.into_body(), BODY_LIMIT).await?;
        Ok::<_, HttpError>(Answer {
            status,
            retry_after,
            body,
        })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(http_problem(e)),
        Err(_) => Err((
            Problem::NoAnswer,
            format!("{path}: no HTTP answer within {}", secs(timeout)),
        )),
    }
}

/// A failure below the HTTP status level, as the diagnosis sees it.
pub fn http_problem(error: HttpError) -> StepError {
    let problem = match &error {
        HttpError::Closed(_) | HttpError::Other(_) => Problem::Closed,
        HttpError::NotHttp(_) => Problem::NotHttp,
        HttpError::TooLarge(_) => Problem::NotTheProxy,
    };
    (problem, error.to_string())
}

/// The daemon's refusals that any of its endpoints may answer, before the endpoint's own
/// logic: a Host name it does not answer to (403 `host_not_allowed`), a browser Origin (403
/// `origin_not_allowed`), or no capacity for now (503 with `Retry-After`). `None` for every
/// other answer. `request` names the request in the detail (`GET /health`).
pub fn refusal(request: &str, answer: &Answer) -> Option<StepError> {
    let code = answers::error_code(&answer.body);
    let problem = match (answer.status, code.as_deref()) {
        (StatusCode::FORBIDDEN, Some("host_not_allowed")) => Problem::HostNotAllowed,
        (StatusCode::FORBIDDEN, Some("origin_not_allowed")) => Problem::OriginNotAllowed,
        (StatusCode::SERVICE_UNAVAILABLE, _) if answer.retry_after.is_some() => Problem::Busy {
            retry_after: answer.retry_after.as_deref().and_then(|s| s.parse().ok()),
        },
        _ => return None,
    };
    Some((problem, answer.detail(request)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: retry_after.map(str::to_string),
            body: Bytes::from(body.to_string()),
        }
    }

    fn error(message: &str, kind: &str, code: &str) -> String {
        format!(
            r#"{{"error":{{"message":"{message}","type":"{kind}","param":null,"code":"{code}"}}}}"#
        )
    }

    #[test]
    fn the_daemons_guards_are_refusals() {
        let host = error(
            "Host `proxy.lan` is not a name of this proxy",
            "permission_error",
            "host_not_allowed",
        );
        let (problem, detail) = refusal("GET /health", &answer(403, None, &host)).unwrap();
        assert_eq!(problem, Problem::HostNotAllowed);
        assert_eq!(
            detail,
            "GET /health answered 403 Forbidden: Host `proxy.lan` is not a name of this proxy \
             [host_not_allowed]"
        );
        let origin = error("browsers may not", "permission_error", "origin_not_allowed");
        let (problem, _) = refusal("GET /v1/models", &answer(403, None, &origin)).unwrap();
        assert_eq!(problem, Problem::OriginNotAllowed);
        let busy = error(
            "over the connection cap",
            "server_error",
            "service_unavailable",
        );
        let (problem, _) = refusal("GET /health", &answer(503, Some("2"), &busy)).unwrap();
        assert_eq!(
            problem,
            Problem::Busy {
                retry_after: Some(2)
            }
        );
        let dated = answer(503, Some("Wed, 21 Oct 2015 07:28:00 GMT"), &busy);
        let (problem, _) = refusal("GET /health", &dated).unwrap();
        assert_eq!(problem, Problem::Busy { retry_after: None });
    }

    #[test]
    fn other_answers_are_left_to_the_stage() {
        let key = error(
            "Incorrect API key",
            "authentication_error",
            "invalid_api_key",
        );
        assert!(refusal("GET /health", &answer(403, None, &key)).is_none());
        assert!(refusal("GET /health", &answer(401, None, &key)).is_none());
        // A 503 without Retry-After is the daemon's own health report.
        let degraded = r#"{"status":"degraded","version":"0.1.0"}"#;
        assert!(refusal("GET /health", &answer(503, None, degraded)).is_none());
        assert!(refusal("GET /health", &answer(200, Some("1"), "{}")).is_none());
    }
}
