//! The `--chat` stage's work: a short streaming completion through the proxy, timed from
//! the request to the first text, read until `data: [DONE]`, and judged when it does not
//! start (the daemon's guards, the client key, the CLI's login). `check` bounds it with
//! `--chat-timeout` and records the summary.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Response, StatusCode};
use serde_json::json;

use crate::answers;
use crate::client::{self, Client};
use crate::sse;
use crate::stage::Problem;
use crate::step::{self, Answer, BODY_LIMIT, StepError, http_problem};
use crate::target::Target;

/// Largest completion stream read (a short answer is well under this).
const STREAM_LIMIT: usize = 4 << 20;
/// How much of the completion's text is kept for the report.
const TEXT_KEEP: usize = 60;
/// The request as details name it (whatever the URL's prefix).
const REQUEST: &str = "POST /v1/chat/completions";

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

/// What the completion produced.
pub struct Chat {
    pub first_token: Option<Duration>,
    pub text: String,
    pub model: Option<String>,
}

/// A short streaming completion, timed from the request to the first text.
pub async fn stream_chat(
    client: &mut Client,
    target: &Target,
    model: &str,
    prompt: &str,
    key_sent: bool,
) -> Result<Chat, StepError> {
    let started = Instant::now();
    let request = json!({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": true,
        "max_tokens": 16,
    });
    let path = target.api_path("chat/completions");
    let response = client
        .send(Method::POST, &path, Some(Bytes::from(request.to_string())))
        .await
        .map_err(http_problem)?;
    if response.status() != StatusCode::OK {
        return Err(not_started(response, key_sent).await);
    }
    read_stream(response.into_body(), started).await
}

/// Reads the answer of a completion that did not start and judges it.
async fn not_started(response: Response<Incoming>, key_sent: bool) -> StepError {
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
    judge_refusal(&answer, key_sent)
}

/// Why the completion did not start: the daemon's guards, a 401 for the CLI's login (not
/// about the client key), the client key, or another status.
fn judge_refusal(answer: &Answer, key_sent: bool) -> StepError {
    if let Some(refused) = step::refusal(REQUEST, answer) {
        return refused;
    }
    let message = answer.message();
    let detail = format!("{REQUEST} answered {}: {message}", answer.status);
    let problem = match answer.status.as_u16() {
        401 if !answers::is_client_key_error(&message) => Problem::NotLoggedIn,
        401 | 403 => Problem::Unauthorized { key_sent },
        code => Problem::Status(code),
    };
    (problem, detail)
}

/// Reads the event stream until `[DONE]`, timing the first text from `started`.
async fn read_stream(mut body: Incoming, started: Instant) -> Result<Chat, StepError> {
    let mut parser = sse::Parser::default();
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
        for event in parser.push(&chunk) {
            match event {
                sse::Event::Text(text) => {
                    chat.first_token.get_or_insert_with(|| started.elapsed());
                    if chat.text.chars().count() < TEXT_KEEP {
                        chat.text.push_str(&text);
                    }
                }
                sse::Event::Error(message) => {
                    let detail = format!("the stream failed after it started: {message}");
                    return Err((Problem::StreamFailed, detail));
                }
                sse::Event::Done => return finish(chat, &parser),
            }
        }
    }
    Err((
        Problem::StreamFailed,
        "the stream ended without `data: [DONE]`".to_string(),
    ))
}

/// At `[DONE]`: the model the chunks named and the kept text, or a failure without text.
fn finish(mut chat: Chat, parser: &sse::Parser) -> Result<Chat, StepError> {
    chat.model = parser.model.clone();
    let text = chat.text.trim();
    chat.text = match text.char_indices().nth(TEXT_KEEP) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    };
    if chat.first_token.is_none() {
        let detail = "the stream ended ([DONE]) without any text".to_string();
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
            judge_refusal(&answer(401, login), false).0,
            Problem::NotLoggedIn
        );
        let key = r#"{"error":{"message":"Incorrect API key","code":"invalid_api_key"}}"#;
        assert_eq!(
            judge_refusal(&answer(401, key), true).0,
            Problem::Unauthorized { key_sent: true }
        );
        let host = r#"{"error":{"message":"no","type":"permission_error","param":null,"code":"host_not_allowed"}}"#;
        assert_eq!(
            judge_refusal(&answer(403, host), false).0,
            Problem::HostNotAllowed
        );
        let media = r#"{"error":{"message":"Content-Type must be application/json","type":"invalid_request_error","param":null,"code":null}}"#;
        let (problem, detail) = judge_refusal(&answer(415, media), false);
        assert_eq!(problem, Problem::Status(415));
        assert_eq!(
            detail,
            "POST /v1/chat/completions answered 415 Unsupported Media Type: Content-Type must \
             be application/json"
        );
    }
}
