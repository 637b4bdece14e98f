//! Spawning the CLI in its own process group and making sure that group ends.
//!
//! Every child is the leader of a new process group, registered in [`ProcessGroups`] while
//! it lives. [`CliProcess::terminate`] sends SIGTERM to the whole group, then SIGKILL after
//! a short grace; dropping a [`CliProcess`] that was not waited for does the same in the
//! background, so a client that goes away ends its CLI at once. At shutdown the daemon
//! ends every group still registered. If the daemon itself is killed, its guardian process
//! ([`super::guardian`]) kills every group still registered, what the CLIs started
//! included. Only when no guardian is running does each CLI get a parent-death signal
//! (SIGKILL, set between fork and exec, Linux) instead: that needs a `fork` of the whole
//! daemon per spawn where `posix_spawn` otherwise serves (measured ~0.4 ms a request).
//! Whatever is left is swept at the next start (`runner::sweep`).

use std::collections::HashSet;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use super::command::Invocation;
use super::guardian::Guardian;

/// How long a group gets between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_millis(500);

/// The process groups of every live CLI run.
#[derive(Clone, Debug, Default)]
pub struct ProcessGroups {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Debug, Default)]
struct Registry {
    groups: HashSet<i32>,
    guardian: Option<Guardian>,
}

impl Registry {
    /// Tells the guardian, if there is one; one that does not take it is dropped.
    fn tell_guardian(&mut self, pgid: i32, started: bool) {
        if let Some(guardian) = self.guardian.as_mut()
            && let Err(e) = guardian.tell(pgid, started)
        {
            tracing::warn!(
                error = %e,
                "the guardian process is gone: if the daemon is killed, what its CLIs started \
                 lives until the next start"
            );
            self.guardian = None;
        }
    }
}

impl ProcessGroups {
    /// Groups also watched by a guardian process started from `program` (the daemon's own
    /// binary). When it cannot start, the groups work as [`ProcessGroups::default`] does.
    pub fn guarded(program: &std::path::Path) -> ProcessGroups {
        let guardian = match Guardian::start(program) {
            Ok(guardian) => {
                tracing::debug!(pid = guardian.pid(), "guardian process started");
                Some(guardian)
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "cannot start the guardian process: if the daemon is killed, what its CLIs \
                     started lives until the next start"
                );
                None
            }
        };
        ProcessGroups {
            inner: Arc::new(Mutex::new(Registry {
                groups: HashSet::new(),
                guardian,
            })),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|r| r.groups.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a guardian process watches the groups right now (it started and has not
    /// exited). One that exited is dropped, so later spawns fall back to the parent-death
    /// signal.
    fn guarded_now(&self) -> bool {
        let Ok(mut registry) = self.inner.lock() else {
            return false;
        };
        let alive = registry.guardian.as_mut().is_some_and(Guardian::is_alive);
        if !alive && registry.guardian.take().is_some() {
            tracing::warn!(
                "the guardian process is gone: CLIs started from now on get the parent-death \
                 signal instead, and what they start lives until the next start's sweep if \
                 the daemon is killed"
            );
        }
        alive
    }

    fn insert(&self, pgid: i32) {
        if let Ok(mut registry) = self.inner.lock() {
            registry.groups.insert(pgid);
            registry.tell_guardian(pgid, true);
        }
    }

    fn remove(&self, pgid: i32) {
        if let Ok(mut registry) = self.inner.lock()
            && registry.groups.remove(&pgid)
        {
            registry.tell_guardian(pgid, false);
        }
    }

    /// Ends every registered group: SIGTERM, a grace period, SIGKILL.
    pub async fn terminate_all(&self) {
        let groups: Vec<i32> = match self.inner.lock() {
            Ok(registry) => registry.groups.iter().copied().collect(),
            Err(_) => return,
        };
        if groups.is_empty() {
            return;
        }
        for pgid in &groups {
            signal_group(*pgid, libc::SIGTERM);
        }
        tokio::time::sleep(TERM_GRACE).await;
        for pgid in &groups {
            signal_group(*pgid, libc::SIGKILL);
        }
    }
}

/// Asks the kernel to SIGKILL the child when the daemon dies (Linux; elsewhere the sweep at
/// the next start is the only remedy).
#[cfg(target_os = "linux")]
fn die_with_daemon(command: &mut Command) {
    let daemon_pid = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The daemon died between fork and prctl: nobody would end this child.
            if libc::getppid() != daemon_pid {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_daemon(_command: &mut Command) {}

fn signal_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: killpg has no memory-safety preconditions; a stale group gives ESRCH.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// The pipes of a spawned CLI.
#[derive(Debug)]
pub struct Pipes {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

/// A running CLI process group.
#[derive(Debug)]
pub struct CliProcess {
    child: Option<Child>,
    pgid: i32,
    groups: ProcessGroups,
}

impl CliProcess {
    /// Spawns the invocation as the leader of a new process group.
    pub fn spawn(inv: &Invocation, groups: &ProcessGroups) -> std::io::Result<(CliProcess, Pipes)> {
        let mut command = Command::new(&inv.program);
        command
            .args(&inv.args)
            .current_dir(&inv.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        if !groups.guarded_now() {
            // Forking to set it costs ~0.4 ms a spawn (posix_spawn cannot set it); with
            // the guardian alive it is not needed.
            die_with_daemon(&mut command);
        }
        for name in &inv.env_remove {
            command.env_remove(name);
        }
        for (name, value) in &inv.env_set {
            command.env(name, value);
        }
        let mut child = command.spawn()?;
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .unwrap_or(0);
        groups.insert(pgid);
        let pipes = match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(stdin), Some(stdout), Some(stderr)) => Pipes {
                stdin,
                stdout,
                stderr,
            },
            _ => {
                signal_group(pgid, libc::SIGKILL);
                groups.remove(pgid);
                return Err(std::io::Error::other("the CLI's pipes were not set up"));
            }
        };
        Ok((
            CliProcess {
                child: Some(child),
                pgid,
                groups: groups.clone(),
            },
            pipes,
        ))
    }

    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    /// Whether the leader has not exited yet.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Resolves when the leader exits (or at once if it was already waited for); the
    /// process is reaped by dropping it afterwards. Cancel-safe.
    pub async fn exited(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.wait().await;
        }
    }

    /// Waits for the leader to exit (bounded), then ends anything left in its group.
    pub async fn wait(mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        match tokio::time::timeout(limit, child.wait()).await {
            Ok(Ok(status)) => {
                signal_group(self.pgid, libc::SIGKILL);
                self.groups.remove(self.pgid);
                Some(status)
            }
            _ => end_group(child, self.pgid, self.groups.clone(), false).await,
        }
    }

    /// A guard that sends SIGKILL to the group when dropped (reaping is left to the
    /// process's own end). Held first by whatever also holds the process's stdin: a process
    /// that waits at a client's tool call must be dead before its stdin closes, or it
    /// answers the call itself (an "interrupted" error result) and sends that upstream
    /// (measured with 2.1.332).
    pub fn kill_guard(&self) -> KillGuard {
        KillGuard {
            pgid: self.child.is_some().then_some(self.pgid),
        }
    }

    /// Ends the whole group at once with SIGKILL, for a CLI whose further work would only
    /// spend the subscription: on SIGTERM the real CLI takes 150-400 ms to wind down and
    /// sends the upstream request it was about to make (measured with 2.1.332 after a
    /// `max_tokens` stop: one more request on SIGTERM, none on SIGKILL).
    pub async fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(self.pgid, libc::SIGKILL);
            let _ = child.wait().await;
            self.groups.remove(self.pgid);
        }
    }

    /// Ends the whole group now: SIGTERM, then SIGKILL after [`TERM_GRACE`].
    pub async fn terminate(mut self) {
        if let Some(child) = self.child.take() {
            end_group(child, self.pgid, self.groups.clone(), false).await;
        }
    }
}

/// See [`CliProcess::kill_guard`].
#[derive(Debug)]
pub struct KillGuard {
    pgid: Option<i32>,
}

impl KillGuard {
    /// The process ended by itself: nothing to kill.
    pub fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            signal_group(pgid, libc::SIGKILL);
        }
    }
}

/// Ends a group whose leader is `child`: SIGTERM (unless `term_sent`), up to [`TERM_GRACE`]
/// for the leader, SIGKILL and reap; then SIGKILL for anything left in the group, which is
/// unregistered.
async fn end_group(
    mut child: Child,
    pgid: i32,
    groups: ProcessGroups,
    term_sent: bool,
) -> Option<ExitStatus> {
    if !term_sent {
        signal_group(pgid, libc::SIGTERM);
    }
    let status = match tokio::time::timeout(TERM_GRACE, child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => {
            signal_group(pgid, libc::SIGKILL);
            child.wait().await.ok()
        }
    };
    signal_group(pgid, libc::SIGKILL);
    groups.remove(pgid);
    status
}

impl Drop for CliProcess {
    fn drop(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        let pgid = self.pgid;
        let groups = self.groups.clone();
        // Signalled here, not in the task: the group starts ending even if the task never runs.
        signal_group(pgid, libc::SIGTERM);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(end_group(child, pgid, groups, true));
            }
            Err(_) => {
                signal_group(pgid, libc::SIGKILL);
                groups.remove(pgid);
            }
        }
    }
}
