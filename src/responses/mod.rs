//! The OpenAI Responses API's wire format: requests parsed into the one request shape the
//! runner plans from ([`request`]), the `response` object and its output items
//! ([`response`]), the memory behind `previous_response_id` ([`store`]), a request's input
//! as items ([`input_items`]) and their listing ([`input_list`]), and its tools as the CLI
//! gets them ([`tools`]). Errors use OpenAI's error object. Pure data:
//! no I/O here.

mod input_items;
mod input_list;
mod request;
mod response;
mod store;
mod tools;

pub use input_items::ListedItem;
pub use input_list::{ListQuery, page as input_items_page, with_ids};
pub use request::{ResponsesMeta, ResponsesRequest, parse_responses_request};
pub use response::{
    Echo, Status, call_item, custom_tool_call_item, function_call_item, item_id, message_item,
    output_items, reasoning_item, response, summary_part, text_part, usage,
};
pub use store::{Kept, ResponseStore, StoreLimits};
pub use tools::{RequestTools, custom_input};
