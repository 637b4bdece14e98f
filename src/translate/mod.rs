//! Pure translation between the OpenAI side and the CLI side.
//!
//! - [`plan`]: a validated chat request → what one CLI run needs (model argument, system
//!   prompt, earlier turns for the session file, the prompt for stdin, the flattened
//!   fallback prompt).
//! - [`outcome`]: CLI events → what the client gets: text pieces, the model, the finish
//!   (reason, usage) or an error; including the abandoned-block rules.
//! - [`errors`]: CLI error results and exits → OpenAI errors with statuses and fixes.
//! - [`stop`]: stop sequences applied to the answer as it streams.
//! - [`tool_plan`]: conversations with client tools → stub tools, session rows, the call
//!   the resumed CLI carries.

pub mod errors;
pub mod outcome;
pub mod plan;
pub mod stop;
pub mod tool_names;
pub mod tool_plan;
