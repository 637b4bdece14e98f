//! Parsing and validating `POST /v1/chat/completions` bodies into the one request shape
//! every API is parsed into ([`crate::conversation::ChatRequest`]).
//!
//! We walk the JSON ourselves instead of deriving, so that every rejection names the exact
//! `param` (`messages[2].content[0].type`) the way OpenAI does. The generation controls the
//! CLI honours (`max_tokens`, `stop`, `reasoning_effort`) are read by
//! [`crate::conversation::controls`]; parameters it cannot honour (temperature, top_p, …)
//! are type-checked, then ignored and named back to the client; images are read by
//! [`crate::conversation::image`], files (PDF, text) by [`crate::conversation::document`],
//! functions and tool calls by [`crate::conversation::tools`]; what the CLI cannot do
//! (n > 1, audio) is rejected with a clear 400.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::conversation::limits::ToolTally;

use crate::conversation::{
    ApiError, Attachment, ChatRequest, Message, Role, check_ending, json_object, required_messages,
    required_model,
};

/// Parses and validates a request body.
pub fn parse_chat_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let obj = json_object(body, "`model` and `messages`")?;
    let model = required_model(&obj)?;

    let stream = optional_bool(&obj, "stream")?.unwrap_or(false);
    let include_usage = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(opts)) => optional_bool(opts, "include_usage")
            .map_err(|e| ApiError::invalid("stream_options.include_usage", e.message))?
            .unwrap_or(false),
        Some(_) => {
            return Err(ApiError::invalid(
                "stream_options",
                "`stream_options` must be an object like {\"include_usage\": true}.",
            ));
        }
    };

    check_unsupported(&obj)?;
    check_ignored_types(&obj)?;
    let controls = crate::conversation::controls::parse(&obj)?;
    let tools = crate::conversation::tools::parse(&obj)?;
    let messages = parse_messages(obj.get("messages"))?;

    Ok(ChatRequest {
        model,
        messages,
        stream,
        include_usage,
        controls,
        tools,
    })
}

fn optional_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(
            key,
            format!("`{key}` must be a boolean."),
        )),
    }
}

/// Features the CLI path cannot provide yet: refused rather than silently dropped.
fn check_unsupported(obj: &Map<String, Value>) -> Result<(), ApiError> {
    match obj.get("n") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 1) => {
            return Err(ApiError::invalid(
                "n",
                "Only n = 1 is supported: the claude CLI produces one choice per request. \
                 Send separate requests for more choices.",
            ));
        }
        Some(_) => return Err(ApiError::invalid("n", "`n` must be a positive integer.")),
    }
    match obj.get("modalities") {
        None | Some(Value::Null) => {}
        Some(Value::Array(modalities)) if modalities.iter().all(|m| m.as_str() == Some("text")) => {
        }
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid(
                "modalities",
                "Only the `text` modality is supported.",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "modalities",
                "`modalities` must be an array like [\"text\"].",
            ));
        }
    }
    Ok(())
}

/// Parameters the CLI cannot honour are accepted and ignored, but a wrong type is still
/// a client bug worth reporting.
fn check_ignored_types(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let number = |key: &str, min: f64, max: f64| -> Result<(), ApiError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Number(n)) if n.as_f64().is_some_and(|v| (min..=max).contains(&v)) => {
                Ok(())
            }
            Some(_) => Err(ApiError::invalid(
                key,
                format!("`{key}` must be a number between {min} and {max}."),
            )),
        }
    };
    number("temperature", 0.0, 2.0)?;
    number("top_p", 0.0, 1.0)?;
    number("presence_penalty", -2.0, 2.0)?;
    number("frequency_penalty", -2.0, 2.0)?;
    for key in ["seed", "top_logprobs"] {
        match obj.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
            Some(_) => {
                return Err(ApiError::invalid(
                    key,
                    format!("`{key}` must be an integer."),
                ));
            }
        }
    }
    // Type-checked, then ignored: the CLI reports no log probabilities (`logprobs` stays null).
    optional_bool(obj, "logprobs")?;
    match obj.get("user") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => return Err(ApiError::invalid("user", "`user` must be a string.")),
    }
    Ok(())
}

fn parse_messages(value: Option<&Value>) -> Result<Vec<Message>, ApiError> {
    let items = required_messages(value, "Missing required parameter: `messages`.")?;

    let mut messages: Vec<Message> = Vec::with_capacity(items.len());
    // The id given to the last legacy `function_call`, which a `function` message answers.
    let mut legacy_call: Option<String> = None;
    // The ids of the calls made so far, which later tool messages may answer.
    let mut called: HashSet<String> = HashSet::new();
    let mut tally = ToolTally::default();
    for (i, item) in items.iter().enumerate() {
        let param = format!("messages[{i}]");
        let Value::Object(msg) = item else {
            return Err(ApiError::invalid(param, "Each message must be an object."));
        };
        let role = role(msg, &param)?;
        let (text, attachments) = parse_content(msg.get("content"), &param, role)?;
        let tool_calls = if role == Role::Assistant {
            let calls = crate::conversation::tools::parse_calls(
                msg,
                &param,
                &format!("call_legacy_{i}"),
                &mut tally,
            )?;
            if let Some(id) = calls.iter().find(|c| c.id.starts_with("call_legacy_")) {
                legacy_call = Some(id.id.clone());
            }
            called.extend(calls.iter().map(|c| c.id.clone()));
            calls
        } else {
            Vec::new()
        };
        let tool_call_id = if role == Role::Tool {
            tally.result(&format!("{param}.tool_call_id"))?;
            Some(result_id(msg, &param, &called, legacy_call.as_deref())?)
        } else {
            None
        };
        let result = (role == Role::Tool).then(|| {
            crate::conversation::ToolOutput::assemble(msg.get("content"), &attachments, false)
        });
        messages.push(Message {
            role,
            text,
            attachments,
            tool_calls,
            tool_call_id,
            result,
        });
    }

    check_ending(&messages)?;
    Ok(messages)
}

/// A message's `role` (`developer` is `system`, the legacy `function` is `tool`).
fn role(msg: &Map<String, Value>, param: &str) -> Result<Role, ApiError> {
    match msg.get("role").and_then(Value::as_str) {
        Some("system") | Some("developer") => Ok(Role::System),
        Some("user") => Ok(Role::User),
        Some("assistant") => Ok(Role::Assistant),
        Some("tool" | "function") => Ok(Role::Tool),
        Some(other) => Err(ApiError::invalid(
            format!("{param}.role"),
            format!("Invalid role `{other}`: expected system, developer, user, assistant or tool."),
        )),
        None => Err(ApiError::invalid(
            format!("{param}.role"),
            "Each message needs a string `role`.",
        )),
    }
}

/// The call a tool message answers: its `tool_call_id` (legacy `function` messages answer
/// the last `function_call`), which an earlier assistant message must have made (`called`
/// holds their ids).
fn result_id(
    msg: &Map<String, Value>,
    param: &str,
    called: &HashSet<String>,
    legacy_call: Option<&str>,
) -> Result<String, ApiError> {
    let id = match msg.get("tool_call_id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None if msg.get("role").and_then(Value::as_str) == Some("function") => {
            legacy_call.unwrap_or("").to_string()
        }
        None => String::new(),
    };
    if id.is_empty() || !called.contains(&id) {
        return Err(ApiError::invalid(
            format!("{param}.tool_call_id"),
            "This tool message answers no tool call of an earlier assistant message; its \
             `tool_call_id` must be one of their `tool_calls[].id`.",
        ));
    }
    Ok(id)
}

/// A message's text (parts joined) and its images and files.
fn parse_content(
    value: Option<&Value>,
    param: &str,
    role: Role,
) -> Result<(String, Vec<Attachment>), ApiError> {
    match value {
        Some(Value::String(s)) => Ok((s.clone(), Vec::new())),
        None | Some(Value::Null) if role == Role::Assistant => Ok((String::new(), Vec::new())),
        None | Some(Value::Null) => Err(ApiError::invalid(
            format!("{param}.content"),
            "Missing `content`: a string or an array of text parts.",
        )),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            let mut attachments = Vec::new();
            for (j, part) in parts.iter().enumerate() {
                let part_param = format!("{param}.content[{j}]");
                let kind = part.get("type").and_then(Value::as_str);
                match kind {
                    Some("text") | Some("refusal") => {
                        let key = kind.unwrap_or("text");
                        match part.get(key) {
                            Some(Value::String(t)) => texts.push(t.as_str()),
                            _ => {
                                return Err(ApiError::invalid(
                                    format!("{part_param}.{key}"),
                                    format!("A `{key}` part needs a string `{key}`."),
                                ));
                            }
                        }
                    }
                    Some("image_url") if role == Role::User => {
                        attachments
                            .push(crate::conversation::image::parse_part(part, &part_param)?);
                    }
                    Some("file") if role == Role::User => {
                        attachments.push(crate::conversation::document::parse_chat_file(
                            part,
                            &part_param,
                        )?);
                    }
                    Some("image_url" | "file") => {
                        return Err(ApiError::invalid(
                            format!("{part_param}.type"),
                            "Only user messages may carry images and files.",
                        ));
                    }
                    Some(t @ ("input_image" | "input_audio")) => {
                        return Err(ApiError::invalid(
                            format!("{part_param}.type"),
                            format!(
                                "Content parts of type `{t}` are not supported; send text, \
                                 `image_url` and `file` parts."
                            ),
                        ));
                    }
                    Some(other) => {
                        return Err(ApiError::invalid(
                            format!("{part_param}.type"),
                            format!("Unknown content part type `{other}`; expected `text`."),
                        ));
                    }
                    None => {
                        return Err(ApiError::invalid(
                            format!("{part_param}.type"),
                            "Each content part needs a string `type`.",
                        ));
                    }
                }
            }
            Ok((texts.join("\n"), attachments))
        }
        Some(_) => Err(ApiError::invalid(
            format!("{param}.content"),
            "`content` must be a string or an array of text parts.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::controls::ResponseFormat;

    fn parse(json: &str) -> Result<ChatRequest, ApiError> {
        parse_chat_request(json.as_bytes())
    }

    #[test]
    fn minimal_request_parses() {
        let req = parse(
            r#"{"model":"claude-opus-4","messages":[{"role":"user","content":"안녕하세요!"}]}"#,
        )
        .unwrap();
        assert_eq!(req.model, "claude-opus-4");
        assert!(!req.stream);
        assert_eq!(req.messages[0].text, "안녕하세요!");
    }

    #[test]
    fn stream_and_include_usage() {
        let req = parse(
            r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},
                "messages":[{"role":"user","content":"x"}]}"#,
        )
        .unwrap();
        assert!(req.stream && req.include_usage);
    }

    #[test]
    fn text_parts_are_joined_and_developer_is_system() {
        let req = parse(
            r#"{"model":"m","messages":[
                {"role":"developer","content":"be brief"},
                {"role":"system","content":[{"type":"text","text":"and kind"}]},
                {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}"#,
        )
        .unwrap();
        assert_eq!(req.system_prompt().as_deref(), Some("be brief\n\nand kind"));
        assert_eq!(req.turns().len(), 1);
        assert_eq!(req.turns()[0].text, "a\nb");
    }

    #[test]
    fn bad_json_is_400() {
        let err = parse("{nope").unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn rejections_name_the_param() {
        let cases = [
            (r#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
            (r#"{"model":"m"}"#, "messages"),
            (r#"{"model":"m","messages":[]}"#, "messages"),
            (
                r#"{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}"#,
                "n",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#,
                "messages[0].content[0].image_url.url",
            ),
            (
                r#"{"model":"m","tools":[{"type":"function"}],"messages":[{"role":"user","content":"x"}]}"#,
                "tools[0].function",
            ),
            (
                r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
                "messages[0].role",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
                "messages[0].content",
            ),
            (
                r#"{"model":"m","temperature":"hot","messages":[{"role":"user","content":"x"}]}"#,
                "temperature",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}"#,
                "messages[1].role",
            ),
            (
                r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
                "messages[0].tool_call_id",
            ),
            (
                r#"{"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]}"#,
                "stream",
            ),
            (
                r#"{"model":"m","modalities":{},"messages":[{"role":"user","content":"x"}]}"#,
                "modalities",
            ),
            (
                r#"{"model":"m","logprobs":"yes","messages":[{"role":"user","content":"x"}]}"#,
                "logprobs",
            ),
        ];
        for (body, param) in cases {
            let err = parse(body).unwrap_err();
            assert_eq!(err.status(), 400, "{body}");
            assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
        }
    }

    /// Parameters the CLI cannot honour are accepted, named in `controls.ignored` (what
    /// `x-ignored-params` reports), and change nothing else; the ones it honours are read.
    #[test]
    fn ignored_parameters_are_accepted() {
        let request = parse(
            r#"{"model":"m","temperature":0.2,"top_p":1,"max_tokens":10,"stop":["x"],"n":1,
                "presence_penalty":0,"user":"u","seed":1,"tools":[],"tool_choice":"none",
                "response_format":{"type":"text"},"messages":[{"role":"user","content":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(
            request.controls.ignored,
            ["presence_penalty", "seed", "temperature", "top_p"]
        );
        assert_eq!(request.controls.max_tokens, Some(10));
        assert_eq!(request.controls.stop, ["x"]);
        assert_eq!(request.controls.format, ResponseFormat::Text);
        assert!(request.tools.functions.is_empty());
        assert_eq!(request.model, "m");
        assert_eq!(request.messages.len(), 1);
        assert_eq!(request.messages[0].text, "x");
    }
}
