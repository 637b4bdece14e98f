//! Where per-run directories live: a private directory of this user's, checked before use.
//!
//! `work_dir` when configured; else `$XDG_RUNTIME_DIR/claude-max-proxy` (a per-user tmpfs
//! that nobody else can enter); else `$TMPDIR/claude-max-proxy-<uid>`. The directory is
//! created 0700; an existing one must be a real directory (not a link), owned by this user
//! and closed to everyone else, or the daemon refuses to start: in a shared temp directory
//! another user could have made it first and would then see every prompt. A `work_dir` the
//! user named and owns is closed (chmod 0700) instead of refused.

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The work root for these settings and this environment.
pub fn choose(work_dir: Option<&Path>, xdg_runtime_dir: Option<OsString>, uid: u32) -> PathBuf {
    if let Some(dir) = work_dir {
        return dir.to_path_buf();
    }
    match xdg_runtime_dir.filter(|v| !v.is_empty()).map(PathBuf::from) {
        Some(runtime) if runtime.is_dir() => runtime.join("claude-max-proxy"),
        _ => std::env::temp_dir().join(format!("claude-max-proxy-{uid}")),
    }
}

/// Creates `root` (0700) if missing and checks that it is private and ours; `named` (the
/// user's own `work_dir`) is made private rather than refused when it is open.
pub fn prepare(root: &Path, uid: u32, named: bool) -> crate::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .map_err(|e| cannot_create(root, &e))?;
        }
        Err(e) => return Err(cannot_create(root, &e).into()),
    }
    let meta = std::fs::symlink_metadata(root).map_err(|e| cannot_create(root, &e))?;
    let fix = "Remove it if it is stale, or set `work_dir` (CLAUDE_MAX_PROXY_WORK_DIR) to a \
               private directory of yours (mode 0700).";
    if !meta.file_type().is_dir() {
        return Err(format!(
            "the work directory {} is not a directory (a link or a file). {fix}",
            root.display()
        )
        .into());
    }
    if meta.uid() != uid {
        return Err(format!(
            "the work directory {} belongs to uid {}, not to this user (uid {uid}): its owner \
             could read every prompt. {fix}",
            root.display(),
            meta.uid()
        )
        .into());
    }
    if meta.mode() & 0o077 != 0 && named {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            format!(
                "cannot make the work directory {} private: {e}",
                root.display()
            )
        })?;
        tracing::info!(
            "made the work directory {} private (mode 0700)",
            root.display()
        );
    } else if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "the work directory {} is open to other users (mode {:o}); run `chmod 700 {}`. {fix}",
            root.display(),
            meta.mode() & 0o777,
            root.display()
        )
        .into());
    }
    Ok(())
}

fn cannot_create(root: &Path, e: &std::io::Error) -> String {
    format!(
        "cannot create the work directory {}: {e}. Set `work_dir` (CLAUDE_MAX_PROXY_WORK_DIR) \
         to a directory you can write.",
        root.display()
    )
}

/// The real user id.
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn runtime_dir_wins_over_tmp() {
        let runtime = tempfile::tempdir().unwrap();
        let root = choose(None, Some(runtime.path().as_os_str().to_owned()), 1000);
        assert_eq!(root, runtime.path().join("claude-max-proxy"));
        let root = choose(None, None, 1000);
        assert!(root.ends_with("claude-max-proxy-1000"));
        let explicit = choose(Some(Path::new("/x/y")), None, 1000);
        assert_eq!(explicit, PathBuf::from("/x/y"));
    }

    /// A root that others can enter is refused; a fresh one is made 0700.
    #[test]
    fn refuses_an_open_root_and_makes_a_private_one() {
        let parent = tempfile::tempdir().unwrap();
        let uid = current_uid();
        let fresh = parent.path().join("fresh");
        prepare(&fresh, uid, false).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        let open = parent.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = prepare(&open, uid, false).unwrap_err().to_string();
        assert!(error.contains("chmod 700"), "{error}");
        prepare(&open, uid, true).unwrap();
        let mode = std::fs::metadata(&open).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "a named work_dir is made private");

        let error = prepare(&fresh, uid + 1, true).unwrap_err().to_string();
        assert!(error.contains("belongs to uid"), "{error}");

        let link = parent.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        assert!(
            prepare(&link, uid, true)
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
    }
}
