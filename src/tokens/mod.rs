//! The local estimate behind `POST /v1/messages/count_tokens`: how many input tokens a
//! Messages API body would cost, computed here — no CLI, no upstream request, no quota.
//!
//! Claude's tokenizer is not public, so this is an estimate: text is counted with
//! `cl100k_base` ([`text`]), images and PDFs with Anthropic's documented per-item costs
//! ([`media`]), and the framing Claude adds around a request is calibrated on Anthropic's
//! own published counts (its token-counting guide: system `You are a scientist` + user
//! `Hello, Claude` is 14 tokens; the `get_weather` tool example is 403). docs/api.md says
//! how far off it can be.

pub mod media;
pub mod text;

use serde_json::{Map, Value};

use crate::conversation::{ApiError, required_messages};

/// Named in the response header that marks the count as an estimate.
pub const TOKENIZER: &str = "cl100k_base";
/// The framing of one request (with its first message's, 7 in all: the guide's
/// `Hello, Claude` example and the 7-token baseline of a one-word message).
const REQUEST_TOKENS: u64 = 4;
/// Each message's role marker.
const MESSAGE_TOKENS: u64 = 3;
/// The framing of a `tool_use` or `tool_result` block.
const TOOL_BLOCK_TOKENS: u64 = 3;
/// The system prompt Anthropic adds when `tools` are offered, calibrated so that the
/// guide's `get_weather` example counts 403 (Anthropic's pricing page lists 313–346 such
/// tokens for current models, the tool definition's own JSON aside).
const TOOLS_PREAMBLE_TOKENS: u64 = 335;

/// Counts a parsed Messages API body; `max_image_tokens` is the model's image budget.
/// Shape errors name the field the way the Messages API does (`messages.0.content`).
pub fn count_messages_body(
    body: &Map<String, Value>,
    max_image_tokens: u64,
) -> Result<u64, ApiError> {
    let mut total = REQUEST_TOKENS;
    total += system_tokens(body.get("system"))?;
    let messages = required_messages(body.get("messages"), "Field required.")?;
    for (i, message) in messages.iter().enumerate() {
        let param = format!("messages.{i}");
        match message.get("role").and_then(Value::as_str) {
            Some("user" | "assistant" | "system") => {}
            _ => {
                return Err(ApiError::invalid(
                    format!("{param}.role"),
                    "`role` must be `user` or `assistant`.",
                ));
            }
        }
        total += MESSAGE_TOKENS + content_tokens(message.get("content"), &param, max_image_tokens)?;
    }
    total += tools_tokens(body.get("tools"))?;
    Ok(total)
}

/// `system`: a string or text blocks.
fn system_tokens(system: Option<&Value>) -> Result<u64, ApiError> {
    match system {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(text)) => Ok(text::tokens(text)),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .map(|(i, block)| match block.get("text") {
                Some(Value::String(text)) => Ok(text::tokens(text)),
                _ => Err(ApiError::invalid(
                    format!("system.{i}"),
                    "System blocks must be text blocks: {\"type\": \"text\", \"text\": …}.",
                )),
            })
            .sum(),
        Some(_) => Err(ApiError::invalid(
            "system",
            "`system` must be a string or an array of text blocks.",
        )),
    }
}

/// A message's (or a tool result's) `content`: a string or blocks.
fn content_tokens(content: Option<&Value>, param: &str, cap: u64) -> Result<u64, ApiError> {
    match content {
        Some(Value::String(text)) => Ok(text::tokens(text)),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .map(|(j, block)| block_tokens(block, &format!("{param}.content.{j}"), cap))
            .sum(),
        _ => Err(ApiError::invalid(
            format!("{param}.content"),
            "`content` must be a string or an array of content blocks.",
        )),
    }
}

/// One content block, by kind.
fn block_tokens(block: &Value, param: &str, cap: u64) -> Result<u64, ApiError> {
    let Some(kind) = block.get("type").and_then(Value::as_str) else {
        return Err(ApiError::invalid(
            format!("{param}.type"),
            "Each content block needs a string `type`.",
        ));
    };
    let string = |key: &str| {
        block
            .get(key)
            .and_then(Value::as_str)
            .map_or(0, text::tokens)
    };
    Ok(match kind {
        "text" => string("text"),
        "image" => media::image_tokens(block.get("source"), cap),
        "document" => {
            media::document_tokens(block.get("source")) + string("title") + string("context")
        }
        "tool_use" | "server_tool_use" => {
            TOOL_BLOCK_TOKENS + string("name") + json_tokens(block.get("input"))
        }
        "tool_result" => {
            let content = match block.get("content") {
                None | Some(Value::Null) => 0,
                content => content_tokens(content, param, cap)?,
            };
            TOOL_BLOCK_TOKENS + content
        }
        // Earlier turns' thinking is not counted (Anthropic's token-counting guide).
        "thinking" | "redacted_thinking" => 0,
        _ => json_tokens(Some(block)),
    })
}

/// `tools`: the preamble once, then each definition's JSON (name, description, schema).
fn tools_tokens(tools: Option<&Value>) -> Result<u64, ApiError> {
    let tools = match tools {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Array(tools)) if tools.is_empty() => return Ok(0),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(ApiError::invalid("tools", "`tools` must be an array.")),
    };
    let mut total = TOOLS_PREAMBLE_TOKENS;
    for (i, tool) in tools.iter().enumerate() {
        let Some(object) = tool.as_object() else {
            return Err(ApiError::invalid(
                format!("tools.{i}"),
                "Each tool must be an object.",
            ));
        };
        let definition: Map<String, Value> = object
            .iter()
            .filter(|(key, _)| key.as_str() != "cache_control")
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        total += json_tokens(Some(&Value::Object(definition)));
    }
    Ok(total)
}

/// Tokens of a value's compact JSON.
fn json_tokens(value: Option<&Value>) -> u64 {
    value.map_or(0, |value| text::tokens(&value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn count(body: Value) -> u64 {
        count_messages_body(body.as_object().unwrap(), 1_600).unwrap()
    }

    /// Anthropic's token-counting guide, "Count tokens in basic messages": 14.
    #[test]
    fn the_guides_basic_example_counts_exactly() {
        assert_eq!(
            count(
                json!({"model": "claude-opus-5-5", "system": "You are a scientist",
                "messages": [{"role": "user", "content": "Hello, Claude"}]})
            ),
            14
        );
    }

    /// The guide's "Count tokens in messages with tools": 403.
    #[test]
    fn the_guides_tools_example_counts_exactly() {
        let body = json!({"model": "claude-opus-5-5",
            "tools": [{"name": "get_weather",
                "description": "Get the current weather in a given location",
                "input_schema": {"type": "object", "properties": {"location": {"type": "string",
                    "description": "The city and state, e.g. San Francisco, CA"}},
                    "required": ["location"]}}],
            "messages": [{"role": "user", "content": "What's the weather like in San Francisco?"}]});
        assert_eq!(count(body), 403);
    }

    #[test]
    fn every_block_kind_counts() {
        let base = count(json!({"messages": [{"role": "user", "content": "hi"}]}));
        let with = |block: Value| {
            count(
                json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, block]}]}),
            )
        };
        assert_eq!(
            with(json!({"type": "image", "source": {"type": "url", "url": "https://x/y.png"}})),
            base + 1_600
        );
        assert_eq!(
            with(json!({"type": "document", "source": {"type": "url", "url": "https://x/y.pdf"}})),
            base + media::PDF_PAGE_TOKENS
        );
        assert!(
            with(json!({"type": "tool_result", "tool_use_id": "t1", "content": "sunny"})) > base
        );
        assert_eq!(
            with(json!({"type": "thinking", "thinking": "long thoughts", "signature": "s"})),
            base
        );
        assert!(
            with(json!({"type": "search_result", "source": "s", "title": "t", "content": []}))
                > base
        );
        let call = count(json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "sunny"}]}]}]}));
        assert!(call > base + 2 * MESSAGE_TOKENS);
    }

    #[test]
    fn bad_shapes_name_their_field() {
        for (body, param) in [
            (json!({}), "messages"),
            (json!({"messages": []}), "messages"),
            (
                json!({"messages": [{"role": "bot", "content": "x"}]}),
                "messages.0.role",
            ),
            (
                json!({"messages": [{"role": "user", "content": 5}]}),
                "messages.0.content",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]}),
                "messages.0.content.0.type",
            ),
            (
                json!({"system": 5, "messages": [{"role": "user", "content": "x"}]}),
                "system",
            ),
            (
                json!({"tools": {}, "messages": [{"role": "user", "content": "x"}]}),
                "tools",
            ),
        ] {
            let error = count_messages_body(body.as_object().unwrap(), 1_600).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{body}");
        }
    }
}
