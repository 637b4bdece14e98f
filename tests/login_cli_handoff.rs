//! `claude-max-proxy login --cli`: the proxy's own browser login (against the fake OAuth
//! server) with the scopes of the CLI's login, handed to the real CLI 2.1.332's
//! `claude auth login` as a refresh token. The CLI refreshes it at platform.claude.com and
//! reads the profile (both answered by the TLS stand-in), stores its own credentials, the
//! stored proxy token goes, and a daemon on that login sees the plan's windows.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::fake_oauth::{Behavior, CLI_LOGIN_SCOPES, FakeOAuth};
use support::login_env::{LoginEnv, text};
use support::tls_standin::{MINTED_ACCESS_TOKEN, MINTED_REFRESH_TOKEN, StandIn, window};
use support::{Daemon, DaemonOptions};

/// The whole hand-over: the login asks for the CLI's scopes without a lifetime, the CLI
/// takes the refresh token (nothing of it in the proxy's output), its credentials carry the
/// profile scope, the stored token is removed, and the daemon then shows the windows.
#[tokio::test]
async fn login_cli_hands_a_profile_login_to_the_cli() {
    let Some(cli) = support::real_claude() else {
        return;
    };
    let fake = FakeOAuth::start(Behavior::default()).await;
    let standin = StandIn::start().await;
    let reset = claude_max_proxy::clock::now() / 3600 * 3600 + 3 * 3600;
    standin.set_usage(json!({"five_hour": window(12.0, reset),
                             "seven_day": window(3.0, reset + 86_400)}));
    let mut env = LoginEnv::new(&fake);
    env.set("CLAUDE_MAX_PROXY_CLI_PATH", &cli.display().to_string());
    for (key, value) in standin.cli_env() {
        env.set(&key, &value);
    }
    // A token from an earlier `claude-max-proxy login`, which would shadow the CLI's login.
    std::fs::create_dir_all(env.state_dir()).expect("state dir");
    std::fs::write(
        env.token_file(),
        json!({"token": "sk-ant-oat01-old", "expires_at": null, "created_at": 0}).to_string(),
    )
    .expect("token file");

    let output = env
        .paste_login(&["--cli"], |code, state| format!("{code}#{state}"))
        .await;
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("The claude CLI took the login"), "{stdout}");
    assert!(stdout.contains("Removed the stored token"), "{stdout}");
    assert!(!env.token_file().exists());
    let refresh = fake.refresh_minted();
    assert_eq!(refresh.len(), 1, "{:?}", fake.token_requests());
    for secret in refresh.iter().chain(fake.minted().iter()) {
        assert!(!stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()));
    }
    let exchange = &fake.token_requests()[0];
    assert!(exchange.get("expires_in").is_none(), "{exchange}");
    assert!(
        fake.authorize_queries()[0].contains("user%3Aprofile"),
        "{:?}",
        fake.authorize_queries()
    );

    let grants: Vec<_> = standin
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/v1/oauth/token"))
        .collect();
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0].host, "platform.claude.com");
    assert_eq!(grants[0].body["grant_type"], "refresh_token");
    assert_eq!(grants[0].body["refresh_token"], refresh[0].as_str());
    assert_eq!(grants[0].body["scope"], CLI_LOGIN_SCOPES);

    let credentials: Value = serde_json::from_str(
        &std::fs::read_to_string(env.home.path().join(".claude/.credentials.json"))
            .expect("the CLI stored its login"),
    )
    .expect("credentials JSON");
    let login = &credentials["claudeAiOauth"];
    assert_eq!(login["accessToken"], MINTED_ACCESS_TOKEN);
    assert_eq!(login["refreshToken"], MINTED_REFRESH_TOKEN);
    let scopes: Vec<&str> = login["scopes"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(scopes.contains(&"user:profile"), "{credentials}");

    // Again, with a token stored since: the CLI is logged in already, only the token goes.
    std::fs::write(
        env.token_file(),
        json!({"token": "sk-ant-oat01-again", "expires_at": null, "created_at": 0}).to_string(),
    )
    .expect("token file");
    let again = env.run(&["login", "--cli", "--no-browser"]).await;
    let again_out = text(&again.stdout);
    assert!(again.status.success(), "{again_out}{}", text(&again.stderr));
    assert!(again_out.contains("already logged in"), "{again_out}");
    assert!(!env.token_file().exists(), "{again_out}");
    assert_eq!(fake.refresh_minted().len(), 1, "no second browser login");

    // The daemon on that HOME: the CLI's own login, and the plan's windows.
    let mock = support::mock_anthropic::MockAnthropic::start().await;
    let mut options = DaemonOptions {
        cli: Some(cli),
        ..DaemonOptions::default()
    }
    .env("HOME", &env.home.path().display().to_string())
    .env("ANTHROPIC_BASE_URL", &mock.base_url())
    .env("CLAUDE_MAX_PROXY_QUOTA_REFRESH_SECS", "60");
    for (key, value) in standin.cli_env() {
        options = options.env(&key, &value);
    }
    let daemon = Daemon::start(options).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let health = loop {
        let health = daemon.health().await;
        if health["quota"]["usage_check"]["answered_at"].is_i64() {
            break health;
        }
        assert!(tokio::time::Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(health["auth"]["source"], "cli-login", "{health}");
    assert_eq!(health["quota"]["windows_visible"], true, "{health}");
    let five = health["quota"]["windows"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["window"] == "five_hour"))
        .unwrap_or_else(|| panic!("{health}"));
    assert_eq!(five["utilization"], 0.12);
    assert_eq!(five["resets_at"], reset);
    assert!(
        standin
            .seen()
            .iter()
            .any(|s| s.path.starts_with("/api/oauth/usage")
                && s.authorization.as_deref() == Some(&format!("Bearer {MINTED_ACCESS_TOKEN}"))),
        "the usage was not asked with the CLI's new login"
    );
    assert!(mock.message_requests().is_empty());
}
