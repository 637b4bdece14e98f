//! Live conversations: a CLI process that has just answered a turn, kept running with its
//! stdin open (stream-json input), so that the conversation's next turn is one message line
//! to a process that already holds the whole conversation in memory, instead of a new
//! process reading a session file.
//!
//! A kept process is found by its setup (everything it was started with) and by a digest
//! of the conversation it holds: the normalized turns, its own answer included. A request
//! whose earlier turns digest to exactly that — the same conversation, continued by the
//! same client with the answer it was given — gets the process; anything else (an edited
//! or branched history, another model or system prompt, tools) never reaches it. A process
//! is taken out while it answers, so two requests for one conversation cannot share it.
//!
//! Kept processes hold their concurrency permit (they are CLI processes in memory) and are
//! bounded by `live_sessions` and by what `warm_memory_mb` leaves after the warm pool; the
//! oldest goes first when the limit is reached or a new request needs the slot. They end
//! after `live_idle_secs` unused, on reload and at shutdown.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::BufReader;
use tokio::process::{ChildStdin, ChildStdout};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::limiter::RunPermit;
use super::pool::WarmKey;
use super::workspace::Workspace;
use crate::claude::process::CliProcess;
use crate::claude::session::Speaker;
use crate::config::Settings;
use crate::openai::Attachment;
use crate::translate::plan::RunPlan;

/// The digest of a conversation's turns.
pub type ConversationDigest = [u8; 32];

/// A CLI process between two turns of its conversation.
#[derive(Debug)]
pub struct LiveProcess {
    /// What it was started with, made comparable ([`WarmKey::setup`]).
    pub(super) setup: WarmKey,
    /// The conversation it holds, its last answer included.
    pub(super) digest: ConversationDigest,
    /// Declared before `workspace` so the process ends before its directory is removed.
    pub(super) process: CliProcess,
    pub(super) stdin: ChildStdin,
    pub(super) stdout: BufReader<ChildStdout>,
    /// The tail of its stderr, when it ends.
    pub(super) stderr: JoinHandle<String>,
    #[expect(
        dead_code,
        reason = "held: the run directory lives as long as the process"
    )]
    pub(super) workspace: Workspace,
    #[expect(
        dead_code,
        reason = "held: a kept process counts against max_concurrent"
    )]
    pub(super) permit: RunPermit,
    pub(super) idle_since: Instant,
    /// Turns it has answered.
    pub(super) turns: u32,
}

/// The kept processes.
#[derive(Debug, Clone, Default)]
pub struct LiveSessions {
    inner: Arc<LiveInner>,
}

#[derive(Debug, Default)]
struct LiveInner {
    max: AtomicUsize,
    idle_ms: AtomicU64,
    entries: Mutex<Vec<LiveProcess>>,
}

/// How many live processes the settings allow: `live_sessions`, within what the memory
/// budget leaves after the warm pool, and leaving one slot for new conversations.
pub fn target_size(settings: &Settings) -> usize {
    let processes = (settings.warm_memory_mb / super::pool::CLI_PROCESS_MB) as usize;
    let warm = super::pool::target_size(settings);
    settings
        .live_sessions
        .min(processes.saturating_sub(warm))
        .min(settings.max_concurrent.saturating_sub(1 + warm))
}

impl LiveSessions {
    pub fn new(max: usize, idle: Duration) -> LiveSessions {
        let live = LiveSessions::default();
        live.reconfigure(max, idle);
        live
    }

    /// New limits (reload): every kept process ends (its setup may be stale).
    pub fn reconfigure(&self, max: usize, idle: Duration) {
        self.inner.max.store(max, Ordering::SeqCst);
        self.inner
            .idle_ms
            .store(idle.as_millis() as u64, Ordering::SeqCst);
        self.clear();
    }

    /// Whether conversations are kept at all.
    pub fn enabled(&self) -> bool {
        self.inner.max.load(Ordering::SeqCst) > 0
    }

    fn idle(&self) -> Duration {
        Duration::from_millis(self.inner.idle_ms.load(Ordering::SeqCst))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LiveProcess>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Kept processes right now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the process holding exactly `digest` with `setup`, if one is kept and alive.
    pub(super) fn take(&self, setup: &WarmKey, digest: &ConversationDigest) -> Option<LiveProcess> {
        let idle = self.idle();
        let mut entries = self.lock();
        entries.retain_mut(|p| p.process.is_running() && p.idle_since.elapsed() < idle);
        let index = entries
            .iter()
            .position(|p| &p.digest == digest && &p.setup == setup)?;
        Some(entries.swap_remove(index))
    }

    /// Keeps `process` for its conversation's next turn; the oldest kept one goes when the
    /// limit is reached. Dropped (ended) when conversations are not kept.
    pub(super) fn put(&self, mut process: LiveProcess) {
        let max = self.inner.max.load(Ordering::SeqCst);
        if max == 0 {
            return;
        }
        process.idle_since = Instant::now();
        let evicted: Vec<LiveProcess> = {
            let mut entries = self.lock();
            let mut evicted = Vec::new();
            while entries.len() >= max {
                match oldest(&entries) {
                    Some(i) => evicted.push(entries.swap_remove(i)),
                    None => break,
                }
            }
            entries.push(process);
            evicted
        };
        if !evicted.is_empty() {
            tracing::debug!(count = evicted.len(), "live claude CLI processes evicted");
        }
        drop(evicted);
        self.schedule_expiry();
    }

    /// Ends the oldest kept process (its slot is needed); whether there was one.
    pub fn evict_oldest(&self) -> bool {
        let evicted = {
            let mut entries = self.lock();
            oldest(&entries).map(|i| entries.swap_remove(i))
        };
        evicted.is_some()
    }

    /// Ends every kept process.
    pub fn clear(&self) {
        let drained: Vec<LiveProcess> = self.lock().drain(..).collect();
        drop(drained);
    }

    /// Ends every kept process and keeps no more (shutdown).
    pub fn close(&self) {
        self.inner.max.store(0, Ordering::SeqCst);
        self.clear();
    }

    /// Ends processes unused for `live_idle_secs`, once that has passed.
    fn schedule_expiry(&self) {
        let live = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(live.idle()).await;
            let idle = live.idle();
            let expired: Vec<LiveProcess> = {
                let mut entries = live.lock();
                let (old, young): (Vec<_>, Vec<_>) = entries
                    .drain(..)
                    .partition(|p| p.idle_since.elapsed() >= idle);
                *entries = young;
                old
            };
            if !expired.is_empty() {
                tracing::debug!(count = expired.len(), "live claude CLI processes expired");
            }
        });
    }
}

fn oldest(entries: &[LiveProcess]) -> Option<usize> {
    entries
        .iter()
        .enumerate()
        .min_by_key(|(_, p)| p.idle_since)
        .map(|(i, _)| i)
}

/// The digest of a conversation: each turn's speaker, text and attachments, in order.
pub fn digest_turns<'a>(
    turns: impl IntoIterator<Item = (Speaker, &'a str, &'a [Attachment])>,
) -> ConversationDigest {
    let mut hash = Sha256::new();
    for (speaker, text, attachments) in turns {
        hash.update(match speaker {
            Speaker::User => b"U",
            Speaker::Assistant => b"A",
        });
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
        hash.update((attachments.len() as u64).to_le_bytes());
        for attachment in attachments {
            let block = attachment.to_block().to_string();
            hash.update((block.len() as u64).to_le_bytes());
            hash.update(block.as_bytes());
        }
    }
    hash.finalize().into()
}

/// The earlier turns of `plan`, each with its attachments.
fn earlier_turns(plan: &RunPlan) -> impl Iterator<Item = (Speaker, &str, &[Attachment])> {
    plan.history.iter().enumerate().map(|(i, (speaker, text))| {
        let attachments = plan
            .history_attachments
            .get(i)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        (*speaker, text.as_str(), attachments)
    })
}

/// The digest of the earlier turns of `plan`: what a kept process must hold to answer it.
pub fn digest_before(plan: &RunPlan) -> ConversationDigest {
    digest_turns(earlier_turns(plan))
}

/// The digest of `plan`'s conversation once the process answered it with `answer`.
pub fn digest_after(plan: &RunPlan, answer: &str) -> ConversationDigest {
    let earlier = earlier_turns(plan);
    let this_turn = [
        (
            Speaker::User,
            plan.prompt.as_str(),
            plan.prompt_attachments.as_slice(),
        ),
        (Speaker::Assistant, answer, &[][..]),
    ];
    digest_turns(earlier.chain(this_turn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::parse_chat_request;
    use crate::translate::plan::plan;

    fn plan_of(json: &str) -> RunPlan {
        plan(&parse_chat_request(json.as_bytes()).unwrap(), "opus")
    }

    #[test]
    fn the_next_turn_of_the_same_conversation_matches_and_an_edit_does_not() {
        let first =
            plan_of(r#"{"model":"m","messages":[{"role":"user","content":"Hi, I am Bob."}]}"#);
        let after = digest_after(&first, "Hello Bob.");
        let next = plan_of(
            r#"{"model":"m","messages":[{"role":"user","content":"Hi, I am Bob."},
            {"role":"assistant","content":"Hello Bob."},{"role":"user","content":"Who am I?"}]}"#,
        );
        assert_eq!(digest_before(&next), after);
        let edited = plan_of(
            r#"{"model":"m","messages":[{"role":"user","content":"Hi, I am Rob."},
            {"role":"assistant","content":"Hello Bob."},{"role":"user","content":"Who am I?"}]}"#,
        );
        assert_ne!(digest_before(&edited), after);
        let other_answer = plan_of(
            r#"{"model":"m","messages":[{"role":"user","content":"Hi, I am Bob."},
            {"role":"assistant","content":"Hello, Bob."},{"role":"user","content":"Who am I?"}]}"#,
        );
        assert_ne!(digest_before(&other_answer), after);
    }
}
