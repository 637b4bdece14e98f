//! Pure translation between the OpenAI side and the CLI side.
//!
//! - [`plan`]: a validated chat request → what one CLI run needs (model argument, system
//!   prompt, earlier turns for the session file, the prompt for stdin, the flattened
//!   fallback prompt).
//! - [`outcome`]: CLI events → what the client gets: text pieces, the model, the finish
//!   (reason, usage) or an error; including the abandoned-block rules.
//! - [`errors`]: CLI error results and exits → OpenAI errors with statuses and fixes.
//! - [`stop`]: stop sequences applied to the answer as it streams.

pub mod errors;
pub mod outcome;
pub mod plan;
pub mod stop;
