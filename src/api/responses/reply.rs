//! The Responses API's answer: the `response` object (status, output items, usage, and the
//! request's settings echoed back) and its output items — `reasoning` (the model's thinking
//! as a summary), `message` with `output_text`, `function_call` with its `call_id`.

use serde_json::{Value, json};

use super::tools::{RequestTools, custom_input};
use crate::conversation::{
    FinishReason, FunctionDef, ResponseFormat, ToolCall, ToolChoice, Tools, Usage,
};

/// What every `response` object of one request repeats.
#[derive(Clone, Debug)]
pub struct Echo {
    pub id: String,
    pub created_at: i64,
    pub model: String,
    pub instructions: Option<String>,
    pub previous_response_id: Option<String>,
    pub store: bool,
    pub metadata: Value,
    pub max_output_tokens: Option<u32>,
    pub tools: Value,
    pub tool_choice: Value,
    pub parallel_tool_calls: bool,
    /// `text.format` as the answer follows it.
    pub text_format: Value,
    /// `reasoning.effort` as run (`low` … `max`), if any.
    pub reasoning_effort: Option<&'static str>,
    /// The request's `custom` tools as given: calls to them are `custom_tool_call` items.
    pub custom_tools: Vec<Value>,
}

impl Echo {
    /// `text.format` for what the answer follows.
    pub fn format_of(format: &ResponseFormat) -> Value {
        match format {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema(schema) => json!({"type": "json_schema",
                "schema": serde_json::from_str::<Value>(schema).unwrap_or_else(|_| json!({}))}),
        }
    }

    /// The request's tools as the response repeats them (`custom` ones as given).
    pub fn tools_of(tools: &Tools, custom: &[Value]) -> (Value, Value) {
        let list: Vec<Value> = tools
            .functions
            .iter()
            .map(|f| {
                custom
                    .iter()
                    .find(|tool| tool["name"] == f.name.as_str())
                    .cloned()
                    .unwrap_or_else(|| function_tool(f))
            })
            .collect();
        let choice = match &tools.choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Named(name) if RequestTools::is_custom(custom, name) => {
                json!({"type": "custom", "name": name})
            }
            ToolChoice::Named(name) => json!({"type": "function", "name": name}),
        };
        (Value::Array(list), choice)
    }
}

fn function_tool(f: &FunctionDef) -> Value {
    let parameters: Value = serde_json::from_str(&f.parameters).unwrap_or_else(|_| json!({}));
    json!({"type": "function", "name": f.name, "description": f.description,
        "parameters": parameters, "strict": false})
}

/// How a response stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Completed,
    /// Cut short: `max_output_tokens` or a content filter.
    Incomplete(&'static str),
    Failed,
}

impl Status {
    /// The status of a finished answer.
    pub fn of(reason: FinishReason) -> Status {
        match reason {
            FinishReason::Length => Status::Incomplete("max_output_tokens"),
            FinishReason::ContentFilter => Status::Incomplete("content_filter"),
            FinishReason::Stop | FinishReason::ToolCalls => Status::Completed,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Incomplete(_) => "incomplete",
            Status::Failed => "failed",
        }
    }
}

/// `usage` as the Responses API counts it.
pub fn usage(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.prompt_tokens_details.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    })
}

/// The `response` object.
pub fn response(
    echo: &Echo,
    status: Status,
    output: &[Value],
    usage: Option<&Usage>,
    error: Option<Value>,
) -> Value {
    let incomplete = match status {
        Status::Incomplete(reason) => json!({"reason": reason}),
        _ => Value::Null,
    };
    json!({
        "id": echo.id,
        "object": "response",
        "created_at": echo.created_at,
        "status": status.name(),
        "error": error,
        "incomplete_details": incomplete,
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": echo.model,
        "output": output,
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": echo.previous_response_id,
        "reasoning": {"effort": echo.reasoning_effort, "summary": null},
        "store": echo.store,
        "text": {"format": echo.text_format},
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "truncation": "disabled",
        "usage": usage.map(self::usage),
        "metadata": if echo.metadata.is_object() { echo.metadata.clone() } else { json!({}) },
    })
}

/// A new item id with `prefix` (`msg`, `fc`, `rs`).
pub fn item_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// An `output_text` part.
pub fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A `message` output item.
pub fn message_item(id: &str, text: Option<&str>, status: &str) -> Value {
    let content: Vec<Value> = text.map(text_part).into_iter().collect();
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
        "content": content})
}

/// A `function_call` output item.
pub fn function_call_item(id: &str, call: &ToolCall, status: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call.id, "name": call.name,
        "arguments": call.arguments, "status": status})
}

/// A `custom_tool_call` output item: the call's free-text `input`.
pub fn custom_tool_call_item(id: &str, call: &ToolCall, status: &str) -> Value {
    json!({"type": "custom_tool_call", "id": id, "call_id": call.id, "name": call.name,
        "input": custom_input(&call.arguments), "status": status})
}

/// The output item of `call`: a `custom_tool_call` for a custom tool (`custom` lists the
/// request's), else a `function_call`; a new item id.
pub fn call_item(call: &ToolCall, status: &str, custom: &[Value]) -> (String, Value) {
    if RequestTools::is_custom(custom, &call.name) {
        let id = item_id("ctc");
        let item = custom_tool_call_item(&id, call, status);
        (id, item)
    } else {
        let id = item_id("fc");
        let item = function_call_item(&id, call, status);
        (id, item)
    }
}

/// A `summary_text` part.
pub fn summary_part(text: &str) -> Value {
    json!({"type": "summary_text", "text": text})
}

/// A `reasoning` output item: the thinking as its summary.
pub fn reasoning_item(id: &str, text: Option<&str>) -> Value {
    let summary: Vec<Value> = text.map(summary_part).into_iter().collect();
    json!({"type": "reasoning", "id": id, "summary": summary})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo() -> Echo {
        Echo {
            id: "resp_1".into(),
            created_at: 1,
            model: "m".into(),
            instructions: None,
            previous_response_id: None,
            store: true,
            metadata: Value::Null,
            max_output_tokens: Some(5),
            tools: json!([]),
            tool_choice: json!("auto"),
            parallel_tool_calls: true,
            text_format: json!({"type": "text"}),
            reasoning_effort: None,
            custom_tools: Vec::new(),
        }
    }

    #[test]
    fn a_cut_answer_is_incomplete_with_its_reason() {
        let usage = Usage::new(10, 0, 2, 5);
        let r = response(
            &echo(),
            Status::of(FinishReason::Length),
            &[message_item("msg_1", Some("partial"), "completed")],
            Some(&usage),
            None,
        );
        assert_eq!(r["status"], "incomplete");
        assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(r["output"][0]["content"][0]["text"], "partial");
        assert_eq!(r["usage"]["input_tokens"], 12);
        assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 2);
    }
}
