//! Running `claude-max-proxy login / logout / status` in a sealed environment: a temp HOME
//! with its own XDG directories, the OAuth settings pointed at a [`FakeOAuth`], the browser
//! headless, and the CLI probe pointed at nothing unless a test says otherwise.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use super::fake_oauth::FakeOAuth;

/// Upper bound for one login command (a headless Chromium login takes a few seconds).
pub const RUN_LIMIT: Duration = Duration::from_secs(90);

pub struct LoginEnv {
    pub home: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl LoginEnv {
    pub fn new(fake: &FakeOAuth) -> LoginEnv {
        let home = tempfile::tempdir().expect("temp home");
        let mut env = vec![
            (
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_default(),
            ),
            ("HOME".to_string(), home.path().display().to_string()),
            (
                "XDG_DATA_HOME".to_string(),
                home.path().join("data").display().to_string(),
            ),
            (
                "XDG_CONFIG_HOME".to_string(),
                home.path().join("config").display().to_string(),
            ),
            (
                "CLAUDE_MAX_PROXY_CLI_PATH".to_string(),
                "/nonexistent/claude".to_string(),
            ),
            (
                "CLAUDE_MAX_PROXY_LOGIN_HEADLESS".to_string(),
                "1".to_string(),
            ),
        ];
        env.extend(fake.env());
        // CLAUDE_MAX_PROXY_TEST_HEADFUL=1 shows the browser (e.g. under `xvfb-run`), as a
        // user would see it.
        if std::env::var_os("CLAUDE_MAX_PROXY_TEST_HEADFUL").is_some() {
            env.retain(|(k, _)| k != "CLAUDE_MAX_PROXY_LOGIN_HEADLESS");
            for key in ["DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY"] {
                if let Ok(value) = std::env::var(key) {
                    env.push((key.to_string(), value));
                }
            }
        }
        LoginEnv { home, env }
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn unset(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home.path().join("data").join("claude-max-proxy")
    }

    pub fn token_file(&self) -> PathBuf {
        self.state_dir().join("token.json")
    }

    pub fn profile_dir(&self) -> PathBuf {
        self.state_dir().join("chrome-profile")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_claude-max-proxy"));
        command
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs a command to its end (bounded) with no input.
    pub async fn run(&self, args: &[&str]) -> Output {
        let child = self.command(args).spawn().expect("spawn claude-max-proxy");
        tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
            .await
            .expect("claude-max-proxy did not finish in time")
            .expect("wait claude-max-proxy")
    }

    /// `login --no-browser` as a user would do it: read the URL it prints, open it (the
    /// fake redirects to the callback with the code), and paste what `paste` makes of the
    /// callback's `(code, state)`.
    pub async fn paste_login(
        &self,
        extra_args: &[&str],
        paste: impl FnOnce(&str, &str) -> String,
    ) -> Output {
        let mut args = vec!["login", "--no-browser"];
        args.extend_from_slice(extra_args);
        let mut command = self.command(&args);
        command.stdin(Stdio::piped());
        let mut child = command.spawn().expect("spawn login");
        let mut stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut printed = String::new();
        let url = tokio::time::timeout(RUN_LIMIT, async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                printed.push_str(&line);
                printed.push('\n');
                if line.starts_with("http") {
                    return line;
                }
            }
            panic!("login printed no URL; stdout: {printed}");
        })
        .await
        .expect("login printed no URL in time");
        let (code, state) = follow_authorize(&url).await;
        stdin
            .write_all(format!("{}\n", paste(&code, &state)).as_bytes())
            .await
            .expect("write the code");
        drop(stdin);
        let rest = tokio::spawn(async move {
            let mut text = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let mut output = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
            .await
            .expect("login did not finish in time")
            .expect("wait login");
        printed.push_str(&rest.await.unwrap_or_default());
        output.stdout = printed.into_bytes();
        output
    }
}

/// Opens the authorize URL without following the redirect; returns the callback's
/// `(code, state)`.
pub async fn follow_authorize(url: &str) -> (String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = client.get(url).send().await.expect("authorize page");
    assert_eq!(
        response.status().as_u16(),
        302,
        "authorize did not redirect"
    );
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_string();
    let parsed = reqwest::Url::parse(&location).expect("callback URL");
    let get = |k: &str| {
        parsed
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {k} in {location}"))
    };
    (get("code"), get("state"))
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Now in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Reads the token file as JSON.
pub fn stored(env: &LoginEnv) -> serde_json::Value {
    let text = std::fs::read_to_string(env.token_file()).expect("token file");
    serde_json::from_str(&text).expect("token file is JSON")
}

/// The Chromium/Chrome on PATH, if any.
pub fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
        "chrome",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}
