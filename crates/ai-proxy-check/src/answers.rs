//! Reading the proxy's JSON answers: `/health`, `/v1/models` and OpenAI error objects.
//! Lenient about fields it does not need, strict about the ones that prove it is the proxy.

use serde_json::Value;

/// What `/health` says, as far as the check reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub backend: Option<String>,
    pub cli_found: Option<bool>,
    pub cli_version: Option<String>,
    /// `subscription` or `api-key` (how the proxy pays upstream).
    pub auth_mode: Option<String>,
    /// Whether clients must send a key (`None`: the daemon does not say).
    pub client_key_required: Option<bool>,
    /// Where the daemon listens (URLs), as it reports them.
    pub listeners: Vec<String>,
    /// Problems the daemon lists (a degraded status's reasons).
    pub problems: Vec<String>,
}

impl Health {
    /// The one-line summary: `claude-max-proxy 0.1.0, backend claude-cli (CLI 2.1.332), …`.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("claude-max-proxy {}", self.version)];
        if let Some(backend) = &self.backend {
            let cli = match (&self.cli_found, &self.cli_version) {
                (Some(false), _) => " (CLI not found)".to_string(),
                (_, Some(v)) => format!(" (CLI {v})"),
                _ => String::new(),
            };
            parts.push(format!("backend {backend}{cli}"));
        }
        if let Some(mode) = &self.auth_mode {
            parts.push(format!("auth {mode}"));
        }
        match self.client_key_required {
            Some(true) => parts.push("client key required".to_string()),
            Some(false) => parts.push("no client key".to_string()),
            None => {}
        }
        parts.join(", ")
    }

    /// Why the status is not `ok`, in one line.
    pub fn reason(&self) -> String {
        let mut reasons = self.problems.clone();
        if self.cli_found == Some(false) && !reasons.iter().any(|r| r.contains("CLI")) {
            reasons.insert(0, "the claude CLI was not found on the host".to_string());
        }
        if reasons.is_empty() {
            format!("status `{}`", self.status)
        } else {
            format!("status `{}`: {}", self.status, reasons.join("; "))
        }
    }
}

/// Parses `/health`; the error says why this is not the proxy's answer.
pub fn parse_health(body: &[u8]) -> Result<Health, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| format!("/health is not JSON: {}", snippet(body)))?;
    let (Some(status), Some(version)) = (
        value.get("status").and_then(Value::as_str),
        value.get("version").and_then(Value::as_str),
    ) else {
        return Err(format!(
            "/health has no `status` and `version`: {}",
            snippet(body)
        ));
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let cli = value.get("cli");
    // The client-key state: `client_auth` is "none" or the scheme ("api-key").
    let client_key_required = match value.get("client_auth") {
        Some(Value::String(scheme)) => Some(scheme != "none"),
        Some(Value::Bool(required)) => Some(*required),
        _ => None,
    };
    let listeners = value
        .get("listeners")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let problems = ["problems", "warnings", "errors"]
        .iter()
        .filter_map(|k| value.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|p| {
            p.as_str()
                .map(str::to_string)
                .or_else(|| text(p.get("message")))
        })
        .collect();
    Ok(Health {
        status: status.to_string(),
        version: version.to_string(),
        backend: text(value.get("backend")),
        cli_found: cli.and_then(|c| c.get("found")).and_then(Value::as_bool),
        cli_version: text(cli.and_then(|c| c.get("version"))),
        auth_mode: text(value.get("auth_mode")).or_else(|| text(value.pointer("/auth/mode"))),
        client_key_required,
        listeners,
        problems,
    })
}

/// The model ids of an OpenAI list object.
pub fn parse_models(body: &[u8]) -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| format!("/v1/models is not JSON: {}", snippet(body)))?;
    let Some(data) = value.get("data").and_then(Value::as_array) else {
        return Err(format!(
            "/v1/models is not an OpenAI list: {}",
            snippet(body)
        ));
    };
    Ok(data
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
        .collect())
}

/// The message of an OpenAI error object (with its code), else a one-line snippet.
pub fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    match error.and_then(|e| e.get("message")).and_then(Value::as_str) {
        Some(message) => {
            let code = error
                .and_then(|e| e.get("code"))
                .and_then(Value::as_str)
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            format!("{}{code}", one_line(message))
        }
        None => snippet(body),
    }
}

/// The `code` of an OpenAI error object (`host_not_allowed`, `invalid_api_key`…), if any.
pub fn error_code(body: &[u8]) -> Option<String> {
    let parsed: Value = serde_json::from_slice(body).ok()?;
    parsed
        .pointer("/error/code")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Whether an error message is about the client key (as opposed to the CLI's login on the
/// host, whose message also names keys: "… In api-key mode, check ANTHROPIC_API_KEY").
pub fn is_client_key_error(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    let about_the_cli = ["claude cli", "log in", "login"]
        .iter()
        .any(|words| lower.contains(words));
    !about_the_cli
        && (lower.contains("api key") || lower.contains("api_key") || lower.contains("bearer"))
}

/// At most 160 characters of `body` on one line.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = one_line(&text);
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    match text.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_of_the_daemon() {
        let body = br#"{"status":"ok","version":"0.1.0","backend":"claude-cli",
            "cli":{"found":true,"path":"/x/claude","version":"2.1.332"},
            "auth_mode":"subscription","client_auth":"api-key",
            "listeners":["http://127.0.0.1:3456","http://172.17.0.1:3456"]}"#;
        let health = parse_health(body).unwrap();
        assert_eq!(health.status, "ok");
        assert_eq!(health.listeners.len(), 2);
        assert_eq!(
            health.summary(),
            "claude-max-proxy 0.1.0, backend claude-cli (CLI 2.1.332), auth subscription, \
             client key required"
        );
    }

    #[test]
    fn degraded_health_explains_itself() {
        let body = br#"{"status":"degraded","version":"0.1.0","backend":"claude-cli",
            "cli":{"found":false,"path":null,"version":null},"auth_mode":"subscription"}"#;
        let health = parse_health(body).unwrap();
        assert!(health.summary().contains("(CLI not found)"));
        let open = br#"{"status":"ok","version":"1","client_auth":"none"}"#;
        assert!(
            parse_health(open)
                .unwrap()
                .summary()
                .ends_with("no client key")
        );
        assert_eq!(
            health.reason(),
            "status `degraded`: the claude CLI was not found on the host"
        );
        let body =
            br#"{"status":"degraded","version":"1","problems":["not logged in",{"message":"x"}]}"#;
        assert_eq!(
            parse_health(body).unwrap().reason(),
            "status `degraded`: not logged in; x"
        );
    }

    #[test]
    fn something_else_is_not_the_proxy() {
        assert!(
            parse_health(b"<html>hi</html>")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            parse_health(br#"{"ok":true}"#)
                .unwrap_err()
                .contains("no `status`")
        );
        assert!(
            parse_models(br#"{"models":[]}"#)
                .unwrap_err()
                .contains("OpenAI list")
        );
    }

    #[test]
    fn models_and_errors() {
        let ids = parse_models(br#"{"object":"list","data":[{"id":"opus"},{"id":"haiku"}]}"#);
        assert_eq!(ids.unwrap(), vec!["opus", "haiku"]);
        let err = br#"{"error":{"message":"Incorrect API key provided.\n Use it","type":"authentication_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            error_message(err),
            "Incorrect API key provided. Use it [invalid_api_key]"
        );
        assert!(is_client_key_error(&error_message(err)));
        assert_eq!(error_code(err).as_deref(), Some("invalid_api_key"));
        assert_eq!(
            error_code(br#"{"error":{"message":"x","code":null}}"#),
            None
        );
        assert_eq!(error_code(b"<html>"), None);
        assert!(!is_client_key_error("Not logged in. Run claude auth login"));
        // The daemon's 401 for the CLI's own login names ANTHROPIC_API_KEY too.
        let login = "The claude CLI could not authenticate with Anthropic (Not logged in · \
                     Please run /login). Log in on the host where the proxy runs: run \
                     `claude-max-proxy login` […]. In api-key mode, check ANTHROPIC_API_KEY.";
        assert!(!is_client_key_error(login));
        let missing = "This proxy requires an API key: send `Authorization: Bearer <key>` or \
                       `x-api-key: <key>` (SDK clients: api_key=<key>; in containers set \
                       AI_PROXY_KEY).";
        assert!(is_client_key_error(missing));
        assert_eq!(error_message(b""), "(empty body)");
        assert_eq!(snippet(&[b'a'; 200]).chars().count(), 161);
    }
}
