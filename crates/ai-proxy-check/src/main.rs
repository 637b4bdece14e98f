//! `ai-proxy-check`: run inside a container (or anywhere) to find out whether
//! claude-max-proxy on the host can be reached and used, and if not, why and how to fix it.
//!
//! Stages, one output line each with its timing: parse `AI_PROXY_URL` → resolve the host
//! (hickory-resolver: /etc/hosts and resolv.conf, so it works static in a `FROM scratch`
//! image) → TCP connect → `GET /health` → `GET /v1/models` → with `--chat` a short streamed
//! request, through chat completions or (`--api`) the Messages or Responses API. The first
//! failing stage ends the run with its exit code (see `args::USAGE`) and a likely cause and
//! exact fix (`diagnose`).
//!
//! Layout, top down: each module imports only modules listed after it (`main` uses `args`,
//! `context`, `wait` and `report`).
//! - [`wait`]: `--wait`, repeating [`check`]: one run, one function per stage (its timing,
//!   summary and facts).
//! - The stages' work: [`chat`] (`--chat`, `--api`) with [`replies`] (each API's events and
//!   answers), [`health`], [`models`], [`resolve`], [`connect`], [`target`] (the URL).
//! - [`step`]: one HTTP exchange and the daemon's refusals any endpoint may answer; under it
//!   [`client`] (HTTP/1.1 on hyper), [`answers`] (the proxy's JSON), [`sse`] (event frames).
//! - [`report`]: text and JSON output, with [`diagnose`]: cause and fix.
//! - At the bottom: [`stage`] (stages, problems, exit codes, the report's data),
//!   [`context`] (in a container or not, /etc/hosts), [`timing`] (how times read),
//!   [`args`] (flags and environment; the help text and exit-code table), [`api`] (what
//!   each API's request looks like).
//!
//! Kept small and static: a current-thread tokio runtime, hyper's client connection, no clap.

mod answers;
mod api;
mod args;
mod chat;
mod check;
mod client;
mod connect;
mod context;
mod diagnose;
mod health;
mod models;
mod replies;
mod report;
mod resolve;
mod sse;
mod stage;
mod step;
mod target;
mod timing;
mod wait;

use std::process::ExitCode;

use args::Command;

fn main() -> ExitCode {
    let options = match args::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("ai-proxy-check {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ai-proxy-check: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ai-proxy-check: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let context = context::Context::detect();
    let (report, attempts) = runtime.block_on(wait::run(&options, &context, |report, n, left| {
        if !options.quiet && !options.json {
            eprint!("{}", report::retry_line(report, n, left));
        }
    }));
    report::print(&report, &context, attempts, options.json, options.quiet);
    ExitCode::from(report.exit_code())
}
