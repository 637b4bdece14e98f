//! From a validated [`ChatRequest`] to a [`RunPlan`]: what goes on stdin, what goes into
//! the system prompt file, and which earlier turns are written as a session file.
//!
//! Earlier turns are normalised for the Messages API: consecutive turns of the same speaker
//! are merged and empty assistant turns dropped. A history that does not start with a user
//! turn cannot be resumed, so that request is planned as flattened.

use super::tool_plan::{self, ToolRun};
use crate::claude::session::Speaker;
use crate::conversation::{
    ApiError, Attachment, ChatRequest, Effort, Message, ResponseFormat, Role,
};

/// What one CLI run needs.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan {
    /// The `--model` argument.
    pub model_arg: String,
    pub system_prompt: Option<String>,
    /// Earlier turns (alternating, starting with the user), for `--resume`; empty for a
    /// single-turn request.
    pub history: Vec<(Speaker, String)>,
    /// The last user message: stdin when resuming (or single-turn).
    pub prompt: String,
    /// Everything in one prompt: stdin when flattening.
    pub flattened: String,
    /// The history cannot be resumed; flatten instead.
    pub must_flatten: bool,
    /// `CLAUDE_CODE_MAX_OUTPUT_TOKENS`: the upstream `max_tokens`.
    pub max_output_tokens: Option<u32>,
    /// `--effort`: the upstream `output_config.effort`.
    pub effort: Option<Effort>,
    /// The model thinks, and the thinking is sent back.
    pub thinking: bool,
    /// Stop sequences, applied by the proxy to the answer as it streams.
    pub stop: Vec<String>,
    /// `--json-schema`: the answer is JSON valid against this schema.
    pub json_schema: Option<String>,
    /// The attachments (images, documents) of each `history` turn (same index; empty for most).
    pub history_attachments: Vec<Vec<Attachment>>,
    /// The attachments of the new user message (they go in a stream-json stdin message).
    pub prompt_attachments: Vec<Attachment>,
    /// Client tools: the stub's functions, the session rows, the call to carry.
    pub tools: Option<ToolRun>,
}

/// What `response_format: json_object` adds to the system prompt (the CLI has no JSON mode
/// without a schema).
pub const JSON_OBJECT_INSTRUCTION: &str = "Answer with exactly one valid JSON object and \
    nothing else: no prose before or after it, no Markdown code fences.";

impl RunPlan {
    pub fn is_multi_turn(&self) -> bool {
        !self.history.is_empty() || self.tools.as_ref().is_some_and(|t| !t.turns.is_empty())
    }

    /// Whether any earlier turn carries attachments.
    pub fn history_has_attachments(&self) -> bool {
        self.history_attachments.iter().any(|i| !i.is_empty())
    }
}

/// Plans a run for `request`, whose model resolved to `model_arg`.
pub fn plan(request: &ChatRequest, model_arg: &str) -> RunPlan {
    let turns = request.turns();
    // The parser guarantees a non-empty last user turn.
    let (last, mut prompt_attachments, earlier) = match turns.split_last() {
        Some((last, earlier)) => (last.text.clone(), last.attachments.clone(), earlier),
        None => (String::new(), Vec::new(), &[][..]),
    };
    let (mut history, mut history_attachments) = history_of(earlier);
    // The new user message follows on stdin: the history must end with the assistant.
    // A trailing user turn (two user messages in a row at the end) is folded into stdin.
    let mut prompt = last;
    if let Some((Speaker::User, text)) = history.last() {
        prompt = if prompt.is_empty() {
            text.clone()
        } else if text.is_empty() {
            prompt
        } else {
            format!("{text}\n\n{prompt}")
        };
        history.pop();
        let mut folded = history_attachments.pop().unwrap_or_default();
        folded.append(&mut prompt_attachments);
        prompt_attachments = folded;
    }
    let must_flatten = history.first().is_some_and(|(s, _)| *s != Speaker::User);
    let flattened = flatten(&history, &prompt);
    let system_prompt = system_prompt_of(request);
    let json_schema = match &request.controls.format {
        ResponseFormat::JsonSchema(schema) => Some(schema.clone()),
        _ => None,
    };
    RunPlan {
        model_arg: model_arg.to_string(),
        system_prompt,
        history,
        prompt,
        flattened,
        must_flatten,
        max_output_tokens: request.controls.max_tokens,
        effort: request.controls.effort,
        thinking: request.controls.thinking,
        stop: request.controls.stop.clone(),
        json_schema,
        history_attachments,
        prompt_attachments,
        tools: None,
    }
}

/// The earlier turns, normalized for the Messages API: consecutive turns of one speaker
/// merged, empty ones dropped; each turn's attachments beside it.
fn history_of(earlier: &[&Message]) -> (Vec<(Speaker, String)>, Vec<Vec<Attachment>>) {
    let mut history: Vec<(Speaker, String)> = Vec::new();
    let mut history_attachments: Vec<Vec<Attachment>> = Vec::new();
    for message in earlier {
        let speaker = match message.role {
            Role::User => Speaker::User,
            Role::Assistant => Speaker::Assistant,
            Role::System | Role::Tool => continue,
        };
        if message.text.trim().is_empty() && message.attachments.is_empty() {
            continue;
        }
        match history.last_mut() {
            Some((prev, text)) if *prev == speaker => {
                if !message.text.trim().is_empty() {
                    if !text.is_empty() {
                        text.push_str("\n\n");
                    }
                    text.push_str(&message.text);
                }
                if let Some(attachments) = history_attachments.last_mut() {
                    attachments.extend(message.attachments.iter().cloned());
                }
            }
            _ => {
                history.push((speaker, message.text.clone()));
                history_attachments.push(message.attachments.clone());
            }
        }
    }
    (history, history_attachments)
}

/// The system prompt file's text: the system messages, and what `json_object` mode asks.
fn system_prompt_of(request: &ChatRequest) -> Option<String> {
    match (&request.controls.format, request.system_prompt()) {
        (ResponseFormat::JsonObject, Some(system)) => {
            Some(format!("{system}\n\n{JSON_OBJECT_INSTRUCTION}"))
        }
        (ResponseFormat::JsonObject, None) => Some(JSON_OBJECT_INSTRUCTION.to_string()),
        (_, system) => system,
    }
}

/// Plans any request: tool conversations through [`tool_plan`], the rest through [`plan`].
pub fn plan_request(request: &ChatRequest, model_arg: &str) -> Result<RunPlan, ApiError> {
    if !tool_plan::involves_tools(request) {
        return Ok(plan(request, model_arg));
    }
    let (tools, last_user) = tool_plan::plan(request)?;
    let mut run = plan(request, model_arg);
    let (prompt, attachments) = last_user.unwrap_or_default();
    run.history.clear();
    run.history_attachments.clear();
    run.prompt = prompt.clone();
    run.flattened = prompt;
    run.prompt_attachments = attachments;
    run.must_flatten = false;
    if let Some(instruction) = &tools.instruction {
        run.system_prompt = Some(match run.system_prompt.take() {
            Some(system) => format!("{system}\n\n{instruction}"),
            None => instruction.clone(),
        });
    }
    run.tools = Some(tools);
    Ok(run)
}

/// The fallback: earlier turns as a transcript, then the new message.
pub fn flatten(history: &[(Speaker, String)], prompt: &str) -> String {
    if history.is_empty() {
        return prompt.to_string();
    }
    let mut out = String::from(
        "Here is our conversation so far. Continue it by answering my last message.\n\n<conversation>\n",
    );
    for (speaker, text) in history {
        let name = match speaker {
            Speaker::User => "User",
            Speaker::Assistant => "Assistant",
        };
        out.push_str(&format!("<turn role=\"{name}\">\n{text}\n</turn>\n"));
    }
    out.push_str("</conversation>\n\n");
    out.push_str(prompt);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::chat::parse_chat_request;

    fn req(json: &str) -> ChatRequest {
        parse_chat_request(json.as_bytes()).unwrap()
    }

    #[test]
    fn single_turn_has_no_history() {
        let p = plan(
            &req(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#),
            "opus",
        );
        assert!(!p.is_multi_turn());
        assert_eq!(p.prompt, "hi");
        assert_eq!(p.flattened, "hi");
        assert_eq!(p.model_arg, "opus");
    }

    #[test]
    fn earlier_turns_become_history_and_system_is_separate() {
        let p = plan(
            &req(r#"{"model":"m","messages":[
                {"role":"system","content":"terse"},
                {"role":"user","content":"My name is Bob."},
                {"role":"assistant","content":"Nice to meet you, Bob."},
                {"role":"user","content":"What is my name?"}]}"#),
            "sonnet",
        );
        assert_eq!(p.system_prompt.as_deref(), Some("terse"));
        assert_eq!(
            p.history,
            vec![
                (Speaker::User, "My name is Bob.".to_string()),
                (Speaker::Assistant, "Nice to meet you, Bob.".to_string())
            ]
        );
        assert_eq!(p.prompt, "What is my name?");
        assert!(!p.must_flatten);
        assert!(
            p.flattened
                .contains("<turn role=\"User\">\nMy name is Bob.\n</turn>")
        );
        assert!(p.flattened.ends_with("What is my name?"));
    }

    #[test]
    fn same_speaker_turns_merge_and_trailing_user_folds_into_prompt() {
        let p = plan(
            &req(r#"{"model":"m","messages":[
                {"role":"user","content":"a"},{"role":"user","content":"b"},
                {"role":"assistant","content":"c"},{"role":"assistant","content":""},
                {"role":"user","content":"d"},{"role":"user","content":"e"}]}"#),
            "opus",
        );
        assert_eq!(
            p.history,
            vec![
                (Speaker::User, "a\n\nb".to_string()),
                (Speaker::Assistant, "c".to_string())
            ]
        );
        assert_eq!(p.prompt, "d\n\ne");
    }

    #[test]
    fn history_starting_with_assistant_must_flatten() {
        let p = plan(
            &req(r#"{"model":"m","messages":[
                {"role":"assistant","content":"Hello! How can I help?"},
                {"role":"user","content":"hi"}]}"#),
            "opus",
        );
        assert!(p.must_flatten);
    }
}
