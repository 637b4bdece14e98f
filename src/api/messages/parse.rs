//! Parsing and validating `POST /v1/messages` bodies into the one request shape the runner
//! plans from ([`ChatRequest`]): `system` becomes system messages, `tool_use` blocks become
//! tool calls of the assistant turn, `tool_result` blocks become tool messages (before the
//! user's own text of that turn), `image` and `document` blocks become attachments.
//!
//! What the Messages API accepts and this proxy cannot carry is refused with a 400 that
//! says so (server tools, uploaded files, an assistant prefill); what has no effect through the
//! CLI (`temperature`, `top_k`, `metadata`, cache hints, earlier thinking blocks) is accepted
//! and ignored, as the API ignores unknown fields. Claude Code's own request metadata — the
//! `x-anthropic-billing-header:` block at the start of `system` — is dropped: the daemon's
//! CLI sends its own.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::conversation::controls::{
    Controls, ResponseFormat, effort_named, positive_int, present, schema_format,
};
use crate::conversation::document::parse_document_block;
use crate::conversation::image::from_base64;
use crate::conversation::limits::{self, ToolTally};
use crate::conversation::tools::{
    FunctionDef, ToolCall, ToolChoice, ToolNames, Tools, call_id, description, require_tools_for,
    tool_name,
};
use crate::conversation::{
    ApiError, ChatRequest, Message, Role, check_ending, json_object, required_messages,
    required_model,
};
use crate::conversation::{Attachment, Source};

/// The prefix of the system block Claude Code adds as request metadata.
const BILLING_HEADER: &str = "x-anthropic-billing-header:";

/// Parameters accepted without effect (named back in `x-ignored-params`).
const IGNORED: &[&str] = &["temperature", "top_p", "top_k", "service_tier"];

/// Parses and validates a Messages API request body.
pub fn parse_messages_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let obj = json_object(body, "`model`, `max_tokens` and `messages`")?;
    let model = required_model(&obj)?;
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("stream", "`stream` must be a boolean.")),
    };
    let mut messages = system_messages(obj.get("system"))?;
    messages.extend(conversation(obj.get("messages"))?);
    check_ending(&messages)?;
    Ok(ChatRequest {
        model,
        messages,
        stream,
        include_usage: true,
        controls: controls(&obj)?,
        tools: tools(&obj)?,
    })
}

/// `system`: a string or text blocks (the billing-header block dropped).
fn system_messages(value: Option<&Value>) -> Result<Vec<Message>, ApiError> {
    let texts: Vec<String> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::new();
            for (i, block) in blocks.iter().enumerate() {
                match (block.get("type").and_then(Value::as_str), block.get("text")) {
                    (Some("text"), Some(Value::String(text))) => {
                        if !text.starts_with(BILLING_HEADER) {
                            texts.push(text.clone());
                        }
                    }
                    _ => {
                        return Err(ApiError::invalid(
                            format!("system.{i}"),
                            "System blocks must be text blocks: {\"type\": \"text\", \"text\": …}.",
                        ));
                    }
                }
            }
            texts
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "system",
                "`system` must be a string or an array of text blocks.",
            ));
        }
    };
    Ok(texts
        .into_iter()
        .map(|text| Message::plain(Role::System, text))
        .collect())
}

/// `messages`: each turn's blocks, in order.
fn conversation(value: Option<&Value>) -> Result<Vec<Message>, ApiError> {
    let items = required_messages(value, "Field required.")?;
    let mut out: Vec<Message> = Vec::with_capacity(items.len());
    // The ids of the tool_use blocks so far, which later tool_result blocks may answer.
    let mut called: HashSet<String> = HashSet::new();
    let mut tally = ToolTally::default();
    for (i, item) in items.iter().enumerate() {
        let param = format!("messages.{i}");
        let role = match item.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            // Claude Code 2.1.332 sends reminders as role-`system` messages.
            Some("system") => Role::System,
            _ => {
                return Err(ApiError::invalid(
                    format!("{param}.role"),
                    "`role` must be `user` or `assistant`.",
                ));
            }
        };
        let turn = Turn::read(item.get("content"), role, &param, &called, &mut tally)?;
        called.extend(turn.calls.iter().map(|c| c.id.clone()));
        out.extend(turn.into_messages(role));
    }
    if out.last().is_some_and(|m| m.role == Role::Assistant) {
        return Err(ApiError::invalid(
            "messages",
            "The last message is from the assistant: this proxy cannot continue a partial \
             assistant message (prefill). End with a user message.",
        ));
    }
    Ok(out)
}

/// One message's blocks, sorted by what they become.
#[derive(Default)]
struct Turn {
    texts: Vec<String>,
    attachments: Vec<Attachment>,
    calls: Vec<ToolCall>,
    results: Vec<Message>,
}

impl Turn {
    /// Reads a message's `content`; its tool_result blocks must answer one of `called`
    /// (the earlier turns' tool_use ids), and its calls and results count in `tally`.
    fn read(
        content: Option<&Value>,
        role: Role,
        param: &str,
        called: &HashSet<String>,
        tally: &mut ToolTally,
    ) -> Result<Turn, ApiError> {
        let mut turn = Turn::default();
        let blocks = match content {
            Some(Value::String(text)) => {
                turn.texts.push(text.clone());
                return Ok(turn);
            }
            Some(Value::Array(blocks)) => blocks,
            _ => {
                return Err(ApiError::invalid(
                    format!("{param}.content"),
                    "`content` must be a string or an array of content blocks.",
                ));
            }
        };
        for (j, block) in blocks.iter().enumerate() {
            let param = format!("{param}.content.{j}");
            let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
            match (kind, role) {
                ("text", _) => turn.texts.push(text_of(block, &param)?),
                ("image", Role::User) => turn.attachments.push(image(block, &param)?),
                ("document", Role::User) => {
                    turn.attachments.push(parse_document_block(block, &param)?)
                }
                ("tool_use", Role::Assistant) => {
                    tally.call(&param)?;
                    turn.calls.push(tool_use(block, &param)?);
                }
                ("tool_result", Role::User) => {
                    tally.result(&param)?;
                    let result = tool_result(block, &param, called)?;
                    turn.results.push(result);
                }
                // Earlier thinking is the model's own and cannot be replayed through the CLI.
                ("thinking" | "redacted_thinking", Role::Assistant) => {}
                ("search_result" | "container_upload", _) => {
                    return Err(ApiError::invalid(
                        format!("{param}.type"),
                        format!(
                            "`{kind}` blocks are not supported by this proxy; send the \
                             content as text."
                        ),
                    ));
                }
                _ => {
                    return Err(ApiError::invalid(
                        format!("{param}.type"),
                        format!(
                            "A `{}` block is not allowed in a `{}` message here.",
                            kind.chars().take(40).collect::<String>(),
                            match role {
                                Role::Assistant => "assistant",
                                Role::System => "system",
                                _ => "user",
                            }
                        ),
                    ));
                }
            }
        }
        Ok(turn)
    }

    /// Tool results first (they answer the previous turn), then the turn itself.
    fn into_messages(self, role: Role) -> Vec<Message> {
        let mut out = self.results;
        let text = self.texts.join("\n");
        if !text.trim().is_empty() || !self.attachments.is_empty() || !self.calls.is_empty() {
            out.push(Message {
                role,
                text,
                attachments: self.attachments,
                tool_calls: self.calls,
                tool_call_id: None,
                result: None,
            });
        }
        out
    }
}

fn text_of(block: &Value, param: &str) -> Result<String, ApiError> {
    match block.get("text") {
        Some(Value::String(text)) => Ok(text.clone()),
        _ => Err(ApiError::invalid(
            format!("{param}.text"),
            "A text block needs a string `text`.",
        )),
    }
}

/// An `image` block: `source` of type `base64` or `url`.
fn image(block: &Value, param: &str) -> Result<Attachment, ApiError> {
    let source = block.get("source").unwrap_or(&Value::Null);
    let source_param = format!("{param}.source");
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media_type = source.get("media_type").and_then(Value::as_str);
            let data = source.get("data").and_then(Value::as_str);
            match (media_type, data) {
                (Some(media_type), Some(data)) => from_base64(media_type, data, &source_param),
                _ => Err(ApiError::invalid(
                    source_param,
                    "A base64 image source needs `media_type` and `data`.",
                )),
            }
        }
        Some("url") => match source.get("url").and_then(Value::as_str) {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Ok(Attachment::Image(Source::Url(url.to_string())))
            }
            _ => Err(ApiError::invalid(
                format!("{source_param}.url"),
                "An image URL must be an http(s) URL.",
            )),
        },
        _ => Err(ApiError::invalid(
            format!("{source_param}.type"),
            "An image `source` must be of type `base64` or `url` (file ids are not supported).",
        )),
    }
}

fn tool_use(block: &Value, param: &str) -> Result<ToolCall, ApiError> {
    let id = call_id(block, "id", param, "A tool_use block needs an `id`.")?;
    let name = tool_name(block, param, "A tool_use block needs the tool's `name`.")?;
    let arguments = match block.get("input") {
        Some(input @ Value::Object(_)) => input.to_string(),
        None | Some(Value::Null) => "{}".to_string(),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{param}.input"),
                "A tool_use block's `input` must be an object.",
            ));
        }
    };
    Ok(ToolCall {
        id: id.to_string(),
        name: name.to_string(),
        arguments,
    })
}

/// A `tool_result` block: a tool message answering a `tool_use` of an earlier turn (one
/// of `called`).
fn tool_result(block: &Value, param: &str, called: &HashSet<String>) -> Result<Message, ApiError> {
    let id = block
        .get("tool_use_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    if id.is_empty() || !called.contains(id) {
        return Err(ApiError::invalid(
            format!("{param}.tool_use_id"),
            "This tool_result answers no tool_use block of an earlier assistant message; its \
             `tool_use_id` must be one of their ids.",
        ));
    }
    let mut texts = Vec::new();
    let mut attachments = Vec::new();
    match block.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => texts.push(text.clone()),
        Some(Value::Array(parts)) => {
            for (k, part) in parts.iter().enumerate() {
                let part_param = format!("{param}.content.{k}");
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => texts.push(text_of(part, &part_param)?),
                    Some("image") => attachments.push(image(part, &part_param)?),
                    _ => {
                        return Err(ApiError::invalid(
                            format!("{part_param}.type"),
                            "tool_result content may hold text and image blocks.",
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{param}.content"),
                "tool_result `content` must be a string or an array of blocks.",
            ));
        }
    }
    let is_error = block.get("is_error").and_then(Value::as_bool) == Some(true);
    let result =
        crate::conversation::ToolOutput::assemble(block.get("content"), &attachments, is_error);
    Ok(Message {
        role: Role::Tool,
        text: texts.join("\n"),
        attachments,
        tool_calls: Vec::new(),
        tool_call_id: Some(id.to_string()),
        result: Some(result),
    })
}

/// `max_tokens`, `stop_sequences`, `thinking`, `output_config` / `output_format`.
fn controls(obj: &Map<String, Value>) -> Result<Controls, ApiError> {
    let max_tokens = positive_int(obj, "max_tokens")?;
    let stop = match obj.get("stop_sequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().filter(|s| !s.is_empty()).map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ApiError::invalid(
                    "stop_sequences",
                    "`stop_sequences` must be an array of non-empty strings.",
                )
            })?,
        Some(_) => {
            return Err(ApiError::invalid(
                "stop_sequences",
                "`stop_sequences` must be an array of strings.",
            ));
        }
    };
    let thinking = match obj.get("thinking") {
        None | Some(Value::Null) => false,
        Some(t) => match t.get("type").and_then(Value::as_str) {
            Some("enabled" | "adaptive") => true,
            Some("disabled") => false,
            _ => {
                return Err(ApiError::invalid(
                    "thinking.type",
                    "`thinking.type` must be `enabled`, `adaptive` or `disabled`.",
                ));
            }
        },
    };
    let config = obj.get("output_config").filter(|c| c.is_object());
    let effort = match config.and_then(|c| c.get("effort")) {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(effort_named(name).ok_or_else(|| {
            ApiError::invalid(
                "output_config.effort",
                "`output_config.effort` must be low, medium, high, xhigh or max.",
            )
        })?),
        Some(_) => {
            return Err(ApiError::invalid(
                "output_config.effort",
                "`output_config.effort` must be a string.",
            ));
        }
    };
    let format = match (
        config
            .and_then(|c| c.get("format"))
            .filter(|f| !f.is_null()),
        obj.get("output_format").filter(|f| !f.is_null()),
    ) {
        (Some(format), _) => output_format(format, "output_config.format")?,
        (None, Some(format)) => output_format(format, "output_format")?,
        (None, None) => ResponseFormat::Text,
    };
    Ok(Controls {
        max_tokens,
        stop,
        effort,
        thinking,
        format,
        ignored: present(obj, IGNORED),
    })
}

/// Structured outputs: `{"type": "json_schema", "schema": {…}}`.
fn output_format(format: &Value, param: &str) -> Result<ResponseFormat, ApiError> {
    match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => schema_format(format.get("schema"), &format!("{param}.schema")),
        _ => Err(ApiError::invalid(
            format!("{param}.type"),
            format!("`{param}.type` must be `json_schema`."),
        )),
    }
}

/// `tools` (custom tools with `input_schema`) and `tool_choice`.
fn tools(obj: &Map<String, Value>) -> Result<Tools, ApiError> {
    let mut functions: Vec<FunctionDef> = Vec::new();
    match obj.get("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            limits::check_tools(items.len(), "tools")?;
            let mut names = ToolNames::default();
            for (i, tool) in items.iter().enumerate() {
                let param = format!("tools.{i}");
                let function = tool_def(tool, &param)?;
                names.add(&function.name, &param)?;
                functions.push(function);
            }
        }
        Some(_) => return Err(ApiError::invalid("tools", "`tools` must be an array.")),
    }
    let (choice, parallel) = match obj.get("tool_choice") {
        None | Some(Value::Null) => (ToolChoice::Auto, true),
        Some(choice) => {
            let parallel = choice
                .get("disable_parallel_tool_use")
                .and_then(Value::as_bool)
                != Some(true);
            let kind = match choice.get("type").and_then(Value::as_str) {
                Some("auto") => ToolChoice::Auto,
                Some("any") => ToolChoice::Required,
                Some("none") => ToolChoice::None,
                Some("tool") => match choice.get("name").and_then(Value::as_str) {
                    Some(name) if functions.iter().any(|f| f.name == name) => {
                        ToolChoice::Named(name.to_string())
                    }
                    _ => {
                        return Err(ApiError::invalid(
                            "tool_choice.name",
                            "`tool_choice` of type `tool` must name one of `tools`.",
                        ));
                    }
                },
                _ => {
                    return Err(ApiError::invalid(
                        "tool_choice.type",
                        "`tool_choice.type` must be auto, any, tool or none.",
                    ));
                }
            };
            (kind, parallel)
        }
    };
    require_tools_for(&choice, &functions)?;
    Ok(Tools {
        functions,
        choice,
        parallel,
    })
}

/// A custom tool: `name`, `description`, `input_schema`. Anthropic's server and client
/// tools with a versioned `type` (web search, bash, computer use, …) cannot run here.
fn tool_def(tool: &Value, param: &str) -> Result<FunctionDef, ApiError> {
    match tool.get("type").and_then(Value::as_str) {
        None | Some("custom") => {}
        Some(kind) => {
            return Err(ApiError::invalid(
                format!("{param}.type"),
                format!(
                    "Tools of type `{}` are not supported by this proxy; only custom tools \
                     (name, description, input_schema) are.",
                    kind.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    let name = tool_name(
        tool,
        param,
        "A tool needs a `name` of 1 to 64 letters, digits, `_` or `-`.",
    )?;
    let description = description(tool, param)?;
    let parameters = match tool.get("input_schema") {
        Some(schema @ Value::Object(map))
            if map.get("type").and_then(Value::as_str) == Some("object") =>
        {
            schema.to_string()
        }
        _ => {
            return Err(ApiError::invalid(
                format!("{param}.input_schema"),
                "`input_schema` must be a JSON schema of `\"type\": \"object\"`.",
            ));
        }
    };
    Ok(FunctionDef {
        name: name.to_string(),
        description,
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<ChatRequest, ApiError> {
        parse_messages_request(value.to_string().as_bytes())
    }

    #[test]
    fn a_tool_round_trip_becomes_calls_and_tool_messages() {
        let request = parse(json!({"model": "claude-sonnet-4", "max_tokens": 100,
            "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2"},
                       {"type": "text", "text": "Be terse."}],
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                     "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                    {"type": "text", "text": "And tomorrow?"}]}]}))
        .unwrap();
        assert_eq!(request.system_prompt().as_deref(), Some("Be terse."));
        let roles: Vec<Role> = request.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::User
            ]
        );
        assert_eq!(request.messages[2].text, "Checking.");
        assert_eq!(
            request.messages[2].tool_calls[0].arguments,
            r#"{"city":"Paris"}"#
        );
        assert_eq!(request.messages[3].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(request.tools.choice, ToolChoice::Required);
        assert!(!request.tools.parallel);
        assert_eq!(request.controls.max_tokens, Some(100));
    }

    #[test]
    fn what_cannot_be_carried_is_a_400_naming_the_field() {
        for (body, param) in [
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
                "tools.0.type",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": "The answer is"}]}),
                "messages",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "nope", "content": "x"}]}]}),
                "messages.0.content.0.tool_use_id",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/bmp",
                "data": "AAAA"}}]}]}),
                "messages.0.content.0.source",
            ),
            (
                json!({"model": "m", "max_tokens": 0,
                "messages": [{"role": "user", "content": "hi"}]}),
                "max_tokens",
            ),
            (
                json!({"messages": [{"role": "user", "content": "hi"}]}),
                "model",
            ),
        ] {
            let error = parse(body.clone()).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{body}");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn thinking_effort_and_structured_output() {
        let request = parse(json!({"model": "m", "messages": [{"role": "user",
            "content": "hi"}], "thinking": {"type": "enabled", "budget_tokens": 2048},
            "output_config": {"effort": "max", "format": {"type": "json_schema",
            "schema": {"type": "object"}}}, "stop_sequences": ["END"], "temperature": 0.2}))
        .unwrap();
        assert!(request.controls.thinking);
        assert_eq!(
            request.controls.effort,
            Some(crate::conversation::Effort::Max)
        );
        assert_eq!(
            request.controls.format,
            ResponseFormat::JsonSchema(r#"{"type":"object"}"#.into())
        );
        assert_eq!(request.controls.stop, ["END"]);
        assert_eq!(request.controls.ignored, ["temperature"]);
    }
}
