//! The guardian: one small process, started with the daemon, that ends every CLI process
//! group still registered when the daemon goes away, however it goes (SIGKILL and the OOM
//! killer included).
//!
//! Why not a parent-death signal on each CLI: that signal ends only the CLI itself, not what
//! the CLI started (MCP servers, tool subprocesses), and exists only on Linux; what it
//! leaves would live until the next start's sweep, or for ever if there is none. Setting
//! it also forces a `fork` of the whole daemon for every spawn (`posix_spawn` cannot set
//! it): measured with timestamps around the spawn, 0.81 ms against 0.35 ms at p50. So the
//! signal is set only while no guardian runs. The daemon tells the guardian each group as
//! it starts and ends (`+<pgid>` / `-<pgid>` lines on its stdin); when the daemon dies the
//! kernel closes the pipe, so the guardian reads end-of-file, sends SIGKILL to every group
//! it still holds and exits. It is a hidden
//! subcommand of the daemon's own binary, in its own process group so that a terminal's
//! Ctrl-C reaches the daemon (which ends its groups itself) and not the guardian.
//!
//! If the guardian cannot be started, exits or stops answering, the daemon logs it and
//! goes on with the parent-death signal on every CLI it starts from then on and the next
//! start's sweep (`runner::sweep`). Left uncovered: a CLI started while the guardian ran,
//! when the guardian and then the daemon are both killed — it ends when its stdin closes
//! (at the daemon's death), what it started at the next start's sweep.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The hidden subcommand that runs the guardian.
pub const SUBCOMMAND: &str = "guard-process-groups";

/// The daemon's own binary, to run as the guardian: `/proc/self/exe` on Linux (still the
/// running binary after a package upgrade replaced the file), the executable's path
/// elsewhere.
pub fn own_binary() -> PathBuf {
    if cfg!(target_os = "linux") {
        PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().unwrap_or_else(|_| PathBuf::from("claude-max-proxy"))
    }
}

/// The daemon's end: the guardian process and the pipe to it.
#[derive(Debug)]
pub struct Guardian {
    child: Child,
    to_guardian: ChildStdin,
}

impl Guardian {
    /// Starts `program guard-process-groups` (the daemon's own binary).
    pub fn start(program: &Path) -> std::io::Result<Guardian> {
        let mut child = Command::new(program)
            .arg(SUBCOMMAND)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let Some(to_guardian) = child.stdin.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("the guardian's stdin was not set up"));
        };
        set_nonblocking(&to_guardian);
        Ok(Guardian { child, to_guardian })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the guardian process has not exited (reaps it if it has).
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Tells the guardian that `pgid` started (`true`) or ended. An error means the guardian
    /// is gone or stuck (a full pipe never blocks the daemon): stop relying on it.
    pub fn tell(&mut self, pgid: i32, started: bool) -> std::io::Result<()> {
        let line = format!("{}{pgid}\n", if started { '+' } else { '-' });
        // A line of a few bytes is written whole or not at all (PIPE_BUF).
        self.to_guardian.write_all(line.as_bytes())
    }
}

#[cfg(unix)]
fn set_nonblocking(pipe: &ChildStdin) {
    use std::os::fd::AsRawFd;
    let fd = pipe.as_raw_fd();
    // SAFETY: fcntl on a descriptor this process owns; no memory is passed.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// The guardian process: holds the groups it is told about until its stdin ends, then
/// kills what it still holds.
pub fn serve() {
    let mut held: HashSet<i32> = HashSet::new();
    let stdin = std::io::stdin();
    let mut line = String::new();
    let mut reader = stdin.lock();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => apply(&mut held, line.trim_end()),
        }
    }
    for pgid in held {
        // SAFETY: killpg has no memory-safety preconditions; a gone group gives ESRCH.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// One line of the protocol; anything else is ignored (only the daemon writes here).
fn apply(held: &mut HashSet<i32>, line: &str) {
    let (sign, number) = line.split_at(line.len().min(1));
    let Ok(pgid) = number.parse::<i32>() else {
        return;
    };
    // Never group 0 (our own), 1 (init) or a negative "every process" id.
    if pgid <= 1 {
        return;
    }
    match sign {
        "+" => {
            held.insert(pgid);
        }
        "-" => {
            held.remove(&pgid);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_started_and_not_what_ended() {
        let mut held = HashSet::new();
        for line in ["+200", "+300", "-200", "+1", "+0", "+-5", "x", "", "+abc"] {
            apply(&mut held, line);
        }
        assert_eq!(held, HashSet::from([300]));
    }
}
