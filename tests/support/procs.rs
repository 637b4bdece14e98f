//! The machine's processes as /proc shows them, for the tests and the bench (which includes
//! this file by path): who is whose parent, and which one is a daemon's guardian.

/// Every live process (zombies left out) as (pid, parent pid).
pub fn live_processes() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The state and the parent follow the parenthesised command name.
            let mut fields = stat.rsplit(')').next()?.split_whitespace();
            let state = fields.next()?;
            let ppid = fields.next()?.parse().ok()?;
            (state != "Z").then_some((pid, ppid))
        })
        .collect()
}

/// Whether `pid` is a daemon's guardian (`claude::guardian`): the one child that lives as
/// long as the daemon.
pub fn is_guardian(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == b"guard-process-groups")
    })
}
