//! The warm pool: CLI processes started ahead of time for the setup used last (CLI, model,
//! system prompt, single- or multi-turn, login token), so the next request with that setup
//! skips the CLI's ~0.4–0.6 s cold start.
//!
//! What the CLI allows (measured with 2.1.332): in `-p` mode a pre-started process waits for
//! its prompt on stdin; the system prompt file is read at start, so it is part of the key;
//! `--resume <id>` reads the session file when stdin closes, so a multi-turn process is
//! started with a fresh session id and its file is written just before the prompt.
//! A process serves one request only. Warm processes hold concurrency permits like running
//! ones, are bounded by `warm` and `warm_memory_mb`, expire after `warm_idle_secs`, and are
//! dropped (their process groups ended) when another setup needs the slot, on reload and at
//! shutdown.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::Prepared;
use crate::config::Settings;

/// Memory one CLI process needs (measured peak RSS 200–300 MB).
const CLI_PROCESS_MB: u64 = 300;

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
}

impl WarmKey {
    pub fn new(
        cli: &Path,
        model_arg: &str,
        system_prompt: Option<&str>,
        resume: bool,
        token: Option<&str>,
    ) -> WarmKey {
        WarmKey {
            cli: cli.to_path_buf(),
            model_arg: model_arg.to_string(),
            system_prompt: system_prompt.map(str::to_string),
            resume,
            token_digest: token.map(|t| Sha256::digest(t.as_bytes()).into()),
        }
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
    target: usize,
    idle: Duration,
    entries: Arc<Mutex<Vec<Prepared>>>,
}

impl WarmPool {
    pub fn new(target: usize, idle: Duration) -> WarmPool {
        WarmPool {
            target,
            idle,
            entries: Arc::default(),
        }
    }

    /// How many processes to keep warm.
    pub fn target(&self) -> usize {
        self.target
    }

    /// Warm processes right now.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn count(&self, key: &WarmKey) -> usize {
        self.entries
            .lock()
            .map(|e| e.iter().filter(|p| &p.key == key).count())
            .unwrap_or(0)
    }

    /// Takes a live, unexpired process for `key`.
    pub fn take(&self, key: &WarmKey) -> Option<Prepared> {
        let mut entries = self.entries.lock().ok()?;
        let idle = self.idle;
        entries.retain_mut(|p| p.is_alive() && p.born.elapsed() < idle);
        let index = entries.iter().position(|p| &p.key == key)?;
        Some(entries.swap_remove(index))
    }

    /// Adds a process; false (and the process is dropped) when the pool is full or closed.
    pub fn put(&self, prepared: Prepared) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        if entries.len() >= self.target {
            return false;
        }
        entries.push(prepared);
        true
    }

    /// Drops processes for any other setup (only the last one used is kept warm).
    pub fn retain_key(&self, key: &WarmKey) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|p| &p.key == key);
        }
    }

    /// Ends every warm process.
    pub fn clear(&self) {
        let drained: Vec<Prepared> = match self.entries.lock() {
            Ok(mut entries) => entries.drain(..).collect(),
            Err(_) => return,
        };
        drop(drained);
    }

    /// Removes expired processes once `idle` has passed.
    pub fn schedule_expiry(&self) {
        let pool = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(pool.idle).await;
            let expired: Vec<Prepared> = match pool.entries.lock() {
                Ok(mut entries) => {
                    let idle = pool.idle;
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

    #[test]
    fn key_depends_on_everything_the_process_is_started_with() {
        let base = WarmKey::new(Path::new("/c"), "opus", Some("s"), false, Some("t"));
        assert_eq!(
            base,
            WarmKey::new(Path::new("/c"), "opus", Some("s"), false, Some("t"))
        );
        assert_ne!(
            base,
            WarmKey::new(Path::new("/c"), "sonnet", Some("s"), false, Some("t"))
        );
        assert_ne!(
            base,
            WarmKey::new(Path::new("/c"), "opus", None, false, Some("t"))
        );
        assert_ne!(
            base,
            WarmKey::new(Path::new("/c"), "opus", Some("s"), true, Some("t"))
        );
        assert_ne!(
            base,
            WarmKey::new(Path::new("/c"), "opus", Some("s"), false, Some("u"))
        );
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
