//! Client authentication: with `api_key` set, /v1/* needs `Authorization: Bearer <key>`
//! (OpenAI clients) or `x-api-key: <key>` (Anthropic clients), compared in constant time;
//! so do /metrics (unless `metrics_requires_key = false`) and the full /health. The status
//! page also takes the key as a browser's Basic password ([`check_page`]). What a caller
//! without the key sees is [`super::keyless`]'s.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

use crate::conversation::{ApiError, ErrorKind};

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

/// Whether the request carries the key for the status page: as for the API, or as the
/// password of HTTP Basic authentication (what a browser asks for after a 401 with
/// `WWW-Authenticate: Basic`; the user name is not checked). Only the page takes Basic:
/// credentials a browser keeps must not open the API.
pub fn check_page(headers: &HeaderMap, expected: &str) -> bool {
    if check(headers, expected).is_ok() {
        return true;
    }
    let password = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, encoded) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then_some(encoded.trim())
        })
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .and_then(|decoded| {
            let at = decoded.iter().position(|b| *b == b':')?;
            Some(decoded[at + 1..].to_vec())
        });
    password.is_some_and(|password| bool::from(password.ct_eq(expected.as_bytes())))
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

    #[test]
    fn the_page_also_takes_the_key_as_a_basic_password() {
        let basic = |user_and_password: &str| {
            headers(Some(&format!(
                "Basic {}",
                STANDARD.encode(user_and_password)
            )))
        };
        assert!(check_page(&basic("anyone:k1"), "k1"));
        assert!(check_page(&basic(":k1"), "k1"));
        assert!(!check_page(&basic("k1:k2"), "k1"));
        assert!(!check_page(&basic("k1"), "k1"), "no password");
        assert!(!check_page(&headers(Some("Basic !!!")), "k1"));
        assert!(check_page(&headers(Some("Bearer k1")), "k1"));
        assert!(!check_page(&headers(None), "k1"));
        assert!(
            check(&basic("anyone:k1"), "k1").is_err(),
            "the API does not take Basic"
        );
    }
}
