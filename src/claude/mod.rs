//! The official `claude` CLI as a backend: finding it ([`locate`]), the argv and
//! environment of one run ([`command`]), the session file that carries earlier turns
//! ([`session`]), spawning it in its own process group and ending that group
//! ([`process`], with the [`guardian`] process that ends those groups when the daemon is
//! killed), its stream-json input ([`stream_input`]: one user message line per turn) and
//! output as typed events ([`events`], with the subscription's rate-limit reports in
//! [`rate_limit`]), the writer that owns a process's stdin ([`input`]) and the client's
//! tools as an MCP server answered over the control protocol ([`tool_server`]), and the
//! `get_usage` control request that asks it for the plan's usage windows without a model
//! request ([`usage`]).
//!
//! Nothing here knows about OpenAI; `translate` maps between the two.

pub mod command;
pub mod events;
pub mod guardian;
pub mod input;
pub mod locate;
pub mod process;
pub mod rate_limit;
pub mod session;
pub mod stream_input;
pub mod tool_server;
pub mod usage;
