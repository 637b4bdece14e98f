//! The Messages API's answers: the stream — `message_start`, then per content block
//! `content_block_start` / `content_block_delta` (text, thinking, input JSON) /
//! `content_block_stop`, then `message_delta` (stop reason, usage) and `message_stop`;
//! `ping` while waiting; a failure is an `error` event — and the whole `message` built from
//! the same outputs.

use std::collections::VecDeque;

use bytes::Bytes;
use serde_json::{Value, json};

use super::reply::{self as anthropic, Whole};
use crate::api::{EventWriter, event};
use crate::conversation::{ApiError, FinishReason, ToolCall};
use crate::translate::outcome::{Finish, Output};

/// What kind of block is open.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    /// The tool call with this index (counted from 0 over the answer).
    Tool(usize),
}

pub struct MessagesWriter {
    id: String,
    model: String,
    started: bool,
    /// The open block and its index.
    open: Option<(Open, usize)>,
    next_index: usize,
    /// The answer so far, for the whole `message`.
    text: String,
    reasoning: String,
    calls: Vec<ToolCall>,
    finish: Option<Finish>,
}

impl MessagesWriter {
    pub fn new(id: String, model: String) -> MessagesWriter {
        MessagesWriter {
            id,
            model,
            started: false,
            open: None,
            next_index: 0,
            text: String::new(),
            reasoning: String::new(),
            calls: Vec::new(),
            finish: None,
        }
    }

    fn send(out: &mut VecDeque<Bytes>, value: &Value) {
        let name = value.get("type").and_then(Value::as_str).unwrap_or("");
        out.push_back(event(Some(name), &value.to_string()));
    }

    fn start(&mut self, out: &mut VecDeque<Bytes>) {
        if !self.started {
            self.started = true;
            Self::send(out, &anthropic::message_start(&self.id, &self.model));
            Self::send(out, &json!({"type": "ping"}));
        }
    }

    /// Makes `kind` the open block, closing another one first; returns its index.
    fn block(&mut self, kind: Open, start: Value, out: &mut VecDeque<Bytes>) -> usize {
        if let Some((open, index)) = self.open
            && open == kind
        {
            return index;
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((kind, index));
        Self::send(
            out,
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        );
        index
    }

    fn close(&mut self, out: &mut VecDeque<Bytes>) {
        if let Some((_, index)) = self.open.take() {
            Self::send(out, &json!({"type": "content_block_stop", "index": index}));
        }
    }

    fn delta(out: &mut VecDeque<Bytes>, index: usize, delta: Value) {
        Self::send(
            out,
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }
}

impl EventWriter for MessagesWriter {
    fn model(&mut self, model: String) {
        self.model = model;
    }

    fn content(&mut self, output: Output, out: &mut VecDeque<Bytes>) {
        self.start(out);
        match output {
            Output::Text(text) => {
                self.text.push_str(&text);
                let index = self.block(Open::Text, json!({"type": "text", "text": ""}), out);
                Self::delta(out, index, json!({"type": "text_delta", "text": text}));
            }
            Output::Reasoning(thinking) => {
                self.reasoning.push_str(&thinking);
                let index = self.block(Open::Thinking, anthropic::thinking_block(""), out);
                Self::delta(
                    out,
                    index,
                    json!({"type": "thinking_delta", "thinking": thinking}),
                );
            }
            Output::ToolCall { index, id, name } => {
                if index == self.calls.len() {
                    self.calls.push(ToolCall {
                        id: id.clone(),
                        name: name.clone(),
                        arguments: String::new(),
                    });
                }
                let start = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                self.block(Open::Tool(index), start, out);
            }
            Output::ToolArgs { index, arguments } => {
                if let Some(call) = self.calls.get_mut(index) {
                    call.arguments.push_str(&arguments);
                }
                if let Some((Open::Tool(call), block)) = self.open
                    && call == index
                {
                    Self::delta(
                        out,
                        block,
                        json!({"type": "input_json_delta", "partial_json": arguments}),
                    );
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, finish: Finish, out: &mut VecDeque<Bytes>) {
        self.start(out);
        self.close(out);
        let delta = anthropic::message_delta(
            finish.reason,
            finish.stop_sequence.as_deref(),
            &finish.usage,
        );
        Self::send(out, &delta);
        Self::send(out, &json!({"type": "message_stop"}));
        self.finish = Some(finish);
    }

    fn fail(&mut self, error: &ApiError, out: &mut VecDeque<Bytes>) {
        out.push_back(event(Some("error"), &super::error::error_json(error)));
    }

    fn opening(&mut self, out: &mut VecDeque<Bytes>) {
        self.start(out);
    }

    fn keepalive(&self) -> Bytes {
        event(Some("ping"), r#"{"type":"ping"}"#)
    }

    fn whole(&mut self) -> Value {
        let finish = self.finish.clone().unwrap_or(Finish {
            reason: FinishReason::Stop,
            usage: Default::default(),
            stop_sequence: None,
        });
        anthropic::message(&Whole {
            id: &self.id,
            model: &self.model,
            reasoning: &self.reasoning,
            text: &self.text,
            calls: &self.calls,
            reason: finish.reason,
            stop_sequence: finish.stop_sequence.as_deref(),
            usage: &finish.usage,
        })
    }
}
