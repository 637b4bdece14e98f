//! Stop sequences, applied by the proxy (the CLI has no way to pass them upstream): text is
//! cut before the first match, and text that could still become a match is held back until
//! the next piece shows whether it does — so a client never sees the start of a stop
//! sequence. Once a sequence matched, the run is over (the caller ends the CLI).

/// The stop sequences of one answer and the text held back.
#[derive(Debug)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

/// What feeding a piece of text gave.
#[derive(Debug, PartialEq, Eq)]
pub struct Fed {
    /// Text the client may have now.
    pub text: String,
    /// The stop sequence that matched: `text` is the last of the answer.
    pub stopped: Option<String>,
}

impl StopMatcher {
    /// A matcher for `stops`; `None` when there are none.
    pub fn new(stops: &[String]) -> Option<StopMatcher> {
        let stops: Vec<String> = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        (!stops.is_empty()).then_some(StopMatcher {
            stops,
            held: String::new(),
        })
    }

    /// Takes the next piece of the answer.
    pub fn feed(&mut self, piece: &str) -> Fed {
        let mut buffer = std::mem::take(&mut self.held);
        buffer.push_str(piece);
        if let Some((at, stop)) = self
            .stops
            .iter()
            .filter_map(|s| buffer.find(s.as_str()).map(|at| (at, s)))
            .min_by_key(|(at, _)| *at)
        {
            let stop = stop.clone();
            buffer.truncate(at);
            return Fed {
                text: buffer,
                stopped: Some(stop),
            };
        }
        let keep = self.partial_suffix(&buffer);
        self.held = buffer.split_off(buffer.len() - keep);
        Fed {
            text: buffer,
            stopped: None,
        }
    }

    /// The held-back text, at the end of the answer (it did not become a match).
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// The length of the longest end of `text` that begins some stop sequence.
    fn partial_suffix(&self, text: &str) -> usize {
        let mut best = 0;
        for (start, _) in text.char_indices() {
            let tail = &text[start..];
            if self
                .stops
                .iter()
                .any(|s| s.len() > tail.len() && s.starts_with(tail))
            {
                best = best.max(tail.len());
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(stops: &[&str]) -> StopMatcher {
        StopMatcher::new(&stops.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn cuts_before_the_first_match_across_pieces() {
        let mut m = matcher(&["END", "STOP"]);
        assert_eq!(m.feed("one two E").text, "one two ");
        let fed = m.feed("ND three");
        assert_eq!(
            fed,
            Fed {
                text: String::new(),
                stopped: Some("END".into())
            }
        );
        let mut m = matcher(&["\n\n"]);
        let fed = m.feed("a\n");
        assert_eq!(fed.text, "a");
        assert_eq!(
            m.feed("b").text,
            "\nb",
            "a held start that did not match is released"
        );
        assert_eq!(m.flush(), "");
    }

    #[test]
    fn the_earliest_of_several_sequences_wins() {
        let mut m = matcher(&["world", "lo"]);
        assert_eq!(
            m.feed("hello world"),
            Fed {
                text: "hel".into(),
                stopped: Some("lo".into())
            }
        );
    }

    #[test]
    fn held_text_comes_back_at_the_end_and_multibyte_is_safe() {
        let mut m = matcher(&["éé!"]);
        assert_eq!(m.feed("café").text, "caf");
        assert_eq!(m.flush(), "é");
        assert!(StopMatcher::new(&[]).is_none());
        assert!(StopMatcher::new(&[String::new()]).is_none());
    }
}
