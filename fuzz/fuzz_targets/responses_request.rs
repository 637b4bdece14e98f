//! Arbitrary bytes as a `POST /v1/responses` body (the OpenAI Responses API): never a
//! panic; a rejection is a 400 (a 404 for an unknown `previous_response_id`) naming its
//! param in an OpenAI error object; an accepted request ends on the user's turn and its
//! function outputs answer earlier calls.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    parsers::check_responses_request(data);
});
