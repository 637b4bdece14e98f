//! `claude-max-proxy mcp-stub <tools.json> [<result.json>]` (hidden): the stdio MCP server
//! of a cold continuation — a request whose tool results no waiting CLI process holds
//! (`runner::live`), so a resumed CLI runs the last call again. It lists exactly the
//! client's functions (from a 0600 file the run wrote) and never runs anything: the one
//! call it gets is answered with the client's result (the second file, an MCP `tools/call`
//! result: text and image parts, `isError`). The protocol is line-delimited JSON-RPC 2.0: `initialize`, `tools/list`,
//! `tools/call`; notifications get no answer, other methods a -32601 error.

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::{Value, json};

/// Serves stdin/stdout until stdin ends. Returns a message when the files cannot be read.
pub fn run(tools_file: &Path, result_file: Option<&Path>) -> crate::Result<()> {
    let tools: Value = std::fs::read_to_string(tools_file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| {
            format!(
                "mcp-stub: cannot read the tools in {}",
                tools_file.display()
            )
        })?;
    let result = match result_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .ok_or_else(|| format!("mcp-stub: cannot read the result in {}", path.display()))?,
        ),
        None => None,
    };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(reply) = answer(&message, &tools, result.as_ref()) {
            let _ = writeln!(stdout, "{reply}");
            let _ = stdout.flush();
        }
    }
    Ok(())
}

/// The reply to one JSON-RPC message (`None` for notifications).
fn answer(message: &Value, tools: &Value, result: Option<&Value>) -> Option<Value> {
    let id = message.get("id").filter(|id| !id.is_null())?.clone();
    let method = message.get("method").and_then(Value::as_str).unwrap_or("");
    let result = match method {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"].as_str().unwrap_or("2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "claude-max-proxy", "version": crate::VERSION},
        }),
        "tools/list" => json!({"tools": tools}),
        "tools/call" => match result {
            Some(result) => result.clone(),
            None => json!({"content": [{"type": "text",
                "text": "This tool runs on the client; its result arrives with the next request."}],
                "isError": true}),
        },
        "ping" => json!({}),
        _ => {
            return Some(json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("method not found: {method}")}}));
        }
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaks_the_three_methods() {
        let tools = json!([{"name": "get_weather", "inputSchema": {"type": "object"}}]);
        let init = answer(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18"}}),
            &tools,
            None,
        )
        .unwrap();
        assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
        assert!(
            answer(
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                &tools,
                None
            )
            .is_none()
        );
        let list = answer(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            &tools,
            None,
        )
        .unwrap();
        assert_eq!(list["result"]["tools"], tools);
        let call = answer(
            &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_weather"}}),
            &tools,
            Some(&json!({"content": [{"type": "text", "text": "5C"}], "isError": false})),
        )
        .unwrap();
        assert_eq!(call["result"]["content"][0]["text"], "5C");
        let other = answer(
            &json!({"jsonrpc": "2.0", "id": 3, "method": "resources/list"}),
            &tools,
            None,
        )
        .unwrap();
        assert_eq!(other["error"]["code"], -32601);
    }
}
