//! Near-valid chat request bodies (random message arrays, roles, content parts, parameters
//! of every type, huge numbers, unicode), checked like `chat_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parsers::RequestSpec;

fuzz_target!(|spec: RequestSpec| {
    parsers::check_chat_request(spec.to_body().as_bytes());
});
