//! `claude-max-proxy`: argument parsing and dispatch only. One runtime for every command;
//! a failure is printed once, here; exit codes are [`claude_max_proxy::exit::Exit`]'s.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use claude_max_proxy::config::{self, Inputs};
use claude_max_proxy::daemon;
use claude_max_proxy::exit::{Exit, Failure, Outcome};

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
    /// Log in to Claude in Chrome and store a long-lived token for the proxy.
    Login {
        /// Log in even if the claude CLI or a stored token already works.
        #[arg(long)]
        force: bool,
        /// Print the login URL and read the pasted `code#state` instead of opening Chrome.
        #[arg(long)]
        no_browser: bool,
        /// Log the claude CLI in instead (its own login, with the profile scope that shows
        /// the plan's usage windows; the CLI keeps and refreshes it) and remove the stored
        /// token.
        #[arg(long)]
        cli: bool,
    },
    /// Delete the stored token.
    Logout {
        /// Also delete the browser profile used for logging in.
        #[arg(long)]
        all: bool,
    },
    /// Show which credentials the proxy uses and when a stored token expires.
    Status,
    /// Run the proxy as a user service (systemd on Linux, launchd on macOS).
    Service {
        #[command(subcommand)]
        action: claude_max_proxy::service::Action,
    },
    /// Check the CLI, login, config, listeners, Docker networking, firewall and service.
    Doctor,
    /// The MCP server the CLI runs for a cold tool continuation (internal).
    #[command(hide = true)]
    McpStub {
        tools: PathBuf,
        result: Option<PathBuf>,
    },
    /// The PreToolUse hook of a cold tool continuation (internal): `allowed` is a file
    /// naming the one call to let through.
    #[command(hide = true)]
    DeferHook { allowed: Option<PathBuf> },
    /// The daemon's guardian (internal): kills the CLI process groups it was told about
    /// when the daemon goes away.
    #[command(name = "guard-process-groups", hide = true)]
    GuardProcessGroups,
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Print the effective configuration, where each value came from, secrets masked.
    Show,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A blocking loop that needs no runtime and no configuration.
    if let Some(Command::GuardProcessGroups) = cli.command {
        claude_max_proxy::claude::guardian::serve();
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            return fail(Failure::new(
                Exit::Failure,
                format!("cannot start the async runtime: {e}"),
            ));
        }
    };
    let outcome = runtime.block_on(dispatch(cli));
    // A stdin reader (login's pasted code) may still be blocked: wait for nothing.
    runtime.shutdown_background();
    match outcome {
        Ok(exit) => exit.into(),
        Err(failure) => fail(failure),
    }
}

/// The one place a command's failure is printed.
fn fail(failure: Failure) -> ExitCode {
    eprintln!("claude-max-proxy: {failure}");
    failure.exit.into()
}

async fn dispatch(cli: Cli) -> Outcome {
    let inputs = inputs_from(&cli);
    // `doctor` reports a broken config as one of its checks, and `service uninstall|status`
    // must work with one: both run before the config is loaded.
    match &cli.command {
        Some(Command::McpStub { tools, result }) => {
            return claude_max_proxy::mcp_stub::run(tools, result.as_deref())
                .map(|()| Exit::Success)
                .map_err(|e| Failure::new(Exit::Failure, e.to_string()));
        }
        Some(Command::DeferHook { allowed }) => {
            claude_max_proxy::defer_hook::run(allowed.as_deref());
            return Ok(Exit::Success);
        }
        Some(Command::Doctor) => return Ok(claude_max_proxy::doctor::main(&inputs).await),
        Some(Command::Service { action }) => {
            return claude_max_proxy::service::main(action, &inputs);
        }
        _ => {}
    }
    let loaded = config::load(&inputs).map_err(|e| {
        Failure::new(
            Exit::Config,
            format!(
                "{e}\n`claude-max-proxy config show` prints the configuration once it is valid."
            ),
        )
    })?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config {
            action: ConfigAction::Show,
        } => {
            print!("{}", config::render_show(&loaded));
            Ok(Exit::Success)
        }
        Command::Serve => daemon::entry::serve(inputs, loaded).await,
        Command::Login {
            force,
            no_browser,
            cli: false,
        } => claude_max_proxy::login::cli::login(&loaded.settings, force, no_browser).await,
        Command::Login {
            force,
            no_browser,
            cli: true,
        } => claude_max_proxy::login::cli::login_cli(&loaded.settings, force, no_browser).await,
        Command::Logout { all } => claude_max_proxy::login::cli::logout(&loaded.settings, all),
        Command::Status => claude_max_proxy::login::cli::status(&loaded.settings).await,
        // Dispatched above, before the config is loaded.
        Command::Service { action } => claude_max_proxy::service::main(&action, &inputs),
        Command::Doctor => Ok(claude_max_proxy::doctor::main(&inputs).await),
        Command::McpStub { .. } | Command::DeferHook { .. } | Command::GuardProcessGroups => {
            Ok(Exit::Success)
        }
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
    // vars_os: a variable that is not UTF-8 must not stop every command, unless it is one
    // of ours (all text): then the config is refused, naming it, rather than loaded without.
    let mut env = Vec::new();
    let mut unreadable_env = Vec::new();
    for (name, value) in std::env::vars_os() {
        match (name.into_string(), value.into_string()) {
            (Ok(name), Ok(value)) => env.push((name, value)),
            (name, _) => {
                let name = name.unwrap_or_else(|n| n.to_string_lossy().into_owned());
                if name.starts_with(config::ENV_PREFIX) {
                    unreadable_env.push(name);
                }
            }
        }
    }
    let mut inputs = Inputs {
        config_file: cli.config.clone(),
        flags,
        env,
        unreadable_env,
    };
    if let Some(listen) = &cli.listen {
        // A list value: pass it as an env-style comma list through the flag layer.
        inputs
            .flags
            .push(("listen".into(), listen.clone(), "--listen".into()));
    }
    inputs
}
