//! Text → token count with OpenAI's `cl100k_base` BPE (the `tiktoken-rs` crate, its
//! vocabulary compiled in). Claude's own tokenizer is not public; `cl100k_base` came closer
//! to Claude's counts than `o200k_base` on the measured sample (docs/api.md), because
//! `o200k_base` packs non-Latin scripts far tighter than Claude does.

/// Longest piece handed to the BPE at once: byte-pair merging costs grow with the square
/// of a piece's length, and one 8 MiB run of letters would otherwise take minutes.
const MAX_PIECE_BYTES: usize = 4096;

/// Tokens of `text` (an estimate of Claude's count; see the module docs).
pub fn tokens(text: &str) -> u64 {
    let bpe = tiktoken_rs::cl100k_base_singleton();
    pieces(text)
        .map(|piece| bpe.encode_ordinary(piece).len() as u64)
        .sum()
}

/// `text` in pieces of at most [`MAX_PIECE_BYTES`], cut at whitespace where there is some.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.len() <= MAX_PIECE_BYTES {
            return Some(std::mem::take(&mut rest));
        }
        let mut end = MAX_PIECE_BYTES;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let cut = rest[..end]
            .rfind(char::is_whitespace)
            .filter(|&at| at > 0)
            .unwrap_or(end);
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_cl100k() {
        assert_eq!(tokens(""), 0);
        assert_eq!(tokens("Hello, world!"), 4);
        assert_eq!(tokens("You are a scientist"), 4);
    }

    #[test]
    fn long_runs_are_cut_into_pieces_without_changing_much() {
        let prose = "The quick brown fox jumps over the lazy dog. ".repeat(500);
        let whole = tiktoken_rs::cl100k_base_singleton()
            .encode_ordinary(&prose)
            .len() as u64;
        assert_eq!(tokens(&prose), whole, "cuts at whitespace keep prose exact");
        let run = "é".repeat(10_000);
        assert!(pieces(&run).all(|p| p.len() <= MAX_PIECE_BYTES));
        assert_eq!(pieces(&run).collect::<String>(), run);
    }
}
