//! `claude-max-proxy defer-hook [<file>]` (hidden): the PreToolUse hook of a cold
//! continuation (see `mcp_stub`). It answers `defer` for every call — the CLI then ends the
//! turn at the call, and the client gets it as a `tool_call` — except the one call the
//! continuation carries, whose id is in `<file>` (a file of the run's, never the id itself
//! on the command line, where a client's id could read as an option), which it allows, so
//! that the CLI runs it through the MCP stub (whose answer is the client's result) and goes
//! on. It never fails: a hook error would reach the model as text.

use std::io::Read;

use serde_json::{Value, json};

/// Reads the hook input on stdin and prints the decision; `allowed_file` names the call to
/// let through.
pub fn run(allowed_file: Option<&std::path::Path>) {
    let allowed = allowed_file.and_then(|path| std::fs::read_to_string(path).ok());
    let allowed = allowed.as_deref();
    let mut input = String::new();
    let _ = std::io::stdin().read_to_string(&mut input);
    let call = serde_json::from_str::<Value>(&input).ok().and_then(|v| {
        v.get("tool_use_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    println!("{}", decision(call.as_deref(), allowed));
}

/// The hook's answer for the call `id`.
fn decision(id: Option<&str>, allowed: Option<&str>) -> Value {
    let verdict = if id.is_some() && id == allowed {
        "allow"
    } else {
        "defer"
    };
    json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": verdict}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defers_all_but_the_carried_call() {
        let verdict =
            |id, allowed| decision(id, allowed)["hookSpecificOutput"]["permissionDecision"].clone();
        assert_eq!(verdict(Some("a"), None), "defer");
        assert_eq!(verdict(Some("a"), Some("b")), "defer");
        assert_eq!(verdict(Some("b"), Some("b")), "allow");
        assert_eq!(verdict(None, Some("b")), "defer");
    }
}
