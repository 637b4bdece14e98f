//! The generation controls of a chat request that the CLI can honour — `max_tokens` /
//! `max_completion_tokens`, `stop`, `reasoning_effort` (effort and thinking),
//! `response_format` — and the names of
//! the parameters it cannot (reported to the client in `x-ignored-params`).

use serde_json::{Map, Value};

use super::ApiError;

/// At most this many stop sequences (OpenAI's limit).
const MAX_STOP_SEQUENCES: usize = 4;
/// The largest JSON schema accepted: it travels in the CLI's argv (one argument may hold
/// 128 KiB on Linux).
const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// What shape the answer must have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ResponseFormat {
    #[default]
    Text,
    /// Any JSON object: asked for in the system prompt.
    JsonObject,
    /// JSON valid against this schema (compact JSON text): the CLI's `--json-schema`.
    JsonSchema(String),
}

/// Parameters accepted (type-checked elsewhere) but without effect on the answer.
const IGNORED: &[&str] = &[
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "service_tier",
    "prediction",
    "verbosity",
];

/// How hard the model thinks: the CLI's `--effort` (upstream `output_config.effort`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effort {
    Low,
    Medium,
    High,
    XHigh,
    Max,
}

impl Effort {
    /// The `--effort` argument.
    pub fn as_arg(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::XHigh => "xhigh",
            Effort::Max => "max",
        }
    }
}

/// What the request asks of the generation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Controls {
    /// `max_completion_tokens`, else `max_tokens`: the upstream `max_tokens`.
    pub max_tokens: Option<u32>,
    /// Sequences that end the answer (not included in it).
    pub stop: Vec<String>,
    pub effort: Option<Effort>,
    pub format: ResponseFormat,
    /// The model thinks before it answers (`--thinking adaptive`), and the thinking is sent
    /// back (`reasoning_content`, thinking blocks, reasoning items).
    pub thinking: bool,
    /// Parameters present in the request that have no effect, in request order.
    pub ignored: Vec<String>,
}

/// Reads the controls of a request object.
pub fn parse(obj: &Map<String, Value>) -> Result<Controls, ApiError> {
    let max_tokens = match positive_int(obj, "max_completion_tokens")? {
        Some(n) => Some(n),
        None => positive_int(obj, "max_tokens")?,
    };
    let (effort, thinking) = reasoning_effort(obj.get("reasoning_effort"), "reasoning_effort")?;
    Ok(Controls {
        max_tokens,
        stop: stop(obj.get("stop"))?,
        effort,
        thinking,
        format: response_format(obj.get("response_format"))?,
        ignored: present(obj, IGNORED),
    })
}

/// Which of `names` the request sets (to anything but null), in request order: the
/// parameters an API reports as ignored.
pub fn present(obj: &Map<String, Value>, names: &[&str]) -> Vec<String> {
    obj.iter()
        .filter(|(key, value)| names.contains(&key.as_str()) && !value.is_null())
        .map(|(key, _)| key.clone())
        .collect()
}

/// A token limit: `key` as a positive integer, if present.
pub fn positive_int(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::invalid(
                key,
                format!("`{key}` must be a positive integer."),
            )),
        },
        Some(_) => Err(ApiError::invalid(
            key,
            format!("`{key}` must be a positive integer."),
        )),
    }
}

fn stop(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::invalid(
            "stop",
            format!(
                "`stop` must be a non-empty string or an array of up to {MAX_STOP_SEQUENCES} \
                 non-empty strings."
            ),
        )
    };
    let sequences: Vec<String> = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad()),
    };
    if sequences.len() > MAX_STOP_SEQUENCES || sequences.iter().any(String::is_empty) {
        return Err(bad());
    }
    Ok(sequences)
}

/// A JSON schema the answer must follow (`--json-schema`), checked for shape and size.
pub fn schema_format(schema: Option<&Value>, param: &str) -> Result<ResponseFormat, ApiError> {
    let schema = schema.filter(|s| s.is_object()).ok_or_else(|| {
        ApiError::invalid(param, format!("`{param}` must be a JSON Schema object."))
    })?;
    let text = schema.to_string();
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(ApiError::invalid(
            param,
            format!(
                "The JSON schema is {} bytes; at most {MAX_SCHEMA_BYTES} are accepted.",
                text.len()
            ),
        ));
    }
    Ok(ResponseFormat::JsonSchema(text))
}

fn response_format(value: Option<&Value>) -> Result<ResponseFormat, ApiError> {
    let Some(format) = value.filter(|v| !v.is_null()) else {
        return Ok(ResponseFormat::Text);
    };
    let kind = format.get("type").and_then(Value::as_str);
    match kind {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => schema_format(
            format.get("json_schema").and_then(|j| j.get("schema")),
            "response_format.json_schema.schema",
        ),
        _ => Err(ApiError::invalid(
            "response_format.type",
            "`response_format.type` must be `text`, `json_object` or `json_schema`.",
        )),
    }
}

/// An OpenAI reasoning effort (`reasoning_effort`, `reasoning.effort`): the CLI's effort,
/// and whether the model thinks (`none` and `minimal` answer without thinking).
pub fn reasoning_effort(
    value: Option<&Value>,
    param: &str,
) -> Result<(Option<Effort>, bool), ApiError> {
    match value {
        None | Some(Value::Null) => Ok((None, false)),
        Some(Value::String(s)) => match s.as_str() {
            "none" => Ok((None, false)),
            "minimal" => Ok((Some(Effort::Low), false)),
            other => match effort_named(other) {
                Some(effort) => Ok((Some(effort), true)),
                None => Err(ApiError::invalid(
                    param,
                    format!(
                        "`{param}` `{}` is not one of none, minimal, low, medium, high, xhigh.",
                        other.chars().take(40).collect::<String>()
                    ),
                )),
            },
        },
        Some(_) => Err(ApiError::invalid(
            param,
            format!("`{param}` must be a string such as \"low\" or \"high\"."),
        )),
    }
}

/// The CLI's effort levels by name.
pub fn effort_named(name: &str) -> Option<Effort> {
    match name {
        "low" => Some(Effort::Low),
        "medium" => Some(Effort::Medium),
        "high" => Some(Effort::High),
        "xhigh" => Some(Effort::XHigh),
        "max" => Some(Effort::Max),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn controls(value: Value) -> Result<Controls, ApiError> {
        parse(value.as_object().unwrap())
    }

    #[test]
    fn reads_tokens_stop_effort_and_ignored_names() {
        let c = controls(json!({"max_tokens": 10, "max_completion_tokens": 77,
            "stop": "END", "reasoning_effort": "minimal", "temperature": 0.3, "seed": 1,
            "top_p": null}))
        .unwrap();
        assert_eq!(c.max_tokens, Some(77), "max_completion_tokens wins");
        assert_eq!(c.stop, ["END"]);
        assert_eq!(c.effort, Some(Effort::Low));
        assert!(!c.thinking, "minimal effort answers without thinking");
        let high = controls(json!({"reasoning_effort": "high"})).unwrap();
        assert_eq!((high.effort, high.thinking), (Some(Effort::High), true));
        assert_eq!(c.ignored, ["seed", "temperature"]);
        assert_eq!(
            controls(json!({"max_tokens": 5})).unwrap().max_tokens,
            Some(5)
        );
    }

    #[test]
    fn response_formats() {
        assert_eq!(controls(json!({})).unwrap().format, ResponseFormat::Text);
        assert_eq!(
            controls(json!({"response_format": {"type": "json_object"}}))
                .unwrap()
                .format,
            ResponseFormat::JsonObject
        );
        let schema = controls(json!({"response_format": {"type": "json_schema",
            "json_schema": {"name": "p", "schema": {"type": "object"}}}}))
        .unwrap();
        assert_eq!(
            schema.format,
            ResponseFormat::JsonSchema(r#"{"type":"object"}"#.into())
        );
        let missing = controls(json!({"response_format": {"type": "json_schema"}})).unwrap_err();
        assert_eq!(
            missing.param.as_deref(),
            Some("response_format.json_schema.schema")
        );
        let odd = controls(json!({"response_format": {"type": "xml"}})).unwrap_err();
        assert_eq!(odd.param.as_deref(), Some("response_format.type"));
    }

    #[test]
    fn bad_values_name_their_param() {
        for (body, param) in [
            (json!({"max_tokens": 0}), "max_tokens"),
            (
                json!({"max_completion_tokens": "ten"}),
                "max_completion_tokens",
            ),
            (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
            (json!({"stop": [""]}), "stop"),
            (json!({"stop": 3}), "stop"),
            (json!({"reasoning_effort": "extreme"}), "reasoning_effort"),
        ] {
            let error = controls(body).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param));
            assert_eq!(error.status(), 400);
        }
    }
}
