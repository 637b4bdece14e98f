//! The daemon's settings: one typed [`Settings`] built once at start from
//! defaults < config file < `CLAUDE_MAX_PROXY_*` environment < command-line flags,
//! validated with errors that name the key, plus the provenance of every value for
//! `claude-max-proxy config show`.
//!
//! Parsing and merging are the `config` crate's job; this module owns the key list,
//! the defaults, validation and the masking of secrets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "CLAUDE_MAX_PROXY";

/// Keys whose values are secrets: masked by `config show`, never logged.
const SECRET_KEYS: &[&str] = &["anthropic_api_key", "api_key"];

/// Keys that hold lists; in the environment they are comma-separated.
const LIST_KEYS: &[&str] = &[
    "listen",
    "models",
    "allow_from",
    "cors_origins",
    "allowed_hosts",
];

/// How the CLI authenticates upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// The user's Claude subscription (CLI login or `CLAUDE_CODE_OAUTH_TOKEN`).
    /// Any `ANTHROPIC_API_KEY` is removed from the CLI's environment.
    Subscription,
    /// An Anthropic API key, from `anthropic_api_key` or the daemon's `ANTHROPIC_API_KEY`.
    ApiKey,
}

/// How earlier turns of a conversation reach the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HistoryMode {
    /// Write the earlier turns as a CLI session file and `--resume` it: real turns upstream.
    /// Falls back to `flatten` for one request when the CLI rejects the session.
    Resume,
    /// Put a transcript of the earlier turns into the prompt.
    Flatten,
}

/// Log line format on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting of the daemon. Field names are the config keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where to listen: IP literals, `docker` (the address containers reach the host by
    /// through `host-gateway`: docker0's, or daemon.json's `host-gateway-ip(s)`), and
    /// `docker-bridges` (every Docker bridge gateway). Never 0.0.0.0 unless written here,
    /// and then only with `api_key` set.
    pub listen: Vec<String>,
    /// TCP port; 0 picks a free one (the chosen port is printed).
    pub port: u16,
    /// Path of the `claude` executable; unset means `claude` on PATH, then the usual
    /// install locations.
    pub cli_path: Option<PathBuf>,
    /// `subscription` (default) or `api-key`.
    pub auth_mode: AuthMode,
    /// API key for `auth_mode = "api-key"`; falls back to the daemon's `ANTHROPIC_API_KEY`.
    pub anthropic_api_key: Option<String>,
    /// Extra client networks allowed to connect (CIDRs), beside loopback and the Docker
    /// bridge subnets.
    pub allow_from: Vec<String>,
    /// Clients must send `Authorization: Bearer <api_key>` on /v1/* when set.
    pub api_key: Option<String>,
    /// A file holding the client API key (first line); used when `api_key` is unset.
    pub api_key_file: Option<PathBuf>,
    /// Browser origins allowed by CORS; empty (default) sends no CORS headers at all and
    /// refuses every request a web page of another origin makes.
    pub cors_origins: Vec<String>,
    /// Extra Host names clients may use to reach the daemon (besides localhost, this
    /// machine's addresses and hostname, host.docker.internal and the like); any other
    /// Host is refused (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Check the Host header (default). `false` is accepted only with `api_key`.
    pub check_host: bool,
    /// Open connections at most; more are closed at once (and counted in /health).
    pub max_connections: usize,
    /// A connection with no request in flight that sends nothing this long is closed.
    pub connection_idle_secs: u64,
    /// A request body must arrive within this time (408 otherwise).
    pub body_read_timeout_secs: u64,
    /// Request body bytes being read at once, over all connections (503 beyond).
    pub body_budget_bytes: usize,
    /// Serve Prometheus metrics at `GET /metrics`.
    pub metrics: bool,
    /// With a client API key set, `/metrics` needs it too (default); `false` opens it to
    /// scrapers without the key. No effect without a key.
    pub metrics_requires_key: bool,
    /// Refuse requests that would be billed as extra usage (402) instead of serving them.
    pub refuse_overage: bool,
    /// How old the plan's usage (asked of the CLI with `get_usage`) may get before a read of
    /// /health, /, /metrics or `status` asks again; 0 never asks.
    pub quota_refresh_secs: u64,
    /// How long in-flight requests may finish after SIGTERM before their CLIs are ended.
    pub shutdown_grace_secs: u64,
    /// How many CLI processes may run at once (each costs 200–300 MB).
    pub max_concurrent: usize,
    /// How many requests may wait for a free CLI slot before new ones get 429.
    pub queue_limit: usize,
    /// How long a request may wait in the queue before it gets 429.
    pub queue_timeout_secs: u64,
    /// Limit from starting the CLI to its first content.
    pub first_token_timeout_secs: u64,
    /// Limit on silence between two CLI events once content flows.
    pub idle_timeout_secs: u64,
    /// Limit on one whole request.
    pub total_timeout_secs: u64,
    /// How long a streaming response holds its headers waiting for the first content,
    /// so that early failures still get a real HTTP status.
    pub stream_header_hold_ms: u64,
    /// Interval of SSE comment keep-alives while a stream waits.
    pub keepalive_secs: u64,
    /// `CLAUDE_CODE_MAX_RETRIES` for the CLI (its own default, 10, retries even a 401).
    pub cli_max_retries: u32,
    /// CLI processes kept started and waiting for the next request with the same setup
    /// (0 turns the warm pool off).
    pub warm: usize,
    /// A warm process unused this long is ended.
    pub warm_idle_secs: u64,
    /// Conversations whose CLI process is kept between steps — waiting for the next user
    /// turn or at client tool calls for their results (0 turns this off); within what
    /// `warm_memory_mb` leaves after the warm pool.
    pub live_sessions: usize,
    /// A kept conversation process unused this long is ended.
    pub live_idle_secs: u64,
    /// Memory the warm pool and the kept conversations may use (a CLI process is counted
    /// at 250 MB).
    pub warm_memory_mb: u64,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Largest image (decoded) accepted in a message; larger ones are a 400.
    pub max_image_bytes: usize,
    /// Responses API answers kept in memory for `previous_response_id` (0: none).
    pub responses_kept: usize,
    /// How long a kept Responses API answer can be continued.
    pub responses_kept_secs: u64,
    /// Memory the kept Responses API answers may use together (estimated).
    pub responses_kept_mb: u64,
    /// `resume` (default) or `flatten`.
    pub history: HistoryMode,
    /// Where per-request working directories are made; default: the system temp dir.
    pub work_dir: Option<PathBuf>,
    /// `text` (default) or `json`.
    pub log_format: LogFormat,
    /// Default log filter; `RUST_LOG` wins when set.
    pub log_level: String,
    /// Model ids passed to the CLI unchanged (CLI aliases like `opus` included).
    pub models: Vec<String>,
    /// Extra ids we accept, each mapped to a model the CLI understands.
    pub aliases: BTreeMap<String, String>,
    /// Ids that are not Claude's (e.g. `gpt-4o`) sent to a served model on purpose; empty
    /// by default, so such ids get 404 `model_not_found`.
    pub model_map: BTreeMap<String, String>,
    /// Where the stored login token and the browser profile live (0700);
    /// default `$XDG_DATA_HOME/claude-max-proxy`.
    pub state_dir: Option<PathBuf>,
    /// OAuth authorize endpoint used by `claude-max-proxy login`.
    pub oauth_authorize_url: String,
    /// OAuth token endpoint.
    pub oauth_token_url: String,
    /// OAuth redirect URI registered for the client id.
    pub oauth_redirect_uri: String,
    /// OAuth client id of the official CLI.
    pub oauth_client_id: String,
    /// OAuth scope requested (inference-only long-lived token).
    pub oauth_scope: String,
    /// Chrome/Chromium executable for `login`; default: search (also `CHROME`).
    pub chrome_path: Option<PathBuf>,
    /// Overall limit on an interactive login.
    pub login_timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        let aliases = [
            ("claude-opus-4", "opus"),
            ("claude-sonnet-4", "sonnet"),
            ("claude-haiku-4", "haiku"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Settings {
            listen: vec!["127.0.0.1".to_string(), "docker".to_string()],
            port: 3456,
            allow_from: Vec::new(),
            api_key: None,
            api_key_file: None,
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            check_host: true,
            max_connections: 1024,
            connection_idle_secs: 60,
            body_read_timeout_secs: 30,
            body_budget_bytes: 64 * 1024 * 1024,
            metrics: true,
            metrics_requires_key: true,
            refuse_overage: false,
            quota_refresh_secs: 60,
            shutdown_grace_secs: 30,
            cli_path: None,
            auth_mode: AuthMode::Subscription,
            anthropic_api_key: None,
            max_concurrent: 4,
            queue_limit: 32,
            queue_timeout_secs: 120,
            first_token_timeout_secs: 120,
            idle_timeout_secs: 90,
            total_timeout_secs: 600,
            stream_header_hold_ms: 8000,
            keepalive_secs: 15,
            cli_max_retries: 2,
            warm: 1,
            warm_idle_secs: 600,
            live_sessions: 4,
            live_idle_secs: 300,
            warm_memory_mb: 1536,
            max_body_bytes: 8 * 1024 * 1024,
            max_image_bytes: 5 * 1024 * 1024,
            responses_kept: 1000,
            responses_kept_secs: 3600,
            responses_kept_mb: 256,
            history: HistoryMode::Resume,
            work_dir: None,
            log_format: LogFormat::Text,
            log_level: "info".to_string(),
            models: [
                "opus",
                "sonnet",
                "haiku",
                "claude-opus-5-5",
                "claude-sonnet-5-5",
                "claude-haiku-5-5",
                "claude-opus-4-8",
                "claude-sonnet-4-5",
                "claude-haiku-4-5-20251001",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            aliases,
            model_map: BTreeMap::new(),
            state_dir: None,
            oauth_authorize_url: "https://claude.com/cai/oauth/authorize".to_string(),
            oauth_token_url: "https://platform.claude.com/v1/oauth/token".to_string(),
            oauth_redirect_uri: "https://platform.claude.com/oauth/code/callback".to_string(),
            oauth_client_id: "9d1c250a-e61b-44d9-88ed-5944d1962f5e".to_string(),
            oauth_scope: "user:inference".to_string(),
            chrome_path: None,
            login_timeout_secs: 300,
        }
    }
}

impl Settings {
    /// The client API key: `api_key`, else the first line of `api_key_file`.
    pub fn client_api_key(&self) -> Result<Option<String>, String> {
        if let Some(key) = &self.api_key {
            return Ok(Some(key.trim().to_string()));
        }
        let Some(path) = &self.api_key_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("`api_key_file`: cannot read {}: {e}", path.display()))?;
        let key = text.lines().next().unwrap_or("").trim().to_string();
        if key.is_empty() {
            return Err(format!("`api_key_file`: {} is empty", path.display()));
        }
        Ok(Some(key))
    }

    pub fn first_token_timeout(&self) -> Duration {
        Duration::from_secs(self.first_token_timeout_secs)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
    pub fn total_timeout(&self) -> Duration {
        Duration::from_secs(self.total_timeout_secs)
    }
    pub fn queue_timeout(&self) -> Duration {
        Duration::from_secs(self.queue_timeout_secs)
    }
    pub fn stream_header_hold(&self) -> Duration {
        Duration::from_millis(self.stream_header_hold_ms)
    }
    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs)
    }
    pub fn warm_idle(&self) -> Duration {
        Duration::from_secs(self.warm_idle_secs)
    }
    /// How old the usage may get before it is asked again; `None`: never asked.
    pub fn quota_refresh(&self) -> Option<Duration> {
        (self.quota_refresh_secs > 0).then(|| Duration::from_secs(self.quota_refresh_secs))
    }
    pub fn live_idle(&self) -> Duration {
        Duration::from_secs(self.live_idle_secs)
    }
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
    pub fn connection_idle(&self) -> Duration {
        Duration::from_secs(self.connection_idle_secs)
    }
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }

    /// The state directory: `state_dir`, else `$XDG_DATA_HOME/claude-max-proxy`, else
    /// `~/.local/share/claude-max-proxy`. `None` only without HOME.
    pub fn state_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.state_dir {
            return Some(dir.clone());
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
        Some(data.join("claude-max-proxy"))
    }

    /// Checks values the types cannot; each error names its key and a valid range.
    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_access()?;
        self.validate_limits()?;
        self.validate_models()
    }

    /// Listeners, client networks, keys, browsers and hosts.
    fn validate_access(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("`{key}`: {why}")));
        if self.listen.is_empty() {
            return bad("listen", "needs at least one address, e.g. [\"127.0.0.1\"]");
        }
        for addr in &self.listen {
            let keyword = matches!(addr.as_str(), "docker" | "docker-bridges");
            if !keyword && addr.parse::<std::net::IpAddr>().is_err() {
                return bad(
                    "listen",
                    &format!(
                        "`{addr}` is not an IP address (e.g. 127.0.0.1 or ::1) nor `docker` / \
                         `docker-bridges`"
                    ),
                );
            }
        }
        for cidr in &self.allow_from {
            if crate::net::Cidr::parse(cidr).is_none() {
                return bad(
                    "allow_from",
                    &format!("`{cidr}` is not a CIDR such as 192.168.1.0/24 or fd00::/8"),
                );
            }
        }
        if self.api_key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            return bad("api_key", "is empty; remove it to turn client auth off");
        }
        for origin in &self.cors_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return bad(
                    "cors_origins",
                    &format!("`{origin}` must be an origin like https://app.example or *"),
                );
            }
        }
        for host in &self.allowed_hosts {
            let valid = !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if !valid {
                return bad(
                    "allowed_hosts",
                    &format!("`{host}` is not a host name such as proxy.lan (no port, no scheme)"),
                );
            }
        }
        if !self.check_host && self.api_key.is_none() && self.api_key_file.is_none() {
            return bad(
                "check_host",
                "may be false only together with `api_key` (or `api_key_file`): without a key, \
                 any web page could reach the proxy by DNS rebinding",
            );
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return bad("max_connections", "must be between 1 and 1000000");
        }
        if self.body_budget_bytes < self.max_body_bytes {
            return bad(
                "body_budget_bytes",
                "must be at least `max_body_bytes`, or no body of the largest size could be read",
            );
        }
        Ok(())
    }

    /// Concurrency, timeouts, sizes and the warm pool.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("`{key}`: {why}")));
        if !(1..=256).contains(&self.max_concurrent) {
            return bad("max_concurrent", "must be between 1 and 256");
        }
        if self.queue_limit > 100_000 {
            return bad("queue_limit", "must be at most 100000");
        }
        for (key, v) in [
            ("queue_timeout_secs", self.queue_timeout_secs),
            ("first_token_timeout_secs", self.first_token_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("total_timeout_secs", self.total_timeout_secs),
            ("keepalive_secs", self.keepalive_secs),
            ("shutdown_grace_secs", self.shutdown_grace_secs),
            ("login_timeout_secs", self.login_timeout_secs),
            ("warm_idle_secs", self.warm_idle_secs),
            ("live_idle_secs", self.live_idle_secs),
            ("connection_idle_secs", self.connection_idle_secs),
            ("body_read_timeout_secs", self.body_read_timeout_secs),
        ] {
            if v == 0 || v > 86_400 {
                return bad(key, "must be between 1 and 86400 seconds");
            }
        }
        if self.quota_refresh_secs != 0 && !(2..=86_400).contains(&self.quota_refresh_secs) {
            return bad(
                "quota_refresh_secs",
                "must be 0 (never ask the CLI for the plan's usage) or between 2 and 86400 \
                 seconds",
            );
        }
        if self.live_sessions > 64 {
            return bad("live_sessions", "must be between 0 and 64");
        }
        if self.warm > 16 {
            return bad("warm", "must be between 0 and 16");
        }
        if self.max_body_bytes < 1024 {
            return bad("max_body_bytes", "must be at least 1024");
        }
        if self.max_image_bytes < 1024 {
            return bad("max_image_bytes", "must be at least 1024");
        }
        if self.responses_kept > 100_000 {
            return bad("responses_kept", "must be at most 100000");
        }
        if !(1..=65536).contains(&self.responses_kept_mb) {
            return bad("responses_kept_mb", "must be between 1 and 65536");
        }
        Ok(())
    }

    /// `model_map`: each id maps to a model the proxy serves without it (an id of
    /// `models`, an alias, or a Claude id), and does not hide one of those.
    fn validate_model_map(&self) -> Result<(), ConfigError> {
        let served = |id: &str| {
            self.models.iter().any(|m| m == id)
                || self.aliases.contains_key(id)
                || (id.len() > "claude-".len() && id.starts_with("claude-") && valid_model_id(id))
        };
        for (id, target) in &self.model_map {
            let why = if !valid_model_id(id) || !valid_model_id(target) {
                format!("`{id}` = `{target}` is not a valid model id mapping")
            } else if served(id) {
                format!(
                    "`{id}` is served already (an id of `models`, `aliases` or a Claude id); remove it from `model_map`"
                )
            } else if !served(target) {
                format!(
                    "`{id}` = `{target}`: the target must be a model this proxy serves \
                     (an id of `models`, an alias such as `claude-sonnet-4`, or a `claude-…` id)"
                )
            } else {
                continue;
            };
            return Err(ConfigError::Invalid(format!("`model_map`: {why}")));
        }
        Ok(())
    }

    /// Model ids, aliases, the CLI path and logging.
    fn validate_models(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("`{key}`: {why}")));
        if self.models.is_empty() && self.aliases.is_empty() {
            return bad(
                "models",
                "the model list is empty: no request could be served",
            );
        }
        if let Some(bad_id) = self.models.iter().find(|m| !valid_model_id(m)) {
            return bad("models", &format!("`{bad_id}` is not a valid model id"));
        }
        for (alias, target) in &self.aliases {
            if !valid_model_id(alias) || !valid_model_id(target) {
                return bad(
                    "aliases",
                    &format!("`{alias}` = `{target}` is not a valid model id mapping"),
                );
            }
        }
        self.validate_model_map()?;
        if let Some(path) = &self.cli_path
            && path.as_os_str().is_empty()
        {
            return bad("cli_path", "is empty; remove it to search PATH");
        }
        if self.log_level.trim().is_empty() {
            return bad("log_level", "is empty; use e.g. \"info\" or \"debug\"");
        }
        Ok(())
    }
}

/// A model id goes into argv and JSON: keep it to a safe, printable alphabet.
pub fn valid_model_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('-')
        && id.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '[' | ']' | '/')
        })
}

/// A configuration problem; the message names the key or file.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    File(String),
    /// A value is wrong.
    Invalid(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::File(m) => write!(f, "config file: {m}"),
            ConfigError::Invalid(m) => write!(f, "invalid configuration: {m}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where a value came from, for `config show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag(n) => write!(f, "flag {n}"),
        }
    }
}

/// The inputs that select and override the configuration.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// `--config`: an explicit file must exist.
    pub config_file: Option<PathBuf>,
    /// Values given as flags: (key, value, flag name).
    pub flags: Vec<(String, String, String)>,
    /// The environment to read (the process's in production, a fixed map in tests).
    pub env: Vec<(String, String)>,
    /// `CLAUDE_MAX_PROXY_*` variables whose name or value is not UTF-8 (names shown
    /// lossily): the configuration is refused rather than loaded without them (a dropped
    /// `..._API_KEY` would leave the daemon open).
    pub unreadable_env: Vec<String>,
}

/// The settings plus where each key came from and what was ignored.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub settings: Settings,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// key → source, for every key of [`Settings`].
    pub sources: BTreeMap<String, Source>,
    /// `CLAUDE_MAX_PROXY_*` variables that name no key (warned about at start).
    pub unknown_env: Vec<String>,
}

/// The default config file: `$XDG_CONFIG_HOME/claude-max-proxy/config.toml`.
pub fn default_config_path(env: &[(String, String)]) -> Option<PathBuf> {
    let get = |k: &str| {
        env.iter()
            .find(|(n, v)| n == k && !v.is_empty())
            .map(|(_, v)| PathBuf::from(v))
    };
    let base = get("XDG_CONFIG_HOME").or_else(|| get("HOME").map(|h| h.join(".config")))?;
    Some(base.join("claude-max-proxy").join("config.toml"))
}

/// Builds the settings from all layers and validates them.
pub fn load(inputs: &Inputs) -> Result<Loaded, ConfigError> {
    if let Some(name) = inputs.unreadable_env.first() {
        return Err(ConfigError::Invalid(format!(
            "the environment variable {name} is not valid UTF-8; set it to text or unset it"
        )));
    }
    let known = known_keys();
    let (file, file_table) = choose_file(inputs, &known)?;
    let env = env_layer(inputs, &known);
    let mut sources = env.sources;

    let mut builder = config::Config::builder().add_source(
        config::Config::try_from(&Settings::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?,
    );
    if let Some(path) = &file {
        builder =
            builder.add_source(config::File::from(path.as_path()).format(config::FileFormat::Toml));
        for key in file_table.keys() {
            sources
                .entry(key.clone())
                .or_insert(Source::File(path.clone()));
        }
    }
    let mut env_source = config::Environment::default()
        .source(Some(env.values))
        .try_parsing(true)
        .list_separator(",");
    for key in LIST_KEYS {
        env_source = env_source.with_list_parse_key(key);
    }
    builder = add_flags(builder.add_source(env_source), inputs, &mut sources)?;
    let settings: Settings = builder
        .build()
        .and_then(|merged| merged.try_deserialize())
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    settings.validate()?;

    for key in known {
        sources.entry(key.to_string()).or_insert(Source::Default);
    }
    Ok(Loaded {
        settings,
        file,
        sources,
        unknown_env: env.unknown,
    })
}

/// Which file: --config, then CLAUDE_MAX_PROXY_CONFIG (both must exist), then the XDG
/// default (optional); and its top-level table, refusing unknown keys.
fn choose_file(
    inputs: &Inputs,
    known: &[&str],
) -> Result<(Option<PathBuf>, BTreeMap<String, config::Value>), ConfigError> {
    let env_config = inputs
        .env
        .iter()
        .find(|(k, _)| k == &format!("{ENV_PREFIX}_CONFIG"))
        .map(|(_, v)| PathBuf::from(v));
    let (file, required) = match (&inputs.config_file, env_config) {
        (Some(p), _) => (Some(p.clone()), true),
        (None, Some(p)) => (Some(p), true),
        (None, None) => (default_config_path(&inputs.env), false),
    };
    let file = file.filter(|p| required || p.exists());
    let file_table = match &file {
        Some(path) => read_file_table(path)?,
        None => BTreeMap::new(),
    };
    if let Some(key) = file_table.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ConfigError::Invalid(format!(
            "unknown key `{key}` in {}; known keys: {}",
            file.as_deref()
                .map(Path::display)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            known.join(", ")
        )));
    }
    Ok((file, file_table))
}

/// The `CLAUDE_MAX_PROXY_*` layer: values of known keys, where each came from, and the
/// names that match no key (reported, not fatal).
struct EnvLayer {
    values: config::Map<String, String>,
    sources: BTreeMap<String, Source>,
    unknown: Vec<String>,
}

fn env_layer(inputs: &Inputs, known: &[&str]) -> EnvLayer {
    let mut layer = EnvLayer {
        values: config::Map::new(),
        sources: BTreeMap::new(),
        unknown: Vec::new(),
    };
    for (name, value) in &inputs.env {
        let Some(rest) = name.strip_prefix(&format!("{ENV_PREFIX}_")) else {
            continue;
        };
        let key = rest.to_ascii_lowercase();
        if key == "config" {
            continue;
        }
        if !known.contains(&key.as_str()) || key == "aliases" || key == "model_map" {
            layer.unknown.push(name.clone());
            continue;
        }
        layer.values.insert(key.clone(), value.clone());
        layer.sources.insert(key, Source::Env(name.clone()));
    }
    layer
}

/// The command-line layer, last and strongest; list keys take comma-separated values.
fn add_flags(
    mut builder: config::ConfigBuilder<config::builder::DefaultState>,
    inputs: &Inputs,
    sources: &mut BTreeMap<String, Source>,
) -> Result<config::ConfigBuilder<config::builder::DefaultState>, ConfigError> {
    for (key, value, flag) in &inputs.flags {
        builder = if LIST_KEYS.contains(&key.as_str()) {
            let items: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            builder.set_override(key.as_str(), items)
        } else {
            builder.set_override(key.as_str(), value.as_str())
        }
        .map_err(|e| ConfigError::Invalid(format!("{flag}: {e}")))?;
        sources.insert(key.clone(), Source::Flag(flag.clone()));
    }
    Ok(builder)
}

/// Reads the file's top-level table (to know which keys it sets).
fn read_file_table(path: &Path) -> Result<BTreeMap<String, config::Value>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::File(format!("cannot read {}: {e}", path.display())))?;
    let parsed = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .build()
        .map_err(|e| ConfigError::File(format!("{}: {e}", path.display())))?;
    let table = parsed
        .try_deserialize::<config::Map<String, config::Value>>()
        .map_err(|e| ConfigError::File(format!("{}: {e}", path.display())))?;
    Ok(table.into_iter().collect())
}

/// The config keys, in declaration order.
pub fn known_keys() -> Vec<&'static str> {
    vec![
        "listen",
        "port",
        "allow_from",
        "api_key",
        "api_key_file",
        "cors_origins",
        "allowed_hosts",
        "check_host",
        "max_connections",
        "connection_idle_secs",
        "body_read_timeout_secs",
        "body_budget_bytes",
        "metrics",
        "metrics_requires_key",
        "refuse_overage",
        "quota_refresh_secs",
        "shutdown_grace_secs",
        "cli_path",
        "auth_mode",
        "anthropic_api_key",
        "max_concurrent",
        "queue_limit",
        "queue_timeout_secs",
        "first_token_timeout_secs",
        "idle_timeout_secs",
        "total_timeout_secs",
        "stream_header_hold_ms",
        "keepalive_secs",
        "cli_max_retries",
        "warm",
        "warm_idle_secs",
        "live_sessions",
        "live_idle_secs",
        "warm_memory_mb",
        "max_body_bytes",
        "max_image_bytes",
        "responses_kept",
        "responses_kept_secs",
        "responses_kept_mb",
        "history",
        "work_dir",
        "log_format",
        "log_level",
        "models",
        "aliases",
        "model_map",
        "state_dir",
        "oauth_authorize_url",
        "oauth_token_url",
        "oauth_redirect_uri",
        "oauth_client_id",
        "oauth_scope",
        "chrome_path",
        "login_timeout_secs",
    ]
}

/// Renders the effective configuration as TOML-ish lines with provenance, secrets masked.
pub fn render_show(loaded: &Loaded) -> String {
    let json = serde_json::to_value(&loaded.settings).unwrap_or_default();
    let mut out = String::new();
    match &loaded.file {
        Some(p) => out.push_str(&format!("# config file: {}\n", p.display())),
        None => out.push_str("# config file: none (defaults, environment and flags only)\n"),
    }
    for key in known_keys() {
        let value = json.get(key).cloned().unwrap_or(serde_json::Value::Null);
        let shown = if SECRET_KEYS.contains(&key) && !value.is_null() {
            "\"********\"".to_string()
        } else if value.is_null() {
            "# (unset)".to_string()
        } else {
            value.to_string()
        };
        let source = loaded
            .sources
            .get(key)
            .map(ToString::to_string)
            .unwrap_or_else(|| "default".to_string());
        out.push_str(&format!("{key} = {shown}    # {source}\n"));
    }
    for name in &loaded.unknown_env {
        out.push_str(&format!("# ignored: {name} names no config key\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_listen_on_loopback_port_3456() {
        let loaded = load(&Inputs::default()).unwrap();
        assert_eq!(loaded.settings.port, 3456);
        assert_eq!(loaded.settings.listen, vec!["127.0.0.1", "docker"]);
        assert_eq!(loaded.sources["port"], Source::Default);
    }

    #[test]
    fn layers_apply_in_order_file_env_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "port = 4000\nmax_concurrent = 2\nqueue_limit = 5\n").unwrap();
        let inputs = Inputs {
            config_file: Some(path.clone()),
            flags: vec![("port".into(), "4002".into(), "--port".into())],
            env: env(&[
                ("CLAUDE_MAX_PROXY_PORT", "4001"),
                ("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "3"),
                ("CLAUDE_MAX_PROXY_LISTEN", "127.0.0.1,::1"),
            ]),
            ..Inputs::default()
        };
        let loaded = load(&inputs).unwrap();
        assert_eq!(loaded.settings.port, 4002);
        assert_eq!(loaded.settings.max_concurrent, 3);
        assert_eq!(loaded.settings.queue_limit, 5);
        assert_eq!(loaded.settings.listen, vec!["127.0.0.1", "::1"]);
        assert_eq!(loaded.sources["port"], Source::Flag("--port".into()));
        assert_eq!(
            loaded.sources["max_concurrent"],
            Source::Env("CLAUDE_MAX_PROXY_MAX_CONCURRENT".into())
        );
        assert_eq!(loaded.sources["queue_limit"], Source::File(path));
    }

    #[test]
    fn invalid_values_name_the_key() {
        let inputs = Inputs {
            env: env(&[("CLAUDE_MAX_PROXY_PORT", "not-a-port")]),
            ..Inputs::default()
        };
        let err = load(&inputs).unwrap_err().to_string();
        assert!(err.contains("port"), "{err}");

        let inputs = Inputs {
            env: env(&[("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "0")]),
            ..Inputs::default()
        };
        let err = load(&inputs).unwrap_err().to_string();
        assert!(err.contains("max_concurrent"), "{err}");
    }

    #[test]
    fn unknown_file_key_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "prot = 1\n").unwrap();
        let inputs = Inputs {
            config_file: Some(path),
            ..Inputs::default()
        };
        let err = load(&inputs).unwrap_err().to_string();
        assert!(err.contains("prot"), "{err}");
    }

    /// One of our variables that cannot be read stops the load, naming it.
    #[test]
    fn an_unreadable_variable_of_ours_is_an_error() {
        let inputs = Inputs {
            unreadable_env: vec!["CLAUDE_MAX_PROXY_API_KEY".into()],
            ..Inputs::default()
        };
        let err = load(&inputs).unwrap_err().to_string();
        assert!(err.contains("CLAUDE_MAX_PROXY_API_KEY"), "{err}");
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let inputs = Inputs {
            config_file: Some(PathBuf::from("/nonexistent/claude-max-proxy.toml")),
            ..Inputs::default()
        };
        assert!(load(&inputs).is_err());
    }

    #[test]
    fn show_masks_secrets_and_reports_unknown_env() {
        let inputs = Inputs {
            env: env(&[
                ("CLAUDE_MAX_PROXY_ANTHROPIC_API_KEY", "sk-very-secret"),
                ("CLAUDE_MAX_PROXY_PROT", "1"),
            ]),
            ..Inputs::default()
        };
        let loaded = load(&inputs).unwrap();
        let shown = render_show(&loaded);
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(
            shown.contains("anthropic_api_key = \"********\""),
            "{shown}"
        );
        assert!(shown.contains("CLAUDE_MAX_PROXY_PROT"), "{shown}");
        assert!(shown.contains("port = 3456    # default"), "{shown}");
    }

    #[test]
    fn aliases_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "models = [\"sonnet\"]\n[aliases]\ngpt-4o = \"sonnet\"\n",
        )
        .unwrap();
        let inputs = Inputs {
            config_file: Some(path),
            ..Inputs::default()
        };
        let loaded = load(&inputs).unwrap();
        assert_eq!(loaded.settings.models, vec!["sonnet"]);
        assert_eq!(loaded.settings.aliases["gpt-4o"], "sonnet");
    }

    fn load_file(text: &str) -> Result<Loaded, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        load(&Inputs {
            config_file: Some(path),
            ..Inputs::default()
        })
    }

    #[test]
    fn model_map_is_off_by_default_and_read_from_the_file() {
        assert!(Settings::default().model_map.is_empty());
        let loaded =
            load_file("[model_map]\n\"gpt-4o\" = \"sonnet\"\no3 = \"claude-opus-4-6\"\n").unwrap();
        assert_eq!(loaded.settings.model_map["gpt-4o"], "sonnet");
        assert_eq!(loaded.settings.model_map["o3"], "claude-opus-4-6");
    }

    #[test]
    fn model_map_targets_must_be_served() {
        for (text, needle) in [
            ("[model_map]\ngpt-4o = \"gpt-4.1\"\n", "the target must be"),
            ("[model_map]\nsonnet = \"haiku\"\n", "served already"),
            (
                "[model_map]\n\"claude-x-1\" = \"haiku\"\n",
                "served already",
            ),
            ("[model_map]\n\"-x\" = \"haiku\"\n", "not a valid"),
        ] {
            let Err(error) = load_file(text) else {
                panic!("accepted: {text}");
            };
            let error = error.to_string();
            assert!(
                error.contains("model_map") && error.contains(needle),
                "{text}: {error}"
            );
        }
    }
}
