//! The official `openai` Python SDK (pinned in tests/python/requirements.txt) as a client
//! of the real daemon with the fake CLI: tests/python/test_openai_sdk.py runs under pytest
//! and must pass whole.

mod support;

use support::{Daemon, DaemonOptions};

/// models.list, chat.completions.create (plain and streaming with include_usage) and the
/// SDK's own exception classes for our error statuses.
#[tokio::test]
async fn openai_python_sdk_works_unchanged() {
    let Some(python) = support::venv_python() else {
        return;
    };
    let daemon = Daemon::start(DaemonOptions::fake()).await;
    let output = tokio::process::Command::new(python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/python",
        ])
        .current_dir(support::root())
        .env("PROXY_BASE_URL", daemon.url("/v1"))
        .output()
        .await
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "pytest failed:\n{stdout}\n{stderr}\ndaemon log:\n{}",
        daemon.stderr()
    );
    assert!(
        !stdout.contains("skipped"),
        "no SDK test may skip:\n{stdout}"
    );
}
