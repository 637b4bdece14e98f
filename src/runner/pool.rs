//! The warm pool: CLI processes started ahead of time for the new conversations of the setup
//! used last (CLI, model, system prompt, generation controls, client tools, login token), so
//! the next new conversation with that setup skips the CLI's cold start.
//!
//! What the CLI allows (measured with 2.1.332): a pre-started process waits for its prompt on
//! stdin; the system prompt file and flags are read at start, so they are part of the key. A
//! new conversation's process takes its prompt as a stream-json message
//! ([`WarmKey::warm_variant`]): it finishes its whole start before the prompt arrives, and
//! waits for it as long as it takes. A later turn is never started ahead
//! ([`WarmKey::can_be_warm`]): a stream-json process reads its session at start, before the
//! session file could be written, and a `-p` process gives up on stdin that brings no data
//! within 3 s ("no stdin data received in 3s") and exits with an error, so one started ahead
//! would be dead before most next turns (and one taken just then would fail the request).
//! Later turns are what live conversations ([`super::live`]) serve.
//! A process serves one request only. Warm processes hold concurrency permits like running
//! ones, are bounded by `warm` and `warm_memory_mb`, expire after `warm_idle_secs`, and are
//! dropped (their process groups ended) when another setup needs the slot, on reload and at
//! shutdown.
//!
//! The pool lives as long as the daemon. Each reload starts a new generation: the pool is
//! emptied and a process started for an earlier generation (a refill still under way) is
//! refused by [`WarmPool::put`] and ended at once instead of idling unused.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::Prepared;
use crate::config::Settings;
use crate::conversation::Effort;

/// Memory one CLI process is counted at: measured with 2.1.332 (RSS) 180 MB started and
/// idle, 196 MB waiting at its first tool call, 223 MB after ten tool steps of one
/// conversation; rounded up.
pub(super) const CLI_PROCESS_MB: u64 = 250;

/// How many warm processes the settings allow.
pub fn target_size(settings: &Settings) -> usize {
    let by_memory = (settings.warm_memory_mb / CLI_PROCESS_MB) as usize;
    settings
        .warm
        .min(by_memory)
        .min(settings.max_concurrent.saturating_sub(1))
}

/// Everything a pre-started process is committed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmKey {
    cli: PathBuf,
    model_arg: String,
    system_prompt: Option<String>,
    resume: bool,
    /// A digest of the login token the process was started with (never the token).
    token_digest: Option<[u8; 32]>,
    /// The configuration generation the process was started for.
    generation: u64,
    /// `CLAUDE_CODE_MAX_OUTPUT_TOKENS` and `--effort`: read by the CLI at start.
    controls: StartControls,
}

/// The generation controls a CLI process is started with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartControls {
    pub max_output_tokens: Option<u32>,
    pub effort: Option<Effort>,
    /// `--thinking adaptive` (else `disabled`).
    pub thinking: bool,
    /// `--json-schema` (compact JSON).
    pub json_schema: Option<String>,
    /// `--input-format stream-json`: every run but a cold tool continuation (which has no
    /// prompt and takes `-p` text).
    pub stream_input: bool,
    /// The client's tools as their MCP server lists them (JSON), for tool conversations.
    pub tools: Option<String>,
}

impl WarmKey {
    /// The setup alone, for comparing a live process's start with a request's: whether it
    /// was started for a first or a later turn does not matter once it runs.
    pub fn setup(&self) -> WarmKey {
        let mut key = self.clone();
        key.resume = false;
        key.controls.stream_input = true;
        key
    }

    /// Whether the process reads its session file at start (stream-json input, client
    /// tools): then the file must exist before it starts, and it cannot be started ahead.
    pub fn reads_session_at_start(&self) -> bool {
        self.resume && (self.controls.stream_input || self.controls.tools.is_some())
    }

    /// Whether such a process can be started ahead: only for a new conversation (see the
    /// module docs for why a later turn cannot). A new conversation with client tools can:
    /// its tool list is part of the key and its stub starts with it.
    pub fn can_be_warm(&self) -> bool {
        !self.resume
    }

    /// The key a pre-started process for this setup is kept under: a new conversation's
    /// process takes its prompt as a stream-json message, so that it finishes its whole
    /// start (MCP, tools, `system/init`) before the prompt arrives (measured: its first
    /// token comes several times sooner than a pre-started `-p` process's) and waits for
    /// it without a time limit.
    pub fn warm_variant(&self) -> WarmKey {
        let mut key = self.clone();
        key.controls.stream_input = true;
        key
    }
}

impl WarmKey {
    pub fn new(
        cli: &Path,
        model_arg: &str,
        system_prompt: Option<&str>,
        resume: bool,
        token: Option<&str>,
        generation: u64,
        controls: StartControls,
    ) -> WarmKey {
        WarmKey {
            cli: cli.to_path_buf(),
            model_arg: model_arg.to_string(),
            system_prompt: system_prompt.map(str::to_string),
            resume,
            token_digest: token.map(|t| Sha256::digest(t.as_bytes()).into()),
            generation,
            controls,
        }
    }

    pub fn controls(&self) -> &StartControls {
        &self.controls
    }

    pub fn model_arg(&self) -> &str {
        &self.model_arg
    }

    pub fn system_prompt(&self) -> Option<&str> {
        self.system_prompt.as_deref()
    }

    pub fn resumes(&self) -> bool {
        self.resume
    }
}

#[derive(Debug, Clone)]
pub struct WarmPool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    target: AtomicUsize,
    idle_ms: AtomicU64,
    /// The configuration generation whose processes are welcome.
    generation: AtomicU64,
    entries: Mutex<Vec<Prepared>>,
}

impl WarmPool {
    pub fn new(target: usize, idle: Duration) -> WarmPool {
        WarmPool {
            inner: Arc::new(PoolInner {
                target: AtomicUsize::new(target),
                idle_ms: AtomicU64::new(idle.as_millis() as u64),
                generation: AtomicU64::new(0),
                entries: Mutex::new(Vec::new()),
            }),
        }
    }

    /// How many processes to keep warm.
    pub fn target(&self) -> usize {
        self.inner.target.load(Ordering::SeqCst)
    }

    fn idle(&self) -> Duration {
        Duration::from_millis(self.inner.idle_ms.load(Ordering::SeqCst))
    }

    /// The generation new keys must carry.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// Starts a new generation with new limits (reload): every warm process is ended and
    /// refills still under way for the old one are refused.
    pub fn reconfigure(&self, target: usize, idle: Duration) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.target.store(target, Ordering::SeqCst);
        self.inner
            .idle_ms
            .store(idle.as_millis() as u64, Ordering::SeqCst);
        self.clear();
    }

    /// Ends every warm process and refuses new ones for good (shutdown).
    pub fn close(&self) {
        self.inner.target.store(0, Ordering::SeqCst);
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        self.clear();
    }

    /// Warm processes right now.
    pub fn len(&self) -> usize {
        self.inner.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn count(&self, key: &WarmKey) -> usize {
        self.inner
            .entries
            .lock()
            .map(|e| e.iter().filter(|p| &p.key == key).count())
            .unwrap_or(0)
    }

    /// Takes a live, unexpired process for `key`.
    pub fn take(&self, key: &WarmKey) -> Option<Prepared> {
        let idle = self.idle();
        let mut entries = self.inner.entries.lock().ok()?;
        entries.retain_mut(|p| p.is_alive() && p.born.elapsed() < idle);
        let index = entries.iter().position(|p| &p.key == key)?;
        Some(entries.swap_remove(index))
    }

    /// Adds a process; false (and the process is dropped) when the pool is full or closed.
    pub fn put(&self, prepared: Prepared) -> bool {
        if prepared.key.generation != self.generation() {
            return false;
        }
        let target = self.target();
        let Ok(mut entries) = self.inner.entries.lock() else {
            return false;
        };
        if entries.len() >= target {
            return false;
        }
        entries.push(prepared);
        true
    }

    /// Drops processes for any other setup (only the last one used is kept warm).
    pub fn retain_key(&self, key: &WarmKey) {
        if let Ok(mut entries) = self.inner.entries.lock() {
            entries.retain(|p| &p.key == key);
        }
    }

    /// Ends every warm process.
    pub fn clear(&self) {
        let drained: Vec<Prepared> = match self.inner.entries.lock() {
            Ok(mut entries) => entries.drain(..).collect(),
            Err(_) => return,
        };
        drop(drained);
    }

    /// Removes expired processes once `idle` has passed.
    pub fn schedule_expiry(&self) {
        let pool = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(pool.idle()).await;
            let idle = pool.idle();
            let expired: Vec<Prepared> = match pool.inner.entries.lock() {
                Ok(mut entries) => {
                    let (old, young): (Vec<_>, Vec<_>) =
                        entries.drain(..).partition(|p| p.born.elapsed() >= idle);
                    *entries = young;
                    old
                }
                Err(_) => return,
            };
            if !expired.is_empty() {
                tracing::debug!(count = expired.len(), "warm claude CLI processes expired");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key that differs from the base (`/c`, opus, "s", single-turn, token "t",
    /// generation 0, no controls) where `change` says.
    fn key(
        change: impl FnOnce(&mut (&str, Option<&str>, bool, &str, u64, StartControls)),
    ) -> WarmKey {
        let mut parts = ("opus", Some("s"), false, "t", 0, StartControls::default());
        change(&mut parts);
        let (model, system, resume, token, generation, controls) = parts;
        WarmKey::new(
            Path::new("/c"),
            model,
            system,
            resume,
            Some(token),
            generation,
            controls,
        )
    }

    #[test]
    fn key_depends_on_everything_the_process_is_started_with() {
        let base = key(|_| {});
        assert_eq!(base, key(|_| {}));
        assert_ne!(base, key(|k| k.0 = "sonnet"));
        assert_ne!(base, key(|k| k.1 = None));
        assert_ne!(base, key(|k| k.2 = true));
        assert_ne!(base, key(|k| k.3 = "u"));
        assert_ne!(base, key(|k| k.4 = 1));
        assert_ne!(base, key(|k| k.5.max_output_tokens = Some(77)));
        assert_ne!(base, key(|k| k.5.tools = Some("[]".into())));
        let images_later_turn = key(|k| {
            k.2 = true;
            k.5.stream_input = true
        });
        assert!(images_later_turn.reads_session_at_start());
        assert!(!images_later_turn.can_be_warm());
        assert!(
            !key(|k| k.2 = true).can_be_warm(),
            "a -p process started ahead would give up on its stdin after 3 s"
        );
        let new_conversation = key(|_| {});
        assert!(new_conversation.warm_variant().controls().stream_input);
        assert!(new_conversation.warm_variant().can_be_warm());
        assert!(!format!("{base:?}").contains("\"t\""));
    }

    #[test]
    fn size_respects_memory_and_concurrency() {
        let mut settings = Settings {
            warm: 4,
            warm_memory_mb: 700,
            max_concurrent: 8,
            ..Settings::default()
        };
        assert_eq!(target_size(&settings), 2);
        settings.max_concurrent = 1;
        assert_eq!(target_size(&settings), 0, "never the only slot");
        settings.max_concurrent = 4;
        settings.warm = 0;
        assert_eq!(target_size(&settings), 0);
    }
}
