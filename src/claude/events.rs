//! The CLI's `--output-format stream-json --verbose --include-partial-messages` lines as
//! typed events. Only the fields we act on are typed; unknown event types and fields are
//! tolerated, because the CLI adds them often.

use serde::Deserialize;
use serde_json::Value;

pub use super::rate_limit::RateLimitInfo;

/// One line of CLI output.
#[derive(Debug, Clone, PartialEq)]
pub enum CliEvent {
    /// `system` events: `init`, `status`, `api_retry`, …
    System(SystemEvent),
    /// A raw Messages API streaming event, forwarded by the CLI.
    Stream(StreamEvent),
    /// A complete assistant message (also used for synthetic API error messages).
    Assistant(AssistantEvent),
    /// The final event of a run.
    Result(ResultEvent),
    /// What the subscription's rate-limit headers said (subscription mode only).
    RateLimit(RateLimitInfo),
    /// A request of the control protocol (stream-json input only), e.g. an `mcp_message`
    /// for the tool server the daemon answers ([`super::tool_server`]).
    ControlRequest(ControlRequest),
    /// Anything else (user echoes, new event types).
    Other,
}

/// `{"type":"control_request","request_id":…,"request":{"subtype":…,…}}`: the CLI asks the
/// process on the other end of its stdin something and waits for a `control_response`.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlRequest {
    pub request_id: String,
    pub subtype: String,
    /// The whole `request` object.
    pub request: Value,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SystemEvent {
    pub subtype: String,
    pub model: Option<String>,
    /// `api_retry`: the upstream status that caused the retry.
    pub error_status: Option<u16>,
    /// `api_retry`: how long the CLI waits before retrying.
    pub retry_delay_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    MessageStart {
        message_id: Option<String>,
        model: Option<String>,
        usage: TokenUsage,
    },
    TextDelta {
        index: u64,
        text: String,
    },
    /// A `tool_use` block opens (e.g. the CLI's `StructuredOutput` tool for `--json-schema`).
    ToolUseStart {
        index: u64,
        id: String,
        name: String,
    },
    /// A piece of the model's thinking.
    ThinkingDelta {
        index: u64,
        thinking: String,
    },
    /// A piece of a tool call's input JSON.
    InputJsonDelta {
        index: u64,
        partial_json: String,
    },
    MessageDelta {
        stop_reason: Option<String>,
        /// Cumulative output tokens of this message.
        output_tokens: Option<u64>,
    },
    /// `message_stop`, with the blocks the CLI abandoned (it retries the message).
    MessageStop {
        abandoned: Option<Abandoned>,
    },
    /// Block starts/stops, pings, signatures: nothing to forward.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Abandoned {
    pub message_id: Option<String>,
    pub from_block_index: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AssistantEvent {
    pub message_id: Option<String>,
    pub model: Option<String>,
    pub text: String,
    /// `<synthetic>` messages carry CLI-made text such as "API Error: 400 …".
    pub synthetic: bool,
    pub api_error_status: Option<u16>,
    /// The CLI's error tag, e.g. `authentication_failed`, `rate_limit`.
    pub error: Option<String>,
    /// The input of a `StructuredOutput` tool call in the message, as JSON text.
    pub structured_output: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultEvent {
    pub is_error: bool,
    pub api_error_status: Option<u16>,
    pub api_error_type: Option<String>,
    pub stop_reason: Option<String>,
    pub result: Option<String>,
    pub usage: TokenUsage,
    /// Models that did the work (keys of `modelUsage`), in the CLI's order.
    pub models: Vec<String>,
    pub subtype: Option<String>,
    /// What the run would have cost at API prices (`total_cost_usd`).
    pub cost_usd: Option<f64>,
    /// Tokens per model (`modelUsage`), for the metrics.
    pub model_usage: Vec<ModelUsage>,
}

/// One entry of `modelUsage` (camelCase in the CLI's output).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelUsage {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cost_usd: f64,
}

fn model_usage(value: &Value) -> Vec<ModelUsage> {
    let Some(models) = value.get("modelUsage").and_then(Value::as_object) else {
        return Vec::new();
    };
    models
        .iter()
        .map(|(model, u)| {
            let n = |key: &str| u.get(key).and_then(Value::as_u64).unwrap_or(0);
            ModelUsage {
                model: model.clone(),
                input_tokens: n("inputTokens"),
                output_tokens: n("outputTokens"),
                cache_read_input_tokens: n("cacheReadInputTokens"),
                cache_creation_input_tokens: n("cacheCreationInputTokens"),
                cost_usd: u.get("costUSD").and_then(Value::as_f64).unwrap_or(0.0),
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct TokenUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
}

/// A line that is not JSON at all (the caller decides whether that matters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotJson;

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn status_field(v: &Value, key: &str) -> Option<u16> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
}

fn from_value(value: &Value) -> CliEvent {
    let sub_agent = value
        .get("parent_tool_use_id")
        .is_some_and(|p| !p.is_null());
    match value.get("type").and_then(Value::as_str) {
        Some("system") => CliEvent::System(SystemEvent {
            subtype: str_field(value, "subtype").unwrap_or_default(),
            model: str_field(value, "model"),
            error_status: status_field(value, "error_status"),
            retry_delay_ms: value.get("retry_delay_ms").and_then(Value::as_f64),
        }),
        Some("stream_event") if !sub_agent => match value.get("event") {
            Some(event) => CliEvent::Stream(stream_event(event)),
            None => CliEvent::Other,
        },
        Some("assistant") if !sub_agent => {
            let message = value.get("message").cloned().unwrap_or(Value::Null);
            let model = str_field(&message, "model");
            CliEvent::Assistant(AssistantEvent {
                message_id: str_field(&message, "id"),
                synthetic: model.as_deref() == Some("<synthetic>"),
                model,
                text: text_of(message.get("content")),
                api_error_status: status_field(value, "api_error_status"),
                error: str_field(value, "error"),
                structured_output: structured_input(message.get("content")),
            })
        }
        Some("result") => CliEvent::Result(ResultEvent {
            is_error: value
                .get("is_error")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            api_error_status: status_field(value, "api_error_status"),
            api_error_type: str_field(value, "api_error_type"),
            stop_reason: str_field(value, "stop_reason"),
            result: str_field(value, "result"),
            usage: value
                .get("usage")
                .and_then(|u| TokenUsage::deserialize(u).ok())
                .unwrap_or_default(),
            models: value
                .get("modelUsage")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            subtype: str_field(value, "subtype"),
            cost_usd: value.get("total_cost_usd").and_then(Value::as_f64),
            model_usage: model_usage(value),
        }),
        Some("control_request") => match (
            str_field(value, "request_id"),
            value.get("request").filter(|r| r.is_object()),
        ) {
            (Some(request_id), Some(request)) => CliEvent::ControlRequest(ControlRequest {
                request_id,
                subtype: str_field(request, "subtype").unwrap_or_default(),
                request: request.clone(),
            }),
            _ => CliEvent::Other,
        },
        Some("rate_limit_event") => value
            .get("rate_limit_info")
            .and_then(RateLimitInfo::from_value)
            .map(CliEvent::RateLimit)
            .unwrap_or(CliEvent::Other),
        _ => CliEvent::Other,
    }
}

fn stream_event(event: &Value) -> StreamEvent {
    match event.get("type").and_then(Value::as_str) {
        Some("message_start") => {
            let message = event.get("message").cloned().unwrap_or(Value::Null);
            StreamEvent::MessageStart {
                message_id: str_field(&message, "id"),
                model: str_field(&message, "model"),
                usage: message
                    .get("usage")
                    .and_then(|u| TokenUsage::deserialize(u).ok())
                    .unwrap_or_default(),
            }
        }
        Some("content_block_start") => {
            let block = event.get("content_block").cloned().unwrap_or(Value::Null);
            match (
                block.get("type").and_then(Value::as_str),
                block.get("name").and_then(Value::as_str),
            ) {
                (Some("tool_use"), Some(name)) => StreamEvent::ToolUseStart {
                    index: event.get("index").and_then(Value::as_u64).unwrap_or(0),
                    id: str_field(&block, "id").unwrap_or_default(),
                    name: name.to_string(),
                },
                _ => StreamEvent::Other,
            }
        }
        Some("content_block_delta") => {
            let delta = event.get("delta").cloned().unwrap_or(Value::Null);
            let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
            match delta.get("type").and_then(Value::as_str) {
                Some("text_delta") => match delta.get("text").and_then(Value::as_str) {
                    Some(text) => StreamEvent::TextDelta {
                        index,
                        text: text.to_string(),
                    },
                    None => StreamEvent::Other,
                },
                Some("thinking_delta") => match delta.get("thinking").and_then(Value::as_str) {
                    Some(thinking) => StreamEvent::ThinkingDelta {
                        index,
                        thinking: thinking.to_string(),
                    },
                    None => StreamEvent::Other,
                },
                Some("input_json_delta") => {
                    match delta.get("partial_json").and_then(Value::as_str) {
                        Some(json) => StreamEvent::InputJsonDelta {
                            index,
                            partial_json: json.to_string(),
                        },
                        None => StreamEvent::Other,
                    }
                }
                _ => StreamEvent::Other,
            }
        }
        Some("message_delta") => StreamEvent::MessageDelta {
            stop_reason: event.get("delta").and_then(|d| str_field(d, "stop_reason")),
            output_tokens: event
                .get("usage")
                .and_then(|u| u.get("output_tokens"))
                .and_then(Value::as_u64),
        },
        Some("message_stop") => StreamEvent::MessageStop { abandoned: None },
        _ => StreamEvent::Other,
    }
}

/// The MCP server name of the client's tools: the CLI reports them as `mcp__c__<name>`.
pub const TOOL_SERVER: &str = "c";

/// The tool name the CLI gives the `--json-schema` answer.
pub const STRUCTURED_OUTPUT_TOOL: &str = "StructuredOutput";

/// The input of the message's `StructuredOutput` tool call, as JSON text.
fn structured_input(content: Option<&Value>) -> Option<String> {
    content?
        .as_array()?
        .iter()
        .find(|b| {
            b.get("type").and_then(Value::as_str) == Some("tool_use")
                && b.get("name").and_then(Value::as_str) == Some(STRUCTURED_OUTPUT_TOOL)
        })
        .and_then(|b| b.get("input"))
        .map(Value::to_string)
}

/// The text blocks of a message's `content`, concatenated.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// Parses one stdout line. Sub-agent traffic (`parent_tool_use_id` set) is reported as
/// [`CliEvent::Other`]: only the main conversation reaches the client. `message_stop`
/// lines carry `abandoned_blocks` beside `event` (CLI 2.1.332), so that is read too.
pub fn parse_line(line: &str) -> Result<CliEvent, NotJson> {
    let value: Value = serde_json::from_str(line).map_err(|_| NotJson)?;
    let mut event = from_value(&value);
    if let CliEvent::Stream(StreamEvent::MessageStop { abandoned }) = &mut event
        && let Some(a) = value.get("abandoned_blocks")
    {
        *abandoned = Some(Abandoned {
            message_id: str_field(a, "api_message_id"),
            from_block_index: a
                .get("from_block_index")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        });
    }
    Ok(event)
}

/// The text of a recorded CLI fixture under tests/fixtures/claude-cli (copied from the real
/// CLI's recordings), for unit tests. A missing file is a test failure.
#[cfg(test)]
pub(crate) fn recorded_fixture(path: &str) -> Option<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-cli");
    match std::fs::read_to_string(format!("{root}/{path}")) {
        Ok(text) => Some(text),
        Err(e) => panic!("recorded fixture {path}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Option<Vec<CliEvent>> {
        let text = recorded_fixture(path)?;
        Some(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| parse_line(l).unwrap())
                .collect(),
        )
    }

    #[test]
    fn partial_stream_fixture_parses_to_deltas_and_result() {
        let Some(events) = fixture("v2.1.332/c_partial/stdout.txt") else {
            eprintln!("skip: fixtures not present beside the repo");
            return;
        };
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                CliEvent::Stream(StreamEvent::TextDelta { text, .. }) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hi there! This is the mock Anthropic API.");
        let Some(CliEvent::Result(result)) = events.last() else {
            panic!("last event is not a result");
        };
        assert!(!result.is_error);
        assert_eq!(result.stop_reason.as_deref(), Some("end_turn"));
        assert_eq!(result.usage.input_tokens, 42);
        assert_eq!(result.models, vec!["claude-opus-5-5"]);
    }

    #[test]
    fn api_error_fixture_is_synthetic_with_status() {
        let Some(events) = fixture("v2.1.332/f_error_err-400/stdout.txt") else {
            eprintln!("skip: fixtures not present beside the repo");
            return;
        };
        assert!(events.iter().any(|e| matches!(e,
            CliEvent::Assistant(a) if a.synthetic && a.api_error_status == Some(400)
                && a.text.starts_with("API Error: 400"))));
        assert!(events.iter().any(|e| matches!(e,
            CliEvent::Result(r) if r.is_error && r.api_error_status == Some(400))));
    }

    #[test]
    fn midstream_fixture_reports_abandoned_blocks() {
        let Some(events) = fixture("v2.1.332/f_error_err-midstream/stdout.txt") else {
            eprintln!("skip: fixtures not present beside the repo");
            return;
        };
        assert!(events.iter().any(|e| matches!(e,
            CliEvent::Stream(StreamEvent::MessageStop { abandoned: Some(a) })
                if a.from_block_index == 0)));
    }

    #[test]
    fn garbage_is_not_json_and_unknown_types_are_other() {
        assert_eq!(parse_line("hello"), Err(NotJson));
        assert_eq!(parse_line(r#"{"type":"new_thing"}"#), Ok(CliEvent::Other));
        assert_eq!(parse_line("[1,2]"), Ok(CliEvent::Other));
    }

    #[test]
    fn sub_agent_messages_are_not_forwarded() {
        let line = r#"{"type":"assistant","parent_tool_use_id":"t1","message":{"content":[{"type":"text","text":"x"}]}}"#;
        assert_eq!(parse_line(line), Ok(CliEvent::Other));
    }
}
