//! A whole answer, for the non-streaming responses of every API: the run's outputs
//! gathered into text, thinking, tool calls and the finish.

use tokio::sync::mpsc;

use super::request_log::RequestLog;
use super::respond::ended_without_answer;
use crate::openai::{ApiError, ToolCall};
use crate::translate::outcome::{Finish, Output};

/// Everything the model produced, in the order the client needs it.
#[derive(Debug)]
pub struct Answer {
    /// The model that answered (the requested name until the CLI says).
    pub model: String,
    pub text: String,
    /// The model's thinking (empty unless the run thought).
    pub reasoning: String,
    pub calls: Vec<ToolCall>,
    pub finish: Finish,
    /// Anthropic reported this request as billed as extra usage.
    pub overage: bool,
}

/// Waits for the whole answer; the log learns the first token, the end and any failure.
pub async fn collect(
    mut rx: mpsc::Receiver<Output>,
    requested_model: String,
    log: &mut RequestLog,
) -> Result<Answer, ApiError> {
    let mut model = requested_model;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut overage = false;
    let mut calls: Vec<ToolCall> = Vec::new();
    while let Some(output) = rx.recv().await {
        match output {
            Output::Model(m) => model = m,
            Output::Served(how) => log.served(how),
            Output::ToolCall { index, id, name } => {
                log.first_token();
                if index == calls.len() {
                    calls.push(ToolCall {
                        id,
                        name,
                        arguments: String::new(),
                    });
                }
            }
            Output::ToolArgs { index, arguments } => {
                if let Some(call) = calls.get_mut(index) {
                    call.arguments.push_str(&arguments);
                }
            }
            Output::Overage => {
                overage = true;
                log.overage();
            }
            Output::Text(piece) => {
                log.first_token();
                text.push_str(&piece);
            }
            Output::Reasoning(piece) => reasoning.push_str(&piece),
            Output::Retract(len) => {
                let keep = text.len().saturating_sub(len);
                if text.is_char_boundary(keep) {
                    text.truncate(keep);
                }
            }
            Output::Finished(finish) => {
                log.finished(finish.usage);
                return Ok(Answer {
                    model,
                    text,
                    reasoning,
                    calls,
                    finish,
                    overage,
                });
            }
            Output::Failed(error) => {
                log.failed(error.status());
                return Err(error);
            }
        }
    }
    log.failed(500);
    Err(ended_without_answer())
}
