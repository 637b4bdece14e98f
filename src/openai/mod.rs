//! OpenAI wire format: the chat request as we accept it (parsed and validated into
//! [`ChatRequest`]) with its images and documents ([`attachment`]), the response and chunk
//! shapes we send, and the error object every failure is reported as; [`limits`] bounds
//! what one request of any API may carry. Pure data: no I/O here.

pub mod attachment;
pub mod controls;
pub mod document;
mod error;
pub mod image;
pub mod limits;
mod request;
mod response;
pub mod tool_output;
pub mod tools;

pub use attachment::{Attachment, DocumentSource, Source};
pub use controls::{Controls, Effort, ResponseFormat};
pub use error::{ApiError, ErrorKind};
pub use request::{
    ChatRequest, Message, Role, check_ending, json_object, parse_chat_request, required_model,
};
pub use response::{
    ChatCompletion, Choice, Chunk, ChunkChoice, Delta, DeltaFunction, DeltaToolCall, FinishReason,
    FunctionCall, ResponseMessage, ResponseToolCall, Usage,
};
pub use tool_output::{OutputPart, ToolOutput};
pub use tools::{FunctionDef, ToolCall, ToolChoice, Tools};
