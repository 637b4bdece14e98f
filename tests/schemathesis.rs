//! `openapi.yaml` is kept true: schemathesis (PyPI, pinned in tests/python/requirements.txt)
//! generates requests from it — valid and invalid bodies, odd path parameters, wrong
//! methods, the stateful model-list → model-object link — against the real daemon with the
//! fake CLI, and checks every response: no 5xx, the status is documented, the body (each
//! SSE event included) matches its schema, content types, headers, `Allow` on 405.
//!
//! The three generation endpoints are covered: chat completions (OpenAI error objects), the
//! Messages API (`POST /v1/messages`, its named SSE events and `{"type":"error",…}` errors)
//! and the Responses API (`POST /v1/responses`, the `response` object, its named events with
//! sequence numbers, OpenAI error objects), and `POST /v1/messages/count_tokens` (the
//! local estimate).
//!
//! `tests/python/schemathesis_hooks.py` points most generated chat, Messages and Responses
//! bodies at a served model so the CLI path is exercised, not only validation (and has the
//! fake CLI cut or crash some Responses answers, for `response.incomplete` and
//! `response.failed`). The run is bounded (examples per operation, a fixed seed, a time
//! budget) and reproducible.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::{Daemon, DaemonOptions};

/// Examples per operation and phase: enough to reach every branch of the validator the
/// schema describes, small enough for CI (~60 s on 2 cores).
const MAX_EXAMPLES: &str = "100";
/// Fixed so a failure can be replayed (`st run … --seed 7`).
const SEED: &str = "7";
/// One: with two worker threads, generating the Messages API's bodies (recursive free-form
/// JSON) makes `ast.parse` inside hypothesis fail with "SystemError: AST constructor
/// recursion depth mismatch" on CPython 3.11 (the interpreter bug of python/cpython#106905),
/// a failure of the test tool, not of the daemon. Generation is CPU-bound under the GIL, so
/// a second worker gained little anyway.
const WORKERS: &str = "1";
/// Upper bound for the whole run (it takes ~60 s on 2 cores). Not schemathesis'
/// `--max-time`: that makes it repeat fuzzing until the time is spent.
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// The checks that must pass. Not `positive_data_acceptance`: the schema cannot say that
/// the last message must be a non-empty user message, so some schema-valid bodies are an
/// honest 400. Not `negative_data_rejection` either: it needs a request the schema forbids
/// to be refused, and the proxy deliberately accepts unknown fields.
const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance,\
                      content_type_conformance,response_headers_conformance,\
                      unsupported_method,allow_header_conformance";

/// Every generated request gets a documented, schema-conforming answer and no 5xx.
#[tokio::test]
async fn daemon_conforms_to_openapi_yaml() {
    let root = support::root();
    let st = root.join(".venv/bin/st");
    if !st.exists() {
        support::skip_or_fail("schemathesis is not installed in .venv (run .ci/run)");
        return;
    }
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "8")
            .env("CLAUDE_MAX_PROXY_QUEUE_LIMIT", "64")
            .env("FAKE_CLAUDE_DELTA_MS", "1"),
    )
    .await;
    let scratch = tempfile::tempdir().expect("scratch dir");
    let mut command = tokio::process::Command::new(&st);
    command
        .arg("--config-file")
        .arg(root.join("tests/python/schemathesis.toml"))
        .arg("run")
        .arg(root.join("openapi.yaml"))
        .args(["--url", &daemon.base_url])
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--request-timeout", "20", "--workers", WORKERS])
        .env(
            "SCHEMATHESIS_HOOKS",
            root.join("tests/python/schemathesis_hooks.py"),
        )
        .env("NO_COLOR", "1")
        // .hypothesis/ and reports go here, not into the repo.
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUN_LIMIT, command.output())
        .await
        .expect("schemathesis did not finish in time")
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown with --nocapture: what was generated and checked.
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{stderr}\ndaemon log:\n{}",
        output.status,
        daemon.stderr()
    );
    assert!(
        stdout.contains("passed"),
        "schemathesis ran no test:\n{stdout}\n{stderr}"
    );
}
