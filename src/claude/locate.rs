//! Finding the `claude` executable and asking its version.
//!
//! Order: the configured `cli_path` (which must then exist), `claude` on PATH, then the
//! places the official installers use. The search list is reported when nothing is found,
//! so the error can say exactly where we looked.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The outcome of a search.
#[derive(Clone, Debug)]
pub enum Located {
    Found(PathBuf),
    /// Not found: every place that was tried, for the error message.
    Missing {
        searched: Vec<PathBuf>,
    },
}

/// Looks for the CLI. `home` and `path_var` come from the daemon's environment.
pub fn locate(configured: Option<&Path>, home: Option<&Path>, path_var: Option<&str>) -> Located {
    if let Some(path) = configured {
        return if is_executable(path) {
            Located::Found(path.to_path_buf())
        } else {
            Located::Missing {
                searched: vec![path.to_path_buf()],
            }
        };
    }
    let mut searched = Vec::new();
    for dir in std::env::split_paths(path_var.unwrap_or("")) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let candidate = dir.join("claude");
        if is_executable(&candidate) {
            return Located::Found(candidate);
        }
        searched.push(candidate);
    }
    let mut usual: Vec<PathBuf> = Vec::new();
    if let Some(home) = home {
        usual.push(home.join(".claude/local/claude"));
        usual.push(home.join(".local/bin/claude"));
        usual.push(home.join(".npm-global/bin/claude"));
        usual.push(home.join(".bun/bin/claude"));
    }
    usual.push(PathBuf::from("/usr/local/bin/claude"));
    usual.push(PathBuf::from("/opt/homebrew/bin/claude"));
    usual.push(PathBuf::from("/usr/bin/claude"));
    for candidate in usual {
        if is_executable(&candidate) {
            return Located::Found(candidate);
        }
        searched.push(candidate);
    }
    Located::Missing { searched }
}

/// Locates the CLI with the daemon's own environment.
pub fn locate_from_env(configured: Option<&Path>) -> Located {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let path_var = std::env::var("PATH").ok();
    locate(configured, home.as_deref(), path_var.as_deref())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The message for a missing CLI: what we searched and how to fix it.
pub fn missing_message(searched: &[PathBuf]) -> String {
    let shown: Vec<String> = searched
        .iter()
        .take(12)
        .map(|p| p.display().to_string())
        .collect();
    format!(
        "The claude CLI was not found (looked in: {}{}). Install Claude Code on the host \
         (e.g. `npm install -g @anthropic-ai/claude-code`, or the native installer), log in \
         once with `claude`, or point the proxy at it with `cli_path` in the config file or \
         CLAUDE_MAX_PROXY_CLI_PATH.",
        shown.join(", "),
        if searched.len() > 12 { ", …" } else { "" }
    )
}

/// Runs `claude --version` with a timeout; `None` if it fails.
pub async fn version(path: &Path) -> Option<String> {
    let child = tokio::process::Command::new(path)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .ok()?
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().next()?.trim();
    // "2.1.332 (Claude Code)" → "2.1.332"
    first.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn finds_on_path_and_reports_searched_places() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("claude");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path_var = format!("/nonexistent:{}", dir.path().display());
        match locate(None, None, Some(&path_var)) {
            Located::Found(p) => assert_eq!(p, bin),
            Located::Missing { .. } => panic!("not found"),
        }
        let empty = tempfile::tempdir().unwrap();
        match locate(None, Some(empty.path()), Some("/nonexistent")) {
            Located::Found(p) if p.starts_with("/usr") => {} // a real install on this host
            Located::Found(p) => panic!("unexpected {p:?}"),
            Located::Missing { searched } => {
                let msg = missing_message(&searched);
                assert!(msg.contains("/nonexistent/claude"), "{msg}");
                assert!(msg.contains("cli_path"), "{msg}");
            }
        }
    }

    #[test]
    fn configured_path_must_be_executable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("claude");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            locate(Some(&file), None, None),
            Located::Missing { .. }
        ));
    }
}
