//! A whole answer, for the clients of every API that do not stream: the run's outputs
//! gathered (text an abandoned stream took back dropped again), then fed, in order, to the
//! API's own [`EventWriter`] — the one that writes its stream — whose final object is the
//! answer. The log learns the first token, the end and any failure.

use std::collections::VecDeque;

use serde_json::Value;
use tokio::sync::mpsc;

use super::request_log::RequestLog;
use super::respond::ended_without_answer;
use crate::api::EventWriter;
use crate::conversation::ApiError;
use crate::translate::outcome::{Finish, Output};

/// The whole answer's object, and whether Anthropic billed it as extra usage.
pub struct Whole {
    pub body: Value,
    pub billed_as_overage: bool,
}

/// Waits for the whole answer and has `writer` build it.
pub async fn whole<W: EventWriter>(
    rx: mpsc::Receiver<Output>,
    mut writer: W,
    log: &mut RequestLog,
) -> Result<Whole, ApiError> {
    let (outputs, finish, billed_as_overage) = collect(rx, log).await?;
    let mut ignored = VecDeque::new();
    for output in outputs {
        match output {
            Output::Model(model) => writer.model(model),
            other => writer.content(other, &mut ignored),
        }
        ignored.clear();
    }
    writer.finish(finish, &mut ignored);
    Ok(Whole {
        body: writer.whole(),
        billed_as_overage,
    })
}

/// The outputs up to the finish, with what the CLI took back (`Retract`) removed from the
/// text at the end.
async fn collect(
    mut rx: mpsc::Receiver<Output>,
    log: &mut RequestLog,
) -> Result<(Vec<Output>, Finish, bool), ApiError> {
    let mut outputs: Vec<Output> = Vec::new();
    let mut overage = false;
    while let Some(output) = rx.recv().await {
        match output {
            Output::Served(how) => log.served(how.as_str()),
            Output::Overage => {
                overage = true;
                log.overage();
            }
            Output::Text(_) | Output::ToolCall { .. } => {
                log.first_token();
                outputs.push(output);
            }
            Output::Retract(len) => retract(&mut outputs, len),
            Output::Finished(finish) => {
                log.finished(finish.usage);
                return Ok((outputs, finish, overage));
            }
            Output::Failed(error) => {
                log.failed(error.status());
                return Err(error);
            }
            other => outputs.push(other),
        }
    }
    log.failed(500);
    Err(ended_without_answer())
}

/// Drops the last `len` bytes of the answer's text (the text pieces, from the end; what
/// else came between them stays).
fn retract(outputs: &mut Vec<Output>, mut len: usize) {
    let mut i = outputs.len();
    while len > 0 && i > 0 {
        i -= 1;
        let Output::Text(piece) = &mut outputs[i] else {
            continue;
        };
        if piece.len() > len {
            let keep = piece.len() - len;
            if piece.is_char_boundary(keep) {
                piece.truncate(keep);
            }
            return;
        }
        len -= piece.len();
        outputs.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retraction_drops_text_across_pieces() {
        let mut outputs = vec![
            Output::Text("Hello ".into()),
            Output::Text("wor".into()),
            Output::Text("ld".into()),
        ];
        retract(&mut outputs, 4);
        assert_eq!(
            outputs,
            vec![Output::Text("Hello ".into()), Output::Text("w".into())]
        );
        outputs.insert(1, Output::Reasoning("thought".into()));
        retract(&mut outputs, 100);
        assert_eq!(outputs, vec![Output::Reasoning("thought".into())]);
    }
}
