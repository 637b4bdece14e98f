//! `GET /v1/models` and `GET /v1/models/{id}`.

use hyper::Response;

use super::{AppState, Body, respond};
use crate::models::MODEL_CREATED;
use crate::openai::{ApiError, ModelList, ModelObject};

pub fn list(state: &AppState) -> Response<Body> {
    let data = state
        .catalog
        .ids()
        .map(|id| ModelObject::new(id, MODEL_CREATED))
        .collect();
    respond::ok_json(&ModelList {
        object: "list",
        data,
    })
}

pub fn retrieve(state: &AppState, id: &str) -> Response<Body> {
    match state.catalog.resolve(id) {
        Some(_) => respond::ok_json(&ModelObject::new(id, MODEL_CREATED)),
        None => respond::error(&ApiError::model_not_found(id)),
    }
}
