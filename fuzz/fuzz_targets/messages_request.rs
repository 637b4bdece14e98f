//! Arbitrary bytes as a `POST /v1/messages` body (the Anthropic Messages API): never a
//! panic; a rejection is a 400 naming its param in a Messages API error object; an accepted
//! request ends on the user's turn and its tool results answer earlier calls.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    parsers::check_messages_request(data);
});
