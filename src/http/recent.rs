//! The last requests, for the status page: what the log line says (id, endpoint, model,
//! status, outcome, timings, tokens), never prompt text. Bounded.

use std::collections::VecDeque;
use std::sync::Mutex;

/// How many requests are kept.
const KEPT: usize = 50;

/// One finished request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestRecord {
    pub id: String,
    pub endpoint: &'static str,
    pub model: String,
    pub status: u16,
    pub outcome: &'static str,
    pub overage: bool,
    /// `cold`, `warm` or empty (no CLI ran).
    pub served: &'static str,
    pub ttft_ms: Option<u64>,
    pub duration_ms: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Unix seconds.
    pub ended_at: i64,
}

/// The last [`KEPT`] requests, newest last.
#[derive(Debug, Default)]
pub struct RecentRequests {
    records: Mutex<VecDeque<RequestRecord>>,
}

impl RecentRequests {
    pub fn push(&self, record: RequestRecord) {
        let mut records = match self.records.lock() {
            Ok(records) => records,
            Err(poisoned) => poisoned.into_inner(),
        };
        if records.len() == KEPT {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// Newest first.
    pub fn newest_first(&self) -> Vec<RequestRecord> {
        match self.records.lock() {
            Ok(records) => records.iter().rev().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().iter().rev().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_ones_newest_first() {
        let recent = RecentRequests::default();
        for i in 0..(KEPT + 5) {
            recent.push(RequestRecord {
                id: i.to_string(),
                ..RequestRecord::default()
            });
        }
        let records = recent.newest_first();
        assert_eq!(records.len(), KEPT);
        assert_eq!(records[0].id, (KEPT + 4).to_string());
        assert_eq!(records[KEPT - 1].id, "5");
    }
}
