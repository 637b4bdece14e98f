//! CORS, off by default: without `cors_origins` no Access-Control-* header is ever sent and
//! preflights get 405. With it, listed origins (or `*`) get the headers a browser needs.

use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::Body;
use super::respond;

/// The origin to echo for this request, if CORS allows it.
pub fn allowed_origin(headers: &HeaderMap, origins: &[String]) -> Option<HeaderValue> {
    if origins.is_empty() {
        return None;
    }
    let origin = headers.get(hyper::header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    if origins.iter().any(|o| o == "*") {
        return Some(HeaderValue::from_static("*"));
    }
    origins.iter().any(|o| o == text).then(|| origin.clone())
}

/// Adds the CORS headers to a response.
pub fn decorate(response: &mut Response<Body>, origin: HeaderValue) {
    let headers = response.headers_mut();
    headers.insert(hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(hyper::header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        hyper::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-request-id, retry-after"),
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
