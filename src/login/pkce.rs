//! PKCE (RFC 7636, S256), the random `state`, the authorize URL, and reading a
//! `code#state` pair back from what the callback page shows or the user pastes.
//!
//! The parameters and their order are those of the official CLI's `setup-token` (see the
//! module docs of [`crate::login`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::login::LoginError;

/// Random bytes behind the verifier and the state: 32 bytes → 43 URL-safe characters,
/// inside RFC 7636's 43..=128.
const RANDOM_BYTES: usize = 32;
/// Longest code or state we accept from a page or a paste.
const MAX_PART_LEN: usize = 2048;

/// One login attempt's secrets. `Debug` hides them.
#[derive(Clone)]
pub struct Attempt {
    /// Sent only to the token endpoint.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`, sent in the authorize URL.
    pub challenge: String,
    /// Sent in the authorize URL; must come back with the code.
    pub state: String,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attempt { .. }")
    }
}

impl Attempt {
    /// Fresh verifier and state from the OS's random source.
    pub fn new() -> Result<Attempt, LoginError> {
        let verifier = random_urlsafe()?;
        let state = random_urlsafe()?;
        Ok(Attempt {
            challenge: challenge_of(&verifier),
            verifier,
            state,
        })
    }
}

/// The S256 challenge of a verifier.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn random_urlsafe() -> Result<String, LoginError> {
    let mut bytes = [0u8; RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| LoginError::Io {
        what: "no random numbers from the operating system".to_string(),
        reason: e.to_string(),
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The authorize URL for `attempt` asking for `scope`, from the `oauth_*` settings.
pub fn authorize_url(
    settings: &Settings,
    attempt: &Attempt,
    scope: &str,
) -> Result<Url, LoginError> {
    let mut url = Url::parse(&settings.oauth_authorize_url).map_err(|e| LoginError::Io {
        what: "`oauth_authorize_url` is not a URL".to_string(),
        reason: e.to_string(),
    })?;
    url.query_pairs_mut()
        .append_pair("code", "true")
        .append_pair("client_id", &settings.oauth_client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &settings.oauth_redirect_uri)
        .append_pair("scope", scope)
        .append_pair("code_challenge", &attempt.challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &attempt.state);
    Ok(url)
}

/// An authorization code and the state it came back with.
#[derive(Clone, PartialEq, Eq)]
pub struct Returned {
    pub code: String,
    pub state: String,
}

impl std::fmt::Debug for Returned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Returned { .. }")
    }
}

/// What a callback URL says: a code, a refusal, or nothing yet.
#[derive(Debug, PartialEq, Eq)]
pub enum CallbackUrl {
    Code(Returned),
    Error(String),
    Nothing,
}

/// Whether `candidate` is the redirect URI's page (same scheme, host, port and path).
pub fn is_callback(candidate: &Url, redirect_uri: &Url) -> bool {
    candidate.scheme() == redirect_uri.scheme()
        && candidate.host_str() == redirect_uri.host_str()
        && candidate.port_or_known_default() == redirect_uri.port_or_known_default()
        && candidate.path().trim_end_matches('/') == redirect_uri.path().trim_end_matches('/')
}

/// Reads `code` and `state` (or `error`) from a callback URL's query.
pub fn read_callback_url(url: &Url) -> CallbackUrl {
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "code" => code = Some(value.into_owned()),
            "state" => state = Some(value.into_owned()),
            "error" => error = Some(value.into_owned()),
            "error_description" => description = Some(value.into_owned()),
            _ => {}
        }
    }
    if let Some(error) = error {
        let text = match description {
            Some(d) => format!("{error}: {d}"),
            None => error,
        };
        return CallbackUrl::Error(clean_text(&text));
    }
    match (code, state) {
        (Some(code), Some(state)) if valid_part(&code) && valid_part(&state) => {
            CallbackUrl::Code(Returned { code, state })
        }
        _ => CallbackUrl::Nothing,
    }
}

/// Shortest code and state taken from page text when the state is not ours: real ones are
/// long (ours have 43 characters), so a stray `a#b` on the page is not mistaken for one.
const MIN_FOREIGN_PART_LEN: usize = 16;

/// Finds the `code#state` word in a page's text: the one carrying `expected_state`, else
/// a long enough one with another state (which the caller then rejects).
pub fn find_in_text(text: &str, expected_state: &str) -> Option<Returned> {
    let candidates: Vec<Returned> = text
        .split_whitespace()
        .filter_map(|word| {
            let (code, state) = word.split_once('#')?;
            (valid_part(code) && valid_part(state)).then(|| Returned {
                code: code.to_string(),
                state: state.to_string(),
            })
        })
        .collect();
    let exact = candidates.iter().position(|r| r.state == expected_state);
    let index = exact.or_else(|| {
        candidates.iter().position(|r| {
            r.code.len() >= MIN_FOREIGN_PART_LEN && r.state.len() >= MIN_FOREIGN_PART_LEN
        })
    })?;
    candidates.into_iter().nth(index)
}

/// Parses what the user pasted: `code#state`, or the callback page's whole URL.
pub fn parse_pasted(input: &str) -> Result<Returned, LoginError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(LoginError::BadInput {
            reason: "nothing was pasted".to_string(),
        });
    }
    if input.starts_with("https://") || input.starts_with("http://") {
        let url = Url::parse(input).map_err(|_| LoginError::BadInput {
            reason: "the pasted URL cannot be parsed".to_string(),
        })?;
        return match read_callback_url(&url) {
            CallbackUrl::Code(returned) => Ok(returned),
            CallbackUrl::Error(reason) => Err(LoginError::Denied { reason }),
            CallbackUrl::Nothing => Err(LoginError::BadInput {
                reason: "the pasted URL has no `code` and `state`".to_string(),
            }),
        };
    }
    let Some((code, state)) = input.split_once('#') else {
        return Err(LoginError::BadInput {
            reason: "the pasted text has no `#`: the state part is missing".to_string(),
        });
    };
    if !valid_part(code) || !valid_part(state) {
        return Err(LoginError::BadInput {
            reason: "the pasted text is not a code: it is empty, too long, or has characters \
                     a code never has"
                .to_string(),
        });
    }
    Ok(Returned {
        code: code.to_string(),
        state: state.to_string(),
    })
}

/// A code or state: URL-safe printable ASCII (what an OAuth server mints), bounded.
fn valid_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= MAX_PART_LEN
        && part.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
        })
}

/// Server-supplied text shown to the user: printable, single-line, bounded.
pub fn clean_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    cleaned.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn attempts_are_random_and_well_formed() {
        let a = Attempt::new().unwrap();
        let b = Attempt::new().unwrap();
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(a.state, b.state);
        assert_eq!(a.verifier.len(), 43);
        assert_eq!(a.challenge, challenge_of(&a.verifier));
        assert!(!format!("{a:?}").contains(&a.verifier));
    }

    #[test]
    fn authorize_url_has_the_setup_token_parameters() {
        let settings = Settings::default();
        let attempt = Attempt::new().unwrap();
        let url = authorize_url(&settings, &attempt, &settings.oauth_scope).unwrap();
        assert!(
            url.as_str()
                .starts_with("https://claude.com/cai/oauth/authorize?code=true&client_id=")
        );
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("client_id"),
            Some("9d1c250a-e61b-44d9-88ed-5944d1962f5e")
        );
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(
            get("redirect_uri"),
            Some("https://platform.claude.com/oauth/code/callback")
        );
        assert_eq!(get("scope"), Some("user:inference"));
        assert_eq!(get("code_challenge"), Some(attempt.challenge.as_str()));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("state"), Some(attempt.state.as_str()));
    }

    #[test]
    fn pasted_code_and_state_split_on_the_hash() {
        let r = parse_pasted("  abc-DEF_123#st4te \n").unwrap();
        assert_eq!(
            (r.code.as_str(), r.state.as_str()),
            ("abc-DEF_123", "st4te")
        );
        let r = parse_pasted("https://platform.claude.com/oauth/code/callback?code=c0de&state=s1")
            .unwrap();
        assert_eq!((r.code.as_str(), r.state.as_str()), ("c0de", "s1"));
        assert!(matches!(
            parse_pasted("no-hash-here"),
            Err(LoginError::BadInput { .. })
        ));
        assert!(matches!(
            parse_pasted("a#"),
            Err(LoginError::BadInput { .. })
        ));
        assert!(matches!(
            parse_pasted("a b#c"),
            Err(LoginError::BadInput { .. })
        ));
        assert!(matches!(
            parse_pasted("https://x.test/cb?error=access_denied"),
            Err(LoginError::Denied { .. })
        ));
    }

    #[test]
    fn pasted_input_never_appears_in_the_error() {
        let err = parse_pasted("secret-code-no-state")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret-code"), "{err}");
    }

    #[test]
    fn callback_pages_are_recognised_by_origin_and_path() {
        let redirect = Url::parse("https://platform.claude.com/oauth/code/callback").unwrap();
        let page =
            Url::parse("https://platform.claude.com/oauth/code/callback?code=a&state=b").unwrap();
        assert!(is_callback(&page, &redirect));
        assert_eq!(
            read_callback_url(&page),
            CallbackUrl::Code(Returned {
                code: "a".into(),
                state: "b".into()
            })
        );
        let other = Url::parse("https://claude.com/cai/oauth/authorize?code=true").unwrap();
        assert!(!is_callback(&other, &redirect));
        let denied = Url::parse(
            "https://platform.claude.com/oauth/code/callback?error=access_denied&error_description=no",
        )
        .unwrap();
        assert_eq!(
            read_callback_url(&denied),
            CallbackUrl::Error("access_denied: no".into())
        );
    }

    #[test]
    fn page_text_yields_the_code_word() {
        let text =
            "Authentication Code\nStep#1 Paste this into Claude Code:\n  c0de_1#st-2  \nCopy";
        let r = find_in_text(text, "st-2").unwrap();
        assert_eq!((r.code.as_str(), r.state.as_str()), ("c0de_1", "st-2"));
        assert!(find_in_text("Loading… #hash only", "st-2").is_none());
        // A short stray word is not taken for a foreign code; a long one is.
        assert!(find_in_text("Step#1", "st-2").is_none());
        let foreign = "aaaaaaaaaaaaaaaaaaaa#bbbbbbbbbbbbbbbbbbbbbbbb";
        assert_eq!(find_in_text(foreign, "st-2").unwrap().state, "b".repeat(24));
    }
}
