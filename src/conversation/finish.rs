//! How an answer ended, as every API reports it in its own words: why generation stopped
//! ([`FinishReason`], OpenAI's vocabulary, which the Messages and Responses APIs map from)
//! and the tokens it took ([`Usage`]).

use serde::Serialize;

/// Why generation stopped, in OpenAI's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
}

/// Token counts; `prompt_tokens` includes cache reads and cache writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptTokensDetails,
    /// Of `prompt_tokens`, those written to the cache (the Messages API reports them apart).
    #[serde(skip)]
    pub cache_creation_tokens: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PromptTokensDetails {
    pub cached_tokens: u64,
}

impl Usage {
    /// The uncached input tokens (the Messages API's `input_tokens`).
    pub fn uncached_input(&self) -> u64 {
        self.prompt_tokens
            .saturating_sub(self.prompt_tokens_details.cached_tokens)
            .saturating_sub(self.cache_creation_tokens)
    }

    /// Saturating: the counts come from the CLI's output, and absurd ones must not
    /// overflow (a panic in debug builds, a wrapped total in release).
    pub fn new(input: u64, cache_creation: u64, cache_read: u64, output: u64) -> Usage {
        let prompt = input
            .saturating_add(cache_creation)
            .saturating_add(cache_read);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: output,
            total_tokens: prompt.saturating_add(output),
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: cache_read,
            },
            cache_creation_tokens: cache_creation,
        }
    }
}
