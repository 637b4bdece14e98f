//! The one request shape every API is parsed into: a [`ChatRequest`] of [`Message`]s with
//! their [`Role`]s, and the readers every parser shares (the body as a JSON object, the
//! `model`, the conversation's ending).

use serde_json::{Map, Value};

use super::ApiError;
use super::Attachment;
use super::controls::Controls;
use super::limits::{self, BodyProblem};
use super::tools::{ToolCall, Tools};

/// Who said a message, after folding `developer` into `system`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool result (`tool`, or the legacy `function`).
    Tool,
}

/// One message with its text content and (user messages only) its images and documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Assistant messages: the tool calls made.
    pub tool_calls: Vec<ToolCall>,
    /// Tool messages: the call this is the result of.
    pub tool_call_id: Option<String>,
    /// Tool messages: the result's parts and error flag, as the model must get them.
    pub result: Option<super::ToolOutput>,
}

impl Message {
    /// A message of text only.
    pub fn plain(role: Role, text: String) -> Message {
        Message {
            role,
            text,
            attachments: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            result: None,
        }
    }
}

/// A validated chat request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub stream: bool,
    /// `stream_options.include_usage`: send a final usage chunk.
    pub include_usage: bool,
    /// `max_tokens`, `stop`, `reasoning_effort`, and the ignored parameters' names.
    pub controls: Controls,
    /// The client's functions and how the model may use them.
    pub tools: Tools,
}

impl ChatRequest {
    /// System and developer messages joined, in order; `None` if there are none.
    pub fn system_prompt(&self) -> Option<String> {
        let parts: Vec<&str> = self
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.text.as_str())
            .filter(|t| !t.trim().is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }

    /// The user/assistant turns, in order (system messages removed).
    pub fn turns(&self) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| m.role != Role::System)
            .collect()
    }
}

/// A request body as a JSON object; `fields` names what it must hold (for the message).
/// A body over [`limits::MAX_JSON_VALUES`] is refused before anything is built from it.
pub fn json_object(body: &[u8], fields: &str) -> Result<Map<String, Value>, ApiError> {
    let not_json = |e: serde_json::Error| {
        ApiError::invalid(
            "body",
            format!(
                "We could not parse the JSON body of your request ({e}). \
                 Send a JSON object with {fields}."
            ),
        )
    };
    match limits::count_values(body, limits::MAX_JSON_VALUES) {
        Ok(_) => {}
        Err(BodyProblem::TooManyValues) => return Err(limits::too_many_values()),
        Err(BodyProblem::Syntax(e)) => return Err(not_json(e)),
    }
    let value: Value = serde_json::from_slice(body).map_err(not_json)?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError::invalid(
            "body",
            format!("The request body must be a JSON object with {fields}."),
        )),
    }
}

/// The request's `model`: a non-empty string.
pub fn required_model(obj: &Map<String, Value>) -> Result<String, ApiError> {
    match obj.get("model") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ApiError::invalid(
            "model",
            "You must provide a model parameter (see GET /v1/models).",
        )),
        Some(_) => Err(ApiError::invalid("model", "`model` must be a string.")),
    }
}

/// The request's `messages`: a non-empty array (chat and Messages bodies alike); `missing`
/// is the error's text when there is none.
pub fn required_messages<'a>(
    value: Option<&'a Value>,
    missing: &str,
) -> Result<&'a [Value], ApiError> {
    match value {
        Some(Value::Array(items)) if !items.is_empty() => Ok(items),
        Some(Value::Array(_)) => Err(ApiError::invalid(
            "messages",
            "`messages` must contain at least one message.",
        )),
        None | Some(Value::Null) => Err(ApiError::invalid("messages", missing)),
        Some(_) => Err(ApiError::invalid(
            "messages",
            "`messages` must be an array.",
        )),
    }
}

/// The conversation must end with something to answer: a non-empty user message or tool
/// results (the CLI cannot continue a partial assistant message).
pub fn check_ending(messages: &[Message]) -> Result<(), ApiError> {
    let last = messages
        .iter()
        .rposition(|m| m.role != Role::System)
        .ok_or_else(|| {
            ApiError::invalid(
                "messages",
                "`messages` has only system messages; add a user message.",
            )
        })?;
    if !matches!(messages[last].role, Role::User | Role::Tool) {
        return Err(ApiError::invalid(
            format!("messages[{last}].role"),
            "The last message must come from the user (or be a tool result): the claude CLI \
             cannot continue a partial assistant message.",
        ));
    }
    if messages[last].role == Role::User
        && messages[last].text.trim().is_empty()
        && messages[last].attachments.is_empty()
    {
        return Err(ApiError::invalid(
            format!("messages[{last}].content"),
            "The last user message is empty.",
        ));
    }
    Ok(())
}
