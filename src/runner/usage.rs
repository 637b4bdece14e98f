//! Asking the CLI for the plan's usage windows (`get_usage`) without spending a request: a
//! short-lived CLI process of its own, started without
//! `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC` (with it, the CLI answers from its cache), with
//! the same credentials as request runs. It gets one control request and no user message,
//! so it sends no model request; the CLI fetches the numbers from Anthropic itself — the
//! daemon does not.
//!
//! When: once at start, then whenever something wants the quota ([`Backend::usage_wanted`]:
//! a read of /health, /, /metrics or `status`, a request refused for the limit) and the last
//! ask is older than `quota_refresh_secs` (0: never). One background task asks, one ask at
//! a time, so reads never wait and never start more than one process. The process is not
//! counted against `max_concurrent` and never waits for a slot (it lives about a second);
//! it runs in its own process group like every CLI run, registered for shutdown, bounded by
//! [`ANSWER_TIMEOUT`] and ended when it is over. In API-key mode nothing is asked (no plan
//! applies).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::io::{read_line, read_tail};
use super::{Backend, sweep};
use crate::claude::command::{self, UsageSpec};
use crate::claude::process::CliProcess;
use crate::claude::usage::{self, PlanUsage, UsageError};
use crate::clock;
use crate::config::AuthMode;

/// How long the CLI may take to answer `get_usage` (measured: 0.6–1.5 s, most of it start-up).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long it may take to exit once stdin is closed.
const EXIT_WAIT: Duration = Duration::from_secs(3);

/// The schedule of usage asks.
#[derive(Debug, Default)]
pub struct UsageRefresh {
    /// Wakes the asking task.
    wake: Arc<Notify>,
    /// When the last ask started.
    last_asked: Mutex<Option<Instant>>,
}

impl UsageRefresh {
    fn last_asked(&self) -> Option<Instant> {
        match self.last_asked.lock() {
            Ok(last) => *last,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn mark_asked(&self, at: Instant) {
        match self.last_asked.lock() {
            Ok(mut last) => *last = Some(at),
            Err(poisoned) => *poisoned.into_inner() = Some(at),
        }
    }
}

/// Whether an ask is due: never with no interval, at once if never asked, else once the
/// last ask is `interval` old.
fn due(interval: Option<Duration>, last: Option<Instant>, now: Instant) -> bool {
    match (interval, last) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(interval), Some(last)) => now.saturating_duration_since(last) >= interval,
    }
}

impl Backend {
    /// Starts the task that asks for the usage (once, at daemon start); it asks at once.
    pub fn start_usage_refresh(self: &Arc<Self>) {
        let backend = Arc::downgrade(self);
        let wake = self.usage.wake.clone();
        tokio::spawn(refresh_task(backend, wake));
    }

    /// Something wants the quota: the usage is asked again in the background if the last
    /// ask is older than `quota_refresh_secs`. Never waits.
    pub fn usage_wanted(&self) {
        // Most reads come while the numbers are fresh: the check is made here, so that they
        // do not each wake the asking task on another thread (which checks again).
        let interval = self.settings().quota_refresh();
        if due(interval, self.usage.last_asked(), Instant::now()) {
            self.usage.wake.notify_one();
        }
    }

    /// Asks the CLI once and records the answer (or why there is none) in the quota book.
    async fn ask_usage(&self) {
        let settings = self.settings();
        if settings.auth_mode == AuthMode::ApiKey {
            return;
        }
        let cli = match self.cli_path(&settings) {
            Ok(cli) => cli,
            Err(error) => {
                self.usage_failed(error.message);
                return;
            }
        };
        self.quota.usage_asked(clock::now());
        let token = crate::login::load_token(&settings).map(|t| t.token);
        match self.usage_from(&cli, &settings, token.as_deref()).await {
            Ok(answer) => {
                tracing::debug!(
                    windows = answer.windows.len(),
                    visible = answer.rate_limits_available,
                    "the claude CLI answered get_usage"
                );
                self.quota.record_usage(&answer, clock::now());
            }
            Err(reason) => self.usage_failed(reason),
        }
    }

    fn usage_failed(&self, reason: String) {
        let reason = format!("could not ask the claude CLI for the plan's usage: {reason}");
        if self.quota.snapshot().checks.error.as_deref() != Some(reason.as_str()) {
            tracing::warn!("{reason}");
        }
        self.quota.usage_failed(reason);
    }

    /// One usage process from start to reaped group: the answer, or why there is none.
    async fn usage_from(
        &self,
        cli: &std::path::Path,
        settings: &crate::config::Settings,
        token: Option<&str>,
    ) -> Result<PlanUsage, String> {
        let workspace = self.workspace().map_err(|e| e.message)?;
        let spec = UsageSpec {
            cli,
            cwd: &workspace.cwd,
            auth_mode: settings.auth_mode,
            api_key: settings.anthropic_api_key.as_deref(),
            oauth_token: token,
        };
        let mut invocation = command::usage_invocation(&spec, &self.env_names);
        invocation.env_set.push((
            sweep::RUN_MARK_ENV.to_string(),
            workspace.dir().to_string_lossy().into_owned(),
        ));
        let (process, pipes) = CliProcess::spawn(&invocation, &self.groups)
            .map_err(|e| format!("cannot start {}: {e}", cli.display()))?;
        let mut stdin = pipes.stdin;
        let stderr = tokio::spawn(read_tail(pipes.stderr));
        let mut stdout = BufReader::new(pipes.stdout);
        let asked = stdin.write_all(&usage::request_line()).await;
        let answer = match asked {
            Err(e) => Err(format!("the CLI did not take the request: {e}")),
            Ok(()) => match tokio::time::timeout(ANSWER_TIMEOUT, read_answer(&mut stdout)).await {
                Ok(answer) => answer,
                Err(_) => Err(format!(
                    "the CLI did not answer within {} s",
                    ANSWER_TIMEOUT.as_secs()
                )),
            },
        };
        // No user message follows: closing stdin lets the CLI exit without a model request.
        drop(stdin);
        if answer.is_ok() {
            process.wait(EXIT_WAIT).await;
        } else {
            process.terminate().await;
        }
        let tail = stderr.await.unwrap_or_default();
        drop(workspace);
        answer.map_err(|reason| match last_line(&tail) {
            Some(line) => format!("{reason} ({line})"),
            None => reason,
        })
    }
}

/// Reads stdout until the `get_usage` answer.
async fn read_answer(
    stdout: &mut BufReader<tokio::process::ChildStdout>,
) -> Result<PlanUsage, String> {
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line(stdout, &mut line).await {
            Ok(0) => return Err("the CLI exited without answering".to_string()),
            Err(e) => return Err(format!("reading the CLI's output failed: {e}")),
            Ok(_) => {}
        }
        match usage::parse_answer(&line) {
            Ok(answer) => return Ok(answer),
            Err(UsageError::NotTheAnswer) => continue,
            Err(UsageError::Refused(reason)) => {
                return Err(format!("the CLI refused get_usage: {reason}"));
            }
            Err(UsageError::Malformed(reason)) => return Err(reason),
        }
    }
}

/// The last non-empty line of the CLI's stderr, shortened.
fn last_line(tail: &str) -> Option<String> {
    tail.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().filter(|c| !c.is_control()).take(200).collect())
}

/// Asks whenever woken and due, until the backend closes or goes away.
async fn refresh_task(backend: Weak<Backend>, wake: Arc<Notify>) {
    loop {
        {
            let Some(backend) = backend.upgrade() else {
                return;
            };
            if backend.limiter.is_closed() {
                return;
            }
            let now = Instant::now();
            let interval = backend.settings().quota_refresh();
            if due(interval, backend.usage.last_asked(), now) {
                backend.usage.mark_asked(now);
                backend.ask_usage().await;
            }
        }
        wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_at_once_then_once_per_interval() {
        let now = Instant::now();
        let minute = Some(Duration::from_secs(60));
        assert!(due(minute, None, now));
        assert!(!due(minute, Some(now), now + Duration::from_secs(59)));
        assert!(due(minute, Some(now), now + Duration::from_secs(60)));
        assert!(!due(None, None, now), "0 never asks");
    }

    #[test]
    fn stderr_tails_are_one_short_line() {
        assert_eq!(last_line("a\nlast one\n\n").as_deref(), Some("last one"));
        assert_eq!(last_line("  \n"), None);
        assert_eq!(last_line(&"x".repeat(500)).map(|l| l.len()), Some(200));
    }
}
