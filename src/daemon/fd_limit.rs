//! The open-file limit: raised to the hard limit at start, and the connection cap kept
//! below it, so that idle sockets can never starve accept() and the CLI's pipes.

/// Descriptors kept for everything but client connections: listeners, the journal, files,
/// and each CLI run's pipes (warm ones included).
fn reserved(max_concurrent: usize) -> u64 {
    64 + 8 * max_concurrent as u64
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force.
pub fn raise() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own; raising the soft limit up to the hard
        // one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(
                from = limit.rlim_cur,
                to = limit.rlim_max,
                "raised the open-file limit"
            );
            return Some(limit.rlim_max);
        }
    }
    Some(limit.rlim_cur)
}

/// The connection cap that fits: `max_connections`, lowered so that connections and the
/// reserve stay under the open-file limit.
pub fn connection_cap(max_connections: usize, max_concurrent: usize, nofile: Option<u64>) -> usize {
    let Some(nofile) = nofile else {
        return max_connections;
    };
    let room = nofile.saturating_sub(reserved(max_concurrent)).max(8);
    max_connections.min(usize::try_from(room).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_stays_below_the_open_file_limit() {
        assert_eq!(connection_cap(1024, 4, Some(1_048_576)), 1024);
        assert_eq!(connection_cap(1024, 4, Some(200)), 200 - 96);
        assert_eq!(connection_cap(1024, 4, Some(10)), 8);
        assert_eq!(connection_cap(50, 4, None), 50);
    }
}
