//! Client authentication: with `api_key` set, /v1/* needs `Authorization: Bearer <key>`
//! (OpenAI clients) or `x-api-key: <key>` (Anthropic clients), compared in constant time.
//! /health stays open.

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

use crate::openai::{ApiError, ErrorKind};

/// Checks the request's bearer token against `expected`.
pub fn check(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        });
    match presented {
        Some(token) if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
        Some(_) => Err(ApiError::new(
            ErrorKind::Authentication,
            "Incorrect API key provided. Use the key configured as `api_key` on the proxy's host \
             (in containers: AI_PROXY_KEY).",
        )),
        None => Err(ApiError::new(
            ErrorKind::Authentication,
            "This proxy requires an API key: send `Authorization: Bearer <key>` or \
             `x-api-key: <key>` (SDK clients: api_key=<key>; in containers set AI_PROXY_KEY).",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(value: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_must_match() {
        assert!(check(&headers(Some("Bearer k1")), "k1").is_ok());
        assert!(check(&headers(Some("bearer k1")), "k1").is_ok());
        assert_eq!(
            check(&headers(Some("Bearer k2")), "k1")
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            check(&headers(Some("Basic k1")), "k1")
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(check(&headers(None), "k1").unwrap_err().status(), 401);
        let mut anthropic = HeaderMap::new();
        anthropic.insert("x-api-key", HeaderValue::from_static("k1"));
        assert!(check(&anthropic, "k1").is_ok());
        anthropic.insert("x-api-key", HeaderValue::from_static("k2"));
        assert_eq!(check(&anthropic, "k1").unwrap_err().status(), 401);
    }
}
