//! `GET /v1/models` and `GET /v1/models/{id}`.

use hyper::Response;

use super::{Body, Live, respond};
use crate::models::MODEL_CREATED;
use crate::openai::{ApiError, ModelList, ModelObject};

pub fn list(live: &Live) -> Response<Body> {
    let data = live
        .catalog
        .ids()
        .map(|id| ModelObject::new(id, MODEL_CREATED))
        .collect();
    respond::ok_json(&ModelList {
        object: "list",
        data,
    })
}

pub fn retrieve(live: &Live, id: &str) -> Response<Body> {
    match live.catalog.resolve(id) {
        Some(_) => respond::ok_json(&ModelObject::new(id, MODEL_CREATED)),
        None => respond::error(&ApiError::model_not_found(id)),
    }
}
