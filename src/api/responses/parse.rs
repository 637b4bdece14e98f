//! Parsing and validating `POST /v1/responses` bodies into the one request shape the runner
//! plans from ([`ChatRequest`]): `instructions` becomes the system prompt, `input` items
//! become turns (`message` items with input_text / input_image / input_file / output_text
//! parts, `function_call` items as the assistant's tool calls, `function_call_output` items
//! as tool results), and a `previous_response_id` puts the kept conversation first.
//!
//! Tools are read by [`super::tools`] (`function` and `custom` tools are offered, hosted
//! ones left out and named); background runs and server-side conversations cannot be
//! carried through the CLI and are refused with a 400 naming the field.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::input_items::{ListedItem, listed_items};
use super::tools::{RequestTools, custom_arguments, parse_tools};
use crate::conversation::Attachment;
use crate::conversation::controls::{
    Controls, ResponseFormat, positive_int, present, reasoning_effort, schema_format,
};
use crate::conversation::document::parse_input_file;
use crate::conversation::image::parse_url;
use crate::conversation::limits::ToolTally;
use crate::conversation::tools::{ToolCall, call_id, tool_name};
use crate::conversation::{
    ApiError, ChatRequest, ErrorKind, Message, Role, check_ending, json_object, required_model,
};

/// Parameters accepted without effect (named back in `x-ignored-params`).
const IGNORED: &[&str] = &[
    "temperature",
    "top_p",
    "top_logprobs",
    "truncation",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "user",
];

/// A parsed Responses request: the run's request and what the answer repeats or keeps.
#[derive(Clone, Debug)]
pub struct ResponsesRequest {
    pub chat: ChatRequest,
    pub meta: ResponsesMeta,
}

/// What a Responses request asks beyond the run itself.
#[derive(Clone, Debug, Default)]
pub struct ResponsesMeta {
    /// `instructions`, echoed in the response (they do not carry over to a continuation).
    pub instructions: Option<String>,
    pub previous_response_id: Option<String>,
    /// `store` (default true): keep the answer for `previous_response_id`.
    pub store: bool,
    /// `metadata`, echoed.
    pub metadata: Value,
    /// The `custom` tools' definitions: their calls are `custom_tool_call` items.
    pub custom_tools: Vec<Value>,
    /// `input` as `GET /v1/responses/{id}/input_items` lists it (none without `store`).
    pub input_items: Vec<ListedItem>,
}

impl ResponsesMeta {
    /// The conversation of `chat` without the instructions: what a continuation starts from.
    pub fn conversation(&self, chat: &ChatRequest) -> Vec<Message> {
        let skip = usize::from(self.instructions.is_some());
        chat.messages.iter().skip(skip).cloned().collect()
    }
}

/// Parses a body; `previous` looks up the conversation of a kept response id.
pub fn parse_responses_request(
    body: &[u8],
    previous: impl FnOnce(&str) -> Option<Vec<Message>>,
) -> Result<ResponsesRequest, ApiError> {
    let obj = json_object(body, "`model` and `input`")?;
    let model = required_model(&obj)?;
    refuse_server_state(&obj)?;
    let stream = flag(&obj, "stream")?.unwrap_or(false);
    let store = flag(&obj, "store")?.unwrap_or(true);
    let instructions = optional_string(&obj, "instructions")?;
    let previous_response_id = optional_string(&obj, "previous_response_id")?;
    let mut messages = Vec::new();
    if let Some(text) = &instructions {
        messages.push(Message::plain(Role::System, text.clone()));
    }
    if let Some(id) = &previous_response_id {
        messages.extend(previous(id).ok_or_else(|| previous_not_found(id))?);
    }
    let offset = messages.len();
    let (turns, origin) = input(obj.get("input"), &messages)?;
    messages.extend(turns);
    check_ending(&messages).map_err(|error| in_input(error, &messages, offset, &origin))?;
    let RequestTools {
        tools,
        custom,
        left_out,
    } = parse_tools(&obj)?;
    let mut controls = controls(&obj)?;
    controls.ignored.extend(left_out);
    Ok(ResponsesRequest {
        chat: ChatRequest {
            model,
            messages,
            stream,
            include_usage: true,
            controls,
            tools,
        },
        meta: ResponsesMeta {
            instructions,
            previous_response_id,
            store,
            metadata: obj.get("metadata").cloned().unwrap_or(Value::Null),
            custom_tools: custom,
            input_items: if store {
                listed_items(obj.get("input"))
            } else {
                Vec::new()
            },
        },
    })
}

/// `background` and `conversation` (state kept on OpenAI's side) are refused.
fn refuse_server_state(obj: &Map<String, Value>) -> Result<(), ApiError> {
    for (key, what) in [
        (
            "background",
            "Background responses are not supported by this proxy",
        ),
        (
            "conversation",
            "Server-side conversations are not supported by this proxy",
        ),
    ] {
        if obj
            .get(key)
            .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
        {
            return Err(ApiError::invalid(
                key,
                format!("{what}; send the conversation in `input` or use `previous_response_id`."),
            ));
        }
    }
    Ok(())
}

/// A string field, or nothing.
fn optional_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(key, format!("`{key}` must be a string."))),
    }
}

fn previous_not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorKind::PreviousResponseNotFound,
        format!(
            "Previous response with id '{id}' not found. This proxy keeps the last \
             `responses_kept` answers for `responses_kept_secs` seconds, in memory \
             (a restart forgets them); send the whole conversation in `input` instead."
        ),
    )
    .with_param("previous_response_id")
}

fn flag(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(
            key,
            format!("`{key}` must be a boolean."),
        )),
    }
}

/// `check_ending` names `messages[i]`, a field a Responses request does not have: names
/// the `input` item the conversation ends at instead (`origin[k]` is the item of the k-th
/// turn from `input`, which starts at `messages[offset]`), or `input` itself when the
/// conversation ends before it or `input` is a string.
fn in_input(error: ApiError, messages: &[Message], offset: usize, origin: &[usize]) -> ApiError {
    let last = messages.iter().rposition(|m| m.role != Role::System);
    let item = last.and_then(|last| Some((last, *origin.get(last.checked_sub(offset)?)?)));
    let empty = error
        .param
        .as_deref()
        .is_some_and(|p| p.ends_with(".content"));
    let (param, message) = match item {
        None if last.is_none() => (
            "input".to_string(),
            "The request has only instructions and system or developer messages; add a user \
             message to `input`."
                .to_string(),
        ),
        None => ("input".to_string(), error.message),
        Some((_, i)) if empty => (format!("input[{i}].content"), error.message),
        // The conversation ends on the assistant's function calls, or on its message.
        Some((last, i)) if !messages[last].tool_calls.is_empty() => {
            (format!("input[{i}]"), error.message)
        }
        Some((_, i)) => (format!("input[{i}].role"), error.message),
    };
    ApiError {
        param: Some(param),
        message,
        ..error
    }
}

/// `input`: a string (one user message) or items. With the turns, the index of the item
/// each ends at (none for a string).
fn input(
    value: Option<&Value>,
    earlier: &[Message],
) -> Result<(Vec<Message>, Vec<usize>), ApiError> {
    let items = match value {
        Some(Value::String(text)) => {
            return Ok((vec![Message::plain(Role::User, text.clone())], Vec::new()));
        }
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "input",
                "Missing required parameter: `input` (a string or a list of items).",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "input",
                "`input` must be a string or an array of items.",
            ));
        }
    };
    let mut out: Vec<Message> = Vec::with_capacity(items.len());
    let mut origin: Vec<usize> = Vec::with_capacity(items.len());
    // The ids of the calls made so far, which later outputs may answer.
    let mut called: HashSet<String> = earlier
        .iter()
        .flat_map(|m| m.tool_calls.iter().map(|c| c.id.clone()))
        .collect();
    let mut tally = ToolTally::default();
    for (i, item) in items.iter().enumerate() {
        let param = format!("input[{i}]");
        let kind = item.get("type").and_then(Value::as_str);
        match kind {
            None | Some("message") => out.push(message(item, &param)?),
            Some(kind @ ("function_call" | "custom_tool_call")) => {
                tally.call(&param)?;
                let call = function_call(item, &param, kind == "custom_tool_call")?;
                called.insert(call.id.clone());
                // Consecutive calls are one assistant turn (parallel calls).
                match out.last_mut() {
                    Some(last) if last.role == Role::Assistant => last.tool_calls.push(call),
                    _ => out.push(Message {
                        tool_calls: vec![call],
                        ..Message::plain(Role::Assistant, String::new())
                    }),
                }
            }
            Some(kind @ ("function_call_output" | "custom_tool_call_output")) => {
                tally.result(&param)?;
                out.push(call_output(item, &param, kind, &called)?);
            }
            // The model's earlier reasoning cannot be replayed through the CLI, and hosted
            // tools' calls (from another provider) were never this proxy's to run.
            Some(
                "reasoning"
                | "web_search_call"
                | "tool_search_call"
                | "tool_search_output"
                | "image_generation_call",
            ) => continue,
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("{param}.type"),
                    format!(
                        "Input items of type `{}` are not supported; send message, \
                         function_call, custom_tool_call and their output items.",
                        other.chars().take(40).collect::<String>()
                    ),
                ));
            }
        }
        // This item made a turn or joined the last one (a function call): that turn ends here.
        origin.resize(out.len(), i);
        if let Some(last) = origin.last_mut() {
            *last = i;
        }
    }
    Ok((out, origin))
}

/// A `function_call_output` / `custom_tool_call_output` item: a tool message answering a
/// call of the conversation (`called` holds their ids).
fn call_output(
    item: &Value,
    param: &str,
    kind: &str,
    called: &HashSet<String>,
) -> Result<Message, ApiError> {
    let id = item.get("call_id").and_then(Value::as_str).unwrap_or("");
    if id.is_empty() || !called.contains(id) {
        return Err(ApiError::invalid(
            format!("{param}.call_id"),
            format!(
                "This {kind} answers no call of the conversation; its `call_id` must be one \
                 of theirs."
            ),
        ));
    }
    let (text, attachments) = output_content(item.get("output"), param)?;
    let result = crate::conversation::ToolOutput::assemble(item.get("output"), &attachments, false);
    Ok(Message {
        attachments,
        tool_call_id: Some(id.to_string()),
        result: Some(result),
        ..Message::plain(Role::Tool, text)
    })
}

/// A `message` item (or the short `{role, content}` form).
fn message(item: &Value, param: &str) -> Result<Message, ApiError> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system" | "developer") => Role::System,
        _ => {
            return Err(ApiError::invalid(
                format!("{param}.role"),
                "A message needs `role`: user, assistant, system or developer.",
            ));
        }
    };
    let parts = match item.get("content") {
        Some(Value::String(text)) => return Ok(Message::plain(role, text.clone())),
        Some(Value::Array(parts)) => parts,
        _ => {
            return Err(ApiError::invalid(
                format!("{param}.content"),
                "`content` must be a string or an array of content parts.",
            ));
        }
    };
    let mut texts = Vec::new();
    let mut attachments = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let part_param = format!("{param}.content[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => match part.get("text") {
                Some(Value::String(text)) => texts.push(text.clone()),
                _ => {
                    return Err(ApiError::invalid(
                        format!("{part_param}.text"),
                        "A text part needs a string `text`.",
                    ));
                }
            },
            Some("refusal") => {}
            Some("input_image") if role == Role::User => {
                attachments.push(input_image(part, &part_param)?)
            }
            Some("input_file") if role == Role::User => {
                attachments.push(parse_input_file(part, &part_param)?)
            }
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("{part_param}.type"),
                    format!(
                        "Content parts of type `{}` are not supported here; send input_text \
                         and (in user messages) input_image and input_file parts.",
                        other.chars().take(40).collect::<String>()
                    ),
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
    Ok(Message {
        attachments,
        ..Message::plain(role, texts.join("\n"))
    })
}

/// An `input_image` part: `image_url` as a data: or http(s) URL (file ids are refused).
fn input_image(part: &Value, param: &str) -> Result<Attachment, ApiError> {
    match part.get("image_url").and_then(Value::as_str) {
        Some(url) => parse_url(url, &format!("{param}.image_url")),
        None => Err(ApiError::invalid(
            format!("{param}.image_url"),
            "An input_image part needs `image_url` (a data: URL or an http(s) URL); file ids \
             are not supported.",
        )),
    }
}

/// A `function_call` item, or (`custom`) a `custom_tool_call` item, whose free-text
/// `input` stands for the function arguments the model was offered.
fn function_call(item: &Value, param: &str, custom: bool) -> Result<ToolCall, ApiError> {
    let id = call_id(item, "call_id", param, "A call item needs its `call_id`.")?;
    let name = tool_name(item, param, "A call item needs the tool's `name`.")?;
    let (key, what) = if custom {
        ("input", "`input` must be a string.")
    } else {
        ("arguments", "`arguments` must be a JSON string.")
    };
    let arguments = match item.get(key) {
        Some(Value::String(text)) if custom => custom_arguments(text),
        Some(Value::String(text)) => text.clone(),
        None | Some(Value::Null) if custom => custom_arguments(""),
        None | Some(Value::Null) => "{}".to_string(),
        Some(_) => return Err(ApiError::invalid(format!("{param}.{key}"), what)),
    };
    Ok(ToolCall {
        id: id.to_string(),
        name: name.to_string(),
        arguments,
    })
}

/// A function_call_output's `output`: a string or input_text / input_image parts.
fn output_content(
    value: Option<&Value>,
    param: &str,
) -> Result<(String, Vec<Attachment>), ApiError> {
    match value {
        Some(Value::String(text)) => Ok((text.clone(), Vec::new())),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            let mut attachments = Vec::new();
            for (j, part) in parts.iter().enumerate() {
                let part_param = format!("{param}.output[{j}]");
                match part.get("type").and_then(Value::as_str) {
                    Some("input_text" | "output_text" | "text") => {
                        texts.push(part.get("text").and_then(Value::as_str).unwrap_or(""));
                    }
                    Some("input_image") => attachments.push(input_image(part, &part_param)?),
                    _ => {
                        return Err(ApiError::invalid(
                            format!("{part_param}.type"),
                            "Function output parts may be input_text or input_image.",
                        ));
                    }
                }
            }
            Ok((texts.join("\n"), attachments))
        }
        _ => Err(ApiError::invalid(
            format!("{param}.output"),
            "`output` must be a string or an array of parts.",
        )),
    }
}

/// `max_output_tokens`, `reasoning`, `text.format`.
fn controls(obj: &Map<String, Value>) -> Result<Controls, ApiError> {
    let max_tokens = positive_int(obj, "max_output_tokens")?;
    let (effort, thinking) = reasoning_effort(
        obj.get("reasoning").and_then(|r| r.get("effort")),
        "reasoning.effort",
    )?;
    let format = match obj
        .get("text")
        .and_then(|t| t.get("format"))
        .filter(|f| !f.is_null())
    {
        None => ResponseFormat::Text,
        Some(format) => match format.get("type").and_then(Value::as_str) {
            Some("text") => ResponseFormat::Text,
            Some("json_object") => ResponseFormat::JsonObject,
            Some("json_schema") => schema_format(format.get("schema"), "text.format.schema")?,
            _ => {
                return Err(ApiError::invalid(
                    "text.format.type",
                    "`text.format.type` must be `text`, `json_object` or `json_schema`.",
                ));
            }
        },
    };
    Ok(Controls {
        max_tokens,
        stop: Vec::new(),
        effort,
        thinking,
        format,
        ignored: present(obj, IGNORED),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<ResponsesRequest, ApiError> {
        parse_responses_request(value.to_string().as_bytes(), |_| None)
    }

    #[test]
    fn a_string_input_with_instructions() {
        let r = parse(
            json!({"model": "m", "input": "hi", "instructions": "Be brief.",
            "max_output_tokens": 50, "reasoning": {"effort": "low"}, "store": false}),
        )
        .unwrap();
        assert_eq!(r.chat.system_prompt().as_deref(), Some("Be brief."));
        assert_eq!(r.chat.messages.last().unwrap().text, "hi");
        assert_eq!(r.chat.controls.max_tokens, Some(50));
        assert!(r.chat.controls.thinking && !r.meta.store);
        assert_eq!(
            r.meta.conversation(&r.chat).len(),
            1,
            "instructions do not carry over"
        );
    }

    #[test]
    fn function_calls_and_outputs_become_turns() {
        let r = parse(
            json!({"model": "m", "tools": [{"type": "function", "name": "f",
            "parameters": {"type": "object"}}], "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "go"}]},
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "call_2", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "one"},
            {"type": "function_call_output", "call_id": "call_2", "output": "two"}]}),
        )
        .unwrap();
        let roles: Vec<Role> = r.chat.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool, Role::Tool]);
        assert_eq!(
            r.chat.messages[1].tool_calls.len(),
            2,
            "parallel calls, one turn"
        );
    }

    #[test]
    fn previous_response_id_continues_or_is_a_404() {
        let error = parse(json!({"model": "m", "input": "hi",
            "previous_response_id": "resp_gone"}))
        .unwrap_err();
        assert_eq!(error.status(), 404);
        let kept = vec![
            Message::plain(Role::User, "earlier".into()),
            Message::plain(Role::Assistant, "ok".into()),
        ];
        let r = parse_responses_request(
            json!({"model": "m", "input": "next", "previous_response_id": "resp_1"})
                .to_string()
                .as_bytes(),
            |id| (id == "resp_1").then(|| kept.clone()),
        )
        .unwrap();
        assert_eq!(r.chat.messages.len(), 3);
    }

    /// A conversation that does not end on the user's turn names the `input` item it ends
    /// at (not `messages[i]`, which a Responses request does not have), counting the items
    /// the turns were made of, or `input` itself.
    #[test]
    fn a_bad_ending_names_its_input_item() {
        let kept = vec![
            Message::plain(Role::User, "earlier".into()),
            Message::plain(Role::Assistant, "ok".into()),
        ];
        for (body, param) in [
            (
                json!({"model": "m", "instructions": "Be brief.", "input": [
                {"type": "reasoning", "summary": []},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"}]}),
                "input[2].role",
            ),
            (
                json!({"model": "m", "tools": [{"type": "function", "name": "f"}], "input": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": "calling"},
                {"type": "function_call", "call_id": "c1", "name": "f"},
                {"type": "function_call", "call_id": "c2", "name": "f"},
                {"type": "reasoning", "summary": []}]}),
                "input[3]",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": "go"},
                {"role": "user", "content": [{"type": "input_text", "text": "  "}]},
                {"role": "developer", "content": "terse"}]}),
                "input[1].content",
            ),
            (json!({"model": "m", "input": " "}), "input"),
            (
                json!({"model": "m", "instructions": "x", "input": [
                {"role": "system", "content": "y"}]}),
                "input",
            ),
            (
                json!({"model": "m", "previous_response_id": "resp_1", "input": [
                {"role": "system", "content": "y"}]}),
                "input",
            ),
        ] {
            let error =
                parse_responses_request(body.to_string().as_bytes(), |_| Some(kept.clone()))
                    .unwrap_err();
            assert_eq!(error.status(), 400, "{body}");
            assert_eq!(error.param.as_deref(), Some(param), "{body}");
            assert!(!error.message.contains("`messages`"), "{}", error.message);
        }
    }

    #[test]
    fn what_cannot_be_carried_names_its_field() {
        for (body, param) in [
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "file_search"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "background": true}),
                "background",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c",
                "output": "x"}]}),
                "input[0].call_id",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_file", "file_id": "f"}]}]}),
                "input[0].content[0].file_data",
            ),
            (
                json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema"}}}),
                "text.format.schema",
            ),
            (json!({"model": "m"}), "input"),
        ] {
            let error = parse(body.clone()).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{body}");
        }
    }
}
