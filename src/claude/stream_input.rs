//! The CLI's input side in `--input-format stream-json` mode: one JSON line per user
//! message (`{"type":"user","message":{"role":"user","content":[…]},"parent_tool_use_id":null}`),
//! the process answering each line and waiting for the next until stdin closes. The output
//! side is [`super::events`].
//!
//! This is the one place the daemon writes that protocol. Of its control messages the daemon
//! sends `initialize` first: the CLI does its start-up work (settings, commands, agents,
//! models, MCP servers) when it gets its first line, and `initialize` is a first line that
//! asks nothing of upstream — answered by a `control_response` line. The CLI's own control
//! requests (`mcp_message` for the client's tools, see [`super::tool_server`]) are answered
//! with [`control_success_line`] / [`control_error_line`].

use serde_json::{Value, json};

/// One user message line: `blocks` (attachments first, then text, as the CLI's own
/// attachments go), newline-terminated. A message of one text block is sent as a plain
/// string, as the CLI sends a prompt it read as text: upstream gets the same message either
/// way.
pub fn user_message_line(blocks: Vec<Value>) -> Vec<u8> {
    let content = match blocks.as_slice() {
        [block] if block["type"] == "text" => block["text"].clone(),
        _ => Value::Array(blocks),
    };
    let line = json!({"type": "user",
        "message": {"role": "user", "content": content}, "parent_tool_use_id": null});
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// The `initialize` control request (no hooks): the CLI finishes its start-up and answers
/// with a `control_response`, without any upstream request.
pub fn initialize_line() -> Vec<u8> {
    let line = json!({"type": "control_request", "request_id": "init_0",
        "request": {"subtype": "initialize", "hooks": null}});
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// The answer to the CLI's control request `request_id`: `{"subtype":"success",…}`.
pub fn control_success_line(request_id: &str, response: Value) -> Vec<u8> {
    line(json!({"type": "control_response", "response": {
        "subtype": "success", "request_id": request_id, "response": response}}))
}

/// A refusal of the CLI's control request `request_id`, with the reason.
pub fn control_error_line(request_id: &str, error: &str) -> Vec<u8> {
    line(json!({"type": "control_response", "response": {
        "subtype": "error", "request_id": request_id, "error": error}}))
}

fn line(value: Value) -> Vec<u8> {
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// A text content block.
pub fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_message() {
        let line = user_message_line(vec![text_block("hi")]);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let value: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["message"]["content"], "hi");
        assert_eq!(value["type"], "user");
    }
}
