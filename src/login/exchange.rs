//! The token endpoint: trading the authorization code (plus the PKCE verifier) for tokens,
//! as the official CLI does.
//!
//! The request is a JSON POST of `grant_type=authorization_code, code, redirect_uri,
//! client_id, code_verifier, state` and, for the long-lived token `setup-token` mints,
//! `expires_in` (one year); the CLI's own login (`claude auth login`) sends no lifetime and
//! gets a short-lived access token with a refresh token. The answer's `access_token`,
//! `expires_in`, `refresh_token` and `scope` are what we keep. Errors carry the endpoint's
//! own message, with anything we sent scrubbed out of it, and never the request body.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Settings;
use crate::login::LoginError;
use crate::login::pkce::{Attempt, Returned, clean_text};

/// The lifetime `setup-token` asks for: one year.
pub const REQUESTED_LIFETIME_SECS: i64 = 31_536_000;
/// Limit on the whole exchange (the CLI uses 30 s too).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest token we accept; real ones are about 100 characters.
const MAX_TOKEN_LEN: usize = 4096;

/// What the endpoint minted.
#[derive(Clone)]
pub struct Minted {
    pub access_token: String,
    /// Seconds from now, when the endpoint says.
    pub expires_in: Option<i64>,
    /// Present for a login without a long lifetime (the CLI's own kind).
    pub refresh_token: Option<String>,
    /// The scopes granted, space-separated, when the endpoint says.
    pub scope: Option<String>,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("access_token", &"<hidden>")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<hidden>"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

/// Exchanges `returned.code` for tokens; `lifetime` is the `expires_in` asked for (`None`:
/// the server's default, with a refresh token).
pub async fn exchange(
    settings: &Settings,
    attempt: &Attempt,
    returned: &Returned,
    lifetime: Option<i64>,
) -> Result<Minted, LoginError> {
    let client = reqwest::Client::builder()
        .timeout(EXCHANGE_TIMEOUT)
        // A token endpoint answers; it does not redirect a POST carrying a code elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("claude-max-proxy/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LoginError::TokenEndpoint {
            status: None,
            message: format!("cannot build the HTTPS client: {e}"),
        })?;
    let mut body = json!({
        "grant_type": "authorization_code",
        "code": returned.code,
        "redirect_uri": settings.oauth_redirect_uri,
        "client_id": settings.oauth_client_id,
        "code_verifier": attempt.verifier,
        "state": returned.state,
    });
    if let Some(lifetime) = lifetime {
        body["expires_in"] = json!(lifetime);
    }
    let scrub = |text: &str| scrub(text, &[&returned.code, &attempt.verifier, &returned.state]);
    let response = client
        .post(&settings.oauth_token_url)
        .json(&body)
        .send()
        .await
        .map_err(|e| LoginError::TokenEndpoint {
            status: None,
            message: scrub(&describe(&e)),
        })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| LoginError::TokenEndpoint {
            status: Some(status.as_u16()),
            message: scrub(&describe(&e)),
        })?;
    if !status.is_success() {
        let message = error_message(&text).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no error message")
                .to_string()
        });
        return Err(LoginError::TokenEndpoint {
            status: Some(status.as_u16()),
            message: scrub(&clean_text(&message)),
        });
    }
    let parsed: TokenResponse =
        serde_json::from_str(&text).map_err(|_| LoginError::TokenEndpoint {
            status: Some(status.as_u16()),
            message: "the answer is not the expected JSON".to_string(),
        })?;
    let access_token = parsed
        .access_token
        .filter(|t| valid_token(t))
        .ok_or_else(|| LoginError::TokenEndpoint {
            status: Some(status.as_u16()),
            message: "the answer has no usable `access_token`".to_string(),
        })?;
    Ok(Minted {
        access_token,
        expires_in: parsed.expires_in.filter(|s| *s > 0),
        refresh_token: parsed.refresh_token.filter(|t| valid_token(t)),
        scope: parsed
            .scope
            .filter(|s| s.len() <= 1024 && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')),
    })
}

/// A token goes into an environment variable and an HTTP header: visible ASCII only.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

/// The error text of an OAuth (`error`, `error_description`) or Anthropic
/// (`{"error": {"message"}}`) error body.
fn error_message(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let text = |v: &Value| v.as_str().map(str::to_string);
    let nested = value
        .get("error")
        .and_then(|e| e.get("message"))
        .and_then(text);
    let oauth = match (
        value.get("error").and_then(text),
        value.get("error_description").and_then(text),
    ) {
        (Some(e), Some(d)) => Some(format!("{e}: {d}")),
        (Some(e), None) => Some(e),
        (None, Some(d)) => Some(d),
        (None, None) => None,
    };
    nested
        .or(oauth)
        .or_else(|| value.get("message").and_then(text))
}

/// A reqwest error with its causes (connection refused, certificate problems…).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Replaces every occurrence of the secrets in `text`.
fn scrub(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_string(), |acc, s| acc.replace(s, "[redacted]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_shapes_give_their_message() {
        assert_eq!(
            error_message(r#"{"error":"invalid_grant","error_description":"Invalid code"}"#),
            Some("invalid_grant: Invalid code".to_string())
        );
        assert_eq!(
            error_message(
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#
            ),
            Some("bad".to_string())
        );
        assert_eq!(error_message("<html>"), None);
    }

    #[test]
    fn secrets_are_scrubbed() {
        assert_eq!(
            scrub("code abc is bad, verifier xyz", &["abc", "xyz", ""]),
            "code [redacted] is bad, verifier [redacted]"
        );
    }

    #[test]
    fn tokens_must_be_header_safe() {
        assert!(valid_token("sk-ant-oat01-abc_DEF"));
        assert!(!valid_token(""));
        assert!(!valid_token("a b"));
        assert!(!valid_token("a\nb"));
    }
}
