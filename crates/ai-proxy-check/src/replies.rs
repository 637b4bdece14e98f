//! What the request stage's answer says, per API: the text, the model the CLI used, the end
//! of the stream and failures after it started, from each event ([`Reader`]), or from a
//! whole JSON answer ([`whole`]) when the daemon did not stream.
//!
//! - chat: chunks with `choices[0].delta.content`, `data: [DONE]`, `{"error": …}`;
//! - messages: `message_start` (the model), `content_block_delta` with a `text_delta`,
//!   `message_stop`, `error`;
//! - responses: `response.created` (the model), `response.output_text.delta`,
//!   `response.completed` (or `response.incomplete`: cut at the token limit, still an
//!   answer), `response.failed`, `error`.

use serde_json::Value;

use crate::api::Api;
use crate::sse::Frame;

/// One meaningful event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A piece of the answer's text.
    Text(String),
    /// The stream's end marker.
    Done,
    /// The stream failed after it started.
    Error(String),
}

/// Reads one API's events, remembering the model they name.
#[derive(Debug)]
pub struct Reader {
    api: Api,
    /// The model of the answer (the model the CLI really used).
    pub model: Option<String>,
}

impl Reader {
    pub fn new(api: Api) -> Reader {
        Reader { api, model: None }
    }

    /// The meaning of one frame, if any.
    pub fn read(&mut self, frame: &Frame) -> Option<Event> {
        if self.api == Api::Chat && frame.data.trim() == "[DONE]" {
            return Some(Event::Done);
        }
        let value: Value = serde_json::from_str(&frame.data).ok()?;
        if let Some(error) = value.get("error").filter(|e| e.is_object()) {
            return Some(Event::Error(message_of(error)));
        }
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .or(frame.event.as_deref())
            .unwrap_or_default();
        match self.api {
            Api::Chat => {
                self.note_model(value.get("model"));
                text(value.pointer("/choices/0/delta/content"))
            }
            Api::Messages => match kind {
                "message_start" => {
                    self.note_model(value.pointer("/message/model"));
                    None
                }
                "content_block_delta" => text(value.pointer("/delta/text")),
                "message_stop" => Some(Event::Done),
                _ => None,
            },
            Api::Responses => {
                self.note_model(value.pointer("/response/model"));
                match kind {
                    "response.output_text.delta" => text(value.get("delta")),
                    "response.completed" | "response.incomplete" => Some(Event::Done),
                    "response.failed" => {
                        let error = value.pointer("/response/error").unwrap_or(&Value::Null);
                        Some(Event::Error(message_of(error)))
                    }
                    "error" => Some(Event::Error(message_of(&value))),
                    _ => None,
                }
            }
        }
    }

    fn note_model(&mut self, model: Option<&Value>) {
        if let Some(model) = model.and_then(Value::as_str).filter(|m| !m.is_empty()) {
            self.model = Some(model.to_string());
        }
    }
}

/// A whole (not streamed) answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Whole {
    pub text: String,
    pub model: Option<String>,
}

/// Reads a whole JSON answer of `api`; the error says why it is not one.
pub fn whole(api: Api, body: &[u8]) -> Result<Whole, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| format!("the answer is neither a stream nor JSON: {}", snip(body)))?;
    let texts: Vec<&str> = match api {
        Api::Chat => value
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .into_iter()
            .collect(),
        Api::Messages => items(&value, "content")
            .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .collect(),
        Api::Responses => items(&value, "output")
            .filter(|item| item.get("type").and_then(Value::as_str) == Some("message"))
            .flat_map(|item| items(item, "content"))
            .filter(|part| part.get("type").and_then(Value::as_str) == Some("output_text"))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
    };
    if texts.is_empty() {
        return Err(format!(
            "the answer is not a {} answer with text: {}",
            api.request(),
            snip(body)
        ));
    }
    Ok(Whole {
        text: texts.concat(),
        model: value
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The elements of `value[key]`, if it is an array.
fn items<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn text(value: Option<&Value>) -> Option<Event> {
    value
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(|t| Event::Text(t.to_string()))
}

/// The `message` of an error object (every API puts one there).
fn message_of(error: &Value) -> String {
    error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("unknown error")
        .to_string()
}

fn snip(body: &[u8]) -> String {
    crate::answers::snippet(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(api: Api, frames: &[(&str, &str)]) -> (Vec<Event>, Option<String>) {
        let mut reader = Reader::new(api);
        let events = frames
            .iter()
            .filter_map(|(event, data)| {
                reader.read(&Frame {
                    event: (!event.is_empty()).then(|| event.to_string()),
                    data: data.to_string(),
                })
            })
            .collect();
        (events, reader.model)
    }

    #[test]
    fn chat_chunks() {
        let (events, model) = read_all(
            Api::Chat,
            &[
                (
                    "",
                    r#"{"model":"claude-haiku-4-5","choices":[{"delta":{"role":"assistant"}}]}"#,
                ),
                ("", r#"{"choices":[{"delta":{"content":"po"}}]}"#),
                ("", r#"{"choices":[]}"#),
                ("", "not json"),
                ("", "[DONE]"),
            ],
        );
        assert_eq!(events, vec![Event::Text("po".into()), Event::Done]);
        assert_eq!(model.as_deref(), Some("claude-haiku-4-5"));
        let (events, _) = read_all(
            Api::Chat,
            &[("", r#"{"error":{"message":"upstream 529"}}"#)],
        );
        assert_eq!(events, vec![Event::Error("upstream 529".into())]);
    }

    #[test]
    fn messages_events() {
        let (events, model) = read_all(
            Api::Messages,
            &[
                (
                    "message_start",
                    r#"{"type":"message_start","message":{"model":"claude-haiku-4-5","content":[]}}"#,
                ),
                ("ping", r#"{"type":"ping"}"#),
                (
                    "content_block_start",
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"pong"}}"#,
                ),
                (
                    "message_delta",
                    r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#,
                ),
                ("message_stop", r#"{"type":"message_stop"}"#),
                ("", "[DONE]"),
            ],
        );
        assert_eq!(events, vec![Event::Text("pong".into()), Event::Done]);
        assert_eq!(model.as_deref(), Some("claude-haiku-4-5"));
        let (events, _) = read_all(
            Api::Messages,
            &[(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#,
            )],
        );
        assert_eq!(events, vec![Event::Error("busy".into())]);
    }

    #[test]
    fn responses_events() {
        let (events, model) = read_all(
            Api::Responses,
            &[
                (
                    "response.created",
                    r#"{"type":"response.created","response":{"model":"claude-haiku-4-5","output":[]}}"#,
                ),
                (
                    "response.output_text.delta",
                    r#"{"type":"response.output_text.delta","delta":"po"}"#,
                ),
                ("", r#"{"type":"response.output_text.delta","delta":"ng"}"#),
                (
                    "response.output_text.done",
                    r#"{"type":"response.output_text.done","text":"pong"}"#,
                ),
                (
                    "response.incomplete",
                    r#"{"type":"response.incomplete","response":{"model":"claude-haiku-4-5-x"}}"#,
                ),
            ],
        );
        assert_eq!(
            events,
            vec![
                Event::Text("po".into()),
                Event::Text("ng".into()),
                Event::Done
            ]
        );
        assert_eq!(model.as_deref(), Some("claude-haiku-4-5-x"));
        let failed = r#"{"type":"response.failed","response":{"error":{"code":"server_error","message":"CLI crashed"}}}"#;
        let (events, _) = read_all(Api::Responses, &[("response.failed", failed)]);
        assert_eq!(events, vec![Event::Error("CLI crashed".into())]);
        let error = r#"{"type":"error","code":"x","message":"bad"}"#;
        assert_eq!(
            read_all(Api::Responses, &[("error", error)]).0,
            vec![Event::Error("bad".into())]
        );
    }

    #[test]
    fn whole_answers() {
        let chat = br#"{"model":"m1","choices":[{"message":{"content":"pong"}}]}"#;
        assert_eq!(
            whole(Api::Chat, chat),
            Ok(Whole {
                text: "pong".into(),
                model: Some("m1".into())
            })
        );
        let message = br#"{"type":"message","model":"m2","content":[{"type":"thinking","thinking":"x"},{"type":"text","text":"po"},{"type":"text","text":"ng"}]}"#;
        assert_eq!(
            whole(Api::Messages, message).map(|w| w.text),
            Ok("pong".into())
        );
        let response = br#"{"model":"m3","output":[{"type":"reasoning","summary":[]},{"type":"message","content":[{"type":"output_text","text":"pong"}]}]}"#;
        assert_eq!(
            whole(Api::Responses, response).map(|w| w.text),
            Ok("pong".into())
        );
        assert!(
            whole(Api::Responses, chat)
                .unwrap_err()
                .contains("POST /v1/responses")
        );
        assert!(whole(Api::Chat, b"<html>").unwrap_err().contains("neither"));
    }
}
