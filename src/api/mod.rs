//! The three APIs, each one room that owns its whole exchange: parsing a body into the one
//! request shape ([`crate::conversation::ChatRequest`]), the stream of events it answers
//! with, the whole answer a client that does not stream gets, the answer ids and the error
//! shape. The HTTP layer serves any [`Endpoint`] the same way (`http::endpoint`): body
//! limits, the run, stream timing, logging.
//!
//! - [`chat`]: `POST /v1/chat/completions` (OpenAI).
//! - [`messages`]: `POST /v1/messages` (Anthropic), and its error object.
//! - [`responses`]: `POST /v1/responses` (OpenAI), with the memory behind
//!   `previous_response_id`.
//!
//! The whole answer is built by the same [`EventWriter`] as the stream, fed the same
//! outputs: the two cannot drift apart.

pub mod chat;
pub mod messages;
pub mod responses;

use std::collections::VecDeque;

use bytes::Bytes;
use serde_json::Value;

use crate::conversation::{ApiError, ChatRequest};
use crate::translate::outcome::{Finish, Output};

/// Which API's error shape a response uses: the one the request came in on (the HTTP layer
/// renders it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `{"error":{"message","type","param","code"}}`: chat completions, Responses, the rest.
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`: the Messages API.
    Anthropic,
}

/// One API as the HTTP layer serves it.
pub trait Endpoint: Send + 'static {
    /// The writer of this API's answers.
    type Writer: EventWriter;
    /// The endpoint's label in logs and metrics.
    const NAME: &'static str;
    /// What the answer's id starts with (`chatcmpl-`, `msg_`, `resp_`).
    const ID_PREFIX: &'static str;
    /// The error shape.
    const DIALECT: Dialect;

    /// Parses and validates a request body into the one request shape.
    fn parse(&mut self, body: &[u8]) -> Result<ChatRequest, ApiError>;

    /// The writer of this request's answer `id` (created at Unix time `created`).
    fn writer(self, id: &str, created: i64, chat: &ChatRequest) -> Self::Writer;
}

/// The answer shapes of one API, fed the run's outputs in order. Each method appends whole
/// SSE events to `out` (a whole answer's driver throws them away and asks for
/// [`EventWriter::whole`] at the end).
pub trait EventWriter: Send + Sync + 'static {
    /// The model that answers is known (or refined).
    fn model(&mut self, model: String);
    /// Text, thinking, a tool call's start or a piece of its arguments.
    fn content(&mut self, output: Output, out: &mut VecDeque<Bytes>);
    /// The answer is complete.
    fn finish(&mut self, finish: Finish, out: &mut VecDeque<Bytes>);
    /// The run failed after the headers were sent.
    fn fail(&mut self, error: &ApiError, out: &mut VecDeque<Bytes>);
    /// Sent at once when the headers go out before any content.
    fn opening(&mut self, out: &mut VecDeque<Bytes>) {
        out.push_back(Bytes::from_static(b": waiting for the model\n\n"));
    }
    /// Sent after `keepalive` of silence.
    fn keepalive(&self) -> Bytes {
        Bytes::from_static(b": keep-alive\n\n")
    }
    /// The whole answer as one object, once [`EventWriter::finish`] was called: what a
    /// client that does not stream gets.
    fn whole(&mut self) -> Value;
}

/// One SSE event: `data: <json>` (and `event: <name>` when named).
pub fn event(name: Option<&str>, json: &str) -> Bytes {
    match name {
        Some(name) => Bytes::from(format!("event: {name}\ndata: {json}\n\n")),
        None => Bytes::from(format!("data: {json}\n\n")),
    }
}
