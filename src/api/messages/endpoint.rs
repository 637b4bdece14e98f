//! The Messages API as the HTTP layer serves it.

use super::parse::parse_messages_request;
use super::stream::MessagesWriter;
use crate::api::{Dialect, Endpoint};
use crate::conversation::{ApiError, ChatRequest};

/// `POST /v1/messages`.
#[derive(Debug, Default)]
pub struct Messages;

impl Endpoint for Messages {
    type Writer = MessagesWriter;
    const NAME: &'static str = "messages";
    const ID_PREFIX: &'static str = "msg_";
    const DIALECT: Dialect = Dialect::Anthropic;

    fn parse(&mut self, body: &[u8]) -> Result<ChatRequest, ApiError> {
        parse_messages_request(body)
    }

    fn writer(self, id: &str, _created: i64, chat: &ChatRequest) -> MessagesWriter {
        MessagesWriter::new(id.to_string(), chat.model.clone())
    }
}
