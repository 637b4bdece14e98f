//! The Responses API as the HTTP layer serves it: parsing needs the kept conversations
//! (`previous_response_id`), and the answer is kept in turn when the request asks to store
//! it.

use std::sync::Arc;
use std::time::Duration;

use super::input_list::with_ids;
use super::parse::{ResponsesMeta, parse_responses_request};
use super::reply::Echo;
use super::store::{ResponseStore, StoreLimits};
use super::stream::{Keep, ResponsesWriter};
use crate::api::{Dialect, Endpoint};
use crate::conversation::{ApiError, ChatRequest};

/// `POST /v1/responses`, with the store it continues from and keeps answers in.
pub struct Responses {
    store: Arc<ResponseStore>,
    /// How long a kept answer may be continued (`responses_kept_secs`).
    kept_for: Duration,
    /// The store's bounds (`responses_kept`, `responses_kept_mb`); a count of 0 keeps
    /// nothing.
    limits: StoreLimits,
    /// What the request said besides the conversation (filled by `parse`).
    meta: ResponsesMeta,
}

impl Responses {
    pub fn new(store: Arc<ResponseStore>, kept_for: Duration, limits: StoreLimits) -> Responses {
        Responses {
            store,
            kept_for,
            limits,
            meta: ResponsesMeta::default(),
        }
    }
}

impl Endpoint for Responses {
    type Writer = ResponsesWriter;
    const NAME: &'static str = "responses";
    const ID_PREFIX: &'static str = "resp_";
    const DIALECT: Dialect = Dialect::OpenAi;

    fn parse(&mut self, body: &[u8]) -> Result<ChatRequest, ApiError> {
        let store = &self.store;
        let kept_for = self.kept_for;
        let request = parse_responses_request(body, |previous| store.get(previous, kept_for))?;
        self.meta = request.meta;
        Ok(request.chat)
    }

    fn writer(self, id: &str, created: i64, chat: &ChatRequest) -> ResponsesWriter {
        let mut meta = self.meta;
        let (tools, tool_choice) = Echo::tools_of(&chat.tools, &meta.custom_tools);
        let echo = Echo {
            id: id.to_string(),
            created_at: created,
            model: chat.model.clone(),
            instructions: meta.instructions.clone(),
            previous_response_id: meta.previous_response_id.clone(),
            store: meta.store,
            metadata: meta.metadata.clone(),
            max_output_tokens: chat.controls.max_tokens,
            tools,
            tool_choice,
            parallel_tool_calls: chat.tools.parallel,
            text_format: Echo::format_of(&chat.controls.format),
            reasoning_effort: chat.controls.effort.map(|e| e.as_arg()),
            custom_tools: std::mem::take(&mut meta.custom_tools),
        };
        let keep = (meta.store && self.limits.count > 0).then(|| Keep {
            store: self.store.clone(),
            limits: self.limits,
            conversation: meta.conversation(chat),
            input_items: with_ids(std::mem::take(&mut meta.input_items)),
        });
        ResponsesWriter::new(echo, keep)
    }
}
