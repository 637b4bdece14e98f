//! A request's own `input` (not the conversation a `previous_response_id` brought, not
//! `instructions`) in the Responses API's item shapes, as
//! `GET /v1/responses/{id}/input_items` lists it: a string is one user message, each item
//! has its `type` and `status`, and text content is parts. Made when the request is parsed
//! (it has been validated by then); ids are given when the answer is kept
//! ([`super::input_list`]).

use serde_json::{Value, json};

/// The input items of `input`: a string is one user message; each item gets `type`,
/// `status`, and text content as parts.
pub fn listed_items(input: Option<&Value>) -> Vec<Value> {
    match input {
        Some(Value::String(text)) => vec![json!({
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": text}],
        })],
        Some(Value::Array(items)) => items.iter().map(listed).collect(),
        _ => Vec::new(),
    }
}

fn listed(item: &Value) -> Value {
    let mut item = item.as_object().cloned().unwrap_or_default();
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message")
        .to_string();
    if kind == "message" {
        let assistant = item.get("role").and_then(Value::as_str) == Some("assistant");
        if let Some(Value::String(text)) = item.get("content") {
            let part = if assistant {
                json!({"type": "output_text", "text": text, "annotations": []})
            } else {
                json!({"type": "input_text", "text": text})
            };
            item.insert("content".into(), json!([part]));
        }
    }
    if kind != "reasoning" && !item.contains_key("status") {
        item.insert("status".into(), json!("completed"));
    }
    item.insert("type".into(), json!(kind));
    Value::Object(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_input_is_one_user_message() {
        let items = listed_items(Some(&json!("Hello")));
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["type"], "message");
        assert_eq!(items[0]["role"], "user");
        assert_eq!(items[0]["content"][0]["type"], "input_text");
        assert_eq!(items[0]["content"][0]["text"], "Hello");
    }

    #[test]
    fn items_get_types_status_and_parts() {
        let items = listed_items(Some(&json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}",
             "id": "fc_given"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ])));
        assert_eq!(items[0]["type"], "message");
        assert_eq!(items[1]["content"][0]["type"], "output_text");
        assert_eq!(items[2]["type"], "function_call");
        assert!(items.iter().all(|item| item["status"] == "completed"));
    }
}
