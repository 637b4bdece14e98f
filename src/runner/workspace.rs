//! The per-run directory: private files (system prompt) beside an empty working directory
//! for the CLI and the CLI's cache, and the owner mark that lets a later daemon sweep it if
//! this one is killed (see [`super::sweep`]). Removed on drop, on the runtime's blocking threads when there is
//! a runtime: removing a tree can take a while (ext4 frees and discards the blocks of each
//! directory, measured ~0.1 ms a directory here), time that would otherwise hold up the
//! other connections served by the same worker thread.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A per-run directory: `<root>/run<random>/` holding the private files, and its `cwd/`
/// subdirectory where the CLI runs (empty, so it finds no project files). Removed on drop.
#[derive(Debug)]
pub struct Workspace {
    /// Removes the directory when dropped; `None` once handed to its removal.
    dir: Option<tempfile::TempDir>,
    /// The run directory.
    path: PathBuf,
    pub cwd: PathBuf,
}

impl Workspace {
    /// Makes `<root>/run<random>/` with its owner mark `owner` (this daemon instance).
    /// `root` is canonical (the CLI names project directories after the canonical path of
    /// its working directory, and the session files must be where it looks).
    pub fn create(root: &Path, owner: &str) -> std::io::Result<Workspace> {
        let dir = tempfile::Builder::new()
            .prefix(super::sweep::RUN_PREFIX)
            .rand_bytes(12)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(root)?;
        super::sweep::write_owner(dir.path(), owner)?;
        let cwd = dir.path().join("cwd");
        std::fs::DirBuilder::new().mode(0o700).create(&cwd)?;
        Ok(Workspace {
            path: dir.path().to_path_buf(),
            dir: Some(dir),
            cwd,
        })
    }

    /// The run directory (the mark its processes carry).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Where the CLI keeps its cache for this run (`XDG_CACHE_HOME`): inside the run
    /// directory, so it goes with it.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir().join("cache")
    }

    /// Writes a 0600 file in the private part of the workspace.
    pub fn write_private(&self, name: &str, text: &str) -> std::io::Result<PathBuf> {
        use std::io::Write;
        let path = self.dir().join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(text.as_bytes())?;
        Ok(path)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            // A removal not started when the runtime shuts down is dropped with its
            // closure, which removes the directory there and then.
            Ok(runtime) => {
                runtime.spawn_blocking(move || drop(dir));
            }
            Err(_) => drop(dir),
        }
    }
}
