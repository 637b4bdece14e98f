//! The browser login with a real (headless) Chromium driven by `claude-max-proxy login`
//! against the fake OAuth server on 127.0.0.1; then the daemon handing the stored token to
//! the real CLI 2.1.332, which must send it to the mock Messages API as
//! `Authorization: Bearer <token>` until `logout`.
//!
//! Needs Debian's `chromium` (installed by .ci/run) and, for the daemon part, the real CLI
//! (also .ci/run). Without them these tests say why and skip, except under `CI`.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use support::fake_oauth::{Behavior, CallbackStyle, FakeOAuth, ONE_YEAR};
use support::login_env::{LoginEnv, chromium, mode, now, stored, text};
use support::mock_anthropic::{Credential, MockAnthropic};
use support::{Daemon, DaemonOptions, alive, descendants, eventually};

fn need_chromium() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        support::skip_or_fail("Chromium is not installed (apt-get install chromium; see .ci/run)");
    }
    found
}

/// Browser processes under `pid`: the main one has no `--type=`.
fn browser_processes(pid: u32) -> Vec<(u32, bool)> {
    descendants(pid)
        .into_iter()
        .filter_map(|p| {
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline
                .contains("chrom")
                .then(|| (p, !cmdline.contains("--type=")))
        })
        .collect()
}

/// One chat request through the daemon; returns the HTTP status.
async fn chat(daemon: &Daemon) -> u16 {
    reqwest::Client::new()
        .post(daemon.url("/v1/chat/completions"))
        .json(&json!({"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("daemon answers")
        .status()
        .as_u16()
}

/// Chromium reaches the callback page, the code is read from the page text (the URL has
/// none), exchanged with the PKCE verifier and stored 0600/0700; the browser is closed
/// afterwards. The daemon then hands that token to the real CLI, and stops after `logout`.
#[tokio::test]
async fn chrome_login_stores_the_token_and_the_daemon_hands_it_to_the_cli() {
    if need_chromium().is_none() {
        return;
    }
    let fake = FakeOAuth::start(Behavior {
        callback: CallbackStyle::PageOnly,
        ..Behavior::default()
    })
    .await;
    let mut env = LoginEnv::new(&fake);
    let cli = support::real_claude();
    if let Some(cli) = &cli {
        // The probe runs for real: an empty HOME is not logged in, so the login proceeds.
        env.set("CLAUDE_MAX_PROXY_CLI_PATH", &cli.display().to_string());
    }
    let child = env.command(&["login"]).spawn().expect("spawn login");
    let pid = child.id().expect("login pid");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let watcher = {
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                let now: Vec<u32> = browser_processes(pid).into_iter().map(|(p, _)| p).collect();
                if let Ok(mut s) = seen.lock() {
                    s.extend(now);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let output = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("login finished")
        .expect("wait login");
    watcher.abort();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains("Opening"), "{stderr}");

    // The file: the minted token, a one-year expiry, private modes.
    let minted = fake.minted();
    assert_eq!(minted.len(), 1);
    let token = minted[0].clone();
    let file = stored(&env);
    assert_eq!(file["token"], token.as_str());
    let created = file["created_at"].as_i64().unwrap();
    assert!((now() - created).abs() < 120);
    assert_eq!(file["expires_at"].as_i64().unwrap() - created, ONE_YEAR);
    assert_eq!(mode(&env.token_file()), 0o600);
    assert_eq!(mode(&env.state_dir()), 0o700);
    assert_eq!(mode(&env.profile_dir()), 0o700);
    assert!(
        env.profile_dir().join("Default").exists(),
        "persistent profile"
    );
    assert!(
        stdout.contains(&env.token_file().display().to_string()),
        "{stdout}"
    );
    assert!(!stdout.contains(&token) && !stderr.contains(&token));

    // The browser was seen, and is gone.
    let pids = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(!pids.is_empty(), "no browser process was seen");
    assert!(
        eventually(Duration::from_secs(10), || pids.iter().all(|p| !alive(*p))).await,
        "browser processes outlived the login"
    );

    // The daemon hands the stored token to the real CLI.
    let Some(cli) = cli else {
        return;
    };
    let mock = MockAnthropic::start().await;
    // The token the login stored is what the CLI must present upstream.
    mock.accept(Credential::OAuthToken(token.to_string()));
    let daemon = Daemon::start(
        DaemonOptions {
            cli: Some(cli),
            ..DaemonOptions::default()
        }
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "0")
        .env(
            "CLAUDE_MAX_PROXY_STATE_DIR",
            &env.state_dir().display().to_string(),
        ),
    )
    .await;
    let status = chat(&daemon).await;
    let bearer = format!("Bearer {token}");
    let with_token = |mock: &MockAnthropic| {
        mock.message_requests()
            .iter()
            .filter(|r| r.header("authorization") == Some(bearer.as_str()))
            .count()
    };
    assert_eq!(
        status,
        200,
        "the CLI should have used the stored token (is load_token wired into the runner?); \
         daemon stderr:\n{}",
        daemon.stderr()
    );
    assert!(
        with_token(&mock) >= 1,
        "the mock never saw the stored token"
    );
    assert!(
        !daemon.stderr().contains(&token),
        "the token leaked into the log"
    );

    // After logout the next run no longer carries it (the CLI has no login of its own).
    let output = env.run(&["logout"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let before = with_token(&mock);
    let status = chat(&daemon).await;
    assert_ne!(status, 200, "without a token the run cannot succeed");
    assert_eq!(with_token(&mock), before, "the token was sent after logout");
}

/// A callback whose state is not ours (here in the URL's query) is rejected; nothing stored.
#[tokio::test]
async fn chrome_login_rejects_a_state_mismatch() {
    if need_chromium().is_none() {
        return;
    }
    let fake = FakeOAuth::start(Behavior {
        callback: CallbackStyle::Query,
        wrong_state: Some("B".repeat(43)),
        ..Behavior::default()
    })
    .await;
    let env = LoginEnv::new(&fake);
    let output = env.run(&["login"]).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("different state"), "{stderr}");
    assert!(fake.token_requests().is_empty());
    assert!(!env.token_file().exists());
}

/// Closing the browser mid-login aborts cleanly: a clear message, exit 1, nothing stored,
/// no browser process left.
#[tokio::test]
async fn closing_the_browser_aborts_the_login() {
    if need_chromium().is_none() {
        return;
    }
    let fake = FakeOAuth::start(Behavior {
        hang_authorize: true,
        ..Behavior::default()
    })
    .await;
    let env = LoginEnv::new(&fake);
    let child = env.command(&["login"]).spawn().expect("spawn login");
    let pid = child.id().expect("login pid");
    assert!(
        eventually(Duration::from_secs(60), || !fake
            .authorize_queries()
            .is_empty())
        .await,
        "the browser never opened the authorize page"
    );
    let all: Vec<u32> = browser_processes(pid).into_iter().map(|(p, _)| p).collect();
    let main: Vec<u32> = browser_processes(pid)
        .into_iter()
        .filter_map(|(p, is_main)| is_main.then_some(p))
        .collect();
    assert_eq!(
        main.len(),
        1,
        "one main browser process: {:?}",
        browser_processes(pid)
    );
    // What the window manager does when the user closes the last window.
    support::send_signal(main[0], libc::SIGTERM);
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("login ended after the browser closed")
        .expect("wait login");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("browser was closed"), "{stderr}");
    assert!(!env.token_file().exists());
    assert!(
        eventually(Duration::from_secs(10), || all.iter().all(|p| !alive(*p))).await,
        "browser processes outlived the login"
    );
}

/// A login nobody finishes in the browser ends at `login_timeout_secs`, closing the browser.
#[tokio::test]
async fn chrome_login_times_out_and_closes_the_browser() {
    if need_chromium().is_none() {
        return;
    }
    let fake = FakeOAuth::start(Behavior {
        hang_authorize: true,
        ..Behavior::default()
    })
    .await;
    let mut env = LoginEnv::new(&fake);
    env.set("CLAUDE_MAX_PROXY_LOGIN_TIMEOUT_SECS", "8");
    let child = env.command(&["login"]).spawn().expect("spawn login");
    let pid = child.id().expect("login pid");
    assert!(
        eventually(Duration::from_secs(8), || !fake
            .authorize_queries()
            .is_empty())
        .await,
        "the browser never opened the authorize page"
    );
    let all: Vec<u32> = browser_processes(pid).into_iter().map(|(p, _)| p).collect();
    let output = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .expect("login ended at its timeout")
        .expect("wait login");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("within 8 s"), "{stderr}");
    assert!(!all.is_empty());
    assert!(
        eventually(Duration::from_secs(10), || all.iter().all(|p| !alive(*p))).await,
        "browser processes outlived the login"
    );
}
