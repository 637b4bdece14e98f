//! Server-sent events, split incrementally into frames: the optional `event:` name and the
//! joined `data:` lines of each complete event. Comments (`: keep-alive`) and events without
//! data are skipped; what the data means is each API's business (`replies`).

/// One complete event with data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The `event:` field, if any (the Messages and Responses APIs name their events).
    pub event: Option<String>,
    /// The `data:` lines, joined with newlines.
    pub data: String,
}

/// Accumulates bytes and yields complete frames.
#[derive(Debug, Default)]
pub struct Parser {
    buffer: Vec<u8>,
}

impl Parser {
    /// Feeds bytes; returns the frames completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.buffer.extend_from_slice(bytes);
        let mut frames = Vec::new();
        while let Some((end, separator)) = find_event_end(&self.buffer) {
            let raw: Vec<u8> = self.buffer.drain(..end + separator).collect();
            if let Some(frame) = frame(&String::from_utf8_lossy(&raw[..end])) {
                frames.push(frame);
            }
        }
        frames
    }
}

/// The fields of one event's text.
fn frame(text: &str) -> Option<Frame> {
    let data: Vec<&str> = field(text, "data:").collect();
    if data.is_empty() {
        return None;
    }
    Some(Frame {
        event: field(text, "event:").last().map(str::to_string),
        data: data.join("\n"),
    })
}

/// The values of the lines of `text` that start with `name` (one leading space dropped).
fn field<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> {
    text.lines()
        .filter_map(move |line| line.strip_prefix(name))
        .map(|value| value.strip_prefix(' ').unwrap_or(value))
}

/// The end of the first complete event and the length of its separator (`\n\n` or
/// `\r\n\r\n`).
fn find_event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(text: &str) -> Frame {
        Frame {
            event: None,
            data: text.to_string(),
        }
    }

    #[test]
    fn splits_chunks_and_skips_comments() {
        let mut p = Parser::default();
        let stream = concat!(
            ": keep-alive\n\n",
            "data: {\"a\":1}\n\n",
            "event: ping\r\ndata: {\"type\":\"ping\"}\r\n\r\n",
            "data: [DONE]\n\n"
        );
        let mut frames = Vec::new();
        for piece in stream.as_bytes().chunks(7) {
            frames.extend(p.push(piece));
        }
        assert_eq!(
            frames,
            vec![
                data("{\"a\":1}"),
                Frame {
                    event: Some("ping".into()),
                    data: "{\"type\":\"ping\"}".into()
                },
                data("[DONE]"),
            ]
        );
    }

    #[test]
    fn joins_data_lines_and_waits_for_the_end() {
        let mut p = Parser::default();
        assert!(p.push(b"data: one\ndata:two\n").is_empty());
        assert_eq!(p.push(b"\n"), vec![data("one\ntwo")]);
        assert!(p.push(b"event: x\n\n").is_empty());
    }
}
