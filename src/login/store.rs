//! The token file and the browser profile, both in the state directory.
//!
//! Layout of the state directory (`state_dir`, default `$XDG_DATA_HOME/claude-max-proxy`,
//! mode 0700):
//! - `token.json` (0600): `{"token": "...", "expires_at": <unix secs or null>,
//!   "created_at": <unix secs>}`, replaced atomically (temp file in the same directory,
//!   fsync, rename, fsync of the directory), so a reader never sees half a file;
//! - `chrome-profile/`: the browser's persistent profile (cookies keep the next login to
//!   one click); removed by `logout --all`.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::login::LoginError;
use crate::login::clock::DAY;
use crate::login::exchange::valid_token;

/// The token file's name in the state directory.
pub const TOKEN_FILE: &str = "token.json";
/// The browser profile's directory name in the state directory.
pub const PROFILE_DIR: &str = "chrome-profile";
/// A token file larger than this is not ours.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The stored login. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    /// The long-lived OAuth token, handed to the CLI as `CLAUDE_CODE_OAUTH_TOKEN`.
    pub token: String,
    /// Expiry in Unix seconds, when the token endpoint said.
    pub expires_at: Option<i64>,
    /// When it was stored, Unix seconds.
    pub created_at: i64,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("token", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl StoredToken {
    /// Seconds until expiry (negative once expired); `None` without an expiry.
    pub fn seconds_left(&self, now: i64) -> Option<i64> {
        self.expires_at.map(|at| at - now)
    }

    /// Whole days until expiry (0 on the last day, negative once expired).
    pub fn days_left(&self, now: i64) -> Option<i64> {
        self.seconds_left(now).map(|s| s.div_euclid(DAY))
    }

    /// Whether the expiry has passed.
    pub fn is_expired(&self, now: i64) -> bool {
        self.seconds_left(now).is_some_and(|s| s <= 0)
    }
}

/// `<state dir>/token.json`; `None` only without any state directory (no HOME).
pub fn token_path(settings: &Settings) -> Option<PathBuf> {
    settings.state_dir().map(|d| d.join(TOKEN_FILE))
}

/// `<state dir>/chrome-profile`.
pub fn profile_dir(settings: &Settings) -> Option<PathBuf> {
    settings.state_dir().map(|d| d.join(PROFILE_DIR))
}

/// The stored token, if there is a readable, well-formed one. Cheap (one small file read);
/// the daemon calls it per request, so a new login or a logout applies without a restart.
/// An expired token is still returned: the caller reports it (see [`StoredToken::is_expired`]).
pub fn load_token(settings: &Settings) -> Option<StoredToken> {
    read_token_file(&token_path(settings)?)
}

/// Reads and checks one token file.
pub fn read_token_file(path: &Path) -> Option<StoredToken> {
    let file = fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES).read_to_string(&mut text).ok()?;
    let token: StoredToken = serde_json::from_str(&text).ok()?;
    valid_token(&token.token).then_some(token)
}

/// Creates `dir` (and its parents) with mode 0700, and tightens it to 0700 if it exists.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes the token file atomically with mode 0600; returns its path.
pub fn save_token(settings: &Settings, token: &StoredToken) -> Result<PathBuf, LoginError> {
    let dir = settings.state_dir().ok_or(LoginError::NoStateDir)?;
    let path = dir.join(TOKEN_FILE);
    let io_error = |what: &str, e: io::Error| LoginError::Io {
        what: format!("{what} {}", path.display()),
        reason: e.to_string(),
    };
    ensure_private_dir(&dir).map_err(|e| LoginError::Io {
        what: format!("cannot create the state directory {}", dir.display()),
        reason: e.to_string(),
    })?;
    let json = serde_json::to_vec_pretty(token).map_err(|e| LoginError::Io {
        what: "cannot encode the token file".to_string(),
        reason: e.to_string(),
    })?;
    // tempfile creates the file with mode 0600 in the same directory (same filesystem).
    let mut temp = tempfile::Builder::new()
        .prefix(".token-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| io_error("cannot write", e))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| io_error("cannot write", e))?;
    temp.write_all(&json)
        .and_then(|()| temp.write_all(b"\n"))
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| io_error("cannot write", e))?;
    temp.persist(&path)
        .map_err(|e| io_error("cannot replace", e.error))?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// Deletes the token file; `Some(path)` if there was one.
pub fn remove_token(settings: &Settings) -> io::Result<Option<PathBuf>> {
    let Some(path) = token_path(settings) else {
        return Ok(None);
    };
    match fs::remove_file(&path) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletes the browser profile; `Some(path)` if there was one.
pub fn remove_profile(settings: &Settings) -> io::Result<Option<PathBuf>> {
    let Some(path) = profile_dir(settings) else {
        return Ok(None);
    };
    match fs::remove_dir_all(&path) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_in(dir: &Path) -> Settings {
        Settings {
            state_dir: Some(dir.join("state")),
            ..Settings::default()
        }
    }

    #[test]
    fn save_then_load_round_trips_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let settings = settings_in(tmp.path());
        let token = StoredToken {
            token: "sk-ant-oat01-test".into(),
            expires_at: Some(2_000_000_000),
            created_at: 1_700_000_000,
        };
        let path = save_token(&settings, &token).unwrap();
        assert_eq!(path, tmp.path().join("state/token.json"));
        assert_eq!(load_token(&settings), Some(token.clone()));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tmp.path().join("state")), 0o700);
        // Replacing keeps one file and no temp leftovers.
        save_token(&settings, &token).unwrap();
        let names: Vec<_> = fs::read_dir(tmp.path().join("state"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(names.len(), 1);
        assert!(!format!("{token:?}").contains("sk-ant"));
    }

    #[test]
    fn loose_existing_dir_is_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn garbage_or_missing_files_load_as_none() {
        let tmp = tempfile::tempdir().unwrap();
        let settings = settings_in(tmp.path());
        assert_eq!(load_token(&settings), None);
        fs::create_dir_all(tmp.path().join("state")).unwrap();
        fs::write(tmp.path().join("state/token.json"), "not json").unwrap();
        assert_eq!(load_token(&settings), None);
        fs::write(
            tmp.path().join("state/token.json"),
            r#"{"token":"has space","expires_at":null,"created_at":1}"#,
        )
        .unwrap();
        assert_eq!(load_token(&settings), None);
    }

    #[test]
    fn expiry_arithmetic() {
        let t = StoredToken {
            token: "t".into(),
            expires_at: Some(10 * DAY),
            created_at: 0,
        };
        assert_eq!(t.days_left(0), Some(10));
        assert_eq!(t.days_left(10 * DAY - 1), Some(0));
        assert!(!t.is_expired(10 * DAY - 1));
        assert!(t.is_expired(10 * DAY));
        assert_eq!(t.days_left(11 * DAY), Some(-1));
    }

    #[test]
    fn remove_reports_what_was_there() {
        let tmp = tempfile::tempdir().unwrap();
        let settings = settings_in(tmp.path());
        assert_eq!(remove_token(&settings).unwrap(), None);
        let token = StoredToken {
            token: "t".into(),
            expires_at: None,
            created_at: 0,
        };
        let path = save_token(&settings, &token).unwrap();
        assert_eq!(remove_token(&settings).unwrap(), Some(path));
        fs::create_dir_all(profile_dir(&settings).unwrap().join("Default")).unwrap();
        assert!(remove_profile(&settings).unwrap().is_some());
        assert!(!profile_dir(&settings).unwrap().exists());
    }
}
