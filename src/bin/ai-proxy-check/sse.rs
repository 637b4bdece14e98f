//! The server-sent events of a streaming completion, parsed incrementally: text deltas,
//! the `[DONE]` end marker and in-stream `{"error":…}` events. Comments (`: keep-alive`) and
//! chunks without text are skipped.

use serde_json::Value;

/// One meaningful event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A chunk with delta text.
    Text(String),
    /// `data: [DONE]`.
    Done,
    /// `data: {"error":{…}}`: the stream failed after it started.
    Error(String),
}

/// Accumulates bytes and yields complete events.
#[derive(Debug, Default)]
pub struct Parser {
    buffer: Vec<u8>,
    /// The `model` of the chunks (the model the CLI really used).
    pub model: Option<String>,
}

impl Parser {
    /// Feeds bytes; returns the events completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some((end, separator)) = find_event_end(&self.buffer) {
            let raw: Vec<u8> = self.buffer.drain(..end + separator).collect();
            let text = String::from_utf8_lossy(&raw[..end]);
            if let Some(event) = self.event(&text) {
                events.push(event);
            }
        }
        events
    }

    fn event(&mut self, text: &str) -> Option<Event> {
        let data: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            return None;
        }
        let data = data.join("\n");
        if data.trim() == "[DONE]" {
            return Some(Event::Done);
        }
        let value: Value = serde_json::from_str(&data).ok()?;
        if let Some(error) = value.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Some(Event::Error(message.to_string()));
        }
        if let Some(model) = value.get("model").and_then(Value::as_str) {
            self.model = Some(model.to_string());
        }
        value
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| Event::Text(t.to_string()))
    }
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

    #[test]
    fn parses_split_chunks_comments_and_done() {
        let mut p = Parser::default();
        let stream = concat!(
            ": keep-alive\n\n",
            "data: {\"model\":\"claude-haiku-4-5\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"po\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"ng\"}}]}\r\n\r\n",
            "data: [DONE]\n\n"
        );
        let mut events = Vec::new();
        for piece in stream.as_bytes().chunks(7) {
            events.extend(p.push(piece));
        }
        assert_eq!(
            events,
            vec![
                Event::Text("po".into()),
                Event::Text("ng".into()),
                Event::Done
            ]
        );
        assert_eq!(p.model.as_deref(), Some("claude-haiku-4-5"));
    }

    #[test]
    fn error_events() {
        let mut p = Parser::default();
        let events = p.push(b"data: {\"error\":{\"message\":\"upstream 529\",\"type\":\"x\"}}\n\n");
        assert_eq!(events, vec![Event::Error("upstream 529".into())]);
        assert!(
            p.push(b"data: {\"choices\":[]}\n\ndata: not json\n\n")
                .is_empty()
        );
    }
}
