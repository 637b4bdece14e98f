//! Conversations with client tools, planned for the CLI: which functions are offered (and
//! under which names the model sees them), the earlier turns with real `tool_use` /
//! `tool_result` blocks (ids kept), and — when the request ends in tool results — those
//! results, in the order of the calls they answer.
//!
//! The results go to a CLI process waiting at those calls when one holds the conversation
//! (`runner::live`); otherwise [`ToolRun::cold_continuation`] plans them as CLI 2.1.332 can
//! resume them (tests/fixtures/claude-cli/l_tool_deferred): every result but the last as a
//! session row, the last call carried by the resumed CLI through the MCP stub.
//!
//! Lookups are by hash map or set: a request may hold thousands of calls.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

pub use super::tool_names::ToolNames;

use crate::claude::session::Row;
use crate::conversation::{
    ApiError, Attachment, ChatRequest, FunctionDef, Role, ToolChoice, ToolOutput,
};

/// One earlier turn.
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
    /// Tool results (id, output), then possibly a user text that followed them.
    Results {
        results: Vec<(String, ToolOutput)>,
        text: String,
    },
}

impl ToolTurn {
    /// This turn as a row of the session file a resumed CLI reads: the client's text and
    /// attachments, the assistant's text and `tool_use` blocks, the `tool_result` blocks.
    pub fn row(&self) -> Row {
        let text_block = |text: &str| json!({"type": "text", "text": text});
        match self {
            ToolTurn::User { text, attachments } => {
                if attachments.is_empty() {
                    Row::User(json!(text))
                } else {
                    let mut blocks: Vec<Value> = attachments.iter().map(|i| i.to_block()).collect();
                    if !text.trim().is_empty() {
                        blocks.push(text_block(text));
                    }
                    Row::User(Value::Array(blocks))
                }
            }
            ToolTurn::Assistant { text, calls } => {
                let mut blocks = Vec::new();
                if !text.trim().is_empty() {
                    blocks.push(text_block(text));
                }
                for (id, name, input) in calls {
                    blocks
                        .push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
                }
                Row::Assistant(blocks)
            }
            ToolTurn::Results { results, text } => {
                let mut blocks: Vec<Value> = results
                    .iter()
                    .map(|(id, output)| output.to_result_block(id))
                    .collect();
                if !text.trim().is_empty() {
                    blocks.push(text_block(text));
                }
                Row::User(Value::Array(blocks))
            }
        }
    }
}

/// The call a resumed CLI runs through the stub, which answers `result`.
#[derive(Clone, Debug, PartialEq)]
pub struct Continuation {
    pub id: String,
    pub upstream_name: String,
    pub input: Value,
    pub result: ToolOutput,
}

/// The tool results a request ends with.
#[derive(Clone, Debug, PartialEq)]
pub struct EndingResults {
    /// (call id, output), in the order of the calls of the last assistant turn.
    pub outputs: Vec<(String, ToolOutput)>,
    /// A user text that followed the results in the same turn (a waiting process cannot
    /// take it: such a request starts cold).
    pub text: String,
}

impl EndingResults {
    /// The call ids answered.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.outputs.iter().map(|(id, _)| id.as_str())
    }
}

/// What a tool conversation needs from the CLI run.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolRun {
    /// The functions offered (empty with `tool_choice: none`).
    pub functions: Vec<FunctionDef>,
    pub names: ToolNames,
    /// Earlier turns; empty for a first request. A request that ends in tool results has
    /// the assistant turn whose calls they answer last.
    pub turns: Vec<ToolTurn>,
    /// Set when the request ends in tool results.
    pub results: Option<EndingResults>,
    /// The instruction `tool_choice` / `parallel_tool_calls` add to the system prompt.
    pub instruction: Option<String>,
}

impl ToolRun {
    /// The tool list the MCP server gives the CLI (JSON), also the warm key's part.
    pub fn functions_json(&self) -> String {
        Value::Array(self.functions_list()).to_string()
    }

    /// The tool list as MCP `tools/list` items.
    pub fn functions_list(&self) -> Vec<Value> {
        self.functions
            .iter()
            .map(|f| {
                json!({"name": ToolNames::stub_name(&f.name), "description": f.description,
                       "inputSchema": serde_json::from_str::<Value>(&f.parameters)
                           .unwrap_or_else(|_| json!({"type": "object"}))})
            })
            .collect()
    }

    /// Whether the request ends in tool results (a continuation).
    pub fn continues(&self) -> bool {
        self.results.is_some()
    }

    /// The cold path for the ending results: a results row with all but the last (when
    /// there are others) and the last call, which the resumed CLI runs through the stub.
    pub fn cold_continuation(&self) -> Option<(Option<ToolTurn>, Continuation)> {
        let results = self.results.as_ref()?;
        let Some(ToolTurn::Assistant { calls, .. }) = self.turns.last() else {
            return None;
        };
        let ((id, upstream_name, input), _) = calls.split_last()?;
        let by_id: HashMap<&str, &ToolOutput> = results
            .outputs
            .iter()
            .map(|(i, o)| (i.as_str(), o))
            .collect();
        let result = (*by_id.get(id.as_str())?).clone();
        let others: Vec<(String, ToolOutput)> = results
            .outputs
            .iter()
            .filter(|(i, _)| i != id)
            .cloned()
            .collect();
        let row = (!others.is_empty()).then(|| ToolTurn::Results {
            results: others,
            text: String::new(),
        });
        Some((
            row,
            Continuation {
                id: id.clone(),
                upstream_name: upstream_name.clone(),
                input: input.clone(),
                result,
            },
        ))
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
        push_turn(&mut turns, message)?;
    }
    order_results_by_call(&mut turns);
    let last_user = match turns.last() {
        Some(ToolTurn::User { .. }) => match turns.pop() {
            Some(ToolTurn::User { text, attachments }) => Some((text, attachments)),
            _ => None,
        },
        _ => None,
    };
    let results = if last_user.is_none() {
        Some(ending_results(&mut turns)?)
    } else {
        None
    };
    Ok((
        ToolRun {
            instruction: instruction(request),
            functions,
            names,
            turns,
            results,
        },
        last_user,
    ))
}

fn push_turn(
    turns: &mut Vec<ToolTurn>,
    message: &crate::conversation::Message,
) -> Result<(), ApiError> {
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
        Role::Assistant => turns.push(assistant_turn(
            &message.text,
            message
                .tool_calls
                .iter()
                .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str())),
        )),
        Role::Tool => {
            let id = message.tool_call_id.clone().unwrap_or_default();
            let output = message
                .result
                .clone()
                .unwrap_or_else(|| ToolOutput::text(&message.text));
            if let Some(url) = output.url_image() {
                return Err(ApiError::invalid(
                    "messages",
                    format!(
                        "The result of tool call `{id}` holds an image by URL ({}); tool results \
                         reach the model through MCP, which carries image data only: send the \
                         image as base64 data.",
                        url.chars().take(80).collect::<String>()
                    ),
                ));
            }
            match turns.last_mut() {
                Some(ToolTurn::Results { results, text }) if text.is_empty() => {
                    results.push((id, output))
                }
                _ => turns.push(ToolTurn::Results {
                    results: vec![(id, output)],
                    text: String::new(),
                }),
            }
        }
        Role::System => {}
    }
    Ok(())
}

/// An assistant turn as planned from a client's message or from the daemon's own answer
/// (the same way, so that a conversation continued by its client digests alike): the text,
/// and each call as (id, upstream name, input), the arguments parsed (an object, else `{}`).
pub fn assistant_turn<'a>(
    text: &str,
    calls: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> ToolTurn {
    let calls = calls
        .into_iter()
        .map(|(id, name, arguments)| {
            let input = serde_json::from_str::<Value>(arguments)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            (id.to_string(), ToolNames::upstream_name(name), input)
        })
        .collect();
    ToolTurn::Assistant {
        text: text.to_string(),
        calls,
    }
}

/// Puts every results row in the order of the calls it answers (clients send results in any
/// order; the CLI sends them upstream in the calls' order, so a conversation the CLI holds
/// and the same conversation sent back by its client must agree).
fn order_results_by_call(turns: &mut [ToolTurn]) {
    for i in 1..turns.len() {
        let (before, after) = turns.split_at_mut(i);
        if let (Some(ToolTurn::Assistant { calls, .. }), Some(ToolTurn::Results { results, .. })) =
            (before.last(), after.first_mut())
        {
            let position: HashMap<&str, usize> = calls
                .iter()
                .enumerate()
                .map(|(i, (id, _, _))| (id.as_str(), i))
                .collect();
            results.sort_by_key(|(id, _)| position.get(id.as_str()).copied().unwrap_or(usize::MAX));
        }
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
/// they are taken out of the turns, in the order of the calls.
fn ending_results(turns: &mut Vec<ToolTurn>) -> Result<EndingResults, ApiError> {
    let Some(ToolTurn::Results { results, text }) = turns.pop() else {
        return Err(ApiError::invalid(
            "messages",
            "The conversation must end with a user message or tool results.",
        ));
    };
    let calls = match turns.last() {
        Some(ToolTurn::Assistant { calls, .. }) if !calls.is_empty() => calls,
        _ => {
            return Err(ApiError::invalid(
                "messages",
                "Tool results must follow the assistant message whose tool_calls they answer.",
            ));
        }
    };
    let mut by_id: HashMap<String, ToolOutput> = HashMap::with_capacity(results.len());
    for (id, output) in results {
        by_id.entry(id).or_insert(output);
    }
    let called: HashSet<&str> = calls.iter().map(|(id, _, _)| id.as_str()).collect();
    if let Some(extra) = by_id.keys().find(|id| !called.contains(id.as_str())) {
        return Err(ApiError::invalid(
            "messages",
            format!(
                "The tool result for `{extra}` answers no call of the assistant message just \
                 before it."
            ),
        ));
    }
    let mut outputs = Vec::with_capacity(calls.len());
    for (id, _, _) in calls {
        match by_id.remove(id) {
            Some(output) => outputs.push((id.clone(), output)),
            None => {
                return Err(ApiError::invalid(
                    "messages",
                    format!("The tool call `{id}` has no tool message with its result."),
                ));
            }
        }
    }
    Ok(EndingResults { outputs, text })
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
    use crate::api::chat::parse_chat_request;

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
    fn ending_results_follow_the_calls_and_the_cold_path_carries_the_last() {
        let tools: Value = serde_json::from_str(TOOLS).unwrap();
        let (run, user) = plan(&request(json!({"model": "m", "tools": tools, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
            {"role": "tool", "tool_call_id": "c2", "content": "5C"},
            {"role": "tool", "tool_call_id": "c1", "content": [
                {"type": "text", "text": "18C"}, {"type": "text", "text": "sunny"}]}]})))
        .unwrap();
        assert!(user.is_none());
        let results = run.results.clone().unwrap();
        assert_eq!(results.ids().collect::<Vec<_>>(), ["c1", "c2"]);
        assert_eq!(
            results.outputs[0].1.parts,
            vec![
                crate::conversation::OutputPart::Text("18C".into()),
                crate::conversation::OutputPart::Text("sunny".into())
            ]
        );
        assert!(
            matches!(run.turns.last(), Some(ToolTurn::Assistant { calls, .. }) if calls.len() == 2)
        );
        let (row, cont) = run.cold_continuation().unwrap();
        assert_eq!(cont.id, "c2");
        assert_eq!(cont.result, ToolOutput::text("5C"));
        assert_eq!(cont.upstream_name, "mcp__c__get_weather");
        assert!(
            matches!(row, Some(ToolTurn::Results { results, .. }) if results.len() == 1 && results[0].0 == "c1")
        );
    }

    #[test]
    fn an_assistant_turn_from_the_answer_digests_like_the_clients_copy() {
        let from_answer = assistant_turn(
            "Let me check.",
            [("c1", "get_weather", "{\"city\": \"Paris\"}")],
        );
        let tools: Value = serde_json::from_str(TOOLS).unwrap();
        let (run, _) = plan(&request(json!({"model": "m", "tools": tools, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "18C"}]})))
        .unwrap();
        assert_eq!(run.turns.last(), Some(&from_answer));
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
