//! Finding a Chrome or Chromium executable, and saying where we looked when there is none.
//!
//! Order: the `chrome_path` config key, then the `CHROME` environment variable (either one,
//! when set, is the only candidate: a wrong path is an error, not a reason to pick another
//! browser), then these names on `PATH`, then the usual install paths of the platform.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::login::LoginError;

/// Executable names looked up on `PATH`, in order of preference.
pub const NAMES: &[&str] = &[
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "chromium",
    "chromium-browser",
];

/// Install locations that are not always on `PATH`.
#[cfg(target_os = "macos")]
const PATHS: &[&str] = &[
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
];
#[cfg(not(target_os = "macos"))]
const PATHS: &[&str] = &[
    "/opt/google/chrome/chrome",
    "/opt/chromium.org/chromium/chrome",
    "/snap/bin/chromium",
    "/var/lib/flatpak/exports/bin/com.google.Chrome",
    "/var/lib/flatpak/exports/bin/org.chromium.Chromium",
];

/// Where to look: the inputs of [`find`], so tests need not touch the process environment.
#[derive(Clone, Debug, Default)]
pub struct Search<'a> {
    /// `chrome_path` from the config.
    pub configured: Option<&'a Path>,
    /// `$CHROME`.
    pub env_chrome: Option<&'a OsStr>,
    /// `$PATH`.
    pub path_var: Option<&'a OsStr>,
    /// `$HOME` (for `~/Applications` on macOS).
    pub home: Option<&'a Path>,
}

/// The browser to launch, or [`LoginError::NoBrowser`] listing every place searched.
pub fn find(search: &Search<'_>) -> Result<PathBuf, LoginError> {
    if let Some(path) = search.configured.filter(|p| !p.as_os_str().is_empty()) {
        return only(path, "chrome_path");
    }
    if let Some(path) = search.env_chrome.filter(|p| !p.is_empty()) {
        return only(Path::new(path), "CHROME");
    }
    let mut searched = Vec::new();
    let dirs: Vec<PathBuf> = search
        .path_var
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    for name in NAMES {
        if let Some(found) = dirs.iter().map(|d| d.join(name)).find(|c| is_executable(c)) {
            return Ok(found);
        }
    }
    searched.push(format!("{} on PATH", NAMES.join("/")));
    let mut paths: Vec<PathBuf> = PATHS.iter().map(PathBuf::from).collect();
    if cfg!(target_os = "macos")
        && let Some(home) = search.home
    {
        paths.extend(
            PATHS
                .iter()
                .filter_map(|p| p.strip_prefix('/'))
                .map(|p| home.join(p)),
        );
    }
    for path in paths {
        if is_executable(&path) {
            return Ok(path);
        }
        searched.push(path.display().to_string());
    }
    Err(LoginError::NoBrowser { searched })
}

/// An explicitly named browser: it must exist and be executable.
fn only(path: &Path, source: &str) -> Result<PathBuf, LoginError> {
    if is_executable(path) {
        Ok(path.to_path_buf())
    } else {
        Err(LoginError::NoBrowser {
            searched: vec![format!(
                "{} (from {source}; missing or not executable)",
                path.display()
            )],
        })
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_browser(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn names_on_path_are_found_in_preference_order() {
        let tmp = tempfile::tempdir().unwrap();
        fake_browser(tmp.path(), "chromium");
        let chrome = fake_browser(tmp.path(), "google-chrome");
        let path_var = tmp.path().as_os_str();
        let found = find(&Search {
            path_var: Some(path_var),
            ..Search::default()
        })
        .unwrap();
        assert_eq!(found, chrome);
    }

    #[test]
    fn explicit_paths_win_and_must_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let chrome = fake_browser(tmp.path(), "my-chrome");
        let found = find(&Search {
            configured: Some(&chrome),
            env_chrome: Some(OsStr::new("/nonexistent/env-chrome")),
            ..Search::default()
        })
        .unwrap();
        assert_eq!(found, chrome);
        let err = find(&Search {
            env_chrome: Some(OsStr::new("/nonexistent/env-chrome")),
            path_var: Some(tmp.path().as_os_str()),
            ..Search::default()
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/env-chrome (from CHROME"),
            "{text}"
        );
    }

    #[test]
    fn nothing_found_lists_names_paths_and_the_ways_out() {
        let tmp = tempfile::tempdir().unwrap();
        let err = find(&Search {
            path_var: Some(tmp.path().as_os_str()),
            ..Search::default()
        })
        .unwrap_err();
        assert!(matches!(err, LoginError::NoBrowser { .. }));
        let text = err.to_string();
        for needle in [
            "google-chrome",
            "chromium",
            "CHROME",
            "chrome_path",
            "--no-browser",
        ] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
    }
}
