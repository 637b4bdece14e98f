//! The CLI's input side in `--input-format stream-json` mode: one JSON line per user
//! message (`{"type":"user","message":{"role":"user","content":[…]},"parent_tool_use_id":null}`),
//! the process answering each line and waiting for the next until stdin closes. The output
//! side is [`super::events`].
//!
//! This is the one place the daemon speaks that protocol. Of its control messages the daemon
//! sends one, `initialize`, to a process started ahead of its prompt: the CLI does its
//! start-up work (settings, commands, agents, models) when it gets its first line, and
//! `initialize` is a first line that asks nothing of upstream — answered by a
//! `control_response` line, which the output side ignores. A turn that ends in client tool calls is ended by the PreToolUse defer hook
//! (one upstream request, `stop_reason: tool_deferred`), not by answering `can_use_tool`
//! control requests, which would keep a process parked per pending call (both measured in
//! tests/fixtures/claude-cli/g_tool_mcp_permission and l_tool_deferred).

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
