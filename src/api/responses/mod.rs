//! `POST /v1/responses`, the OpenAI Responses API: the body parsed into the one request
//! shape ([`parse`]), the `response` object and its output items ([`reply`]), the stream
//! of events and the whole response built from the same outputs ([`stream`]), the memory
//! behind `previous_response_id` ([`store`]) with what `GET` / `DELETE
//! /v1/responses/{id}` and its `input_items` read from it ([`kept`]), a request's input as
//! items ([`input_items`]) and their listing ([`input_list`]), and its tools as the CLI
//! gets them ([`tools`]). Errors use OpenAI's error object. [`Responses`] is the endpoint
//! the HTTP layer serves.

mod endpoint;
mod input_items;
mod input_list;
pub mod kept;
mod parse;
mod reply;
mod store;
mod stream;
mod tools;

pub use endpoint::Responses;
pub use input_items::ListedItem;
pub use input_list::{ListQuery, page as input_items_page, with_ids};
pub use parse::{ResponsesMeta, ResponsesRequest, parse_responses_request};
pub use reply::{
    Echo, Status, call_item, custom_tool_call_item, function_call_item, item_id, message_item,
    reasoning_item, response, summary_part, text_part, usage,
};
pub use store::{Kept, ResponseStore, StoreLimits};
pub use stream::{Keep, ResponsesWriter};
pub use tools::{RequestTools, custom_input};
