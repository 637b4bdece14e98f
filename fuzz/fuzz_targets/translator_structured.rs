//! Random but well-formed CLI event sequences (message starts, deltas from a tiny alphabet,
//! abandoned blocks, retries, synthetic errors, results) through both translators, checked
//! like `stream_json`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parsers::EventSpec;

fuzz_target!(|events: Vec<EventSpec>| {
    let lines: Vec<String> = events.iter().map(EventSpec::to_line).collect();
    parsers::check_cli_lines(lines.iter().map(String::as_str));
});
