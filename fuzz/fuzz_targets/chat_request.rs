//! Arbitrary bytes as a `POST /v1/chat/completions` body: never a panic; a rejection is a
//! 400 naming its param; an accepted request ends on a non-empty user message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    parsers::check_chat_request(data);
});
