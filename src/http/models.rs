//! `GET /v1/models` and `GET /v1/models/{id}`, read alike by OpenAI and Anthropic clients:
//! each model object carries OpenAI's fields (`object`, `created`, `owned_by`) and the
//! Anthropic Models API's (`type`, `display_name`, `created_at`); the list carries both
//! `object: "list"` and Anthropic's cursor fields (`has_more`, `first_id`, `last_id`), and
//! honours Anthropic's `limit`, `after_id` and `before_id`. Without `limit` every model is
//! listed (OpenAI's list has no pages). Errors come in the dialect the caller picked.
//!
//! Each model also says what the CLI knows of the model it is served by
//! ([`crate::models::registry`]): `family`, the context window as `context_length` and the
//! Models API's `max_input_tokens`, the output limit as `max_output_tokens` and the Models
//! API's `max_tokens`. `GET /v1/models/{id}` also answers for unlisted Claude ids the CLI
//! knows (`claude-sonnet-4-20250514`); other unlisted ids are 404.
//!
//! Nothing of this changes between reloads, so each configuration generation serializes
//! its model objects once ([`Listing`]): a request for the whole list answers with the
//! same shared bytes, and a page is put together from the serialized objects.

use bytes::Bytes;
use hyper::Response;
use serde_json::{Value, json};

use super::respond::{self, Dialect};
use super::{Body, Generation};
use crate::conversation::ApiError;
use crate::models::{Catalog, MODEL_CREATED, MODEL_CREATED_AT, ModelInfo, registry};

/// The model objects of one configuration generation, serialized once.
#[derive(Debug)]
pub struct Listing {
    /// Each listed id with its model object as JSON, in listing order.
    objects: Vec<(String, String)>,
    /// The answer to `GET /v1/models` without paging parameters (nearly every request).
    everything: Bytes,
}

impl Listing {
    pub fn new(catalog: &Catalog) -> Listing {
        let objects: Vec<(String, String)> = catalog
            .ids()
            .map(|id| (id.to_string(), model(id, catalog.info(id)).to_string()))
            .collect();
        let all: Vec<&(String, String)> = objects.iter().collect();
        let everything = Bytes::from(list_body(&all, false));
        Listing {
            objects,
            everything,
        }
    }

    /// The serialized model object of a listed id.
    fn object(&self, id: &str) -> Option<&str> {
        self.objects
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, object)| object.as_str())
    }
}

/// A list answer around already serialized model objects.
fn list_body(page: &[&(String, String)], has_more: bool) -> String {
    let id_json = |entry: Option<&&(String, String)>| {
        entry.map_or_else(
            || "null".to_string(),
            |(id, _)| Value::from(id.as_str()).to_string(),
        )
    };
    let size: usize = page.iter().map(|(_, object)| object.len() + 1).sum();
    let mut body = String::with_capacity(size + 128);
    body.push_str("{\"object\":\"list\",\"data\":[");
    for (i, (_, object)) in page.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(object);
    }
    body.push_str("],\"has_more\":");
    body.push_str(if has_more { "true" } else { "false" });
    body.push_str(",\"first_id\":");
    body.push_str(&id_json(page.first()));
    body.push_str(",\"last_id\":");
    body.push_str(&id_json(page.last()));
    body.push('}');
    body
}

pub fn list(current: &Generation, query: Option<&str>, dialect: Dialect) -> Response<Body> {
    let listing = &current.models;
    let window = match Window::parse(query) {
        Ok(window) => window,
        Err(error) => return respond::error_in(dialect, &error),
    };
    if window == Window::default() {
        return respond::json(200, listing.everything.clone());
    }
    let ids: Vec<&str> = listing.objects.iter().map(|(id, _)| id.as_str()).collect();
    match window.of(&ids) {
        Ok((page, has_more)) => {
            let page: Vec<&(String, String)> = page
                .iter()
                .filter_map(|id| listing.objects.iter().find(|(known, _)| known == id))
                .collect();
            respond::json(200, list_body(&page, has_more))
        }
        Err(error) => respond::error_in(dialect, &error),
    }
}

pub fn retrieve(current: &Generation, id: &str, dialect: Dialect) -> Response<Body> {
    if let Some(object) = current.models.object(id) {
        return respond::json(200, object.to_string());
    }
    match current.catalog.info(id) {
        Some(info) => respond::ok_json(&model(id, Some(info))),
        None => respond::error_in(dialect, &ApiError::model_not_found(id)),
    }
}

/// One model in both APIs' shapes, with what the CLI knows of the model serving it.
fn model(id: &str, info: Option<ModelInfo>) -> Value {
    let mut value = json!({
        "id": id,
        "object": "model",
        "created": MODEL_CREATED,
        "owned_by": "anthropic",
        "type": "model",
        "display_name": id,
        "created_at": MODEL_CREATED_AT,
        "family": info.map(|i| i.family).or_else(|| registry::family_of(id)),
    });
    if let (Some(info), Some(object)) = (info, value.as_object_mut()) {
        for (key, tokens) in [
            ("context_length", info.context_window),
            ("max_input_tokens", info.context_window),
            ("max_output_tokens", info.max_output_tokens),
            ("max_tokens", info.max_output_tokens),
        ] {
            object.insert(key.to_string(), json!(tokens));
        }
    }
    value
}

/// The part of the list a request asks for (Anthropic's paging).
#[derive(Debug, Default, PartialEq, Eq)]
struct Window {
    limit: Option<usize>,
    after_id: Option<String>,
    before_id: Option<String>,
}

impl Window {
    fn parse(query: Option<&str>) -> Result<Window, ApiError> {
        let mut window = Window::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "limit" => {
                    let limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            ApiError::invalid("limit", "`limit` must be an integer from 1 to 1000.")
                        })?;
                    window.limit = Some(limit);
                }
                "after_id" => window.after_id = Some(value.into_owned()),
                "before_id" => window.before_id = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(window)
    }

    /// The ids of this window, and whether more follow in its direction.
    fn of<'a>(&self, ids: &[&'a str]) -> Result<(Vec<&'a str>, bool), ApiError> {
        let limit = self.limit.unwrap_or(ids.len().max(1));
        let position = |param: &str, id: &str| {
            ids.iter().position(|known| *known == id).ok_or_else(|| {
                ApiError::invalid(
                    param,
                    format!(
                        "`{param}` names no listed model: '{}'.",
                        id.chars().take(80).collect::<String>()
                    ),
                )
            })
        };
        if let Some(after) = &self.after_id {
            let rest = &ids[position("after_id", after)? + 1..];
            let page = rest.iter().take(limit).copied().collect();
            return Ok((page, rest.len() > limit));
        }
        if let Some(before) = &self.before_id {
            let end = position("before_id", before)?;
            let start = end.saturating_sub(limit);
            return Ok((ids[start..end].to_vec(), start > 0));
        }
        Ok((ids.iter().take(limit).copied().collect(), ids.len() > limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: [&str; 5] = ["a", "b", "c", "d", "e"];

    fn window(query: &str) -> (Vec<&'static str>, bool) {
        Window::parse(Some(query))
            .and_then(|window| window.of(&IDS))
            .unwrap()
    }

    /// The list served from the bytes made at load is the list a page of everything would
    /// be, and every object in it is the model object `retrieve` gives.
    #[test]
    fn the_list_made_once_is_the_list() {
        let catalog = Catalog::from_settings(&crate::config::Settings::default());
        let listing = Listing::new(&catalog);
        let whole: Value = serde_json::from_slice(&listing.everything).unwrap();
        let all: Vec<&(String, String)> = listing.objects.iter().collect();
        let paged: Value = serde_json::from_str(&list_body(&all, false)).unwrap();
        assert_eq!(whole, paged);
        assert_eq!(whole["object"], "list");
        assert_eq!(whole["has_more"], false);
        let data = whole["data"].as_array().unwrap();
        assert_eq!(data.len(), catalog.ids().count());
        for (object, id) in data.iter().zip(catalog.ids()) {
            assert_eq!(object, &model(id, catalog.info(id)));
        }
        assert_eq!(whole["first_id"], data[0]["id"]);
        assert_eq!(whole["last_id"], data[data.len() - 1]["id"]);
        let empty: Value = serde_json::from_str(&list_body(&[], false)).unwrap();
        assert_eq!(empty["first_id"], Value::Null);
    }

    #[test]
    fn without_limit_everything_is_listed() {
        assert_eq!(window(""), (IDS.to_vec(), false));
    }

    #[test]
    fn pages_go_forward_and_back() {
        assert_eq!(window("limit=2"), (vec!["a", "b"], true));
        assert_eq!(window("limit=2&after_id=b"), (vec!["c", "d"], true));
        assert_eq!(window("limit=2&after_id=d"), (vec!["e"], false));
        assert_eq!(window("limit=2&before_id=d"), (vec!["b", "c"], true));
        assert_eq!(window("limit=2&before_id=b"), (vec!["a"], false));
    }

    #[test]
    fn bad_parameters_name_themselves() {
        for (query, param) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("after_id=zz", "after_id"),
            ("before_id=zz", "before_id"),
        ] {
            let error = Window::parse(Some(query))
                .and_then(|window| window.of(&IDS))
                .unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{query}");
        }
    }
}
