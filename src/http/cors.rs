//! CORS headers, off by default: without `cors_origins` no Access-Control-* header is ever
//! sent (and [`super::access`] refuses foreign origins). Listed origins (or `*`) get the
//! headers a browser needs.

use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};

use super::Body;
use super::respond;

/// Adds the CORS headers to a response.
pub fn decorate(response: &mut Response<Body>, origin: HeaderValue) {
    let headers = response.headers_mut();
    headers.insert(hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(hyper::header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        hyper::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-request-id, retry-after, x-ignored-params, x-claude-overage"),
    );
}

/// The answer to a preflight from an allowed origin.
pub fn preflight(origin: HeaderValue) -> Response<Body> {
    let mut response = Response::new(respond::full(""));
    *response.status_mut() = StatusCode::NO_CONTENT;
    decorate(&mut response, origin);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    headers.insert(
        hyper::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}
