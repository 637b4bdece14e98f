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
    support::run_pytest(&python, "tests/python", &daemon.url("/v1"), &daemon).await;
}
