//! What a killed daemon left behind, found and removed at the next start.
//!
//! Normally every run cleans up after itself (its process group is ended, its directory and
//! session file are removed on drop). A daemon killed with SIGKILL or by the OOM killer
//! cannot: its guardian (or, without one, the CLIs' parent-death signal) ends the
//! processes it knew of, but what was not yet registered may live on, and the files
//! stay. So each run directory carries an [`OWNER_FILE`] naming the daemon that made it
//! (pid and start time, so a reused pid does not count; a symbolic link whose target is
//! the stamp, which ext4 and tmpfs keep in the inode, so that a run allocates and frees no
//! data block for it — earlier versions wrote a plain file, still read), and every
//! process of a run has [`RUN_MARK_ENV`] set to its run directory. At start, [`sweep`] looks at each run
//! directory whose owner is gone: it kills the processes marked with it, removes the
//! session project directory the CLI used for it, then the run directory itself. Run
//! directories of another live daemon sharing the root are left alone; nothing that this
//! daemon did not make (no owner file) is touched. [`sweep_cli_cache`] removes what the
//! CLI cached in the home for runs that are gone (before runs had their own cache).

use std::path::{Path, PathBuf};

use crate::claude::session::sanitize_cwd;

/// The entry in each run directory naming the daemon instance that made it (see
/// [`read_owner`]).
pub const OWNER_FILE: &str = "owner";
/// Environment variable set on every CLI process: its run directory.
pub const RUN_MARK_ENV: &str = "CLAUDE_PROXY_RUN_MARK";
/// Run directories are named `run<random>`.
pub const RUN_PREFIX: &str = "run";

/// This daemon instance: `<pid> <start time in clock ticks since boot>`.
pub fn owner_stamp() -> String {
    let pid = std::process::id();
    format!("{pid} {}", start_time(pid).unwrap_or(0))
}

/// A process's start time (field 22 of /proc/<pid>/stat).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; the start time is the 20th of them.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Marks `run_dir` as made by the daemon instance `stamp` ([`owner_stamp`]).
pub fn write_owner(run_dir: &Path, stamp: &str) -> std::io::Result<()> {
    std::os::unix::fs::symlink(stamp, run_dir.join(OWNER_FILE))
}

/// The owner stamp of a run directory: the link's target, or a plain file's text (run
/// directories of earlier versions); `None` when it has none.
fn read_owner(run_dir: &Path) -> Option<String> {
    let path = run_dir.join(OWNER_FILE);
    match std::fs::read_link(&path) {
        Ok(target) => target.into_os_string().into_string().ok(),
        Err(_) => std::fs::read_to_string(&path).ok(),
    }
}

/// Whether the daemon named by an owner stamp still runs.
fn owner_alive(stamp: &str) -> bool {
    let mut parts = stamp.split_whitespace();
    let (Some(pid), Some(started)) = (
        parts.next().and_then(|p| p.parse::<u32>().ok()),
        parts.next().and_then(|s| s.parse::<u64>().ok()),
    ) else {
        return false;
    };
    start_time(pid) == Some(started)
}

/// What a sweep found and removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub directories: usize,
    pub processes: usize,
}

/// Removes what earlier, dead instances of this daemon left in `work_root` and in the CLI's
/// session directory under `claude_home`.
pub fn sweep(work_root: &Path, claude_home: Option<&Path>) -> Swept {
    let mut swept = Swept::default();
    let Ok(entries) = std::fs::read_dir(work_root) else {
        return swept;
    };
    let mut stale: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_run = name.to_str().is_some_and(|n| n.starts_with(RUN_PREFIX));
        if !is_run {
            continue;
        }
        let Some(stamp) = read_owner(&entry.path()) else {
            continue;
        };
        if !owner_alive(&stamp) {
            stale.push(entry.path());
        }
    }
    if stale.is_empty() {
        return swept;
    }
    swept.processes = kill_marked(&stale);
    for dir in &stale {
        if let Some(home) = claude_home {
            remove_session_dir(home, dir);
        }
        if std::fs::remove_dir_all(dir).is_ok() {
            swept.directories += 1;
        }
    }
    swept
}

/// The CLI's cache directory as the daemon's environment places it: `claude-cli-nodejs`
/// under `$XDG_CACHE_HOME`, else under `~/.cache` (`~/Library/Caches` on macOS). Runs
/// point their CLI's cache into the run directory; daemons before that left a directory of
/// MCP logs there per tool run.
pub fn cli_cache_dir(xdg_cache_home: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    let base = if cfg!(target_os = "macos") {
        home?.join("Library").join("Caches")
    } else {
        match xdg_cache_home.filter(|p| p.is_absolute()) {
            Some(dir) => dir.to_path_buf(),
            None => home?.join(".cache"),
        }
    };
    Some(base.join("claude-cli-nodejs"))
}

/// Removes the CLI cache directories of runs under `work_root` that are gone: the CLI
/// names them after the run's working directory (`<work root>/run<id>/cwd` with every
/// character but ASCII letters and digits made `-`), so an entry
/// `<sanitized work root>-run<id>-cwd` whose `<work root>/run<id>` no longer exists is
/// one. Live runs (another daemon's sharing the root) and everything else stay. Returns
/// how many were removed.
pub fn sweep_cli_cache(work_root: &Path, cache: &Path) -> usize {
    let root = std::fs::canonicalize(work_root).unwrap_or_else(|_| work_root.to_path_buf());
    let prefix = format!("{}-{RUN_PREFIX}", sanitize_cwd(&root));
    let Ok(entries) = std::fs::read_dir(cache) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|rest| rest.strip_suffix("-cwd"))
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        else {
            continue;
        };
        if root.join(format!("{RUN_PREFIX}{id}")).exists() {
            continue;
        }
        if std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The CLI's project directory for a run's `cwd/`: holds only session files we wrote.
fn remove_session_dir(claude_home: &Path, run_dir: &Path) {
    // The CLI names it after the canonical cwd; the run directory may be reached through a
    // link (e.g. /tmp), so try both spellings.
    let mut cwds = vec![run_dir.join("cwd")];
    if let Ok(canonical) = std::fs::canonicalize(run_dir.join("cwd")) {
        cwds.push(canonical);
    }
    for cwd in cwds {
        let project = claude_home.join("projects").join(sanitize_cwd(&cwd));
        let _ = std::fs::remove_dir_all(project);
    }
}

/// Sends SIGKILL to every process of this user whose environment marks one of `dirs`.
fn kill_marked(dirs: &[PathBuf]) -> usize {
    let marks: Vec<Vec<u8>> = dirs
        .iter()
        .map(|d| {
            let mut mark = format!("{RUN_MARK_ENV}=").into_bytes();
            mark.extend_from_slice(d.to_string_lossy().as_bytes());
            mark
        })
        .collect();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let own = std::process::id();
    let mut killed = 0;
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == own {
            continue;
        }
        // Other users' environments are unreadable: only our own processes are candidates.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| marks.iter().any(|m| var == m.as_slice()))
        {
            // SAFETY: kill has no memory-safety preconditions; a gone pid gives ESRCH.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            killed += 1;
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stamp_is_alive_and_a_dead_one_is_not() {
        assert!(owner_alive(&owner_stamp()));
        assert!(!owner_alive("999999999 1"));
        assert!(!owner_alive("garbage"));
        let pid = std::process::id();
        assert!(
            !owner_alive(&format!("{pid} 1")),
            "a reused pid is not the owner"
        );
    }

    /// Stale run directories (dead owner, marked by a link or by an earlier version's
    /// file) and their session directories go; a live owner's and anything without an
    /// owner mark stay.
    #[test]
    fn sweeps_only_dead_owners_directories() {
        let root = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let make = |name: &str, stamp: Option<&str>| {
            let dir = root.path().join(name);
            std::fs::create_dir_all(dir.join("cwd")).unwrap();
            match stamp {
                Some(stamp) if name.ends_with("FILE") => {
                    std::fs::write(dir.join(OWNER_FILE), stamp).unwrap()
                }
                Some(stamp) => write_owner(&dir, stamp).unwrap(),
                None => {}
            }
            let cwd = std::fs::canonicalize(dir.join("cwd")).unwrap();
            let project = home.path().join("projects").join(sanitize_cwd(&cwd));
            std::fs::create_dir_all(&project).unwrap();
            std::fs::write(project.join("s.jsonl"), "{}").unwrap();
            (dir, project)
        };
        let (dead, dead_project) = make("runDEAD", Some("999999999 1"));
        let (dead_file, dead_file_project) = make("runDEADFILE", Some("999999998 1"));
        let (live, live_project) = make("runLIVE", Some(&owner_stamp()));
        let (live_file, _) = make("runLIVEFILE", Some(&owner_stamp()));
        let (unowned, _) = make("runNONE", None);
        let (other, _) = make("keepme", Some("999999999 1"));
        let swept = sweep(root.path(), Some(home.path()));
        assert_eq!(swept.directories, 2);
        assert!(!dead.exists() && !dead_project.exists());
        assert!(!dead_file.exists() && !dead_file_project.exists());
        assert!(live.exists() && live_project.exists() && live_file.exists());
        assert!(unowned.exists() && other.exists());
    }

    /// A gone run's CLI cache goes; a live run's, a project's and odd names stay.
    #[test]
    fn sweeps_the_cli_cache_of_gone_runs_only() {
        let root = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let root_path = std::fs::canonicalize(root.path()).unwrap();
        let sanitized = sanitize_cwd(&root_path);
        let entry = |name: &str| {
            let dir = cache.path().join(name);
            std::fs::create_dir_all(dir.join("mcp-logs-c")).unwrap();
            dir
        };
        let gone = entry(&format!("{sanitized}-runGONE12345678-cwd"));
        std::fs::create_dir(root_path.join("runLIVE12345678")).unwrap();
        let live = entry(&format!("{sanitized}-runLIVE12345678-cwd"));
        let project = entry("-home-me-project");
        let odd = entry(&format!("{sanitized}-run-x-cwd"));
        assert_eq!(sweep_cli_cache(root.path(), cache.path()), 1);
        assert!(!gone.exists());
        assert!(live.exists() && project.exists() && odd.exists());
        assert_eq!(
            cli_cache_dir(None, Some(Path::new("/h"))),
            Some(PathBuf::from(if cfg!(target_os = "macos") {
                "/h/Library/Caches/claude-cli-nodejs"
            } else {
                "/h/.cache/claude-cli-nodejs"
            }))
        );
    }
}
