//! How much one request may carry, whichever API it came in on: JSON values in its body,
//! tools, tool calls and tool results. Each limit keeps a request's parse (and what it
//! holds while its run lasts) proportional to its body and small: beyond one, the request
//! is refused with a 400 naming the limit (the real APIs refuse long tool lists too: the
//! OpenAI APIs accept at most 128 tools). docs/security.md lists them.

use std::cell::Cell;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::ApiError;

/// The most JSON values (objects, arrays, strings, numbers, booleans, nulls; keys not
/// counted) a request body may hold. A parsed value costs up to ~330 bytes however small
/// its text, so this bounds a body's parse to tens of MB.
pub const MAX_JSON_VALUES: usize = 200_000;

/// The most tools (functions, custom tools, hosted tools left out) one request may offer.
/// Above OpenAI's 128, for clients with many MCP servers.
pub const MAX_TOOLS: usize = 512;

/// The most tool calls the earlier turns of one request may hold, and the most tool
/// results (each counted separately).
pub const MAX_TOOL_CALLS: usize = 10_000;

/// How a body breaks the JSON limits.
#[derive(Debug)]
pub enum BodyProblem {
    /// Not JSON (serde_json's error, with its line and column).
    Syntax(serde_json::Error),
    /// More than [`MAX_JSON_VALUES`] values.
    TooManyValues,
}

/// Walks `body` once without building anything, counting its values; stops at the first
/// value beyond `max`.
pub fn count_values(body: &[u8], max: usize) -> Result<usize, BodyProblem> {
    let left = Cell::new(max);
    let over = Cell::new(false);
    let mut reader = serde_json::Deserializer::from_slice(body);
    let counted = Counter {
        left: &left,
        over: &over,
    }
    .deserialize(&mut reader)
    .and_then(|()| reader.end());
    match counted {
        Ok(()) => Ok(max - left.get()),
        Err(_) if over.get() => Err(BodyProblem::TooManyValues),
        Err(error) => Err(BodyProblem::Syntax(error)),
    }
}

/// The 400 for a body over [`MAX_JSON_VALUES`].
pub fn too_many_values() -> ApiError {
    ApiError::invalid(
        "body",
        format!(
            "The request body holds more than {MAX_JSON_VALUES} JSON values, the most this \
             proxy accepts in one request. Send fewer items or parts (join small text parts)."
        ),
    )
}

/// Refuses a list of `count` tools at `param` over [`MAX_TOOLS`].
pub fn check_tools(count: usize, param: &str) -> Result<(), ApiError> {
    if count > MAX_TOOLS {
        return Err(ApiError::invalid(
            param,
            format!(
                "`{param}` holds {count} tools; this proxy accepts at most {MAX_TOOLS} tools \
                 per request."
            ),
        ));
    }
    Ok(())
}

/// Counts the tool calls and tool results of a request's turns as they are read, refusing
/// the one beyond [`MAX_TOOL_CALLS`] (named by its `param`).
#[derive(Debug, Default)]
pub struct ToolTally {
    calls: usize,
    results: usize,
}

impl ToolTally {
    /// One more earlier tool call, at `param`.
    pub fn call(&mut self, param: &str) -> Result<(), ApiError> {
        self.calls += 1;
        over(self.calls, "tool calls", param)
    }

    /// One more tool result, at `param`.
    pub fn result(&mut self, param: &str) -> Result<(), ApiError> {
        self.results += 1;
        over(self.results, "tool results", param)
    }
}

fn over(count: usize, what: &str, param: &str) -> Result<(), ApiError> {
    if count > MAX_TOOL_CALLS {
        return Err(ApiError::invalid(
            param,
            format!(
                "The request holds more than {MAX_TOOL_CALLS} {what}, the most this proxy \
                 accepts in one request; send a shorter history."
            ),
        ));
    }
    Ok(())
}

/// Counts every value it visits against `left`, failing once it is spent.
#[derive(Clone, Copy)]
struct Counter<'a> {
    left: &'a Cell<usize>,
    over: &'a Cell<bool>,
}

impl Counter<'_> {
    fn take<E: de::Error>(self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.over.set(true);
                Err(E::custom("too many JSON values"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.take()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.take()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.take()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.take()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.take()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.take()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.take()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.take()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_counted_and_bounded() {
        let body = br#"{"a": [1, "x", null, true, {"b": {}}], "c": -2.5}"#;
        assert_eq!(count_values(body, 100).unwrap(), 9);
        assert!(count_values(body, 9).is_ok());
        assert!(matches!(
            count_values(body, 8),
            Err(BodyProblem::TooManyValues)
        ));
        assert!(matches!(
            count_values(b"{\"a\": [1,", 100),
            Err(BodyProblem::Syntax(_))
        ));
        assert!(matches!(
            count_values(b"{} {}", 100),
            Err(BodyProblem::Syntax(_))
        ));
        let deep = "[".repeat(100_000);
        assert!(matches!(
            count_values(deep.as_bytes(), 1_000_000),
            Err(BodyProblem::Syntax(_))
        ));
    }

    #[test]
    fn tool_limits_name_their_param() {
        assert!(check_tools(MAX_TOOLS, "tools").is_ok());
        let error = check_tools(MAX_TOOLS + 1, "tools").unwrap_err();
        assert_eq!(error.param.as_deref(), Some("tools"));
        assert!(error.message.contains("512"), "{}", error.message);
        let mut tally = ToolTally::default();
        for _ in 0..MAX_TOOL_CALLS {
            tally.call("c").unwrap();
            tally.result("r").unwrap();
        }
        let error = tally.result("messages[9].tool_call_id").unwrap_err();
        assert_eq!(error.param.as_deref(), Some("messages[9].tool_call_id"));
        assert!(error.message.contains("10000"), "{}", error.message);
    }
}
