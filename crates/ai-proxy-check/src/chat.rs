//! The request stage's work (`--chat`, `--api`): a short streamed request through the
//! proxy in the chosen API, timed from the request to the first text, read until the API's
//! end marker (`data: [DONE]`, `message_stop`, `response.completed`), and judged when it
//! does not start (the daemon's guards, the client key, the CLI's login, an endpoint an
//! older daemon does not serve). `check` bounds it with `--chat-timeout` and records the
//! summary.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Response, StatusCode};

use crate::answers;
use crate::api::Api;
use crate::client::{self, Client};
use crate::replies::{self, Event, Reader};
use crate::sse;
use crate::stage::Problem;
use crate::step::{self, Answer, BODY_LIMIT, StepError, http_problem};
use crate::target::Target;

/// Largest answer stream read (a short answer is well under this).
const STREAM_LIMIT: usize = 4 << 20;
/// How much of the answer's text is kept for the report.
const TEXT_KEEP: usize = 60;

/// `--model`, else `haiku` when listed (the cheapest), else the first id.
pub fn pick_model(requested: Option<&str>, ids: &[String]) -> String {
    if let Some(model) = requested {
        return model.to_string();
    }
    if ids.iter().any(|id| id == "haiku") {
        return "haiku".to_string();
    }
    ids.first().cloned().unwrap_or_else(|| "haiku".to_string())
}

/// What the request produced.
pub struct Chat {
    pub first_token: Option<Duration>,
    pub text: String,
    pub model: Option<String>,
}

/// A short streamed request in `api`, timed from the request to the first text.
pub async fn stream_chat(
    client: &mut Client,
    target: &Target,
    api: Api,
    model: &str,
    prompt: &str,
    key_sent: bool,
) -> Result<Chat, StepError> {
    let started = Instant::now();
    let body = Bytes::from(api.body(model, prompt).to_string());
    let path = target.api_path(api.endpoint());
    let response = client
        .send_for(api, Method::POST, &path, Some(body))
        .await
        .map_err(http_problem)?;
    if response.status() != StatusCode::OK {
        return Err(not_started(api, response, key_sent).await);
    }
    let streamed = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if streamed {
        read_stream(api, response.into_body(), started).await
    } else {
        read_whole(api, response.into_body(), started).await
    }
}

/// Reads the answer of a request that did not start and judges it.
async fn not_started(api: Api, response: Response<Incoming>, key_sent: bool) -> StepError {
    let status = response.status();
    let retry_after = step::retry_after(response.headers());
    let body = client::read_body(response.into_body(), BODY_LIMIT)
        .await
        .unwrap_or_default();
    let answer = Answer {
        status,
        retry_after,
        body,
    };
    judge_refusal(api, &answer, key_sent)
}

/// Why the request did not start: the daemon's guards, a path it does not serve (an older
/// daemon), a 401 for the CLI's login (not about the client key), the client key, or another
/// status.
fn judge_refusal(api: Api, answer: &Answer, key_sent: bool) -> StepError {
    let request = api.request();
    if let Some(refused) = step::refusal(request, answer) {
        return refused;
    }
    let message = answer.message();
    let detail = format!("{request} answered {}: {message}", answer.status);
    let unknown_path = answers::error_code(&answer.body).as_deref() == Some("unknown_url");
    let problem = match answer.status.as_u16() {
        404 if unknown_path => Problem::UnknownEndpoint,
        401 if !answers::is_client_key_error(&message) => Problem::NotLoggedIn,
        401 | 403 => Problem::Unauthorized { key_sent },
        code => Problem::Status(code),
    };
    (problem, detail)
}

/// Reads the event stream until the API's end marker, timing the first text from `started`.
async fn read_stream(api: Api, mut body: Incoming, started: Instant) -> Result<Chat, StepError> {
    let mut parser = sse::Parser::default();
    let mut reader = Reader::new(api);
    let mut chat = Chat {
        first_token: None,
        text: String::new(),
        model: None,
    };
    let mut read = 0usize;
    while let Some(chunk) = client::next_chunk(&mut body).await {
        let chunk = chunk.map_err(|e| (Problem::StreamFailed, format!("the stream broke: {e}")))?;
        read += chunk.len();
        if read > STREAM_LIMIT {
            return Err((Problem::StreamFailed, "the stream is too long".to_string()));
        }
        for frame in parser.push(&chunk) {
            match reader.read(&frame) {
                Some(Event::Text(text)) => {
                    chat.first_token.get_or_insert_with(|| started.elapsed());
                    if chat.text.chars().count() < TEXT_KEEP {
                        chat.text.push_str(&text);
                    }
                }
                Some(Event::Error(message)) => {
                    let detail = format!("the stream failed after it started: {message}");
                    return Err((Problem::StreamFailed, detail));
                }
                Some(Event::Done) => {
                    chat.model = reader.model.clone();
                    return finish(api, chat);
                }
                None => {}
            }
        }
    }
    Err((
        Problem::StreamFailed,
        format!("the stream ended without {}", api.end_marker()),
    ))
}

/// A whole JSON answer where a stream was asked for: its text, timed at its end.
async fn read_whole(api: Api, body: Incoming, started: Instant) -> Result<Chat, StepError> {
    let bytes = client::read_body(body, STREAM_LIMIT)
        .await
        .map_err(|e| (Problem::StreamFailed, format!("the answer broke off: {e}")))?;
    let whole = replies::whole(api, &bytes).map_err(|e| (Problem::StreamFailed, e))?;
    let chat = Chat {
        first_token: Some(started.elapsed()),
        text: whole.text,
        model: whole.model,
    };
    finish(api, chat)
}

/// At the end: the kept text, shortened, or a failure without text.
fn finish(api: Api, mut chat: Chat) -> Result<Chat, StepError> {
    let text = chat.text.trim();
    chat.text = match text.char_indices().nth(TEXT_KEEP) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    };
    if chat.first_token.is_none() || chat.text.is_empty() {
        let detail = format!("the answer ended ({}) without any text", api.end_marker());
        return Err((Problem::StreamFailed, detail));
    }
    Ok(chat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_choice() {
        let ids: Vec<String> = ["opus", "sonnet", "haiku"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pick_model(None, &ids), "haiku");
        assert_eq!(pick_model(Some("opus"), &ids), "opus");
        assert_eq!(pick_model(None, &ids[..1]), "opus");
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn refusals_of_the_completion() {
        let login = r#"{"error":{"message":"Not logged in","type":"authentication_error"}}"#;
        assert_eq!(
            judge_refusal(Api::Chat, &answer(401, login), false).0,
            Problem::NotLoggedIn
        );
        let key = r#"{"error":{"message":"Incorrect API key","code":"invalid_api_key"}}"#;
        assert_eq!(
            judge_refusal(Api::Chat, &answer(401, key), true).0,
            Problem::Unauthorized { key_sent: true }
        );
        let host = r#"{"error":{"message":"no","type":"permission_error","param":null,"code":"host_not_allowed"}}"#;
        assert_eq!(
            judge_refusal(Api::Chat, &answer(403, host), false).0,
            Problem::HostNotAllowed
        );
        let media = r#"{"error":{"message":"Content-Type must be application/json","type":"invalid_request_error","param":null,"code":null}}"#;
        let (problem, detail) = judge_refusal(Api::Chat, &answer(415, media), false);
        assert_eq!(problem, Problem::Status(415));
        assert_eq!(
            detail,
            "POST /v1/chat/completions answered 415 Unsupported Media Type: Content-Type must \
             be application/json"
        );
    }

    #[test]
    fn refusals_in_the_messages_shape_and_older_daemons() {
        let key = r#"{"type":"error","error":{"type":"authentication_error","message":"Incorrect API key provided."}}"#;
        let (problem, detail) = judge_refusal(Api::Messages, &answer(401, key), true);
        assert_eq!(problem, Problem::Unauthorized { key_sent: true });
        assert_eq!(
            detail,
            "POST /v1/messages answered 401 Unauthorized: Incorrect API key provided."
        );
        let login = r#"{"type":"error","error":{"type":"authentication_error","message":"Not logged in. Run claude-max-proxy login"}}"#;
        let problem = judge_refusal(Api::Messages, &answer(401, login), false).0;
        assert_eq!(problem, Problem::NotLoggedIn);
        let model =
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: unknown"}}"#;
        let problem = judge_refusal(Api::Messages, &answer(404, model), false).0;
        assert_eq!(problem, Problem::Status(404));
        let old = r#"{"error":{"message":"Unknown request URL: POST /v1/responses","type":"invalid_request_error","param":null,"code":"unknown_url"}}"#;
        let problem = judge_refusal(Api::Responses, &answer(404, old), false).0;
        assert_eq!(problem, Problem::UnknownEndpoint);
    }

    #[test]
    fn an_answer_needs_text() {
        let chat = |text: &str| Chat {
            first_token: Some(Duration::from_millis(3)),
            text: text.to_string(),
            model: None,
        };
        let long = "x".repeat(70);
        assert_eq!(
            finish(Api::Chat, chat(&long)).unwrap().text.chars().count(),
            61
        );
        let (problem, detail) = finish(Api::Messages, chat("  ")).err().unwrap();
        assert_eq!(problem, Problem::StreamFailed);
        assert!(detail.contains("message_stop"), "{detail}");
    }
}
