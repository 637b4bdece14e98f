//! The Messages API's answer: the `message` object, its `usage` and `stop_reason`, and the
//! streaming events that build the same message piece by piece.

use serde_json::{Value, json};

use crate::conversation::{FinishReason, ToolCall, Usage};

/// The Messages API's `stop_reason` for how an answer ended.
pub fn stop_reason(reason: FinishReason, stop_sequence: Option<&str>) -> &'static str {
    match reason {
        FinishReason::Stop if stop_sequence.is_some() => "stop_sequence",
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

/// `usage` as the Messages API counts it: input without the cache, cache reads and writes
/// apart.
pub fn usage(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.uncached_input(),
        "output_tokens": usage.completion_tokens,
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.prompt_tokens_details.cached_tokens,
    })
}

/// A `tool_use` content block; `input` parsed from the call's JSON text (an object; `{}`
/// if the model's text was not one).
pub fn tool_use_block(call: &ToolCall) -> Value {
    let input = serde_json::from_str::<Value>(&call.arguments)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input})
}

/// A `thinking` content block. The CLI does not hand on the upstream signature, so it is
/// empty: such a block cannot be replayed to Anthropic itself (this proxy drops earlier
/// thinking anyway).
pub fn thinking_block(thinking: &str) -> Value {
    json!({"type": "thinking", "thinking": thinking, "signature": ""})
}

/// The parts of a whole answer.
pub struct Whole<'a> {
    pub id: &'a str,
    pub model: &'a str,
    pub reasoning: &'a str,
    pub text: &'a str,
    pub calls: &'a [ToolCall],
    pub reason: FinishReason,
    pub stop_sequence: Option<&'a str>,
    pub usage: &'a Usage,
}

/// The `message` object of a whole answer: thinking, text, then tool calls.
pub fn message(whole: &Whole<'_>) -> Value {
    let mut content = Vec::new();
    if !whole.reasoning.is_empty() {
        content.push(thinking_block(whole.reasoning));
    }
    if !whole.text.is_empty() || whole.calls.is_empty() {
        content.push(json!({"type": "text", "text": whole.text}));
    }
    content.extend(whole.calls.iter().map(tool_use_block));
    json!({
        "id": whole.id,
        "type": "message",
        "role": "assistant",
        "model": whole.model,
        "content": content,
        "stop_reason": stop_reason(whole.reason, whole.stop_sequence),
        "stop_sequence": whole.stop_sequence,
        "usage": usage(whole.usage),
    })
}

/// `message_start`: the message with no content yet.
pub fn message_start(id: &str, model: &str) -> Value {
    json!({"type": "message_start", "message": {
        "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 0, "output_tokens": 0}}})
}

/// `message_delta`: how it ended and the final usage.
pub fn message_delta(reason: FinishReason, stop_sequence: Option<&str>, usage: &Usage) -> Value {
    json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason(reason, stop_sequence), "stop_sequence": stop_sequence},
        "usage": self::usage(usage)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_message_with_a_tool_call() {
        let usage = Usage::new(10, 5, 100, 7);
        let calls = [ToolCall {
            id: "toolu_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        }];
        let m = message(&Whole {
            id: "msg_1",
            model: "claude-sonnet-4",
            reasoning: "",
            text: "Let me check.",
            calls: &calls,
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
            usage: &usage,
        });
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(m["content"][0]["text"], "Let me check.");
        assert_eq!(m["content"][1]["input"]["city"], "Paris");
        assert_eq!(
            m["usage"],
            json!({"input_tokens": 10, "output_tokens": 7,
                "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100})
        );
        assert_eq!(
            stop_reason(FinishReason::Stop, Some("END")),
            "stop_sequence"
        );
    }
}
