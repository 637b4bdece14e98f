//! The `--chat` stage: a short streaming completion through the proxy, timed from the
//! request to the first text, read until `data: [DONE]`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::answers;
use crate::check::{BODY_LIMIT, StepError, http_problem};
use crate::client::{self, Client};
use crate::sse;
use crate::stage::Problem;
use crate::target::Target;

/// Largest completion stream read (a short answer is well under this).
const STREAM_LIMIT: usize = 4 << 20;
/// How much of the completion's text is kept for the report.
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
    let status = response.status();
    if status != StatusCode::OK {
        let body = client::read_body(response.into_body(), BODY_LIMIT)
            .await
            .unwrap_or_default();
        let message = answers::error_message(&body);
        let detail = format!("POST /v1/chat/completions answered {status}: {message}");
        let problem = match status.as_u16() {
            401 if !answers::is_client_key_error(&message) => Problem::NotLoggedIn,
            401 | 403 => Problem::Unauthorized { key_sent },
            code => Problem::Status(code),
        };
        return Err((problem, detail));
    }
    let mut body = response.into_body();
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
                sse::Event::Done => {
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
                    return Ok(chat);
                }
            }
        }
    }
    Err((
        Problem::StreamFailed,
        "the stream ended without `data: [DONE]`".to_string(),
    ))
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
}
