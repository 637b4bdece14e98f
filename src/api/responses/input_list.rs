//! The listing of a kept response's input items (`GET /v1/responses/{id}/input_items`):
//! their ids (the client's, or given here when the answer is kept) and the cursor paging of
//! the list (`limit`, `order`, `after`, `include`).

use serde_json::{Map, Value, json};

use super::input_items::ListedItem;
use super::reply::item_id;
use crate::conversation::ApiError;

/// The `include` value that keeps input images' URLs in the list (left out by default,
/// as the OpenAI API does).
const IMAGE_URLS: &str = "message.input_image.image_url";

/// `items` with an `id` each: the client's when it gave one, else a new one.
pub fn with_ids(mut items: Vec<ListedItem>) -> Vec<ListedItem> {
    for item in &mut items {
        let prefix = item.prefix;
        item.id.get_or_insert_with(|| item_id(prefix));
    }
    items
}

/// What a listing asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// 1–100, default 20.
    pub limit: usize,
    /// `order=desc` (the default): the last input item first.
    pub newest_first: bool,
    /// The id of the item the page starts after.
    pub after: Option<String>,
    /// `include` names `message.input_image.image_url`.
    pub image_urls: bool,
}

impl Default for ListQuery {
    fn default() -> ListQuery {
        ListQuery {
            limit: 20,
            newest_first: true,
            after: None,
            image_urls: false,
        }
    }
}

impl ListQuery {
    /// Parses a URL query (`limit=2&order=asc&after=msg_…&include[]=…`); unknown
    /// parameters are ignored, bad values are a 400 naming the parameter.
    pub fn parse(query: Option<&str>) -> Result<ListQuery, ApiError> {
        let mut out = ListQuery::default();
        let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes());
        for (key, value) in pairs {
            match key.as_ref() {
                "limit" => {
                    out.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or_else(|| {
                            ApiError::invalid("limit", "`limit` must be an integer from 1 to 100.")
                        })?;
                }
                "order" => {
                    out.newest_first = match value.as_ref() {
                        "desc" => true,
                        "asc" => false,
                        _ => {
                            return Err(ApiError::invalid(
                                "order",
                                "`order` must be `asc` or `desc`.",
                            ));
                        }
                    };
                }
                "after" => out.after = Some(value.into_owned()),
                "include" | "include[]" => out.image_urls |= value == IMAGE_URLS,
                _ => {}
            }
        }
        Ok(out)
    }
}

/// One page of `items` (in input order) as the API's `list` object; only the page's items
/// are parsed.
pub fn page(items: &[ListedItem], query: &ListQuery) -> Result<Value, ApiError> {
    let ordered: Vec<&ListedItem> = if query.newest_first {
        items.iter().rev().collect()
    } else {
        items.iter().collect()
    };
    let start = match &query.after {
        None => 0,
        Some(after) => {
            let at = ordered
                .iter()
                .position(|item| item.id.as_deref() == Some(after.as_str()))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "after",
                        format!(
                            "`after` names no input item of this response: '{}'.",
                            after.chars().take(80).collect::<String>()
                        ),
                    )
                })?;
            at + 1
        }
    };
    let rest = &ordered[start..];
    let data: Vec<Value> = rest
        .iter()
        .take(query.limit)
        .map(|item| shown(item.value(), query.image_urls))
        .collect();
    let id_at = |i: Option<&Value>| i.and_then(|item| item.get("id")).cloned();
    Ok(json!({
        "object": "list",
        "data": data,
        "first_id": id_at(data.first()),
        "last_id": id_at(data.last()),
        "has_more": rest.len() > query.limit,
    }))
}

/// An item as listed: input images without their URL unless asked for.
fn shown(mut item: Value, image_urls: bool) -> Value {
    if image_urls {
        return item;
    }
    if let Some(parts) = item.get_mut("content").and_then(Value::as_array_mut) {
        for part in parts {
            if let Some(part) = part.as_object_mut()
                && part.get("type").and_then(Value::as_str) == Some("input_image")
            {
                hide_image_url(part);
            }
        }
    }
    item
}

fn hide_image_url(part: &mut Map<String, Value>) {
    part.insert("image_url".into(), Value::Null);
    if !part.contains_key("detail") {
        part.insert("detail".into(), json!("auto"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::responses::input_items::listed_items;

    fn ids(page: &Value) -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn query(text: &str) -> ListQuery {
        ListQuery::parse(Some(text)).unwrap()
    }

    fn listed(items: Value) -> Vec<ListedItem> {
        with_ids(listed_items(Some(&items)))
    }

    #[test]
    fn ids_are_kept_or_given() {
        let items: Vec<Value> = listed(json!([
            {"type": "function_call", "id": "fc_given"},
            {"type": "function_call_output", "id": ""},
            {"type": "message"},
        ]))
        .iter()
        .map(ListedItem::value)
        .collect();
        assert_eq!(items[0]["id"], "fc_given", "a client's id is kept");
        assert!(items[1]["id"].as_str().unwrap().starts_with("fco_"));
        assert!(items[2]["id"].as_str().unwrap().starts_with("msg_"));
    }

    #[test]
    fn pages_follow_order_limit_and_after() {
        let items = listed(Value::Array(
            (1..=5)
                .map(|i| json!({"id": format!("m{i}"), "type": "message"}))
                .collect(),
        ));
        let first = page(&items, &ListQuery::default()).unwrap();
        assert_eq!(ids(&first), ["m5", "m4", "m3", "m2", "m1"], "newest first");
        assert_eq!(first["has_more"], false);
        let asc = page(&items, &query("order=asc&limit=2")).unwrap();
        assert_eq!(ids(&asc), ["m1", "m2"]);
        assert_eq!(
            (asc["first_id"].as_str(), asc["last_id"].as_str()),
            (Some("m1"), Some("m2"))
        );
        assert_eq!(asc["has_more"], true);
        let next = page(&items, &query("order=asc&limit=2&after=m4")).unwrap();
        assert_eq!(ids(&next), ["m5"]);
        assert_eq!(next["has_more"], false);
        let empty = page(&items, &query("after=m1")).unwrap();
        assert_eq!(ids(&empty), Vec::<String>::new());
        assert!(empty["first_id"].is_null());
        assert_eq!(
            page(&items, &query("after=zz"))
                .unwrap_err()
                .param
                .as_deref(),
            Some("after")
        );
    }

    #[test]
    fn bad_parameters_name_themselves() {
        for (text, param) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=x", "limit"),
            ("order=up", "order"),
        ] {
            let error = ListQuery::parse(Some(text)).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{text}");
        }
        assert_eq!(query("limit=100&unknown=1").limit, 100);
    }

    #[test]
    fn image_urls_only_when_included() {
        let items = listed(json!([{"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
        ]}]));
        let plain = page(&items, &ListQuery::default()).unwrap();
        assert!(plain["data"][0]["content"][1]["image_url"].is_null());
        assert_eq!(plain["data"][0]["content"][1]["detail"], "auto");
        let with = page(&items, &query("include[]=message.input_image.image_url")).unwrap();
        assert_eq!(
            with["data"][0]["content"][1]["image_url"],
            "data:image/png;base64,AAAA"
        );
    }
}
