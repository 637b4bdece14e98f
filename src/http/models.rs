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

use hyper::Response;
use serde_json::{Value, json};

use super::respond::{self, Dialect};
use super::{Body, Live};
use crate::conversation::ApiError;
use crate::models::{MODEL_CREATED, MODEL_CREATED_AT, ModelInfo, registry};

pub fn list(live: &Live, query: Option<&str>, dialect: Dialect) -> Response<Body> {
    let ids: Vec<&str> = live.catalog.ids().collect();
    match Window::parse(query).and_then(|window| window.of(&ids)) {
        Ok((page, has_more)) => {
            let data: Vec<Value> = page
                .iter()
                .map(|id| model(id, live.catalog.info(id)))
                .collect();
            respond::ok_json(&json!({
                "object": "list",
                "data": data,
                "has_more": has_more,
                "first_id": page.first(),
                "last_id": page.last(),
            }))
        }
        Err(error) => respond::error_in(dialect, &error),
    }
}

pub fn retrieve(live: &Live, id: &str, dialect: Dialect) -> Response<Body> {
    let info = live.catalog.info(id);
    if live.catalog.is_listed(id) || info.is_some() {
        respond::ok_json(&model(id, info))
    } else {
        respond::error_in(dialect, &ApiError::model_not_found(id))
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
