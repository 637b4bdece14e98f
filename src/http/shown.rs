//! How strings a client chose (the `model` of a request) appear where the daemon keeps or
//! prints them: the request log line, the status page's list and the metrics' labels.
//!
//! A client picks these strings freely, so each place bounds them: the log and the page get
//! the string cut to [`MAX_SHOWN_CHARS`] characters with its control characters escaped (a
//! name can then neither forge a log line nor drive a terminal), and a metric label is
//! either a name the catalog lists (a bounded set, from the config), `other` for a Claude id
//! the catalog passes to the CLI without listing it, or `unknown` (labels are never evicted,
//! so a client must not be able to mint new ones: any `claude-…` string is served).

/// The most characters of a client's string the log and the status page keep.
pub const MAX_SHOWN_CHARS: usize = 64;

/// The metric label of a model name the catalog does not serve.
pub const UNKNOWN_LABEL: &str = "unknown";

/// The metric label of a Claude id that is served but not listed.
pub const OTHER_LABEL: &str = "other";

/// `text` as the log and the page show it: at most [`MAX_SHOWN_CHARS`] characters (`…`
/// marks a cut), backslashes doubled, and control and invisible formatting characters
/// written as escapes (`\n`, `\u{1b}`), so that it always stays on one line.
pub fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_SHOWN_CHARS * 2));
    for (i, c) in text.chars().enumerate() {
        if i == MAX_SHOWN_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || invisible(c) => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

/// How the catalog took a requested model name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Listed (an alias, a model of the config, a `model_map` id): a bounded set.
    Listed,
    /// Served without being listed (any well-formed `claude-…` id).
    Served,
    /// Not served (404).
    Unknown,
}

/// The metrics' `model` label: the name itself when the catalog lists it, else
/// [`OTHER_LABEL`] or [`UNKNOWN_LABEL`].
pub fn model_label(requested: &str, known: Known) -> String {
    match known {
        Known::Listed => requested.to_string(),
        Known::Served => OTHER_LABEL.to_string(),
        Known::Unknown => UNKNOWN_LABEL.to_string(),
    }
}

/// Formatting characters that change how a line reads without showing themselves:
/// zero-width characters, bidirectional overrides and isolates, line and paragraph
/// separators, the byte-order mark.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_lines_stay_whole() {
        assert_eq!(shown("claude-opus-4"), "claude-opus-4");
        assert_eq!(
            shown("a\nb\r\u{1b}[31mc\td\\n\u{202e}e"),
            "a\\nb\\r\\u{1b}[31mc\\td\\\\n\\u{202e}e"
        );
        assert!(
            !shown("x\u{7f}\u{85}\u{2028}y")
                .chars()
                .any(char::is_control)
        );
    }

    #[test]
    fn long_names_are_cut() {
        let long = "é".repeat(10_000);
        let cut = shown(&long);
        assert_eq!(cut.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(shown(&"x".repeat(MAX_SHOWN_CHARS)), "x".repeat(64));
    }

    #[test]
    fn only_listed_names_become_labels() {
        assert_eq!(model_label("claude-opus-4", Known::Listed), "claude-opus-4");
        assert_eq!(model_label("claude-made-up-1", Known::Served), "other");
        assert_eq!(model_label("anything-else", Known::Unknown), "unknown");
    }
}
