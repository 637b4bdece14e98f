//! The Responses API's memory: recent answers kept with the conversation that led to them,
//! so that a request with `previous_response_id` continues it and `GET /v1/responses/{id}`
//! shows it again. Bounded by count (the oldest goes first) and by age; nothing is written to
//! disk; `DELETE /v1/responses/{id}` forgets one.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::openai::Message;

/// A kept answer: the whole conversation up to and including it (the request's
/// `instructions` not among it: they do not carry over).
#[derive(Clone, Debug)]
pub struct Kept {
    pub messages: Vec<Message>,
    /// The response object as the client was given it.
    pub response: Value,
    at: Instant,
}

/// Recent answers by response id.
#[derive(Debug, Default)]
pub struct ResponseStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, Kept>,
    /// Ids, oldest first.
    order: VecDeque<String>,
}

impl ResponseStore {
    pub fn new() -> ResponseStore {
        ResponseStore::default()
    }

    /// Keeps `messages` as the conversation of `response` (whose id is `id`); at most `max`
    /// are kept.
    pub fn keep(&self, id: &str, messages: Vec<Message>, response: Value, max: usize) {
        if max == 0 {
            return;
        }
        let mut inner = self.lock();
        while inner.order.len() >= max {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.by_id.remove(&old);
                }
                None => break,
            }
        }
        inner.order.push_back(id.to_string());
        inner.by_id.insert(
            id.to_string(),
            Kept {
                messages,
                response,
                at: Instant::now(),
            },
        );
    }

    /// The conversation of response `id`, if it is kept and younger than `max_age`.
    pub fn get(&self, id: &str, max_age: Duration) -> Option<Vec<Message>> {
        self.read(id, max_age, |kept| kept.messages.clone())
    }

    /// The response object `id`, if it is kept and younger than `max_age`.
    pub fn response(&self, id: &str, max_age: Duration) -> Option<Value> {
        self.read(id, max_age, |kept| kept.response.clone())
    }

    /// Forgets response `id`; whether it was kept (and younger than `max_age`).
    pub fn remove(&self, id: &str, max_age: Duration) -> bool {
        let mut inner = self.lock();
        let fresh = inner
            .by_id
            .remove(id)
            .is_some_and(|kept| kept.at.elapsed() <= max_age);
        inner.order.retain(|kept| kept != id);
        fresh
    }

    fn read<T>(&self, id: &str, max_age: Duration, part: impl FnOnce(&Kept) -> T) -> Option<T> {
        let mut inner = self.lock();
        let fresh = inner
            .by_id
            .get(id)
            .map(|kept| kept.at.elapsed() <= max_age)?;
        if !fresh {
            inner.by_id.remove(id);
            inner.order.retain(|kept| kept != id);
            return None;
        }
        inner.by_id.get(id).map(part)
    }

    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::Role;

    fn said(text: &str) -> Vec<Message> {
        vec![Message {
            role: Role::User,
            text: text.into(),
            images: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }]
    }

    #[test]
    fn keeps_the_newest_within_count_and_age() {
        let store = ResponseStore::new();
        let hour = Duration::from_secs(3600);
        store.keep("a", said("one"), Value::Null, 2);
        store.keep("b", said("two"), Value::Null, 2);
        store.keep("c", said("three"), serde_json::json!({"id": "c"}), 2);
        assert!(store.get("a", hour).is_none(), "the oldest went first");
        assert_eq!(store.get("c", hour).unwrap()[0].text, "three");
        assert_eq!(store.response("c", hour).unwrap()["id"], "c");
        assert_eq!(store.len(), 2);
        assert!(store.get("b", Duration::ZERO).is_none(), "too old");
        assert_eq!(store.len(), 1);
        store.keep("d", said("x"), Value::Null, 0);
        assert!(store.get("d", hour).is_none(), "0 keeps nothing");
        assert!(store.remove("c", hour), "c was kept");
        assert!(!store.remove("c", hour), "and is gone");
        assert!(store.response("c", hour).is_none());
        assert!(store.is_empty());
    }
}
