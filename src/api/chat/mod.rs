//! `POST /v1/chat/completions`, OpenAI's chat completions: the body parsed into the one
//! request shape ([`parse`]), the `chat.completion` object and its chunks ([`reply`]), and
//! the stream of chunks ([`stream`]); [`Chat`] is the endpoint the HTTP layer serves.

mod endpoint;
mod parse;
mod reply;
mod stream;

pub use endpoint::Chat;
pub use parse::parse_chat_request;
pub use reply::{
    ChatCompletion, Choice, Chunk, ChunkChoice, Delta, DeltaFunction, DeltaToolCall, FunctionCall,
    ResponseMessage, ResponseToolCall,
};
pub use stream::ChatWriter;
