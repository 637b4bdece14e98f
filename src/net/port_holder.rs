//! Who holds a TCP port: the listening socket's inode from /proc/net/tcp{,6}, then the process
//! whose file descriptors include it. Best effort: other users' processes are not visible
//! without privileges, and then only the socket's owner uid is known.

use std::path::Path;

/// The holder of a listening port, as far as /proc shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub command: Option<String>,
    pub uid: Option<u32>,
}

/// Finds the process listening on `port` (any address).
pub fn find(port: u16) -> Option<Holder> {
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            sockets.extend(listening_inodes(&text, port));
        }
    }
    let (inode, uid) = *sockets.first()?;
    let needle = format!("socket:[{inode}]");
    let mut holder = Holder {
        pid: None,
        command: None,
        uid: Some(uid),
    };
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let owns = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .map(|target| target.to_string_lossy() == needle)
                .unwrap_or(false)
        });
        if owns {
            holder.pid = Some(pid);
            holder.command = command_line(&entry.path());
            break;
        }
    }
    Some(holder)
}

fn command_line(proc_dir: &Path) -> Option<String> {
    let raw = std::fs::read(proc_dir.join("cmdline")).ok()?;
    let text: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    (!text.is_empty()).then(|| text.join(" "))
}

/// (inode, uid) of sockets in state LISTEN (0A) on `port` in a /proc/net/tcp table.
fn listening_inodes(table: &str, port: u16) -> Vec<(u64, u32)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let uid = fields.get(7)?.parse().ok()?;
            let inode = fields.get(9)?.parse().ok()?;
            let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            (*state == "0A" && local_port == port).then_some((inode, uid))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0D80 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:0D81 00000000:0000 01 00000000:00000000 00:00000000 00000000  1000        0 999 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 3456), vec![(12345, 1000)]);
        assert!(listening_inodes(table, 3457).is_empty());
    }

    #[test]
    fn finds_our_own_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = find(port).expect("holder");
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(holder.command.is_some());
    }
}
