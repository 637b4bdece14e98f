//! Which of the daemon's APIs the request stage speaks (`--api`): OpenAI chat completions
//! (the default), the Anthropic Messages API or the OpenAI Responses API. Each has its own
//! path, request body, headers and end of stream; this module names them. Pure data, at
//! the bottom with `args`.

use serde_json::{Value, json};

/// The `anthropic-version` header Anthropic clients send with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// How many tokens the short answer may take (the Responses API's minimum is 16).
const MAX_TOKENS: u32 = 16;

/// An API the request stage can use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/chat/completions`, `data: [DONE]` at the end.
    #[default]
    Chat,
    /// `POST /v1/messages` with `x-api-key` and `anthropic-version`; named events ending in
    /// `message_stop`.
    Messages,
    /// `POST /v1/responses`; events ending in `response.completed`.
    Responses,
}

impl Api {
    /// `--api`'s value.
    pub fn parse(text: &str) -> Result<Api, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "chat" | "chat-completions" => Ok(Api::Chat),
            "messages" | "anthropic" => Ok(Api::Messages),
            "responses" => Ok(Api::Responses),
            other => Err(format!(
                "--api: `{other}` is not an API of the proxy; use chat, messages or responses"
            )),
        }
    }

    /// The name `--api` takes and `--json` reports.
    pub fn name(self) -> &'static str {
        match self {
            Api::Chat => "chat",
            Api::Messages => "messages",
            Api::Responses => "responses",
        }
    }

    /// The endpoint under `/v1`.
    pub fn endpoint(self) -> &'static str {
        match self {
            Api::Chat => "chat/completions",
            Api::Messages => "messages",
            Api::Responses => "responses",
        }
    }

    /// The request as details name it (whatever the URL's prefix).
    pub fn request(self) -> &'static str {
        match self {
            Api::Chat => "POST /v1/chat/completions",
            Api::Messages => "POST /v1/messages",
            Api::Responses => "POST /v1/responses",
        }
    }

    /// What ends a complete stream, as failures name it.
    pub fn end_marker(self) -> &'static str {
        match self {
            Api::Chat => "`data: [DONE]`",
            Api::Messages => "a `message_stop` event",
            Api::Responses => "a `response.completed` event",
        }
    }

    /// Whether the key goes in `x-api-key` (with `anthropic-version`) rather than
    /// `Authorization: Bearer`.
    pub fn anthropic(self) -> bool {
        self == Api::Messages
    }

    /// The body of a short streamed request for `prompt` to `model`.
    pub fn body(self, model: &str, prompt: &str) -> Value {
        match self {
            Api::Chat => json!({
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "stream": true,
                "max_tokens": MAX_TOKENS,
            }),
            Api::Messages => json!({
                "model": model,
                "max_tokens": MAX_TOKENS,
                "messages": [{"role": "user", "content": prompt}],
                "stream": true,
            }),
            Api::Responses => json!({
                "model": model,
                "input": prompt,
                "stream": true,
                "max_output_tokens": MAX_TOKENS,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for api in [Api::Chat, Api::Messages, Api::Responses] {
            assert_eq!(Api::parse(api.name()), Ok(api));
        }
        assert_eq!(Api::parse(" Messages "), Ok(Api::Messages));
        assert_eq!(Api::default(), Api::Chat);
        assert!(
            Api::parse("completions")
                .unwrap_err()
                .contains("chat, messages")
        );
    }

    #[test]
    fn bodies_follow_each_api() {
        let chat = Api::Chat.body("haiku", "hi");
        assert_eq!(chat["messages"][0]["content"], "hi");
        let messages = Api::Messages.body("haiku", "hi");
        assert_eq!(messages["max_tokens"], 16);
        assert_eq!(messages["stream"], true);
        let responses = Api::Responses.body("haiku", "hi");
        assert_eq!(responses["input"], "hi");
        assert!(responses.get("messages").is_none());
        assert_eq!(Api::Responses.request(), "POST /v1/responses");
        assert!(Api::Messages.anthropic() && !Api::Chat.anthropic());
    }
}
