//! `claude-max-proxy login --no-browser / logout / status` against the fake OAuth server:
//! the pasted-code flow end to end, every failure the user can meet (state mismatch, token
//! endpoint error, no browser, timeout), the CLI-login probe, logout and status.
//! The browser flow is in `login_chrome.rs`.

mod support;

use std::time::{Duration, Instant};

use support::fake_oauth::{Behavior, FakeOAuth, ONE_YEAR};
use support::login_env::{LoginEnv, mode, now, stored, text};

const DAY: i64 = 86_400;

/// Writes a token file as `login` would.
fn write_token(env: &LoginEnv, token: &str, expires_at: Option<i64>) {
    std::fs::create_dir_all(env.state_dir()).unwrap();
    let json = serde_json::json!({"token": token, "expires_at": expires_at, "created_at": now()});
    std::fs::write(env.token_file(), json.to_string()).unwrap();
}

/// A CLI home that the real CLI 2.1.332 reports as logged in (`authMethod: claude.ai`).
fn cli_logged_in_home(env: &LoginEnv) {
    let dir = env.home.path().join(".claude");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".credentials.json"),
        r#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-cli","refreshToken":"sk-ant-ort01-cli",
            "expiresAt":4102444800000,"scopes":["user:inference","user:profile"],
            "subscriptionType":"max"}}"#,
    )
    .unwrap();
}

/// The pasted `code#state` is exchanged with the PKCE verifier and the token stored 0600 in
/// a 0700 directory, and never printed.
#[tokio::test]
async fn no_browser_login_with_the_code_piped_in_stores_the_token() {
    let fake = FakeOAuth::start(Behavior::default()).await;
    let env = LoginEnv::new(&fake);
    let output = env
        .paste_login(&[], |code, state| format!("  {code}#{state}  "))
        .await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );

    let minted = fake.minted();
    assert_eq!(minted.len(), 1, "one successful exchange");
    let file = stored(&env);
    assert_eq!(file["token"], minted[0].as_str());
    let created = file["created_at"].as_i64().unwrap();
    assert!((now() - created).abs() < 120, "{file}");
    assert_eq!(file["expires_at"].as_i64().unwrap() - created, ONE_YEAR);
    assert_eq!(mode(&env.token_file()), 0o600);
    assert_eq!(mode(&env.state_dir()), 0o700);

    assert!(
        stdout.contains(&env.token_file().display().to_string()),
        "{stdout}"
    );
    assert!(stdout.contains("365 days left"), "{stdout}");
    assert!(!stdout.contains(&minted[0]) && !stderr.contains(&minted[0]));
    let request = &fake.token_requests()[0];
    assert_eq!(request["grant_type"], "authorization_code");
    assert_eq!(request["redirect_uri"], fake.redirect_uri());
}

/// A code that comes back with another state is rejected before any exchange.
#[tokio::test]
async fn state_mismatch_is_rejected() {
    let fake = FakeOAuth::start(Behavior::default()).await;
    let env = LoginEnv::new(&fake);
    let output = env
        .paste_login(&[], |code, _| {
            format!("{code}#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        })
        .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("different state"), "{stderr}");
    assert!(
        fake.token_requests().is_empty(),
        "no exchange was attempted"
    );
    assert!(!env.token_file().exists());
}

/// A 400 from the token endpoint is reported with its message, and without the code.
#[tokio::test]
async fn token_endpoint_400_reports_its_message_without_secrets() {
    let fake = FakeOAuth::start(Behavior {
        token_error: true,
        ..Behavior::default()
    })
    .await;
    let env = LoginEnv::new(&fake);
    let mut pasted_code = String::new();
    let output = env
        .paste_login(&[], |code, state| {
            pasted_code = code.to_string();
            format!("{code}#{state}")
        })
        .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("HTTP 400"), "{stderr}");
    assert!(stderr.contains("Invalid 'code' in request."), "{stderr}");
    assert!(!stderr.contains(&pasted_code), "{stderr}");
    let verifier = fake.token_requests()[0]["code_verifier"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!stderr.contains(&verifier));
    assert!(!env.token_file().exists());
}

/// Pasting something that is not `code#state` fails with a hint and stores nothing.
#[tokio::test]
async fn garbage_paste_is_refused() {
    let fake = FakeOAuth::start(Behavior::default()).await;
    let env = LoginEnv::new(&fake);
    let output = env.paste_login(&[], |code, _| code.to_string()).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("code#state"), "{stderr}");
    assert!(!env.token_file().exists());
}

/// Without any browser the error lists what was searched and the three ways out.
#[tokio::test]
async fn no_browser_found_names_the_search_and_the_ways_out() {
    let fake = FakeOAuth::start(Behavior::default()).await;
    let mut env = LoginEnv::new(&fake);
    let empty = tempfile::tempdir().unwrap();
    env.set("PATH", &empty.path().display().to_string());
    let output = env.run(&["login"]).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    for needle in [
        "no Chrome or Chromium found",
        "google-chrome",
        "chromium",
        "on PATH",
        "CHROME",
        "chrome_path",
        "--no-browser",
    ] {
        assert!(stderr.contains(needle), "{needle} missing: {stderr}");
    }

    // An explicit path is the only candidate, and the error names it.
    env.set("CHROME", "/nonexistent/chrome-from-env");
    let stderr = text(&env.run(&["login"]).await.stderr);
    assert!(
        stderr.contains("/nonexistent/chrome-from-env (from CHROME"),
        "{stderr}"
    );
    env.set(
        "CLAUDE_MAX_PROXY_CHROME_PATH",
        "/nonexistent/chrome-from-config",
    );
    let stderr = text(&env.run(&["login"]).await.stderr);
    assert!(
        stderr.contains("/nonexistent/chrome-from-config (from chrome_path"),
        "{stderr}"
    );
    assert!(fake.authorize_queries().is_empty());
}

/// A windowed browser cannot open without a display: the error says to use `--no-browser`
/// (exit 3), and no browser is started.
#[cfg(not(target_os = "macos"))]
#[tokio::test]
async fn no_display_suggests_no_browser() {
    use std::os::unix::fs::PermissionsExt;
    let fake = FakeOAuth::start(Behavior::default()).await;
    let mut env = LoginEnv::new(&fake);
    let bin = tempfile::tempdir().unwrap();
    let marker = bin.path().join("started");
    let browser = bin.path().join("chrome");
    std::fs::write(&browser, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set(
        "CLAUDE_MAX_PROXY_CHROME_PATH",
        &browser.display().to_string(),
    );
    env.unset("CLAUDE_MAX_PROXY_LOGIN_HEADLESS");
    let output = env.run(&["login"]).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no graphical display"), "{stderr}");
    assert!(stderr.contains("--no-browser"), "{stderr}");
    assert!(!marker.exists(), "the browser was started anyway");
}

/// A login nobody finishes ends at `login_timeout_secs` and names the key.
#[tokio::test]
async fn an_unfinished_login_times_out() {
    let fake = FakeOAuth::start(Behavior::default()).await;
    let mut env = LoginEnv::new(&fake);
    env.set("CLAUDE_MAX_PROXY_LOGIN_TIMEOUT_SECS", "2");
    let mut command = env.command(&["login", "--no-browser"]);
    command.stdin(std::process::Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let _stdin_kept_open = child.stdin.take();
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("login ended by itself")
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("within 2 s"), "{stderr}");
    assert!(stderr.contains("login_timeout_secs"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// `logout` removes the token, `--all` also the browser profile; both say what they removed.
#[tokio::test]
async fn logout_removes_the_token_and_with_all_the_profile() {
    let fake = FakeOAuth::start(Behavior::default()).await;
    let env = LoginEnv::new(&fake);
    write_token(&env, "sk-ant-oat01-logout", Some(now() + 100 * DAY));
    std::fs::create_dir_all(env.profile_dir().join("Default")).unwrap();

    let output = env.run(&["logout"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains(&format!(
        "Removed the stored token {}",
        env.token_file().display()
    )));
    assert!(!env.token_file().exists());
    assert!(env.profile_dir().exists(), "plain logout keeps the profile");

    let output = env.run(&["logout", "--all"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("No stored token at"), "{stdout}");
    assert!(stdout.contains(&format!(
        "Removed the browser profile {}",
        env.profile_dir().display()
    )));
    assert!(!env.profile_dir().exists());
}

/// `status` shows the stored token's expiry, warns under 14 days, and fails once expired.
#[tokio::test]
async fn status_shows_the_stored_token_and_warns_near_expiry() {
    let fake = FakeOAuth::start(Behavior::default()).await;
    let env = LoginEnv::new(&fake);
    write_token(&env, "sk-ant-oat01-status", Some(now() + 200 * DAY + 3600));
    let output = env.run(&["status"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("auth source: stored token"), "{stdout}");
    assert!(stdout.contains(", 200 days left"), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
    assert!(!stdout.contains("sk-ant-oat01-status"));

    write_token(&env, "sk-ant-oat01-status", Some(now() + 5 * DAY + 3600));
    let output = env.run(&["status"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("warning: "), "{stdout}");
    assert!(stdout.contains("expires in 5 day(s)"), "{stdout}");

    write_token(&env, "sk-ant-oat01-status", Some(now() - 10));
    let output = env.run(&["status"]).await;
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("has expired"), "{stdout}");
}

/// `status` with api-key mode names the key's source.
#[tokio::test]
async fn status_in_api_key_mode_names_the_key() {
    let fake = FakeOAuth::start(Behavior::default()).await;
    let mut env = LoginEnv::new(&fake);
    env.set("CLAUDE_MAX_PROXY_AUTH_MODE", "api-key");
    env.set("ANTHROPIC_API_KEY", "sk-ant-api-secret");
    let output = env.run(&["status"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("auth source: API key"), "{stdout}");
    assert!(stdout.contains("ANTHROPIC_API_KEY"), "{stdout}");
    assert!(!stdout.contains("sk-ant-api-secret"));
}

/// A stored token that is not near its end makes `login` a no-op unless `--force`.
#[tokio::test]
async fn a_valid_stored_token_makes_login_a_no_op() {
    let fake = FakeOAuth::start(Behavior::default()).await;
    let env = LoginEnv::new(&fake);
    write_token(&env, "sk-ant-oat01-existing", Some(now() + 100 * DAY));
    let output = env.run(&["login", "--no-browser"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("Already logged in"), "{stdout}");
    assert!(!stdout.contains("http://"), "no login URL: {stdout}");

    let output = env
        .paste_login(&["--force"], |code, state| format!("{code}#{state}"))
        .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(stored(&env)["token"], fake.minted()[0].as_str());
}

/// The real CLI, asked with `claude auth status`, says it is logged in: `login` stops
/// unless `--force`; not logged in: `status` says there is no auth.
#[tokio::test]
async fn the_cli_login_probe_uses_the_real_cli() {
    let Some(cli) = support::real_claude() else {
        return;
    };
    let fake = FakeOAuth::start(Behavior::default()).await;
    let mut env = LoginEnv::new(&fake);
    env.set("CLAUDE_MAX_PROXY_CLI_PATH", &cli.display().to_string());
    // The probe asks about the CLI's own login: our env token must not count.
    env.set("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-env");

    let output = env.run(&["status"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "env token is a source: {stdout}");
    assert!(stdout.contains("CLAUDE_CODE_OAUTH_TOKEN"), "{stdout}");
    env.unset("CLAUDE_CODE_OAUTH_TOKEN");
    let output = env.run(&["status"]).await;
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("auth source: none"), "{stdout}");
    assert!(stdout.contains("claude-max-proxy login"), "{stdout}");

    cli_logged_in_home(&env);
    let output = env.run(&["login", "--no-browser"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("already logged in (method: claude.ai)"),
        "{stdout}"
    );
    assert!(fake.authorize_queries().is_empty());
    let output = env.run(&["status"]).await;
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("the claude CLI's own login (method: claude.ai)"),
        "{stdout}"
    );

    let output = env
        .paste_login(&["--force"], |code, state| format!("{code}#{state}"))
        .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(env.token_file().exists());
}
