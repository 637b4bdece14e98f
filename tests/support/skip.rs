//! How a test that cannot run what it needs says so: outside CI it prints `SKIP: <why>`
//! and the caller returns; with `CI` set (`.ci/run` sets it) that is a failure, because the
//! README's test command must run everything. With `CLAUDE_MAX_PROXY_SKIP_LOG` set, each
//! reason is also appended to that file (`.ci/run` lists them when the run fails).

use std::io::Write;

/// Says why a test skips; in CI a skip is a failure.
pub fn skip_or_fail(why: &str) {
    if let Some(log) = std::env::var_os("CLAUDE_MAX_PROXY_SKIP_LOG") {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut file| writeln!(file, "{why}"));
        if let Err(e) = appended {
            eprintln!("could not note the skip in {}: {e}", log.to_string_lossy());
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI must not skip: {why}");
    }
    eprintln!("SKIP: {why}");
}
