//! Response building blocks: the body type and JSON / error responses.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};

pub use crate::api::Dialect;
use crate::conversation::ApiError;

/// Every response body: a full buffer or an SSE stream.
pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON response with `status`.
pub fn json(status: u16, text: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(text));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Serializes `value` as a 200 JSON response.
pub fn ok_json<T: serde::Serialize>(value: &T) -> Response<Body> {
    // Room for a /health answer at once, instead of growing the buffer step by step.
    let mut text = Vec::with_capacity(2048);
    match serde_json::to_writer(&mut text, value) {
        Ok(()) => json(200, text),
        Err(e) => error(&ApiError::new(
            crate::conversation::ErrorKind::Internal,
            format!("could not serialize the response: {e}"),
        )),
    }
}

/// Reading a request's dialect and rendering an error in it are the HTTP layer's (the enum
/// is [`crate::api::Dialect`], each API's error object its own).
impl Dialect {
    /// The dialect of a request: the Messages API's paths are Anthropic's, chat completions
    /// and Responses OpenAI's; on paths both kinds of client use (models, unknown paths, …)
    /// a request with `anthropic-version` (which Anthropic's SDKs and the claude CLI send)
    /// gets the Anthropic shape, any other OpenAI's.
    pub fn of_request(path: &str, headers: &hyper::HeaderMap) -> Dialect {
        const OPENAI_ONLY: [&str; 4] = [
            "/v1/chat/completions",
            "/chat/completions",
            "/v1/responses",
            "/responses",
        ];
        let messages = path.starts_with("/v1/messages");
        let shared = !OPENAI_ONLY.iter().any(|prefix| path.starts_with(prefix));
        if messages || (shared && headers.contains_key("anthropic-version")) {
            Dialect::Anthropic
        } else {
            Dialect::OpenAi
        }
    }

    /// The HTTP status of `err` in this dialect.
    pub fn status(self, err: &ApiError) -> u16 {
        match self {
            Dialect::OpenAi => err.status(),
            Dialect::Anthropic => crate::api::messages::status(err),
        }
    }

    /// The error body in this dialect.
    pub fn error_json(self, err: &ApiError) -> String {
        match self {
            Dialect::OpenAi => err.to_json(),
            Dialect::Anthropic => crate::api::messages::error_json(err),
        }
    }
}

/// An OpenAI error response, with `Retry-After` when the error has one.
pub fn error(err: &ApiError) -> Response<Body> {
    error_in(Dialect::OpenAi, err)
}

/// An error response in `dialect`, with `Retry-After` when the error has one.
pub fn error_in(dialect: Dialect, err: &ApiError) -> Response<Body> {
    let mut response = json(dialect.status(err), dialect.error_json(err));
    if let Some(secs) = err.retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// A run whose channel closed without an outcome (a bug): a 500 that says so.
pub fn ended_without_answer() -> ApiError {
    ApiError::new(
        crate::conversation::ErrorKind::Internal,
        "The claude CLI run ended without an answer or an error (a bug in the proxy; please \
         report it with the daemon's log).",
    )
}

/// Marks a response as billed as extra usage (`x-claude-overage: true`).
pub fn mark_overage(response: &mut Response<Body>) {
    response
        .headers_mut()
        .insert("x-claude-overage", HeaderValue::from_static("true"));
}
