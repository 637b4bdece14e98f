//! Chat completions' answers: the stream of `chat.completion.chunk`s — a role chunk, one
//! chunk per text delta or tool-call piece, a finish chunk, a usage chunk when asked, then
//! `data: [DONE]`; a failure is a `data: {"error":…}` event — and the whole
//! `chat.completion` built from the same outputs.

use std::collections::VecDeque;

use bytes::Bytes;

use serde_json::Value;

use super::reply::{
    ChatCompletion, Chunk, Delta, DeltaFunction, DeltaToolCall, FunctionCall, ResponseToolCall,
};
use crate::api::{EventWriter, event};
use crate::conversation::{ApiError, FinishReason, ToolCall};
use crate::translate::outcome::{Finish, Output};

/// What every chunk repeats, and the answer so far.
pub struct ChatWriter {
    pub id: String,
    pub created: i64,
    pub model: String,
    pub include_usage: bool,
    role_sent: bool,
    text: String,
    reasoning: String,
    calls: Vec<ToolCall>,
    finish: Option<Finish>,
}

impl ChatWriter {
    pub fn new(id: String, created: i64, model: String, include_usage: bool) -> ChatWriter {
        ChatWriter {
            id,
            created,
            model,
            include_usage,
            role_sent: false,
            text: String::new(),
            reasoning: String::new(),
            calls: Vec::new(),
            finish: None,
        }
    }

    fn ensure_role(&mut self, out: &mut VecDeque<Bytes>) {
        if !self.role_sent {
            self.role_sent = true;
            let delta = Delta {
                role: Some("assistant"),
                content: Some(String::new()),
                ..Delta::default()
            };
            self.push(out, delta, None);
        }
    }

    fn push(&self, out: &mut VecDeque<Bytes>, delta: Delta, finish: Option<FinishReason>) {
        let chunk = Chunk::choice(
            &self.id,
            self.created,
            &self.model,
            self.include_usage,
            delta,
            finish,
        );
        push_chunk(out, &chunk);
    }

    fn push_tool_delta(&mut self, out: &mut VecDeque<Bytes>, call: DeltaToolCall) {
        let delta = Delta {
            tool_calls: Some(vec![call]),
            ..Delta::default()
        };
        self.push(out, delta, None);
    }
}

fn push_chunk(out: &mut VecDeque<Bytes>, chunk: &Chunk) {
    match serde_json::to_string(chunk) {
        Ok(json) => out.push_back(event(None, &json)),
        Err(e) => tracing::error!("could not serialize a chunk: {e}"),
    }
}

impl EventWriter for ChatWriter {
    fn model(&mut self, model: String) {
        self.model = model;
    }

    fn content(&mut self, output: Output, out: &mut VecDeque<Bytes>) {
        self.ensure_role(out);
        match output {
            Output::Text(text) => {
                self.text.push_str(&text);
                let delta = Delta {
                    content: Some(text),
                    ..Delta::default()
                };
                self.push(out, delta, None);
            }
            Output::Reasoning(text) => {
                self.reasoning.push_str(&text);
                let delta = Delta {
                    reasoning_content: Some(text),
                    ..Delta::default()
                };
                self.push(out, delta, None);
            }
            Output::ToolCall { index, id, name } => {
                if index == self.calls.len() {
                    self.calls.push(ToolCall {
                        id: id.clone(),
                        name: name.clone(),
                        arguments: String::new(),
                    });
                }
                let call = DeltaToolCall {
                    index,
                    id: Some(id),
                    kind: Some("function"),
                    function: DeltaFunction {
                        name: Some(name),
                        arguments: String::new(),
                    },
                };
                self.push_tool_delta(out, call);
            }
            Output::ToolArgs { index, arguments } => {
                if let Some(call) = self.calls.get_mut(index) {
                    call.arguments.push_str(&arguments);
                }
                let call = DeltaToolCall {
                    index,
                    id: None,
                    kind: None,
                    function: DeltaFunction {
                        name: None,
                        arguments,
                    },
                };
                self.push_tool_delta(out, call);
            }
            _ => {}
        }
    }

    fn finish(&mut self, finish: Finish, out: &mut VecDeque<Bytes>) {
        self.ensure_role(out);
        self.push(out, Delta::default(), Some(finish.reason));
        if self.include_usage {
            let chunk = Chunk::usage(&self.id, self.created, &self.model, finish.usage);
            push_chunk(out, &chunk);
        }
        out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
        self.finish = Some(finish);
    }

    fn fail(&mut self, error: &ApiError, out: &mut VecDeque<Bytes>) {
        out.push_back(event(None, &error.to_json()));
    }

    fn whole(&mut self) -> Value {
        let finish = self.finish.clone().unwrap_or(Finish {
            reason: FinishReason::Stop,
            usage: Default::default(),
            stop_sequence: None,
        });
        let calls = std::mem::take(&mut self.calls)
            .into_iter()
            .map(|call| ResponseToolCall {
                id: call.id,
                kind: "function",
                function: FunctionCall {
                    name: call.name,
                    arguments: call.arguments,
                },
            })
            .collect();
        let mut completion = ChatCompletion::new(
            self.id.clone(),
            self.created,
            self.model.clone(),
            std::mem::take(&mut self.text),
            finish.reason,
            finish.usage,
        )
        .with_tool_calls(calls);
        if !self.reasoning.is_empty()
            && let Some(choice) = completion.choices.first_mut()
        {
            choice.message.reasoning_content = Some(std::mem::take(&mut self.reasoning));
        }
        serde_json::to_value(&completion).unwrap_or(Value::Null)
    }
}
