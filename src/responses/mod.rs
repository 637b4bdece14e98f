//! The OpenAI Responses API's wire format: requests parsed into the one request shape the
//! runner plans from ([`request`]), the `response` object and its output items
//! ([`response`]), and the memory behind `previous_response_id` ([`store`]). Errors use
//! OpenAI's error object. Pure data: no I/O here.

mod request;
mod response;
mod store;

pub use request::{ResponsesMeta, ResponsesRequest, parse_responses_request};
pub use response::{
    Echo, Status, function_call_item, item_id, message_item, output_items, reasoning_item,
    response, summary_part, text_part, usage,
};
pub use store::ResponseStore;
