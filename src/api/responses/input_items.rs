//! A request's own `input` (not the conversation a `previous_response_id` brought, not
//! `instructions`) in the Responses API's item shapes, as
//! `GET /v1/responses/{id}/input_items` lists it: a string is one user message, each item
//! has its `type` and `status`, and text content is parts. Made when the request is parsed
//! (it has been validated by then) and held as compact JSON text, not parsed values, while
//! the run lasts and while the answer is kept (a parsed value of a tiny part costs over ten
//! times its text); ids are given when the answer is kept ([`super::input_list`]).

use serde_json::{Value, json};

/// One input item as it is listed, kept as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedItem {
    /// The item's `id`: the client's, else given when the answer is kept.
    pub id: Option<String>,
    /// The prefix of an id given to it (`msg`, `fc`, …).
    pub prefix: &'static str,
    /// The item as compact JSON (its `id` may be missing: the listing adds it).
    pub json: String,
}

impl ListedItem {
    fn of(item: &Value) -> ListedItem {
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        let prefix = match item.get("type").and_then(Value::as_str) {
            Some("message") => "msg",
            Some("function_call") => "fc",
            Some("function_call_output") => "fco",
            Some("custom_tool_call") => "ctc",
            Some("custom_tool_call_output") => "ctco",
            Some("reasoning") => "rs",
            _ => "item",
        };
        let mut json = item.to_string();
        json.shrink_to_fit();
        ListedItem { id, prefix, json }
    }

    /// The item as listed: its JSON with its `id` (`Null` if it has none yet).
    pub fn value(&self) -> Value {
        let mut value: Value = serde_json::from_str(&self.json).unwrap_or(Value::Null);
        if let (Some(item), Some(id)) = (value.as_object_mut(), &self.id) {
            item.insert("id".into(), json!(id));
        }
        value
    }

    /// The bytes this item holds.
    pub fn held_bytes(&self) -> usize {
        std::mem::size_of::<ListedItem>()
            + self.json.capacity()
            + self.id.as_ref().map_or(0, String::capacity)
    }
}

/// The input items of `input`: a string is one user message; each item gets `type`,
/// `status`, and text content as parts.
pub fn listed_items(input: Option<&Value>) -> Vec<ListedItem> {
    match input {
        Some(Value::String(text)) => vec![ListedItem::of(&json!({
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": text}],
        }))],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| ListedItem::of(&listed(item)))
            .collect(),
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
        let items: Vec<Value> = listed_items(Some(&json!("Hello")))
            .iter()
            .map(ListedItem::value)
            .collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["type"], "message");
        assert_eq!(items[0]["role"], "user");
        assert_eq!(items[0]["content"][0]["type"], "input_text");
        assert_eq!(items[0]["content"][0]["text"], "Hello");
    }

    #[test]
    fn items_get_types_status_and_parts() {
        let listed = listed_items(Some(&json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}",
             "id": "fc_given"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ])));
        let items: Vec<Value> = listed.iter().map(ListedItem::value).collect();
        assert_eq!(items[0]["type"], "message");
        assert_eq!(items[1]["content"][0]["type"], "output_text");
        assert_eq!(items[2]["type"], "function_call");
        assert!(items.iter().all(|item| item["status"] == "completed"));
        assert_eq!(items[2]["id"], "fc_given", "a client's id is kept");
        assert_eq!(listed[2].prefix, "fc");
        assert_eq!(
            (listed[0].id.as_deref(), listed[0].prefix),
            (None, "msg"),
            "an id is given when kept"
        );
    }
}
