//! The `/health` stage's work: ask the daemon's health endpoint and judge the answer — a
//! refusal (the daemon's guards, the client key), a stranger, a daemon reporting a problem,
//! or a ready daemon. `check` times it and records the summary.

use std::time::Duration;

use hyper::{Method, StatusCode};

use crate::answers::{self, Health};
use crate::client::Client;
use crate::stage::Problem;
use crate::step::{self, Answer, StepError};
use crate::target::Target;

/// `GET /health` with the step timeout, judged.
pub async fn ask(
    client: &mut Client,
    target: &Target,
    key_sent: bool,
    timeout: Duration,
) -> Result<Health, StepError> {
    let path = target.health_path();
    let answer = step::exchange(client, Method::GET, &path, None, timeout).await?;
    read_health(&answer, key_sent)
}

/// Judges `/health`'s answer.
fn read_health(answer: &Answer, key_sent: bool) -> Result<Health, StepError> {
    let (status, body) = (answer.status, &answer.body[..]);
    if let Some(refused) = step::refusal("GET /health", answer) {
        return Err(refused);
    }
    if matches!(status.as_u16(), 401 | 403) {
        let detail = answer.detail("GET /health");
        return Err((Problem::Unauthorized { key_sent }, detail));
    }
    if status == StatusCode::NOT_FOUND {
        let detail = format!("GET /health answered 404: {}", answers::snippet(body));
        return Err((Problem::NotTheProxy, detail));
    }
    // A 503 with a health body is the daemon reporting a problem, not a stranger.
    let parsed = answers::parse_health(body);
    if !status.is_success() {
        let message = match &parsed {
            Ok(health) => health.reason(),
            Err(_) => answers::error_message(body),
        };
        let detail = format!("GET /health answered {status}: {message}");
        return Err((Problem::Status(status.as_u16()), detail));
    }
    let health = parsed.map_err(|e| (Problem::NotTheProxy, e))?;
    if health.status != "ok" {
        return Err((
            Problem::Degraded,
            format!("the daemon reports {}", health.reason()),
        ));
    }
    Ok(health)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(status: StatusCode, body: &[u8]) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: Bytes::copy_from_slice(body),
        }
    }

    fn read(status: StatusCode, body: &[u8], key_sent: bool) -> Result<Health, StepError> {
        read_health(&answer(status, body), key_sent)
    }

    #[test]
    fn health_answers() {
        let ok = br#"{"status":"ok","version":"0.1.0"}"#;
        assert!(read(StatusCode::OK, ok, false).is_ok());
        let degraded = br#"{"status":"degraded","version":"0.1.0","cli":{"found":false}}"#;
        let (problem, detail) = read(StatusCode::OK, degraded, false).unwrap_err();
        assert_eq!(problem, Problem::Degraded);
        assert!(detail.contains("CLI was not found"), "{detail}");
        let (problem, detail) = read(StatusCode::SERVICE_UNAVAILABLE, degraded, false).unwrap_err();
        assert_eq!(problem, Problem::Status(503));
        assert!(
            detail.contains("503") && detail.contains("not found"),
            "{detail}"
        );
        let err = br#"{"error":{"message":"boom","type":"server_error"}}"#;
        let (_, detail) = read(StatusCode::BAD_GATEWAY, err, false).unwrap_err();
        assert!(detail.ends_with("boom"), "{detail}");
        let (problem, _) = read(StatusCode::NOT_FOUND, b"nope", false).unwrap_err();
        assert_eq!(problem, Problem::NotTheProxy);
        let (problem, _) = read(StatusCode::UNAUTHORIZED, b"", true).unwrap_err();
        assert_eq!(problem, Problem::Unauthorized { key_sent: true });
    }

    #[test]
    fn a_refused_host_name_is_not_a_key_problem() {
        let body = br#"{"error":{"message":"Host not allowed","type":"permission_error","param":null,"code":"host_not_allowed"}}"#;
        let (problem, detail) = read(StatusCode::FORBIDDEN, body, true).unwrap_err();
        assert_eq!(problem, Problem::HostNotAllowed);
        assert!(detail.ends_with("[host_not_allowed]"), "{detail}");
        let busy = Answer {
            retry_after: Some("3".into()),
            ..answer(StatusCode::SERVICE_UNAVAILABLE, b"{}")
        };
        let (problem, _) = read_health(&busy, false).unwrap_err();
        assert_eq!(
            problem,
            Problem::Busy {
                retry_after: Some(3)
            }
        );
    }
}
