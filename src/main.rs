//! `claude-max-proxy`: argument parsing and dispatch only.
//!
//! Exit codes: 0 success, 1 runtime failure (e.g. cannot listen), 2 invalid configuration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use claude_max_proxy::config::{self, Inputs, LogFormat};
use claude_max_proxy::daemon;

#[derive(Parser, Debug)]
#[command(
    name = "claude-max-proxy",
    version,
    about = "OpenAI-compatible API over the official claude CLI (Claude Max subscription)"
)]
struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/claude-max-proxy/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Port to listen on (config key `port`).
    #[arg(long, global = true)]
    port: Option<u16>,
    /// Addresses to listen on, comma-separated (config key `listen`).
    #[arg(long, global = true, value_name = "ADDRS")]
    listen: Option<String>,
    /// Path of the claude CLI (config key `cli_path`).
    #[arg(long, global = true, value_name = "PATH")]
    cli_path: Option<PathBuf>,
    /// Maximum concurrent CLI processes (config key `max_concurrent`).
    #[arg(long, global = true)]
    max_concurrent: Option<usize>,
    /// `text` or `json` (config key `log_format`).
    #[arg(long, global = true)]
    log_format: Option<String>,
    /// Log filter such as `info` or `debug` (config key `log_level`; RUST_LOG wins).
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the proxy (the default).
    Serve,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Print the effective configuration, where each value came from, secrets masked.
    Show,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let inputs = inputs_from(&cli);
    let loaded = match config::load(&inputs) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("claude-max-proxy: {e}");
            eprintln!(
                "claude-max-proxy: `claude-max-proxy config show` prints the configuration once it is valid."
            );
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config {
            action: ConfigAction::Show,
        } => {
            print!("{}", config::render_show(&loaded));
            ExitCode::SUCCESS
        }
        Command::Serve => serve(loaded),
    }
}

fn inputs_from(cli: &Cli) -> Inputs {
    let mut flags = Vec::new();
    let mut flag = |key: &str, value: Option<String>, name: &str| {
        if let Some(value) = value {
            flags.push((key.to_string(), value, name.to_string()));
        }
    };
    flag("port", cli.port.map(|p| p.to_string()), "--port");
    flag(
        "cli_path",
        cli.cli_path.as_ref().map(|p| p.display().to_string()),
        "--cli-path",
    );
    flag(
        "max_concurrent",
        cli.max_concurrent.map(|n| n.to_string()),
        "--max-concurrent",
    );
    flag("log_format", cli.log_format.clone(), "--log-format");
    flag("log_level", cli.log_level.clone(), "--log-level");
    let mut inputs = Inputs {
        config_file: cli.config.clone(),
        flags,
        env: std::env::vars().collect(),
    };
    if let Some(listen) = &cli.listen {
        // A list value: pass it as an env-style comma list through the flag layer.
        inputs
            .flags
            .push(("listen".into(), listen.clone(), "--listen".into()));
    }
    inputs
}

fn init_logging(settings: &config::Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn serve(loaded: config::Loaded) -> ExitCode {
    let settings = Arc::new(loaded.settings);
    init_logging(&settings);
    for name in &loaded.unknown_env {
        tracing::warn!(
            "{name} names no config key and is ignored (see `claude-max-proxy config show`)"
        );
    }
    if settings.auth_mode == config::AuthMode::ApiKey
        && settings.anthropic_api_key.is_none()
        && std::env::var_os("ANTHROPIC_API_KEY").is_none()
    {
        eprintln!(
            "claude-max-proxy: auth_mode = \"api-key\" needs a key: set ANTHROPIC_API_KEY for the \
             daemon or `anthropic_api_key` in the config file (or use auth_mode = \"subscription\")."
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("claude-max-proxy: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let listeners = match daemon::bind(&settings).await {
            Ok(listeners) => listeners,
            Err(e) => {
                eprintln!("claude-max-proxy: {e}");
                return ExitCode::from(1);
            }
        };
        for listener in &listeners {
            if let Ok(addr) = listener.local_addr() {
                println!("Server running on {}", daemon::url_of(addr));
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        daemon::serve(settings, listeners, shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
