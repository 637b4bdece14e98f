//! The Responses API's memory: recent answers kept with the conversation that led to them,
//! so that a request with `previous_response_id` continues it and `GET /v1/responses/{id}`
//! (and its `/input_items`) show it again. Bounded by count, by the bytes they hold (the
//! oldest go first) and by age; nothing is written to disk; `DELETE` forgets one.
//!
//! What is kept is counted as it is held: the conversation's strings with their structs,
//! and the input items and the response object as compact JSON text (parsed again when
//! listed): a parsed JSON value of a tiny part costs up to ~330 bytes, which a count of
//! its text would miss many times over.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::input_items::ListedItem;
use crate::conversation::Attachment;
use crate::conversation::{Message, ToolCall};

/// A kept answer: the whole conversation up to and including it (the request's
/// `instructions` not among it: they do not carry over), the request's own input items and
/// the response object as the client was given it.
#[derive(Clone, Debug)]
pub struct Kept {
    pub messages: Vec<Message>,
    pub input_items: Vec<ListedItem>,
    pub response: Value,
}

/// A kept answer as it is held.
#[derive(Debug)]
struct Held {
    messages: Vec<Message>,
    input_items: Vec<ListedItem>,
    /// The response object, compact.
    response: String,
}

/// How much is kept: at most `count` answers of at most `bytes` together (estimated);
/// the oldest go first.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    pub count: usize,
    pub bytes: usize,
}

/// Recent answers by response id.
#[derive(Debug, Default)]
pub struct ResponseStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, Entry>,
    /// Ids, oldest first.
    order: VecDeque<String>,
    /// The estimated size of everything kept.
    bytes: usize,
}

#[derive(Debug)]
struct Entry {
    kept: Held,
    at: Instant,
    bytes: usize,
}

impl Inner {
    fn forget(&mut self, id: &str) -> Option<Entry> {
        let entry = self.by_id.remove(id)?;
        self.bytes = self.bytes.saturating_sub(entry.bytes);
        self.order.retain(|kept| kept != id);
        Some(entry)
    }
}

impl ResponseStore {
    pub fn new() -> ResponseStore {
        ResponseStore::default()
    }

    /// Keeps `kept` as response `id`, making room by forgetting the oldest; whether it was
    /// kept (an answer larger than `limits.bytes` alone is not).
    pub fn keep(&self, id: &str, kept: Kept, limits: StoreLimits) -> bool {
        if limits.count == 0 {
            return false;
        }
        let mut response = kept.response.to_string();
        response.shrink_to_fit();
        let mut messages = kept.messages;
        messages.shrink_to_fit();
        let mut input_items = kept.input_items;
        input_items.shrink_to_fit();
        let kept = Held {
            messages,
            input_items,
            response,
        };
        let bytes = weight_of(&kept);
        if bytes > limits.bytes {
            return false;
        }
        let mut inner = self.lock();
        inner.forget(id);
        while inner.order.len() >= limits.count || inner.bytes + bytes > limits.bytes {
            match inner.order.front().cloned() {
                Some(old) => {
                    inner.forget(&old);
                }
                None => break,
            }
        }
        inner.order.push_back(id.to_string());
        inner.bytes += bytes;
        inner.by_id.insert(
            id.to_string(),
            Entry {
                kept,
                at: Instant::now(),
                bytes,
            },
        );
        true
    }

    /// The conversation of response `id`, if it is kept and younger than `max_age`.
    pub fn get(&self, id: &str, max_age: Duration) -> Option<Vec<Message>> {
        self.read(id, max_age, |kept| kept.messages.clone())
    }

    /// The response object `id`, if it is kept and younger than `max_age`.
    pub fn response(&self, id: &str, max_age: Duration) -> Option<Value> {
        let text = self.read(id, max_age, |kept| kept.response.clone())?;
        serde_json::from_str(&text).ok()
    }

    /// Applies `list` to the input items of response `id`, if it is kept and younger than
    /// `max_age`.
    pub fn with_input_items<T>(
        &self,
        id: &str,
        max_age: Duration,
        list: impl FnOnce(&[ListedItem]) -> T,
    ) -> Option<T> {
        self.read(id, max_age, |kept| list(&kept.input_items))
    }

    /// Forgets response `id`; whether it was kept (and younger than `max_age`).
    pub fn remove(&self, id: &str, max_age: Duration) -> bool {
        self.lock()
            .forget(id)
            .is_some_and(|entry| entry.at.elapsed() <= max_age)
    }

    fn read<T>(&self, id: &str, max_age: Duration, part: impl FnOnce(&Held) -> T) -> Option<T> {
        let mut inner = self.lock();
        let fresh = inner
            .by_id
            .get(id)
            .map(|entry| entry.at.elapsed() <= max_age)?;
        if !fresh {
            inner.forget(id);
            return None;
        }
        inner.by_id.get(id).map(|entry| part(&entry.kept))
    }

    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of what is kept (as [`weight_of`] counts them).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the allocator adds to each allocation (its header, rounding).
const PER_ALLOCATION: usize = 16;

/// The bytes `kept` holds: every struct, every string's capacity, an allocation's
/// bookkeeping for each.
fn weight_of(kept: &Held) -> usize {
    let messages: usize = kept.messages.iter().map(message_bytes).sum::<usize>()
        + kept.messages.capacity() * size_of::<Message>()
        + PER_ALLOCATION;
    let items: usize = kept
        .input_items
        .iter()
        .map(|item| item.held_bytes() - size_of::<ListedItem>() + 2 * PER_ALLOCATION)
        .sum::<usize>()
        + kept.input_items.capacity() * size_of::<ListedItem>()
        + PER_ALLOCATION;
    messages + items + kept.response.capacity() + PER_ALLOCATION
}

/// What one message holds beyond its struct.
fn message_bytes(message: &Message) -> usize {
    let text = message.text.capacity() + PER_ALLOCATION;
    let attachments: usize = message
        .attachments
        .iter()
        .map(|a| a.held_bytes() + 2 * PER_ALLOCATION)
        .sum::<usize>()
        + message.attachments.capacity() * size_of::<Attachment>();
    let calls: usize = message
        .tool_calls
        .iter()
        .map(|call| {
            call.id.capacity()
                + call.name.capacity()
                + call.arguments.capacity()
                + 3 * PER_ALLOCATION
        })
        .sum::<usize>()
        + message.tool_calls.capacity() * size_of::<ToolCall>();
    let result = message
        .tool_call_id
        .as_ref()
        .map_or(0, |id| id.capacity() + PER_ALLOCATION);
    text + attachments + calls + result + 2 * PER_ALLOCATION
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Role;

    const HOUR: Duration = Duration::from_secs(3600);
    const ROOMY: StoreLimits = StoreLimits {
        count: 2,
        bytes: 1 << 20,
    };

    fn said(text: &str) -> Kept {
        Kept {
            messages: vec![Message {
                role: Role::User,
                text: text.into(),
                attachments: Vec::new(),
                tool_calls: Vec::new(),
                tool_call_id: None,
                result: None,
            }],
            input_items: crate::api::responses::with_ids(
                crate::api::responses::input_items::listed_items(Some(
                    &serde_json::json!([{"id": "msg_1", "type": "message"}]),
                )),
            ),
            response: Value::Null,
        }
    }

    #[test]
    fn keeps_the_newest_within_count_and_age() {
        let store = ResponseStore::new();
        store.keep("a", said("one"), ROOMY);
        store.keep("b", said("two"), ROOMY);
        let c = Kept {
            response: serde_json::json!({"id": "c"}),
            ..said("three")
        };
        store.keep("c", c, ROOMY);
        assert!(store.get("a", HOUR).is_none(), "the oldest went first");
        assert_eq!(store.get("c", HOUR).unwrap()[0].text, "three");
        assert_eq!(store.response("c", HOUR).unwrap()["id"], "c");
        assert_eq!(
            store.with_input_items("c", HOUR, |items| items[0].value()["id"].clone()),
            Some(serde_json::json!("msg_1"))
        );
        assert_eq!(store.len(), 2);
        assert!(store.get("b", Duration::ZERO).is_none(), "too old");
        assert_eq!(store.len(), 1);
        let none = StoreLimits { count: 0, ..ROOMY };
        assert!(!store.keep("d", said("x"), none), "0 keeps nothing");
        assert!(store.get("d", HOUR).is_none());
        assert!(store.remove("c", HOUR), "c was kept");
        assert!(!store.remove("c", HOUR), "and is gone");
        assert!(store.response("c", HOUR).is_none());
        assert!(store.is_empty());
        assert_eq!(store.bytes(), 0, "nothing kept, nothing counted");
    }

    #[test]
    fn the_size_budget_forgets_the_oldest_and_refuses_what_cannot_fit() {
        let store = ResponseStore::new();
        let big = || said(&"x".repeat(40_000));
        let limits = StoreLimits {
            count: 100,
            bytes: 100_000,
        };
        for id in ["a", "b", "c"] {
            assert!(store.keep(id, big(), limits));
            assert!(store.bytes() <= limits.bytes, "{}", store.bytes());
        }
        assert_eq!(store.len(), 2, "two fit in the budget");
        assert!(store.get("a", HOUR).is_none(), "the oldest went first");
        assert!(store.get("c", HOUR).is_some());
        let huge = said(&"x".repeat(200_000));
        assert!(
            !store.keep("d", huge, limits),
            "larger than the whole budget"
        );
        assert_eq!(store.len(), 2, "and nothing was forgotten for it");
        let before = store.bytes();
        assert!(
            store.keep("c", big(), limits),
            "keeping an id again replaces it"
        );
        assert_eq!(store.bytes(), before);
    }
}
