//! The Responses API's answers: the stream — `response.created`, `response.in_progress`,
//! then per output item `response.output_item.added`, its parts and deltas
//! (`response.output_text.delta`, `response.function_call_arguments.delta`,
//! `response.reasoning_summary_text.delta`) and their `.done` events,
//! `response.output_item.done`; then `response.completed` (or `response.incomplete`,
//! `response.failed`), every event with a `sequence_number` — and the whole `response`,
//! which is the object `response.completed` carries: its items in the order they arrived.
//! When the answer completes and the request asked to store it, the conversation is kept
//! for `previous_response_id`.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use super::input_items::ListedItem;
use super::reply::{self as responses, Echo, Status};
use super::store::{Kept, ResponseStore, StoreLimits};
use crate::api::{EventWriter, event};
use crate::conversation::{ApiError, Message, Role, ToolCall};
use crate::translate::outcome::{Finish, Output};

/// Where a finished answer is kept, with the conversation that led to it and the request's
/// own input items.
pub struct Keep {
    pub store: Arc<ResponseStore>,
    pub limits: StoreLimits,
    pub conversation: Vec<Message>,
    pub input_items: Vec<ListedItem>,
}

impl Keep {
    /// Keeps answer `id` (its text and calls close the conversation) and its `response`
    /// object for `previous_response_id` and `GET /v1/responses/{id}`.
    pub fn answered(self, id: &str, text: String, calls: Vec<ToolCall>, response: Value) {
        let mut messages = self.conversation;
        messages.push(Message {
            role: Role::Assistant,
            text,
            attachments: Vec::new(),
            tool_calls: calls,
            tool_call_id: None,
            result: None,
        });
        let kept = Kept {
            messages,
            input_items: self.input_items,
            response,
        };
        if !self.store.keep(id, kept, self.limits) {
            tracing::warn!(
                target: "claude_max_proxy::request",
                id,
                "response not kept: larger than `responses_kept_mb` alone"
            );
        }
    }
}

/// The output item being streamed.
enum Open {
    Reasoning {
        id: String,
        text: String,
    },
    Message {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call: ToolCall,
        index: usize,
        /// A custom tool's call: its input is sent whole when it ends.
        custom: bool,
    },
}

pub struct ResponsesWriter {
    echo: Echo,
    keep: Option<Keep>,
    sequence: u64,
    started: bool,
    /// Finished output items, in order.
    items: Vec<Value>,
    open: Option<Open>,
    /// All the answer's text and calls, for the kept conversation.
    text: String,
    calls: Vec<ToolCall>,
    /// The final `response` object, once finished (the whole answer).
    done: Option<Value>,
}

impl ResponsesWriter {
    pub fn new(echo: Echo, keep: Option<Keep>) -> ResponsesWriter {
        ResponsesWriter {
            echo,
            keep,
            sequence: 0,
            started: false,
            items: Vec::new(),
            open: None,
            text: String::new(),
            calls: Vec::new(),
            done: None,
        }
    }

    fn send(&mut self, out: &mut VecDeque<Bytes>, kind: &str, mut data: Value) {
        if let Some(object) = data.as_object_mut() {
            object.insert("type".into(), json!(kind));
            object.insert("sequence_number".into(), json!(self.sequence));
        }
        self.sequence += 1;
        out.push_back(event(Some(kind), &data.to_string()));
    }

    fn start(&mut self, out: &mut VecDeque<Bytes>) {
        if !self.started {
            self.started = true;
            let response = responses::response(&self.echo, Status::InProgress, &[], None, None);
            self.send(out, "response.created", json!({"response": response}));
            let response = responses::response(&self.echo, Status::InProgress, &[], None, None);
            self.send(out, "response.in_progress", json!({"response": response}));
        }
    }

    fn output_index(&self) -> usize {
        self.items.len()
    }

    fn added(&mut self, out: &mut VecDeque<Bytes>, item: Value) {
        let index = self.output_index();
        self.send(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
    }

    fn open_message(&mut self, out: &mut VecDeque<Bytes>) -> String {
        if let Some(Open::Message { id, .. }) = &self.open {
            return id.clone();
        }
        self.close(out);
        let id = responses::item_id("msg");
        self.added(out, responses::message_item(&id, None, "in_progress"));
        let index = self.output_index();
        self.send(
            out,
            "response.content_part.added",
            json!({"item_id": id, "output_index": index, "content_index": 0,
                "part": responses::text_part("")}),
        );
        self.open = Some(Open::Message {
            id: id.clone(),
            text: String::new(),
        });
        id
    }

    fn open_reasoning(&mut self, out: &mut VecDeque<Bytes>) -> String {
        if let Some(Open::Reasoning { id, .. }) = &self.open {
            return id.clone();
        }
        self.close(out);
        let id = responses::item_id("rs");
        self.added(out, responses::reasoning_item(&id, None));
        let index = self.output_index();
        self.send(
            out,
            "response.reasoning_summary_part.added",
            json!({"item_id": id, "output_index": index, "summary_index": 0,
                "part": responses::summary_part("")}),
        );
        self.open = Some(Open::Reasoning {
            id: id.clone(),
            text: String::new(),
        });
        id
    }

    /// Ends the open item with its `.done` events.
    fn close(&mut self, out: &mut VecDeque<Bytes>) {
        let index = self.output_index();
        let item = match self.open.take() {
            None => return,
            Some(Open::Message { id, text }) => {
                self.send(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                        "text": text, "logprobs": []}),
                );
                self.send(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                        "part": responses::text_part(&text)}),
                );
                responses::message_item(&id, Some(&text), "completed")
            }
            Some(Open::Reasoning { id, text }) => {
                self.send(
                    out,
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": index, "summary_index": 0,
                        "text": text}),
                );
                self.send(
                    out,
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": index, "summary_index": 0,
                        "part": responses::summary_part(&text)}),
                );
                responses::reasoning_item(&id, Some(&text))
            }
            Some(Open::Call {
                id,
                call,
                custom: true,
                ..
            }) => {
                let input = super::tools::custom_input(&call.arguments);
                self.send(
                    out,
                    "response.custom_tool_call_input.delta",
                    json!({"item_id": id, "output_index": index, "delta": input}),
                );
                self.send(
                    out,
                    "response.custom_tool_call_input.done",
                    json!({"item_id": id, "output_index": index, "input": input}),
                );
                self.calls.push(call.clone());
                responses::custom_tool_call_item(&id, &call, "completed")
            }
            Some(Open::Call { id, call, .. }) => {
                self.send(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "name": call.name,
                        "arguments": call.arguments}),
                );
                self.calls.push(call.clone());
                responses::function_call_item(&id, &call, "completed")
            }
        };
        self.send(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.items.push(item);
    }

    /// Keeps the conversation and this answer (`response`) for `previous_response_id` and
    /// `GET /v1/responses/{id}`.
    fn keep(&mut self, response: Value) {
        if let Some(keep) = self.keep.take() {
            let text = std::mem::take(&mut self.text);
            let calls = std::mem::take(&mut self.calls);
            keep.answered(&self.echo.id, text, calls, response);
        }
    }
}

impl EventWriter for ResponsesWriter {
    fn model(&mut self, model: String) {
        self.echo.model = model;
    }

    fn content(&mut self, output: Output, out: &mut VecDeque<Bytes>) {
        self.start(out);
        match output {
            Output::Text(piece) => {
                let id = self.open_message(out);
                let index = self.output_index();
                if let Some(Open::Message { text, .. }) = &mut self.open {
                    text.push_str(&piece);
                }
                self.text.push_str(&piece);
                self.send(
                    out,
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                        "delta": piece, "logprobs": []}),
                );
            }
            Output::Reasoning(piece) => {
                let id = self.open_reasoning(out);
                let index = self.output_index();
                if let Some(Open::Reasoning { text, .. }) = &mut self.open {
                    text.push_str(&piece);
                }
                self.send(
                    out,
                    "response.reasoning_summary_text.delta",
                    json!({"item_id": id, "output_index": index, "summary_index": 0,
                        "delta": piece}),
                );
            }
            Output::ToolCall { index, id, name } => {
                self.close(out);
                let call = ToolCall {
                    id,
                    name,
                    arguments: String::new(),
                };
                let (item_id, item) =
                    responses::call_item(&call, "in_progress", &self.echo.custom_tools);
                let custom = item["type"] == "custom_tool_call";
                self.added(out, item);
                self.open = Some(Open::Call {
                    id: item_id,
                    call,
                    index,
                    custom,
                });
            }
            Output::ToolArgs { index, arguments } => {
                let output_index = self.output_index();
                if let Some(Open::Call {
                    id,
                    call,
                    index: open,
                    custom,
                }) = &mut self.open
                    && *open == index
                {
                    call.arguments.push_str(&arguments);
                    if *custom {
                        return;
                    }
                    let id = id.clone();
                    self.send(
                        out,
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": output_index,
                            "delta": arguments}),
                    );
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, finish: Finish, out: &mut VecDeque<Bytes>) {
        self.start(out);
        self.close(out);
        let status = Status::of(finish.reason);
        let response =
            responses::response(&self.echo, status, &self.items, Some(&finish.usage), None);
        let kind = match status {
            Status::Incomplete(_) => "response.incomplete",
            _ => "response.completed",
        };
        self.send(out, kind, json!({"response": response.clone()}));
        self.keep(response.clone());
        self.done = Some(response);
    }

    fn fail(&mut self, error: &ApiError, out: &mut VecDeque<Bytes>) {
        self.start(out);
        let failure = json!({"code": error_code(error), "message": error.message});
        let response =
            responses::response(&self.echo, Status::Failed, &self.items, None, Some(failure));
        self.send(out, "response.failed", json!({"response": response}));
    }

    fn opening(&mut self, out: &mut VecDeque<Bytes>) {
        self.start(out);
    }

    fn whole(&mut self) -> Value {
        self.done.take().unwrap_or(Value::Null)
    }
}

/// The Responses API's error codes for a failed response.
fn error_code(error: &ApiError) -> &'static str {
    match error.status() {
        429 => "rate_limit_exceeded",
        400 => "invalid_prompt",
        _ => "server_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{FinishReason, Usage};

    /// The whole response is the one the stream completes with: its items in the order
    /// they came (thinking, then the call), the call with its id and whole arguments.
    #[test]
    fn the_whole_answer_is_what_the_stream_completes_with() {
        let echo = Echo {
            id: "resp_1".into(),
            created_at: 1,
            model: "m".into(),
            instructions: None,
            previous_response_id: None,
            store: false,
            metadata: Value::Null,
            max_output_tokens: None,
            tools: json!([]),
            tool_choice: json!("auto"),
            parallel_tool_calls: true,
            text_format: json!({"type": "text"}),
            reasoning_effort: None,
            custom_tools: Vec::new(),
        };
        let mut writer = ResponsesWriter::new(echo, None);
        let mut events = VecDeque::new();
        writer.content(Output::Reasoning("hmm".into()), &mut events);
        writer.content(
            Output::ToolCall {
                index: 0,
                id: "toolu_9".into(),
                name: "f".into(),
            },
            &mut events,
        );
        for piece in ["{\"a\":", "1}"] {
            writer.content(
                Output::ToolArgs {
                    index: 0,
                    arguments: piece.into(),
                },
                &mut events,
            );
        }
        writer.finish(
            Finish {
                reason: FinishReason::ToolCalls,
                usage: Usage::new(1, 0, 0, 2),
                stop_sequence: None,
            },
            &mut events,
        );
        let whole = writer.whole();
        let completed = events
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .find(|e| e.starts_with("event: response.completed"))
            .expect("response.completed");
        let data = completed
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("data");
        let streamed: Value = serde_json::from_str(data).expect("JSON");
        assert_eq!(streamed["response"], whole);
        assert_eq!(whole["output"][0]["type"], "reasoning");
        assert_eq!(whole["output"][1]["type"], "function_call");
        assert_eq!(whole["output"][1]["call_id"], "toolu_9");
        assert_eq!(whole["output"][1]["arguments"], "{\"a\":1}");
    }
}
