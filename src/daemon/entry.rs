//! The `serve` command as a process: logging (journald under systemd, else stderr text or
//! JSON), POSIX signals turned into [`Control`]s, and its exit codes.
//!
//! Signals (signal-hook): the first SIGTERM or SIGINT stops gracefully; a second SIGINT stops
//! at once; SIGHUP reloads.

use futures_util::StreamExt;
use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
use tokio::sync::mpsc;

use super::{Control, exit};
use crate::config::{self, Inputs, LogFormat, Settings};
use crate::exit::{Exit, Failure, Outcome};

/// Whether stderr goes to the journal (systemd sets JOURNAL_STREAM for the unit's stdio).
fn under_journald() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

fn init_logging(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = || {
        EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(&settings.log_level))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    };
    if under_journald()
        && settings.log_format == LogFormat::Text
        && let Ok(journald) = tracing_journald::layer()
    {
        let journald = journald.with_syslog_identifier("claude-max-proxy".to_string());
        let _ = tracing_subscriber::registry()
            .with(filter())
            .with(journald)
            .try_init();
        return;
    }
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs the daemon in this process (on `main`'s runtime) until a signal stops it.
pub async fn serve(inputs: Inputs, loaded: config::Loaded) -> Outcome {
    let settings = loaded.settings;
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
        return Err(Failure::new(
            Exit::Config,
            "auth_mode = \"api-key\" needs a key: set ANTHROPIC_API_KEY for the daemon or \
             `anthropic_api_key` in the config file (or use auth_mode = \"subscription\").",
        ));
    }
    let (tx, rx) = mpsc::channel(8);
    spawn_signal_handler(tx).map_err(|e| {
        Failure::new(
            Exit::Failure,
            format!("cannot install signal handlers: {e}"),
        )
    })?;
    let on_ready = |addrs: &[std::net::SocketAddr]| {
        use std::io::Write;
        for addr in addrs {
            println!("Server running on {}", crate::net::url_of(*addr));
        }
        let _ = std::io::stdout().flush();
    };
    super::run(inputs, settings, rx, on_ready)
        .await
        .map(|()| Exit::Success)
        .map_err(|e| Failure::new(start_exit(e.exit_code), e.message))
}

/// The [`Exit`] for a [`super::StartError`]'s code.
fn start_exit(code: u8) -> Exit {
    match code {
        exit::CONFIG => Exit::Config,
        exit::ADDR_IN_USE => Exit::AddrInUse,
        exit::PERMISSION => Exit::Permission,
        exit::ADDR_NOT_AVAILABLE => Exit::AddrNotAvailable,
        _ => Exit::Failure,
    }
}

/// Forwards signals as controls: TERM/INT → Stop (a second INT → StopNow), HUP → Reload.
fn spawn_signal_handler(tx: mpsc::Sender<Control>) -> std::io::Result<()> {
    let mut signals = signal_hook_tokio::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    tokio::spawn(async move {
        let mut stopping = false;
        while let Some(signal) = signals.next().await {
            let control = match signal {
                SIGHUP => Control::Reload,
                SIGINT if stopping => Control::StopNow,
                _ => {
                    stopping = true;
                    Control::Stop
                }
            };
            if tx.send(control).await.is_err() {
                break;
            }
        }
    });
    Ok(())
}
