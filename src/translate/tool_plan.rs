//! Conversations with client tools, planned for the CLI: which functions the MCP stub
//! offers (and under which names the model sees them), the earlier turns as session rows
//! with real `tool_use` / `tool_result` blocks (ids kept), and — when the request ends in
//! tool results — the one call the resumed CLI runs through the stub (the last one; the
//! others are written as results), as measured with CLI 2.1.332 (see
//! tests/fixtures/claude-cli/l_tool_deferred).

use serde_json::{Value, json};

pub use super::tool_names::ToolNames;

use crate::openai::{ApiError, Attachment, ChatRequest, FunctionDef, Role, ToolChoice};

/// One earlier turn, as a session row.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolTurn {
    User {
        text: String,
        attachments: Vec<Attachment>,
    },
    Assistant {
        text: String,
        /// (id, upstream name, input)
        calls: Vec<(String, String, Value)>,
    },
    /// Tool results (id, text), then possibly a user text that followed them.
    Results {
        results: Vec<(String, String)>,
        text: String,
    },
}

/// The call the resumed CLI runs through the stub, which answers `result`.
#[derive(Clone, Debug, PartialEq)]
pub struct Continuation {
    pub id: String,
    pub upstream_name: String,
    pub input: Value,
    pub result: String,
}

/// What a tool conversation needs from the CLI run.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolRun {
    /// The functions offered (empty with `tool_choice: none`).
    pub functions: Vec<FunctionDef>,
    pub names: ToolNames,
    /// Earlier turns; empty for a first request.
    pub turns: Vec<ToolTurn>,
    /// Set when the request ends in tool results.
    pub continuation: Option<Continuation>,
    /// The instruction `tool_choice` / `parallel_tool_calls` add to the system prompt.
    pub instruction: Option<String>,
}

impl ToolRun {
    /// A digest of what the CLI is started with (the stub's tools), for the warm key.
    pub fn functions_json(&self) -> String {
        let tools: Vec<Value> = self
            .functions
            .iter()
            .map(|f| {
                json!({"name": ToolNames::stub_name(&f.name), "description": f.description,
                       "inputSchema": serde_json::from_str::<Value>(&f.parameters)
                           .unwrap_or_else(|_| json!({"type": "object"}))})
            })
            .collect();
        Value::Array(tools).to_string()
    }
}

/// Whether `request` is a tool conversation (tools given, or tool calls in its history).
pub fn involves_tools(request: &ChatRequest) -> bool {
    !request.tools.functions.is_empty()
        || request
            .messages
            .iter()
            .any(|m| m.role == Role::Tool || !m.tool_calls.is_empty())
}

/// The new user message a request ends with: its text and attachments.
pub type NewMessage = (String, Vec<Attachment>);

/// Plans the tool side of `request`; the new user message (if the request ends with one) is
/// returned beside it.
pub fn plan(request: &ChatRequest) -> Result<(ToolRun, Option<NewMessage>), ApiError> {
    let offered = request.tools.offered();
    let functions = if offered {
        request.tools.functions.clone()
    } else {
        Vec::new()
    };
    let names = ToolNames::new(&request.tools.functions);
    let mut turns: Vec<ToolTurn> = Vec::new();
    for message in request.messages.iter().filter(|m| m.role != Role::System) {
        push_turn(&mut turns, message);
    }
    let last_user = match turns.last() {
        Some(ToolTurn::User { .. }) => match turns.pop() {
            Some(ToolTurn::User { text, attachments }) => Some((text, attachments)),
            _ => None,
        },
        _ => None,
    };
    let continuation = if last_user.is_none() {
        Some(split_continuation(&mut turns)?)
    } else {
        None
    };
    Ok((
        ToolRun {
            instruction: instruction(request),
            functions,
            names,
            turns,
            continuation,
        },
        last_user,
    ))
}

fn push_turn(turns: &mut Vec<ToolTurn>, message: &crate::openai::Message) {
    match message.role {
        Role::User => match turns.last_mut() {
            Some(ToolTurn::User { text, attachments }) => {
                join(text, &message.text);
                attachments.extend(message.attachments.iter().cloned());
            }
            Some(ToolTurn::Results { text, .. }) => join(text, &message.text),
            _ => turns.push(ToolTurn::User {
                text: message.text.clone(),
                attachments: message.attachments.clone(),
            }),
        },
        Role::Assistant => {
            let calls = message
                .tool_calls
                .iter()
                .map(|c| {
                    let input = serde_json::from_str::<Value>(&c.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    (c.id.clone(), ToolNames::upstream_name(&c.name), input)
                })
                .collect();
            turns.push(ToolTurn::Assistant {
                text: message.text.clone(),
                calls,
            });
        }
        Role::Tool => {
            let id = message.tool_call_id.clone().unwrap_or_default();
            match turns.last_mut() {
                Some(ToolTurn::Results { results, text }) if text.is_empty() => {
                    results.push((id, message.text.clone()))
                }
                _ => turns.push(ToolTurn::Results {
                    results: vec![(id, message.text.clone())],
                    text: String::new(),
                }),
            }
        }
        Role::System => {}
    }
}

fn join(text: &mut String, more: &str) {
    if more.trim().is_empty() {
        return;
    }
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(more);
}

/// The request ends in tool results: every call of the last assistant turn must have one;
/// the last call's becomes the continuation, the others stay as a results row.
fn split_continuation(turns: &mut Vec<ToolTurn>) -> Result<Continuation, ApiError> {
    let Some(ToolTurn::Results { mut results, .. }) = turns.pop() else {
        return Err(ApiError::invalid(
            "messages",
            "The conversation must end with a user message or tool results.",
        ));
    };
    let calls = match turns.last() {
        Some(ToolTurn::Assistant { calls, .. }) if !calls.is_empty() => calls.clone(),
        _ => {
            return Err(ApiError::invalid(
                "messages",
                "Tool results must follow the assistant message whose tool_calls they answer.",
            ));
        }
    };
    if let Some((missing, _, _)) = calls
        .iter()
        .find(|(id, _, _)| !results.iter().any(|(r, _)| r == id))
    {
        return Err(ApiError::invalid(
            "messages",
            format!("The tool call `{missing}` has no tool message with its result."),
        ));
    }
    // Results in the order of the calls; the last call is carried by the resumed CLI.
    results.sort_by_key(|(id, _)| calls.iter().position(|(c, _, _)| c == id));
    let (id, upstream_name, input) = calls[calls.len() - 1].clone();
    let index = results.iter().position(|(r, _)| *r == id).unwrap_or(0);
    let (_, result) = results.remove(index);
    if !results.is_empty() {
        turns.push(ToolTurn::Results {
            results,
            text: String::new(),
        });
    }
    Ok(Continuation {
        id,
        upstream_name,
        input,
        result,
    })
}

/// What `tool_choice` and `parallel_tool_calls` ask of the model (there is no upstream
/// parameter the CLI passes for them).
fn instruction(request: &ChatRequest) -> Option<String> {
    let tools = &request.tools;
    if !tools.offered() {
        return None;
    }
    let mut parts = Vec::new();
    match &tools.choice {
        ToolChoice::Required => {
            parts.push("You must answer by calling one or more of the available tools.".to_string())
        }
        ToolChoice::Named(name) => parts.push(format!(
            "You must answer by calling the tool `{}`.",
            ToolNames::upstream_name(name)
        )),
        ToolChoice::Auto | ToolChoice::None => {}
    }
    if !tools.parallel {
        parts.push("Call at most one tool per answer.".to_string());
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::parse_chat_request;

    fn request(body: Value) -> ChatRequest {
        parse_chat_request(body.to_string().as_bytes()).unwrap()
    }

    const TOOLS: &str = r#"[{"type":"function","function":{"name":"get_weather",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]"#;

    #[test]
    fn long_names_are_shortened_and_mapped_back() {
        let long = "x".repeat(64);
        let stub = ToolNames::stub_name(&long);
        assert!(stub.len() <= 56);
        assert!(ToolNames::upstream_name(&long).len() <= 64);
        let names = ToolNames::new(&[FunctionDef {
            name: long.clone(),
            description: String::new(),
            parameters: "{}".into(),
        }]);
        assert_eq!(names.client_name(&format!("mcp__c__{stub}")), Some(long));
        assert_eq!(names.client_name("mcp__c__other"), None);
    }

    #[test]
    fn parallel_results_keep_all_but_the_last_as_rows() {
        let tools: Value = serde_json::from_str(TOOLS).unwrap();
        let (run, user) = plan(&request(json!({"model": "m", "tools": tools, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
            {"role": "tool", "tool_call_id": "c2", "content": "5C"},
            {"role": "tool", "tool_call_id": "c1", "content": "18C"}]})))
        .unwrap();
        assert!(user.is_none());
        let cont = run.continuation.unwrap();
        assert_eq!((cont.id.as_str(), cont.result.as_str()), ("c2", "5C"));
        assert_eq!(cont.upstream_name, "mcp__c__get_weather");
        assert_eq!(
            run.turns.last(),
            Some(&ToolTurn::Results {
                results: vec![("c1".into(), "18C".into())],
                text: String::new()
            })
        );
    }

    #[test]
    fn a_missing_result_and_an_unknown_id_are_400s() {
        let tools: Value = serde_json::from_str(TOOLS).unwrap();
        let missing = request(json!({"model": "m", "tools": tools, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "18C"}]}));
        assert_eq!(plan(&missing).unwrap_err().status(), 400);
        let unknown = parse_chat_request(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "nope", "content": "r"}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(unknown.param.as_deref(), Some("messages[1].tool_call_id"));
    }
}
