//! How every `claude-max-proxy` command ends: one set of exit codes, and the one failure
//! type that `main` prints (once, with the `claude-max-proxy:` prefix) before exiting.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | failure (the message says which) |
//! | 2 | invalid configuration |
//! | 3 | `serve`: the address is in use; `login`: no browser here; `service status`: not running |
//! | 4 | `serve`: not allowed to listen on the address |
//! | 5 | `serve`: the address is not this machine's |

use std::process::ExitCode;

/// A command's outcome as the shell sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success,
    Failure,
    Config,
    AddrInUse,
    Permission,
    AddrNotAvailable,
    /// `login`: this machine cannot run the browser login (`--no-browser` works).
    NoBrowser,
    /// `service status`: the service is installed but not running.
    NotRunning,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Config => 2,
            Exit::AddrInUse | Exit::NoBrowser | Exit::NotRunning => 3,
            Exit::Permission => 4,
            Exit::AddrNotAvailable => 5,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// A command that failed: what to print and how to exit.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub exit: Exit,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            exit,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// What a command returns.
pub type Outcome = Result<Exit, Failure>;
