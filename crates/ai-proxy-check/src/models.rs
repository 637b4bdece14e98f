//! The `/v1/models` stage's work: ask for the model list and judge the answer — a refusal
//! (the daemon's guards, the client key), an error, an empty list, or the ids. `check` times
//! it and records the summary; `chat` picks its model from the ids.

use std::time::Duration;

use hyper::{Method, StatusCode};

use crate::answers;
use crate::client::Client;
use crate::stage::Problem;
use crate::step::{self, Answer, StepError};
use crate::target::Target;

/// `GET /v1/models` with the step timeout, judged: the model ids.
pub async fn ask(
    client: &mut Client,
    target: &Target,
    key_sent: bool,
    timeout: Duration,
) -> Result<Vec<String>, StepError> {
    let path = target.api_path("models");
    let answer = step::exchange(client, Method::GET, &path, None, timeout).await?;
    read_models(&answer, key_sent)
}

/// Judges `/v1/models`'s answer.
fn read_models(answer: &Answer, key_sent: bool) -> Result<Vec<String>, StepError> {
    const REQUEST: &str = "GET /v1/models";
    if let Some(refused) = step::refusal(REQUEST, answer) {
        return Err(refused);
    }
    match answer.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Err((Problem::Unauthorized { key_sent }, answer.detail(REQUEST)))
        }
        StatusCode::OK => {
            let ids = answers::parse_models(&answer.body).map_err(|e| (Problem::NotTheProxy, e))?;
            if ids.is_empty() {
                return Err((
                    Problem::NoModels,
                    "GET /v1/models lists no models".to_string(),
                ));
            }
            Ok(ids)
        }
        status => Err((Problem::Status(status.as_u16()), answer.detail(REQUEST))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn read(status: StatusCode, body: &[u8], key_sent: bool) -> Result<Vec<String>, StepError> {
        let answer = Answer {
            status,
            retry_after: None,
            body: Bytes::copy_from_slice(body),
        };
        read_models(&answer, key_sent)
    }

    #[test]
    fn models_answers() {
        let list = br#"{"object":"list","data":[{"id":"opus"}]}"#;
        assert_eq!(read(StatusCode::OK, list, false).unwrap(), vec!["opus"]);
        let empty = br#"{"object":"list","data":[]}"#;
        assert_eq!(
            read(StatusCode::OK, empty, false).unwrap_err().0,
            Problem::NoModels
        );
        let (problem, _) = read(StatusCode::UNAUTHORIZED, b"{}", false).unwrap_err();
        assert_eq!(problem, Problem::Unauthorized { key_sent: false });
        let (problem, _) = read(StatusCode::INTERNAL_SERVER_ERROR, b"x", false).unwrap_err();
        assert_eq!(problem, Problem::Status(500));
        let origin = br#"{"error":{"message":"no","type":"permission_error","param":null,"code":"origin_not_allowed"}}"#;
        let (problem, _) = read(StatusCode::FORBIDDEN, origin, false).unwrap_err();
        assert_eq!(problem, Problem::OriginNotAllowed);
    }
}
