//! Chat completions as the HTTP layer serves them.

use super::parse::parse_chat_request;
use super::stream::ChatWriter;
use crate::api::{Dialect, Endpoint};
use crate::conversation::{ApiError, ChatRequest};

/// `POST /v1/chat/completions`.
#[derive(Debug, Default)]
pub struct Chat;

impl Endpoint for Chat {
    type Writer = ChatWriter;
    const NAME: &'static str = "chat_completions";
    const ID_PREFIX: &'static str = "chatcmpl-";
    const DIALECT: Dialect = Dialect::OpenAi;

    fn parse(&mut self, body: &[u8]) -> Result<ChatRequest, ApiError> {
        parse_chat_request(body)
    }

    fn writer(self, id: &str, created: i64, chat: &ChatRequest) -> ChatWriter {
        ChatWriter::new(
            id.to_string(),
            created,
            chat.model.clone(),
            chat.include_usage,
        )
    }
}
