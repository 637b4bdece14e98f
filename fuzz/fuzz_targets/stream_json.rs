//! Arbitrary bytes as CLI stdout: every line goes through the stream-json parser, and the
//! events it yields through a streaming and a buffered translator. Never a panic, never
//! text after the finish or the error, never a retraction in a stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    parsers::check_cli_lines(text.lines());
});
