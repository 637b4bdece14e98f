//! The Anthropic Messages API's wire format: requests parsed into the one request shape the
//! runner plans from ([`request`]), the `message` object and the pieces of its streaming
//! events ([`response`]), and the error object ([`error`]). Pure data: no I/O here.

mod error;
mod request;
mod response;

pub use error::{error_json, error_type, status};
pub use request::parse_messages_request;
pub use response::{
    Whole, message, message_delta, message_start, stop_reason, thinking_block, tool_use_block,
    usage,
};
