//! `POST /v1/messages`, the Anthropic Messages API: the body parsed into the one request
//! shape ([`parse`]), the `message` object and the pieces of its events ([`reply`]), the
//! stream of events ([`stream`]) and the error object ([`error`]); [`Messages`] is the
//! endpoint the HTTP layer serves.

mod endpoint;
mod error;
mod parse;
mod reply;
mod stream;

pub use endpoint::Messages;
pub use error::{error_json, error_type, status};
pub use parse::parse_messages_request;
pub use reply::{
    Whole, message, message_delta, message_start, stop_reason, thinking_block, tool_use_block,
    usage,
};
pub use stream::MessagesWriter;
