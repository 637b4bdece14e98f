//! Live conversations: a CLI process that has just answered a turn, kept running with its
//! stdin open (stream-json input), so that the conversation's next step is one message to a
//! process that already holds the whole conversation in memory, instead of a new process
//! reading a session file. A turn that ended in client tool calls keeps its process too,
//! parked at the calls: the CLI waits for their results (`tools/call` requests of the
//! daemon's tool server, see `claude::tool_server`), and the request that brings them hands
//! them over — the CLI then goes on with one upstream request, no new process per step of
//! an agent loop.
//!
//! A kept process is found by its setup (everything it was started with, the client's tools
//! included), by a digest of the conversation it holds — the normalized turns, its own
//! answer (text and calls) included — and, when parked, by the ids of the calls it waits
//! on. A request whose earlier turns digest to exactly that and that answers exactly those
//! calls (any order of the results) gets the process; anything else (an edited or branched
//! history, a missing, extra or changed result, another model, other tools) never reaches
//! it. A process is taken out while it answers, so two requests for one conversation cannot
//! share it.
//!
//! Each kept process is watched by a task of its own, which ends it after
//! `live_idle_secs` unused, reaps it at once if it exits on its own, and hands it over when
//! it is taken. A kept process holds no concurrency slot while it waits (`max_concurrent`
//! bounds the requests being answered; the step it serves next takes a slot like any
//! request); kept processes are bounded by `live_sessions` and by what `warm_memory_mb`
//! leaves after the warm pool, the oldest going first when the limit is reached. All end on
//! reload and at shutdown.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::pool::WarmKey;
use super::pump::{Answer, CliIo};
use super::workspace::Workspace;
use crate::claude::process::{CliProcess, KillGuard};
use crate::conversation::Attachment;
use crate::translate::plan::RunPlan;
use crate::translate::tool_plan::{self, ToolTurn};

/// The digest of a conversation's turns.
pub type ConversationDigest = [u8; 32];

/// A CLI process between two steps of its conversation.
#[derive(Debug)]
pub struct LiveProcess {
    /// First, so that it drops first: a kept process ends with SIGKILL before its stdin
    /// closes (a process waiting at a tool call would otherwise answer the call with an
    /// error result and send that upstream, spending a request no one reads).
    pub(super) guard: KillGuard,
    /// What it was started with, made comparable ([`WarmKey::setup`]).
    pub(super) setup: WarmKey,
    /// The conversation it holds, its last answer included.
    pub(super) digest: ConversationDigest,
    /// The ids of the tool calls it waits on (parked), in the order of the calls; empty
    /// when its last answer was text.
    pub(super) awaiting: Vec<String>,
    /// Declared before `workspace` so the process ends before its directory is removed.
    pub(super) process: CliProcess,
    pub(super) io: CliIo,
    /// The tail of its stderr, when it ends.
    pub(super) stderr: JoinHandle<String>,
    #[expect(
        dead_code,
        reason = "held: the run directory lives as long as the process"
    )]
    pub(super) workspace: Workspace,
    /// Steps it has answered.
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
    next_id: AtomicU64,
    entries: Mutex<Vec<Entry>>,
}

/// What is known of a kept process without asking its keeper.
#[derive(Debug)]
struct Entry {
    id: u64,
    setup: WarmKey,
    digest: ConversationDigest,
    awaiting: Vec<String>,
    since: Instant,
    /// Sending a reply channel here asks the keeper for the process; dropping it ends the
    /// process.
    handover: oneshot::Sender<oneshot::Sender<LiveProcess>>,
}

/// How many live processes the settings allow: `live_sessions`, within what the memory
/// budget leaves after the warm pool.
pub fn target_size(settings: &crate::config::Settings) -> usize {
    let processes = (settings.warm_memory_mb / super::pool::CLI_PROCESS_MB) as usize;
    let warm = super::pool::target_size(settings);
    settings.live_sessions.min(processes.saturating_sub(warm))
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
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

    /// Kept processes waiting at client tool calls.
    pub fn parked(&self) -> usize {
        self.lock()
            .iter()
            .filter(|e| !e.awaiting.is_empty())
            .count()
    }

    /// Takes the process holding exactly `digest` with `setup` and waiting on exactly the
    /// calls `answered` (none for a new user message), if one is kept and alive.
    pub(super) async fn take(
        &self,
        setup: &WarmKey,
        digest: &ConversationDigest,
        answered: &[&str],
    ) -> Option<LiveProcess> {
        let wanted: HashSet<&str> = answered.iter().copied().collect();
        let entry = {
            let mut entries = self.lock();
            let index = entries.iter().position(|e| {
                &e.digest == digest
                    && &e.setup == setup
                    && e.awaiting.len() == wanted.len()
                    && e.awaiting.iter().all(|id| wanted.contains(id.as_str()))
            })?;
            entries.swap_remove(index)
        };
        let (reply, process) = oneshot::channel();
        // The keeper is gone when the process ended (exit, expiry) just now.
        entry.handover.send(reply).ok()?;
        process.await.ok()
    }

    /// Keeps `process` for its conversation's next step; the oldest kept one goes when the
    /// limit is reached. Dropped (ended) when conversations are not kept.
    pub(super) fn put(&self, process: LiveProcess) {
        let max = self.inner.max.load(Ordering::SeqCst);
        if max == 0 {
            return;
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
        let (handover, requests) = oneshot::channel();
        let entry = Entry {
            id,
            setup: process.setup.clone(),
            digest: process.digest,
            awaiting: process.awaiting.clone(),
            since: Instant::now(),
            handover,
        };
        let evicted: Vec<Entry> = {
            let mut entries = self.lock();
            let mut evicted = Vec::new();
            while entries.len() >= max {
                match oldest(&entries) {
                    Some(i) => evicted.push(entries.swap_remove(i)),
                    None => break,
                }
            }
            entries.push(entry);
            evicted
        };
        if !evicted.is_empty() {
            tracing::debug!(count = evicted.len(), "live claude CLI processes evicted");
        }
        drop(evicted);
        tokio::spawn(keep(self.clone(), id, process, requests, self.idle()));
    }

    /// Ends every kept process.
    pub fn clear(&self) {
        let drained: Vec<Entry> = self.lock().drain(..).collect();
        drop(drained);
    }

    /// Ends every kept process and keeps no more (shutdown).
    pub fn close(&self) {
        self.inner.max.store(0, Ordering::SeqCst);
        self.clear();
    }

    /// Forgets entry `id` (its keeper ends the process).
    fn forget(&self, id: u64) {
        let removed = {
            let mut entries = self.lock();
            entries
                .iter()
                .position(|e| e.id == id)
                .map(|i| entries.swap_remove(i))
        };
        drop(removed);
    }
}

/// The keeper of one kept process: hands it over when asked, ends it when its entry is
/// dropped (evicted, cleared), when it has idled for `idle`, or reaps it as soon as it exits
/// on its own (it then stops counting at once).
async fn keep(
    sessions: LiveSessions,
    id: u64,
    mut process: LiveProcess,
    requests: oneshot::Receiver<oneshot::Sender<LiveProcess>>,
    idle: Duration,
) {
    tokio::select! {
        request = requests => match request {
            Ok(reply) => {
                // A taker that gave up drops the process: it ends.
                let _ = reply.send(process);
            }
            Err(_) => tracing::debug!("a kept claude CLI process was let go"),
        },
        _ = process.process.exited() => {
            sessions.forget(id);
            tracing::info!(
                turns = process.turns,
                "a kept claude CLI process exited on its own; its conversation's next step \
                 starts a new one"
            );
        }
        _ = tokio::time::sleep(idle) => {
            sessions.forget(id);
            tracing::debug!(
                parked = !process.awaiting.is_empty(),
                "a kept claude CLI process idled for live_idle_secs and was ended"
            );
        }
    }
}

fn oldest(entries: &[Entry]) -> Option<usize> {
    entries
        .iter()
        .enumerate()
        .min_by_key(|(_, e)| e.since)
        .map(|(i, _)| i)
}

/// One turn of a conversation as digested: who spoke, what, with which attachments, calls
/// and results.
#[derive(Clone, Copy)]
enum Step<'a> {
    User(&'a str, &'a [Attachment]),
    Assistant(&'a str, &'a [(String, String, serde_json::Value)]),
    Results(&'a [(String, crate::conversation::ToolOutput)], &'a str),
}

/// The digest of a conversation: each step's kind and contents, in order, lengths first.
fn digest_steps<'a>(steps: impl IntoIterator<Item = Step<'a>>) -> ConversationDigest {
    let mut hash = Sha256::new();
    let field = |hash: &mut Sha256, bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    for step in steps {
        match step {
            Step::User(text, attachments) => {
                hash.update(b"U");
                field(&mut hash, text.as_bytes());
                hash.update((attachments.len() as u64).to_le_bytes());
                for attachment in attachments {
                    field(&mut hash, attachment.to_block().to_string().as_bytes());
                }
            }
            Step::Assistant(text, calls) => {
                hash.update(b"A");
                field(&mut hash, text.as_bytes());
                hash.update((calls.len() as u64).to_le_bytes());
                for (id, name, input) in calls {
                    field(&mut hash, id.as_bytes());
                    field(&mut hash, name.as_bytes());
                    field(&mut hash, canonical_json(input).as_bytes());
                }
            }
            Step::Results(results, text) => {
                hash.update(b"R");
                hash.update((results.len() as u64).to_le_bytes());
                for (id, output) in results {
                    field(&mut hash, id.as_bytes());
                    field(&mut hash, &output.digest_bytes());
                }
                field(&mut hash, text.as_bytes());
            }
        }
    }
    hash.finalize().into()
}

/// JSON with object keys sorted at every level, so that the same arguments digest alike
/// however a client re-serialized them.
fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

fn tool_step(turn: &ToolTurn) -> Step<'_> {
    match turn {
        ToolTurn::User { text, attachments } => Step::User(text, attachments),
        ToolTurn::Assistant { text, calls } => Step::Assistant(text, calls),
        ToolTurn::Results { results, text } => Step::Results(results, text),
    }
}

/// The earlier turns of `plan` (for a request that ends in tool results: up to the
/// assistant turn whose calls they answer).
fn earlier_steps(plan: &RunPlan) -> Vec<Step<'_>> {
    if let Some(tools) = &plan.tools {
        return tools.turns.iter().map(tool_step).collect();
    }
    plan.history
        .iter()
        .enumerate()
        .map(|(i, (speaker, text))| {
            let attachments = plan
                .history_attachments
                .get(i)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            match speaker {
                crate::claude::session::Speaker::User => Step::User(text, attachments),
                crate::claude::session::Speaker::Assistant => Step::Assistant(text, &[]),
            }
        })
        .collect()
}

/// The digest of the earlier turns of `plan`: what a kept process must hold to answer it.
pub fn digest_before(plan: &RunPlan) -> ConversationDigest {
    digest_steps(earlier_steps(plan))
}

/// The digest of `plan`'s conversation once the process answered it with `answer`.
pub fn digest_after(plan: &RunPlan, answer: &Answer) -> ConversationDigest {
    let mut steps = earlier_steps(plan);
    let ending = plan.tools.as_ref().and_then(|t| t.results.as_ref());
    match ending {
        Some(results) => steps.push(Step::Results(&results.outputs, "")),
        None => steps.push(Step::User(&plan.prompt, &plan.prompt_attachments)),
    }
    let answered = match &plan.tools {
        Some(_) => tool_plan::assistant_turn(
            &answer.text,
            answer
                .calls
                .iter()
                .map(|(id, name, args)| (id.as_str(), name.as_str(), args.as_str())),
        ),
        None => ToolTurn::Assistant {
            text: answer.text.clone(),
            calls: Vec::new(),
        },
    };
    steps.push(tool_step(&answered));
    digest_steps(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::chat::parse_chat_request;
    use crate::translate::plan::plan;

    fn plan_of(json: &str) -> RunPlan {
        plan(&parse_chat_request(json.as_bytes()).unwrap(), "opus")
    }

    #[test]
    fn the_next_turn_of_the_same_conversation_matches_and_an_edit_does_not() {
        let first =
            plan_of(r#"{"model":"m","messages":[{"role":"user","content":"Hi, I am Bob."}]}"#);
        let after = digest_after(&first, &Answer::text("Hello Bob."));
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
