//! The client's tools as an MCP server the daemon itself answers, over the CLI's control
//! protocol (`--mcp-config` with `{"type":"sdk"}`, stream-json input): the CLI sends each
//! JSON-RPC message for the server as a `control_request` of subtype `mcp_message` on its
//! stdout and waits for the `control_response` on its stdin.
//!
//! Measured with CLI 2.1.332 (tests/fixtures/claude-cli/n_tool_parked_live): the handshake
//! (`initialize`, `notifications/initialized`, `tools/list`) comes when the process gets its
//! first line; each call is a `tools/call` whose `_meta["claudecode/toolUseId"]` is the
//! `tool_use` id the model gave; calls come one at a time, in the message's order, each
//! only after the previous one was answered, and the CLI waits for the answer (up to
//! `MCP_TOOL_TIMEOUT`). The answers to the handshake are given at once; a call is handed
//! back to the caller ([`Reply::Call`]), which answers it with the client's result when
//! that arrives ([`call_result_line`]).

use serde_json::{Value, json};

use super::events::ControlRequest;
use super::stream_input::{control_error_line, control_success_line};

/// The MCP protocol version answered when the CLI names none.
const DEFAULT_PROTOCOL: &str = "2025-06-18";

/// The tools one run offers.
#[derive(Clone, Debug)]
pub struct ToolServer {
    /// `tools/list` items: name, description, inputSchema.
    tools: Value,
}

/// A `tools/call` the CLI waits on.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingCall {
    /// The control request to answer.
    pub request_id: String,
    /// The JSON-RPC id of the call inside it.
    pub rpc_id: Value,
    /// The model's `tool_use` id (`_meta["claudecode/toolUseId"]`).
    pub tool_use_id: String,
}

/// What to do with a control request.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// Write this line to the CLI's stdin now.
    Now(Vec<u8>),
    /// A tool call: answer it once its result is known.
    Call(PendingCall),
}

impl ToolServer {
    pub fn new(tools: Vec<Value>) -> ToolServer {
        ToolServer {
            tools: Value::Array(tools),
        }
    }

    /// The reply to one control request of the CLI.
    pub fn reply(&self, request: &ControlRequest) -> Reply {
        if request.subtype != "mcp_message" {
            // Tools are allowed up front (`--allowedTools`) and no hooks are registered, so
            // nothing else is expected; a refusal makes the CLI go on without it.
            return Reply::Now(control_error_line(
                &request.request_id,
                &format!(
                    "claude-max-proxy does not handle `{}` requests",
                    request.subtype
                ),
            ));
        }
        let message = request.request.get("message").unwrap_or(&Value::Null);
        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
        let rpc_id = message.get("id").cloned().unwrap_or(Value::Null);
        let result = match method {
            "initialize" => json!({
                "protocolVersion": message["params"]["protocolVersion"]
                    .as_str()
                    .unwrap_or(DEFAULT_PROTOCOL),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "claude-max-proxy", "version": crate::VERSION},
            }),
            "tools/list" => json!({"tools": self.tools}),
            "tools/call" => {
                let tool_use_id = message["params"]["_meta"]["claudecode/toolUseId"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                return Reply::Call(PendingCall {
                    request_id: request.request_id.clone(),
                    rpc_id,
                    tool_use_id,
                });
            }
            "ping" => json!({}),
            // Notifications get no JSON-RPC answer, but the control request still wants
            // its acknowledgement.
            _ if rpc_id.is_null() => json!({}),
            other => {
                return Reply::Now(mcp_response(
                    &request.request_id,
                    json!({"jsonrpc": "2.0", "id": rpc_id, "error": {
                        "code": -32601, "message": format!("method not found: {other}")}}),
                ));
            }
        };
        Reply::Now(mcp_response(
            &request.request_id,
            json!({"jsonrpc": "2.0", "id": rpc_id, "result": result}),
        ))
    }
}

/// The answer to a waiting call: `result` is the MCP `tools/call` result
/// (`{"content": […], "isError": …}`).
pub fn call_result_line(call: &PendingCall, result: Value) -> Vec<u8> {
    mcp_response(
        &call.request_id,
        json!({"jsonrpc": "2.0", "id": call.rpc_id, "result": result}),
    )
}

fn mcp_response(request_id: &str, response: Value) -> Vec<u8> {
    control_success_line(request_id, json!({"mcp_response": response}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::events::{CliEvent, parse_line};

    fn request(line: &str) -> ControlRequest {
        match parse_line(line) {
            Ok(CliEvent::ControlRequest(request)) => request,
            other => panic!("not a control request: {other:?}"),
        }
    }

    fn answer(reply: Reply) -> Value {
        match reply {
            Reply::Now(line) => serde_json::from_slice(&line).unwrap(),
            Reply::Call(call) => panic!("unexpected call {call:?}"),
        }
    }

    /// The handshake the CLI sends (recorded with 2.1.332) is answered at once; a call is
    /// handed back with its tool_use id and answered with the result later.
    #[test]
    fn answers_the_handshake_and_hands_back_calls() {
        let server = ToolServer::new(vec![json!({"name": "get_weather", "inputSchema": {}})]);
        let init = answer(server.reply(&request(
            r#"{"type":"control_request","request_id":"r1","request":{"subtype":"mcp_message","server_name":"c","message":{"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}},"jsonrpc":"2.0","id":0}}}"#,
        )));
        assert_eq!(init["response"]["request_id"], "r1");
        let rpc = &init["response"]["response"]["mcp_response"];
        assert_eq!(rpc["id"], 0);
        assert_eq!(rpc["result"]["protocolVersion"], "2025-11-25");
        let note = answer(server.reply(&request(
            r#"{"type":"control_request","request_id":"r2","request":{"subtype":"mcp_message","server_name":"c","message":{"jsonrpc":"2.0","method":"notifications/initialized"}}}"#,
        )));
        assert_eq!(note["response"]["subtype"], "success");
        let list = answer(server.reply(&request(
            r#"{"type":"control_request","request_id":"r3","request":{"subtype":"mcp_message","server_name":"c","message":{"method":"tools/list","jsonrpc":"2.0","id":1}}}"#,
        )));
        assert_eq!(
            list["response"]["response"]["mcp_response"]["result"]["tools"][0]["name"],
            "get_weather"
        );
        let Reply::Call(call) = server.reply(&request(
            r#"{"type":"control_request","request_id":"r4","request":{"subtype":"mcp_message","server_name":"c","message":{"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris"},"_meta":{"claudecode/toolUseId":"toolu_1","progressToken":2}},"jsonrpc":"2.0","id":2}}}"#,
        )) else {
            panic!("a call is handed back");
        };
        assert_eq!(call.tool_use_id, "toolu_1");
        let line: Value = serde_json::from_slice(&call_result_line(
            &call,
            json!({"content": [{"type": "text", "text": "18C"}], "isError": false}),
        ))
        .unwrap();
        assert_eq!(line["response"]["request_id"], "r4");
        assert_eq!(line["response"]["response"]["mcp_response"]["id"], 2);
        let other = answer(server.reply(&request(
            r#"{"type":"control_request","request_id":"r5","request":{"subtype":"can_use_tool","tool_name":"x"}}"#,
        )));
        assert_eq!(other["response"]["subtype"], "error");
    }
}
