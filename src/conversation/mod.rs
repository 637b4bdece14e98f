//! What every API is parsed into and answered from, whichever API a request came in on:
//! the one request shape ([`ChatRequest`] of [`Message`]s, [`message`]), what a turn
//! carries besides text ([`attachment`]: images from [`image`], documents from
//! [`document`]), the client's functions, tool calls and their results ([`tools`],
//! [`tool_output`]), the generation controls ([`controls`]), what one request may carry
//! ([`limits`]), how an answer ended ([`finish`]) and the error every failure is
//! ([`ApiError`], rendered in each API's shape by `api`). Pure data: no I/O here.

pub mod attachment;
pub mod controls;
pub mod document;
mod error;
pub mod finish;
pub mod image;
pub mod limits;
pub mod message;
pub mod tool_output;
pub mod tools;

pub use attachment::{Attachment, DocumentSource, Source};
pub use controls::{Controls, Effort, ResponseFormat};
pub use error::{ApiError, ErrorKind};
pub use finish::{FinishReason, Usage};
pub use message::{
    ChatRequest, Message, Role, check_ending, json_object, required_messages, required_model,
};
pub use tool_output::{OutputPart, ToolOutput};
pub use tools::{FunctionDef, ToolCall, ToolChoice, Tools};
