//! Chat completions' answer shapes as OpenAI documents them: `chat.completion` and
//! `chat.completion.chunk` (their finish reason and usage are
//! [`crate::conversation::finish`]'s; the model objects, read by both kinds of client, are
//! `http::models`').

use serde::Serialize;

use crate::conversation::{FinishReason, Usage};

#[derive(Clone, Debug, Serialize)]
pub struct ResponseMessage {
    pub role: &'static str,
    /// `null` when the answer is only tool calls.
    pub content: Option<String>,
    pub refusal: Option<String>,
    /// The model's thinking, when it thought (`reasoning_effort` asked for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ResponseToolCall>>,
}

/// A tool call in a response message (or, streamed, in a delta).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResponseToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCall,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: String,
}

/// A streamed piece of a tool call: the first carries id, type and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeltaToolCall {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: DeltaFunction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeltaFunction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub arguments: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: ResponseMessage,
    pub logprobs: Option<()>,
    pub finish_reason: FinishReason,
}

/// A non-streaming response.
#[derive(Clone, Debug, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Usage,
    pub system_fingerprint: Option<String>,
}

impl ChatCompletion {
    /// Adds the answer's tool calls; a message of tool calls only has `content: null`.
    pub fn with_tool_calls(mut self, calls: Vec<ResponseToolCall>) -> ChatCompletion {
        if calls.is_empty() {
            return self;
        }
        if let Some(choice) = self.choices.first_mut() {
            if choice.message.content.as_deref() == Some("") {
                choice.message.content = None;
            }
            choice.message.tool_calls = Some(calls);
        }
        self
    }

    pub fn new(
        id: String,
        created: i64,
        model: String,
        content: String,
        finish: FinishReason,
        usage: Usage,
    ) -> ChatCompletion {
        ChatCompletion {
            id,
            object: "chat.completion",
            created,
            model,
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant",
                    content: Some(content),
                    refusal: None,
                    reasoning_content: None,
                    tool_calls: None,
                },
                logprobs: None,
                finish_reason: finish,
            }],
            usage,
            system_fingerprint: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The model's thinking, as DeepSeek-style clients read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<DeltaToolCall>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub logprobs: Option<()>,
    pub finish_reason: Option<FinishReason>,
}

/// One streaming chunk.
#[derive(Clone, Debug, Serialize)]
pub struct Chunk {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub system_fingerprint: Option<String>,
    pub choices: Vec<ChunkChoice>,
    /// With `include_usage`: `null` on every chunk but the last, which carries the usage
    /// and no choices. Without it the field is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
}

impl Chunk {
    fn base(id: &str, created: i64, model: &str, include_usage: bool) -> Chunk {
        Chunk {
            id: id.to_string(),
            object: "chat.completion.chunk",
            created,
            model: model.to_string(),
            system_fingerprint: None,
            choices: Vec::new(),
            usage: include_usage.then_some(None),
        }
    }

    /// A chunk with one choice carrying `delta` and `finish_reason`.
    pub fn choice(
        id: &str,
        created: i64,
        model: &str,
        include_usage: bool,
        delta: Delta,
        finish_reason: Option<FinishReason>,
    ) -> Chunk {
        let mut chunk = Chunk::base(id, created, model, include_usage);
        chunk.choices.push(ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        });
        chunk
    }

    /// The final usage chunk: empty `choices`, `usage` set.
    pub fn usage(id: &str, created: i64, model: &str, usage: Usage) -> Chunk {
        let mut chunk = Chunk::base(id, created, model, true);
        chunk.usage = Some(Some(usage));
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_cache_in_prompt_tokens() {
        let usage = Usage::new(42, 3, 5, 7);
        assert_eq!(usage.prompt_tokens, 50);
        assert_eq!(usage.total_tokens, 57);
        assert_eq!(usage.prompt_tokens_details.cached_tokens, 5);
    }

    #[test]
    fn absurd_usage_saturates() {
        let usage = Usage::new(u64::MAX, 1, 1, 1);
        assert_eq!(usage.prompt_tokens, u64::MAX);
        assert_eq!(usage.total_tokens, u64::MAX);
    }

    #[test]
    fn chunk_usage_field_follows_include_usage() {
        let delta = Delta {
            role: Some("assistant"),
            content: Some(String::new()),
            ..Delta::default()
        };
        let with =
            serde_json::to_value(Chunk::choice("c", 1, "m", true, delta.clone(), None)).unwrap();
        assert!(with.get("usage").unwrap().is_null());
        let without = serde_json::to_value(Chunk::choice("c", 1, "m", false, delta, None)).unwrap();
        assert!(without.get("usage").is_none());
        let last = serde_json::to_value(Chunk::usage("c", 1, "m", Usage::new(1, 0, 0, 1))).unwrap();
        assert_eq!(last["choices"].as_array().unwrap().len(), 0);
        assert_eq!(last["usage"]["total_tokens"], 2);
    }
}
