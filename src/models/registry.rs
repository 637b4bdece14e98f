//! What the official CLI knows about each Claude model: family, display name, the id it
//! sends upstream, context window, output limit and image budget — so `/v1/models` can say
//! them and `count_tokens` can size images.
//!
//! The figures are the CLI 2.1.332's own: its bundled model registry (the `models:[…]`
//! table in the JavaScript inside the binary: `context.window`, `max_output_tokens.upper`,
//! `image_limits.maxImageTokens`) and its alias table (`opus` → `claude-opus-5-5`, …).
//! `tests/models_and_tokens.rs` checks them against what the real CLI reports at run time
//! (`modelUsage.contextWindow`, and the upstream `max_tokens` it sends when asked for more
//! than a model allows). A model the table lacks gets the CLI's defaults.

/// One model the CLI knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// The CLI's id for it (`claude-sonnet-4-5`).
    pub id: &'static str,
    /// `haiku`, `sonnet`, `opus`, `fable`, `mythos`.
    pub family: &'static str,
    /// `Sonnet 4.5`.
    pub display_name: &'static str,
    /// The id the CLI sends to Anthropic's own API (dated for older models).
    pub api_id: &'static str,
    /// Input tokens that fit (the CLI's `context.window`; `[1m]` ids get 1,000,000).
    pub context_window: u64,
    /// The most output tokens a request may ask for (`max_output_tokens.upper`; the CLI
    /// clamps `max_tokens` to it).
    pub max_output_tokens: u64,
    /// The CLI's own default `max_tokens` when a request sets none.
    pub default_output_tokens: u64,
    /// The most tokens one image costs after the API scales it down.
    pub max_image_tokens: u64,
}

/// Context window of models whose entry has none (the CLI reports 200,000 for them).
const DEFAULT_CONTEXT: u64 = 200_000;
/// Image budget of models whose entry has none: Anthropic's vision guide, ~1.15 megapixels.
pub const DEFAULT_IMAGE_TOKENS: u64 = 1_600;
/// Context window of an id with the `[1m]` suffix.
const ONE_MILLION: u64 = 1_000_000;

/// (id, family, display name, API id, context window, default output, output limit,
/// image tokens); 0 means "the default" for context and image tokens.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u64,
    u64,
    u64,
    u64,
);

/// CLI 2.1.332's registry, in its order.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    ("claude-3-5-haiku", "haiku", "Haiku 3.5", "claude-3-5-haiku-20241022", 0, 8_192, 8_192, 0),
    ("claude-haiku-4-5", "haiku", "Haiku 4.5", "claude-haiku-4-5-20251001", 200_000, 32_000, 64_000, 0),
    ("claude-haiku-5-5", "haiku", "Haiku 5.5", "claude-haiku-5-5", 1_000_000, 128_000, 128_000, 4_784),
    ("claude-3-5-sonnet", "sonnet", "Sonnet 3.5", "claude-3-5-sonnet-20241022", 0, 8_192, 8_192, 0),
    ("claude-3-7-sonnet", "sonnet", "Sonnet 3.7", "claude-3-7-sonnet-20250219", 0, 32_000, 64_000, 0),
    ("claude-sonnet-4-0", "sonnet", "Sonnet 4", "claude-sonnet-4-20250514", 200_000, 32_000, 64_000, 0),
    ("claude-sonnet-4-5", "sonnet", "Sonnet 4.5", "claude-sonnet-4-5-20250929", 200_000, 32_000, 64_000, 0),
    ("claude-sonnet-4-6", "sonnet", "Sonnet 4.6", "claude-sonnet-4-6", 200_000, 32_000, 128_000, 0),
    ("claude-sonnet-5", "sonnet", "Sonnet 5", "claude-sonnet-5", 1_000_000, 64_000, 128_000, 4_784),
    ("claude-sonnet-5-5", "sonnet", "Sonnet 5.5", "claude-sonnet-5-5", 1_000_000, 128_000, 128_000, 4_784),
    ("claude-opus-4-0", "opus", "Opus 4", "claude-opus-4-20250514", 200_000, 32_000, 32_000, 0),
    ("claude-opus-4-1", "opus", "Opus 4.1", "claude-opus-4-1-20250805", 200_000, 32_000, 32_000, 0),
    ("claude-opus-4-5", "opus", "Opus 4.5", "claude-opus-4-5-20251101", 200_000, 32_000, 64_000, 0),
    ("claude-opus-4-6", "opus", "Opus 4.6", "claude-opus-4-6", 200_000, 64_000, 128_000, 0),
    ("claude-opus-4-7", "opus", "Opus 4.7", "claude-opus-4-7", 1_000_000, 64_000, 128_000, 4_784),
    ("claude-opus-4-8", "opus", "Opus 4.8", "claude-opus-4-8", 1_000_000, 64_000, 128_000, 4_784),
    ("claude-opus-5", "opus", "Opus 5", "claude-opus-5", 1_000_000, 64_000, 128_000, 4_784),
    ("claude-opus-5-5", "opus", "Opus 5.5", "claude-opus-5-5", 1_000_000, 128_000, 128_000, 4_784),
    ("claude-fable-5", "fable", "Fable 5", "claude-fable-5", 1_000_000, 64_000, 128_000, 4_784),
    ("claude-fable-5-1", "fable", "Fable 5.1", "claude-fable-5-1", 1_000_000, 64_000, 128_000, 4_784),
    ("claude-fable-5-2", "fable", "Fable 5.2", "claude-fable-5-2", 1_000_000, 128_000, 128_000, 4_784),
    ("claude-mythos-5", "mythos", "Mythos 5", "claude-mythos-5", 1_000_000, 64_000, 128_000, 4_784),
    ("claude-mythos-5-1", "mythos", "Mythos 5.1", "claude-mythos-5-1", 1_000_000, 64_000, 128_000, 4_784),
    ("claude-mythos-5-2", "mythos", "Mythos 5.2", "claude-mythos-5-2", 1_000_000, 128_000, 128_000, 4_784),
];

/// The CLI's family aliases and the model each stands for (first-party API).
const ALIASES: &[(&str, &str)] = &[
    ("opus", "claude-opus-5-5"),
    ("sonnet", "claude-sonnet-5-5"),
    ("haiku", "claude-haiku-5-5"),
    ("fable", "claude-fable-5-2"),
];

fn info(row: &Row) -> ModelInfo {
    let (id, family, display_name, api_id, context, default_output, max_output, image) = *row;
    ModelInfo {
        id,
        family,
        display_name,
        api_id,
        context_window: if context == 0 {
            DEFAULT_CONTEXT
        } else {
            context
        },
        max_output_tokens: max_output,
        default_output_tokens: default_output,
        max_image_tokens: if image == 0 {
            DEFAULT_IMAGE_TOKENS
        } else {
            image
        },
    }
}

/// What the CLI knows about a model named any way it accepts: a family alias (`sonnet`),
/// its id (`claude-sonnet-4-5`), the API id (`claude-sonnet-4-5-20250929`), another date
/// suffix, or any of these with `[1m]` (1M context).
pub fn lookup(name: &str) -> Option<ModelInfo> {
    let (base, one_million) = match name.strip_suffix("[1m]") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let base = ALIASES
        .iter()
        .find(|(alias, _)| *alias == base)
        .map_or(base, |(_, id)| *id);
    let undated = strip_date(base);
    let row = ROWS.iter().find(|row| {
        let (id, _, _, api_id, ..) = **row;
        id == base || api_id == base || id == undated || id.strip_suffix("-0") == Some(undated)
    })?;
    let mut found = info(row);
    if one_million {
        found.context_window = ONE_MILLION;
    }
    Some(found)
}

/// `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`; `claude-x-5` stays. (An undated
/// `claude-sonnet-4` is the CLI's `claude-sonnet-4-0`.)
fn strip_date(id: &str) -> &str {
    match id.rsplit_once('-') {
        Some((base, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => id,
    }
}

/// The family a Claude id names, read the way the CLI reads ids (`claude-<family>-<n>…` or
/// the older `claude-<n>[-<n>]-<family>…`), for ids the registry lacks.
pub fn family_of(id: &str) -> Option<&str> {
    if let Some(found) = lookup(id) {
        return Some(found.family);
    }
    let rest = id.strip_prefix("claude-")?;
    let mut parts = rest.split('-');
    let first = parts.next()?;
    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_lowercase()) {
        return parts
            .next()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty())
            .map(|_| first);
    }
    if first.bytes().all(|b| b.is_ascii_digit()) {
        return rest
            .split('-')
            .skip(1)
            .find(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_finds_the_same_model() {
        let by_id = lookup("claude-sonnet-4-5").unwrap();
        assert_eq!(lookup("claude-sonnet-4-5-20250929"), Some(by_id));
        assert_eq!(by_id.family, "sonnet");
        assert_eq!(by_id.context_window, 200_000);
        assert_eq!(by_id.max_output_tokens, 64_000);
        assert_eq!(
            lookup("claude-sonnet-4-20250514").unwrap().id,
            "claude-sonnet-4-0"
        );
        assert_eq!(lookup("sonnet").unwrap().id, "claude-sonnet-5-5");
        assert_eq!(
            lookup("claude-sonnet-4-5[1m]").unwrap().context_window,
            1_000_000
        );
        assert_eq!(
            lookup("claude-3-5-haiku-20241022").unwrap().context_window,
            200_000
        );
        assert_eq!(lookup("claude-zzz-9"), None);
        assert_eq!(lookup("gpt-4o"), None);
    }

    #[test]
    fn families_of_unknown_ids_are_read_like_the_cli() {
        assert_eq!(family_of("claude-opus-9-1"), Some("opus"));
        assert_eq!(family_of("claude-3-opus-20240229"), Some("opus"));
        assert_eq!(family_of("claude-zzz-9"), Some("zzz"));
        assert_eq!(family_of("claude-instant"), None);
        assert_eq!(family_of("gpt-4o"), None);
    }
}
