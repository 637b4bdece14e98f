//! The proxy's pure parsers, compiled on their own for fuzzing, plus the invariants every
//! fuzz target checks and the structured input generators.
//!
//! The modules are the daemon's own source files, included by path, not the
//! `claude-max-proxy` library: that would build tokio, hyper, chromiumoxide and the rest
//! with sanitizers and coverage instrumentation (many minutes on 2 cores) for code the
//! targets never reach. These files only need serde and serde_json. If one of them starts
//! using another module of the crate, add that module here the same way.

#![allow(dead_code)]

use arbitrary::Arbitrary;
use serde_json::{Map, Value, json};

/// `src/conversation/`: the one request shape every API is parsed into, with its images,
/// documents, tools, controls, limits and errors.
#[path = "../../src/conversation/mod.rs"]
pub mod conversation;

/// `src/api/`: each API's request parser (into the same `ChatRequest`) and the pieces of its
/// answers the invariants read; not the endpoints and writers (they need the HTTP side's
/// crates).
#[path = "../../src/api"]
pub mod api {
    /// Chat completions' parser.
    #[path = "chat"]
    pub mod chat {
        #[path = "parse.rs"]
        mod parse;
        pub use parse::parse_chat_request;
    }

    /// The Messages API's parser and its error object.
    #[path = "messages"]
    pub mod messages {
        #[path = "error.rs"]
        mod error;
        #[path = "parse.rs"]
        mod parse;
        pub use error::{error_json, status};
        pub use parse::parse_messages_request;
    }

    /// The Responses API's parser (`reply.rs` builds answers and needs `uuid`, `store.rs` is
    /// the daemon's memory behind `previous_response_id`, `input_list.rs` lists what it
    /// keeps).
    #[path = "responses"]
    pub mod responses {
        #[path = "input_items.rs"]
        mod input_items;
        #[path = "parse.rs"]
        mod parse;
        #[path = "tools.rs"]
        mod tools;
        pub use parse::{ResponsesMeta, ResponsesRequest, parse_responses_request};
    }
}

/// `src/claude/events.rs` and the `rate_limit` events it parses (the rest of `claude`
/// spawns processes).
#[path = "../../src/claude"]
pub mod claude {
    #[path = "events.rs"]
    pub mod events;
    #[path = "rate_limit.rs"]
    pub mod rate_limit;
}

/// `src/translate/outcome.rs` and the `errors` module it uses.
#[path = "../../src/translate"]
pub mod translate {
    #[path = "errors.rs"]
    pub mod errors;
    #[path = "outcome.rs"]
    pub mod outcome;
    #[path = "tool_names.rs"]
    pub mod tool_names;
}

use api::chat::parse_chat_request;
use api::messages as anthropic;
use api::messages::parse_messages_request;
use claude::events::parse_line;
use api::responses::{ResponsesRequest, parse_responses_request};
use conversation::{ChatRequest, Role, ToolChoice};
use translate::outcome::{Output, Translator};

// ---------------------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------------------

/// Parses a chat request body and checks what the HTTP layer relies on: a rejection is a
/// 400 naming the `param` at fault; an accepted request has a model and ends on a non-empty
/// user message (the CLI cannot continue anything else).
pub fn check_chat_request(body: &[u8]) -> Option<ChatRequest> {
    match parse_chat_request(body) {
        Err(error) => {
            assert_eq!(
                error.status(),
                400,
                "a parse error must be a 400: {error:?}"
            );
            assert!(
                error.param.as_deref().is_some_and(|p| !p.is_empty()),
                "a parse error must name its param: {error:?}"
            );
            assert!(!error.message.is_empty(), "{error:?}");
            // The error object a client gets is valid JSON with the OpenAI shape.
            let object: Value = serde_json::from_str(&error.to_json()).expect("error JSON");
            assert_eq!(object["error"]["param"], json!(error.param));
            None
        }
        Ok(request) => {
            assert!(!request.model.is_empty(), "accepted without a model");
            let last = request
                .messages
                .iter()
                .rev()
                .find(|m| m.role != Role::System)
                .expect("accepted without a user message");
            assert_eq!(last.role, Role::User, "accepted ending on {:?}", last.role);
            assert!(
                !last.text.trim().is_empty(),
                "accepted an empty last message"
            );
            assert!(
                request.turns().last().is_some_and(|t| t.role == Role::User),
                "turns() must end on the user"
            );
            if let Some(system) = request.system_prompt() {
                assert!(!system.trim().is_empty());
            }
            // What reaches the CLI's env/argv and the stop matcher is well-formed.
            let controls = &request.controls;
            assert!(controls.stop.len() <= 4 && controls.stop.iter().all(|s| !s.is_empty()));
            assert!(controls.max_tokens.is_none_or(|n| n >= 1));
            if let conversation::ResponseFormat::JsonSchema(schema) = &controls.format {
                let parsed: Value = serde_json::from_str(schema).expect("schema is JSON");
                assert!(parsed.is_object(), "a schema must be an object");
            }
            Some(request)
        }
    }
}

/// Parses a `POST /v1/messages` body and checks what the HTTP layer and the runner rely on:
/// a rejection is a 400 naming its param, with a Messages API error object that names it
/// too; an accepted request has a model and ends on the user's turn (text, images or tool
/// results), every tool result answers a call of an earlier assistant turn, and the tools,
/// tool choice and controls are well-formed.
pub fn check_messages_request(body: &[u8]) -> Option<ChatRequest> {
    let request = match parse_messages_request(body) {
        Err(error) => {
            assert_eq!(
                error.status(),
                400,
                "a parse error must be a 400: {error:?}"
            );
            let param = error.param.as_deref().unwrap_or_default();
            assert!(
                !param.is_empty(),
                "a parse error must name its param: {error:?}"
            );
            assert!(!error.message.is_empty(), "{error:?}");
            assert_eq!(anthropic::status(&error), 400, "{error:?}");
            // The error object a client gets is valid JSON of the Messages API's shape, and
            // (having no `param`) names the field in its message.
            let object: Value =
                serde_json::from_str(&anthropic::error_json(&error)).expect("error JSON");
            assert_eq!(object["type"], "error");
            assert_eq!(object["error"]["type"], "invalid_request_error");
            let message = object["error"]["message"].as_str().expect("message");
            assert!(
                message.contains(param),
                "{message:?} does not name {param:?}"
            );
            return None;
        }
        Ok(request) => request,
    };
    assert!(!request.model.is_empty(), "accepted without a model");
    let last = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role != Role::System)
        .expect("accepted without a user turn");
    match last.role {
        Role::User => assert!(
            !last.text.trim().is_empty() || !last.attachments.is_empty(),
            "accepted an empty last user turn"
        ),
        Role::Tool => {}
        other => panic!("accepted ending on {other:?}"),
    }
    for (i, message) in request.messages.iter().enumerate() {
        if message.role == Role::Tool {
            let id = message.tool_call_id.as_deref().expect("a tool result's id");
            assert!(
                request.messages[..i]
                    .iter()
                    .any(|m| m.role == Role::Assistant && m.tool_calls.iter().any(|c| c.id == id)),
                "tool result {id:?} answers no earlier call"
            );
        }
        for call in &message.tool_calls {
            assert_eq!(
                message.role,
                Role::Assistant,
                "a call outside an assistant turn"
            );
            assert!(!call.id.is_empty() && conversation::tools::valid_name(&call.name));
            let arguments: Value = serde_json::from_str(&call.arguments).expect("arguments JSON");
            assert!(arguments.is_object(), "arguments must be an object");
        }
    }
    let tools = &request.tools;
    for (i, function) in tools.functions.iter().enumerate() {
        assert!(conversation::tools::valid_name(&function.name), "{function:?}");
        assert!(
            tools.functions[..i].iter().all(|f| f.name != function.name),
            "duplicate tool {:?}",
            function.name
        );
        let schema: Value = serde_json::from_str(&function.parameters).expect("schema JSON");
        assert_eq!(schema["type"], "object");
    }
    match &tools.choice {
        ToolChoice::Named(name) => {
            assert!(tools.functions.iter().any(|f| &f.name == name), "{name:?}")
        }
        ToolChoice::Required => assert!(!tools.functions.is_empty()),
        ToolChoice::Auto | ToolChoice::None => {}
    }
    let controls = &request.controls;
    assert!(controls.stop.iter().all(|s| !s.is_empty()));
    assert!(controls.max_tokens.is_none_or(|n| n >= 1));
    if let conversation::ResponseFormat::JsonSchema(schema) = &controls.format {
        let parsed: Value = serde_json::from_str(schema).expect("schema is JSON");
        assert!(parsed.is_object(), "a schema must be an object");
    }
    if let Some(system) = request.system_prompt() {
        assert!(!system.trim().is_empty());
    }
    Some(request)
}

/// Parses a `POST /v1/responses` body (no response is kept, so every
/// `previous_response_id` is unknown) and checks what the HTTP layer and the runner rely
/// on: a rejection is a 400 naming its param (or, for a `previous_response_id`, a 404 naming
/// it), in an OpenAI error object; an accepted request has a model and ends on the user's
/// turn (text, images or function outputs), every function output answers an earlier call
/// of an assistant turn, the tools are unique with object schemas, `tool_choice` names one
/// of them, and the echoed settings match the request.
pub fn check_responses_request(body: &[u8]) -> Option<ResponsesRequest> {
    let parsed = parse_responses_request(body, |_| None);
    let value: Option<Value> = serde_json::from_slice(body).ok();
    let parsed = match parsed {
        Err(error) => {
            let param = error.param.as_deref().unwrap_or_default();
            assert!(
                !param.is_empty(),
                "a parse error must name its param: {error:?}"
            );
            assert!(!error.message.is_empty(), "{error:?}");
            // It names a field of the Responses API (`input[2].role`), not of chat's.
            assert!(
                param == "body"
                    || value
                        .as_ref()
                        .is_some_and(|v| v.get(top_field(param)).is_some())
                    || ["model", "input"].contains(&param),
                "{param:?} is no field of the request: {error:?}"
            );
            if error.status() == 404 {
                assert_eq!(param, "previous_response_id", "{error:?}");
                assert!(
                    value
                        .as_ref()
                        .is_some_and(|v| v["previous_response_id"].is_string()),
                    "a 404 without a previous_response_id: {error:?}"
                );
            } else {
                assert_eq!(
                    error.status(),
                    400,
                    "a parse error must be a 400: {error:?}"
                );
            }
            // The error object a client gets is valid JSON with the OpenAI shape.
            let object: Value = serde_json::from_str(&error.to_json()).expect("error JSON");
            assert_eq!(object["error"]["param"], json!(error.param));
            assert!(object["error"]["message"].is_string());
            return None;
        }
        Ok(parsed) => parsed,
    };
    let value = value.expect("accepted a body that is not JSON");
    assert!(
        value["previous_response_id"].is_null(),
        "accepted an unknown previous_response_id"
    );
    for key in ["background", "conversation"] {
        assert!(
            value[key].is_null() || value[key] == json!(false),
            "accepted {key}: {}",
            value[key]
        );
    }
    let request = &parsed.chat;
    let meta = &parsed.meta;
    assert!(!request.model.is_empty(), "accepted without a model");
    assert_eq!(json!(request.model), value["model"]);
    assert_eq!(request.stream, value["stream"] == json!(true));
    assert_eq!(meta.store, value["store"] != json!(false));
    assert_eq!(
        meta.instructions.is_some(),
        value["instructions"].is_string()
    );
    // The instructions are the first message; a continuation starts without them.
    if let Some(instructions) = &meta.instructions {
        assert_eq!(request.messages[0].role, Role::System);
        assert_eq!(&request.messages[0].text, instructions);
    }
    assert_eq!(
        meta.conversation(request).len() + usize::from(meta.instructions.is_some()),
        request.messages.len()
    );
    let last = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role != Role::System)
        .expect("accepted without a user turn");
    match last.role {
        Role::User => assert!(
            !last.text.trim().is_empty() || !last.attachments.is_empty(),
            "accepted an empty last user turn"
        ),
        Role::Tool => {}
        other => panic!("accepted ending on {other:?}"),
    }
    for (i, message) in request.messages.iter().enumerate() {
        if message.role == Role::Tool {
            let id = message.tool_call_id.as_deref().expect("a tool result's id");
            assert!(
                request.messages[..i]
                    .iter()
                    .any(|m| m.role == Role::Assistant && m.tool_calls.iter().any(|c| c.id == id)),
                "function output {id:?} answers no earlier call"
            );
        }
        if message.role != Role::User {
            assert!(message.attachments.is_empty() || message.role == Role::Tool);
        }
        for call in &message.tool_calls {
            assert_eq!(
                message.role,
                Role::Assistant,
                "a call outside an assistant turn"
            );
            assert!(!call.id.is_empty() && call.id.len() <= 128, "{call:?}");
            assert!(conversation::tools::valid_name(&call.name), "{call:?}");
        }
    }
    let tools = &request.tools;
    for (i, function) in tools.functions.iter().enumerate() {
        assert!(conversation::tools::valid_name(&function.name), "{function:?}");
        assert!(
            tools.functions[..i].iter().all(|f| f.name != function.name),
            "duplicate tool {:?}",
            function.name
        );
        let schema: Value = serde_json::from_str(&function.parameters).expect("schema JSON");
        assert_eq!(schema["type"], "object");
    }
    match &tools.choice {
        ToolChoice::Named(name) => {
            assert!(tools.functions.iter().any(|f| &f.name == name), "{name:?}")
        }
        ToolChoice::Required => assert!(!tools.functions.is_empty()),
        ToolChoice::Auto | ToolChoice::None => {}
    }
    assert_eq!(tools.parallel, value["parallel_tool_calls"] != json!(false));
    let controls = &request.controls;
    assert!(controls.stop.is_empty(), "the Responses API has no stop");
    assert!(controls.max_tokens.is_none_or(|n| n >= 1));
    if let conversation::ResponseFormat::JsonSchema(schema) = &controls.format {
        let parsed: Value = serde_json::from_str(schema).expect("schema is JSON");
        assert!(parsed.is_object(), "a schema must be an object");
    }
    if let Some(system) = request.system_prompt() {
        assert!(!system.trim().is_empty());
    }
    Some(parsed)
}

/// The top-level field a param names: `input` of `input[2].content[0].type`.
fn top_field(param: &str) -> &str {
    param.split(['[', '.']).next().unwrap_or(param)
}

/// Checks one translator's outputs as they come: no text after the end, at most one end,
/// no empty text, no retraction when streaming (sent text is final).
#[derive(Debug)]
pub struct OutputChecker {
    buffered: bool,
    ended: bool,
}

impl OutputChecker {
    pub fn new(buffered: bool) -> OutputChecker {
        OutputChecker {
            buffered,
            ended: false,
        }
    }

    pub fn check(&mut self, outputs: &[Output], translator_finished: bool) {
        for output in outputs {
            assert!(!self.ended, "output after the end: {output:?}");
            match output {
                Output::Text(text) => assert!(!text.is_empty(), "empty text output"),
                Output::Retract(len) => {
                    assert!(
                        self.buffered,
                        "a streaming translator retracted {len} bytes"
                    );
                    assert!(*len > 0);
                }
                Output::Model(model) => {
                    assert!(!model.contains('[') && !model.is_empty(), "{model:?}")
                }
                Output::Finished(_) => self.ended = true,
                // The translator never makes it (the runner does, from rate-limit reports).
                Output::Overage | Output::Served(_) => {
                    panic!("the translator reports neither extra usage nor how it was served")
                }
                // No tool names are given to the fuzzed translators.
                Output::ToolCall { .. } | Output::ToolArgs { .. } => {
                    panic!("a tool call without client tools")
                }
                // Nor is thinking asked for (`with_thinking`): it is never part of the text.
                Output::Reasoning(_) => panic!("thinking output the client did not ask for"),
                Output::Failed(error) => {
                    assert!(error.status() >= 400, "{error:?}");
                    self.ended = true;
                }
            }
        }
        assert_eq!(
            self.ended, translator_finished,
            "is_finished() disagrees with the outputs"
        );
    }
}

/// Feeds CLI stdout lines to a streaming and a buffered translator, checking both.
pub fn check_cli_lines<'a>(lines: impl IntoIterator<Item = &'a str>) {
    let mut streaming = Translator::new();
    let mut buffered = Translator::buffered();
    let mut streaming_check = OutputChecker::new(false);
    let mut buffered_check = OutputChecker::new(true);
    for line in lines {
        let Ok(event) = parse_line(line) else {
            continue;
        };
        let out = streaming.on_event(event.clone());
        streaming_check.check(&out, streaming.is_finished());
        let out = buffered.on_event(event);
        buffered_check.check(&out, buffered.is_finished());
    }
}

// ---------------------------------------------------------------------------------------
// Structured chat requests: near-valid JSON, so the fuzzer spends its time in validation
// rather than in the JSON syntax error path.
// ---------------------------------------------------------------------------------------

/// Any JSON value; huge and odd numbers and unicode strings included.
#[derive(Arbitrary, Debug)]
pub enum AnyJson {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Huge(HugeNumber),
    Str(String),
    Array(Vec<AnyJson>),
    Object(Vec<(String, AnyJson)>),
}

/// Numbers serde_json keeps as f64 or refuses (parsed from text, so they survive as-is
/// where JSON allows them).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum HugeNumber {
    Big,
    NegBig,
    Tiny,
    Exponent,
    NegZero,
}

impl HugeNumber {
    fn text(self) -> &'static str {
        match self {
            HugeNumber::Big => "1e400",
            HugeNumber::NegBig => "-99999999999999999999999999999999999999",
            HugeNumber::Tiny => "1e-400",
            HugeNumber::Exponent => "2E+2",
            HugeNumber::NegZero => "-0",
        }
    }
}

impl AnyJson {
    /// Text, because some numbers have no `Value` form that serializes back to them.
    pub fn to_json(&self) -> String {
        match self {
            AnyJson::Huge(n) => n.text().to_string(),
            AnyJson::Array(items) => {
                let inner: Vec<String> = items.iter().map(AnyJson::to_json).collect();
                format!("[{}]", inner.join(","))
            }
            AnyJson::Object(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}:{}", json!(k), v.to_json()))
                    .collect();
                format!("{{{}}}", inner.join(","))
            }
            other => other.simple().to_string(),
        }
    }

    fn simple(&self) -> Value {
        match self {
            AnyJson::Null => Value::Null,
            AnyJson::Bool(b) => json!(b),
            AnyJson::Int(i) => json!(i),
            AnyJson::Uint(u) => json!(u),
            // NaN and infinities have no JSON form: serde_json writes null.
            AnyJson::Float(f) => json!(f),
            AnyJson::Str(s) => json!(s),
            _ => Value::Null,
        }
    }
}

/// A field that is usually well typed, sometimes anything.
#[derive(Arbitrary, Debug)]
pub enum Field<T> {
    Good(T),
    Wrong(AnyJson),
}

#[derive(Arbitrary, Debug)]
pub enum RoleChoice {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
    Other(String),
}

impl RoleChoice {
    fn name(&self) -> String {
        match self {
            RoleChoice::System => "system".into(),
            RoleChoice::Developer => "developer".into(),
            RoleChoice::User => "user".into(),
            RoleChoice::Assistant => "assistant".into(),
            RoleChoice::Tool => "tool".into(),
            RoleChoice::Function => "function".into(),
            RoleChoice::Other(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum Part {
    Text(String),
    Refusal(String),
    Image,
    InputAudio,
    Unknown(String),
    NoType(String),
    WrongText(AnyJson),
    Anything(AnyJson),
}

#[derive(Arbitrary, Debug)]
pub enum Content {
    Text(String),
    Blank,
    Parts(Vec<Part>),
    Other(AnyJson),
}

#[derive(Arbitrary, Debug)]
pub struct MessageSpec {
    pub role: Option<Field<RoleChoice>>,
    pub content: Option<Content>,
    pub tool_calls: Option<AnyJson>,
    pub extra: Option<(String, AnyJson)>,
}

/// Parameters the proxy type-checks, accepts or refuses.
#[derive(Arbitrary, Debug)]
pub enum ParamName {
    Temperature,
    TopP,
    PresencePenalty,
    FrequencyPenalty,
    MaxTokens,
    MaxCompletionTokens,
    Seed,
    TopLogprobs,
    Logprobs,
    Stop,
    User,
    N,
    Tools,
    Functions,
    ToolChoice,
    ResponseFormat,
    Modalities,
    StreamOptions,
    Other(String),
}

impl ParamName {
    fn name(&self) -> String {
        match self {
            ParamName::Temperature => "temperature".into(),
            ParamName::TopP => "top_p".into(),
            ParamName::PresencePenalty => "presence_penalty".into(),
            ParamName::FrequencyPenalty => "frequency_penalty".into(),
            ParamName::MaxTokens => "max_tokens".into(),
            ParamName::MaxCompletionTokens => "max_completion_tokens".into(),
            ParamName::Seed => "seed".into(),
            ParamName::TopLogprobs => "top_logprobs".into(),
            ParamName::Logprobs => "logprobs".into(),
            ParamName::Stop => "stop".into(),
            ParamName::User => "user".into(),
            ParamName::N => "n".into(),
            ParamName::Tools => "tools".into(),
            ParamName::Functions => "functions".into(),
            ParamName::ToolChoice => "tool_choice".into(),
            ParamName::ResponseFormat => "response_format".into(),
            ParamName::Modalities => "modalities".into(),
            ParamName::StreamOptions => "stream_options".into(),
            ParamName::Other(s) => s.clone(),
        }
    }
}

/// A whole request body, built from the pieces above.
#[derive(Arbitrary, Debug)]
pub struct RequestSpec {
    pub model: Option<Field<String>>,
    pub messages: Option<Field<Vec<MessageSpec>>>,
    pub stream: Option<Field<bool>>,
    pub params: Vec<(ParamName, AnyJson)>,
    /// Wrap the body in something that is not an object.
    pub not_an_object: bool,
}

fn field_json<T>(field: &Field<T>, good: impl Fn(&T) -> String) -> String {
    match field {
        Field::Good(value) => good(value),
        Field::Wrong(any) => any.to_json(),
    }
}

fn part_json(part: &Part) -> String {
    match part {
        Part::Text(t) => json!({"type": "text", "text": t}).to_string(),
        Part::Refusal(t) => json!({"type": "refusal", "refusal": t}).to_string(),
        Part::Image => json!({"type": "image_url", "image_url": {"url": "data:,"}}).to_string(),
        Part::InputAudio => json!({"type": "input_audio", "input_audio": {}}).to_string(),
        Part::Unknown(t) => json!({"type": t, "text": "x"}).to_string(),
        Part::NoType(t) => json!({"text": t}).to_string(),
        Part::WrongText(v) => format!(r#"{{"type":"text","text":{}}}"#, v.to_json()),
        Part::Anything(v) => v.to_json(),
    }
}

fn message_json(message: &MessageSpec) -> String {
    let mut fields: Vec<String> = Vec::new();
    if let Some(role) = &message.role {
        fields.push(format!(
            r#""role":{}"#,
            field_json(role, |r| json!(r.name()).to_string())
        ));
    }
    if let Some(content) = &message.content {
        let text = match content {
            Content::Text(t) => json!(t).to_string(),
            Content::Blank => json!("  \n\t").to_string(),
            Content::Parts(parts) => {
                let inner: Vec<String> = parts.iter().map(part_json).collect();
                format!("[{}]", inner.join(","))
            }
            Content::Other(v) => v.to_json(),
        };
        fields.push(format!(r#""content":{text}"#));
    }
    if let Some(calls) = &message.tool_calls {
        fields.push(format!(r#""tool_calls":{}"#, calls.to_json()));
    }
    if let Some((key, value)) = &message.extra {
        fields.push(format!("{}:{}", json!(key), value.to_json()));
    }
    format!("{{{}}}", fields.join(","))
}

impl RequestSpec {
    pub fn to_body(&self) -> String {
        let mut fields: Vec<String> = Vec::new();
        if let Some(model) = &self.model {
            fields.push(format!(
                r#""model":{}"#,
                field_json(model, |m| json!(m).to_string())
            ));
        }
        if let Some(messages) = &self.messages {
            let text = field_json(messages, |list| {
                let inner: Vec<String> = list.iter().map(message_json).collect();
                format!("[{}]", inner.join(","))
            });
            fields.push(format!(r#""messages":{text}"#));
        }
        if let Some(stream) = &self.stream {
            fields.push(format!(
                r#""stream":{}"#,
                field_json(stream, |b| json!(b).to_string())
            ));
        }
        for (name, value) in &self.params {
            fields.push(format!("{}:{}", json!(name.name()), value.to_json()));
        }
        let object = format!("{{{}}}", fields.join(","));
        if self.not_an_object {
            format!("[{object}]")
        } else {
            object
        }
    }
}

// ---------------------------------------------------------------------------------------
// Structured CLI event sequences, for the translator.
// ---------------------------------------------------------------------------------------

/// Text from a tiny alphabet, so that a retry often repeats (or extends) what a stream
/// already sent — the abandoned-block rules live there — or anything at all.
#[derive(Arbitrary, Debug)]
pub enum Text {
    Small(Vec<bool>),
    Any(String),
}

impl Text {
    fn render(&self) -> String {
        match self {
            Text::Small(bits) => bits.iter().map(|b| if *b { 'a' } else { 'b' }).collect(),
            Text::Any(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Stop {
    EndTurn,
    MaxTokens,
    Refusal,
    StopSequence,
    ContextWindow,
}

impl Stop {
    fn name(self) -> &'static str {
        match self {
            Stop::EndTurn => "end_turn",
            Stop::MaxTokens => "max_tokens",
            Stop::Refusal => "refusal",
            Stop::StopSequence => "stop_sequence",
            Stop::ContextWindow => "model_context_window_exceeded",
        }
    }
}

/// One CLI stdout line. Message ids come from a small set so events refer to each other.
#[derive(Arbitrary, Debug)]
pub enum EventSpec {
    Init {
        model: Option<String>,
    },
    Status,
    ApiRetry {
        status: Option<u16>,
    },
    MessageStart {
        id: Option<u8>,
        model: Option<String>,
        input_tokens: u64,
    },
    BlockStart {
        index: u8,
    },
    TextDelta {
        index: u8,
        text: Text,
    },
    ThinkingDelta,
    BlockStop {
        index: u8,
    },
    MessageDelta {
        stop: Option<Stop>,
        output_tokens: Option<u64>,
    },
    MessageStop {
        abandoned: Option<(Option<u8>, u8)>,
    },
    Assistant {
        id: Option<u8>,
        text: Text,
        synthetic: bool,
        status: Option<u16>,
        error: Option<String>,
    },
    SubAgent {
        text: Text,
    },
    Result {
        is_error: bool,
        status: Option<u16>,
        stop: Option<Stop>,
        result: Option<Text>,
        models: Vec<String>,
        output_tokens: u64,
    },
    UserEcho,
    Garbage(String),
    Any(AnyJson),
}

fn message_id(id: u8) -> String {
    format!("msg_{}", id % 4)
}

impl EventSpec {
    pub fn to_line(&self) -> String {
        let value = match self {
            EventSpec::Init { model } => {
                json!({"type": "system", "subtype": "init", "model": model, "tools": []})
            }
            EventSpec::Status => json!({"type": "system", "subtype": "status"}),
            EventSpec::ApiRetry { status } => json!({"type": "system", "subtype": "api_retry",
                "error_status": status, "retry_delay_ms": 1.5}),
            EventSpec::MessageStart {
                id,
                model,
                input_tokens,
            } => json!({"type": "stream_event", "event": {"type": "message_start",
                "message": {"id": id.map(message_id), "model": model,
                            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}}),
            EventSpec::BlockStart { index } => json!({"type": "stream_event", "event":
                {"type": "content_block_start", "index": index,
                 "content_block": {"type": "text", "text": ""}}}),
            EventSpec::TextDelta { index, text } => json!({"type": "stream_event", "event":
                {"type": "content_block_delta", "index": index,
                 "delta": {"type": "text_delta", "text": text.render()}}}),
            EventSpec::ThinkingDelta => json!({"type": "stream_event", "event":
                {"type": "content_block_delta", "index": 0,
                 "delta": {"type": "thinking_delta", "thinking": "hm"}}}),
            EventSpec::BlockStop { index } => json!({"type": "stream_event", "event":
                {"type": "content_block_stop", "index": index}}),
            EventSpec::MessageDelta {
                stop,
                output_tokens,
            } => json!({"type": "stream_event", "event": {"type": "message_delta",
                "delta": {"stop_reason": stop.map(Stop::name)},
                "usage": {"output_tokens": output_tokens}}}),
            EventSpec::MessageStop { abandoned } => {
                let mut line = json!({"type": "stream_event", "event": {"type": "message_stop"}});
                if let Some((id, from)) = abandoned {
                    line["abandoned_blocks"] =
                        json!({"api_message_id": id.map(message_id), "from_block_index": from});
                }
                line
            }
            EventSpec::Assistant {
                id,
                text,
                synthetic,
                status,
                error,
            } => {
                let model = if *synthetic {
                    "<synthetic>"
                } else {
                    "claude-opus-5-5"
                };
                json!({"type": "assistant", "api_error_status": status, "error": error,
                    "message": {"id": id.map(message_id), "model": model,
                        "content": [{"type": "text", "text": text.render()}]}})
            }
            EventSpec::SubAgent { text } => json!({"type": "assistant",
                "parent_tool_use_id": "toolu_1",
                "message": {"id": "msg_sub", "content": [{"type": "text", "text": text.render()}]}}),
            EventSpec::Result {
                is_error,
                status,
                stop,
                result,
                models,
                output_tokens,
            } => {
                let model_usage: Map<String, Value> =
                    models.iter().map(|m| (m.clone(), json!({}))).collect();
                json!({"type": "result", "subtype": if *is_error { "error" } else { "success" },
                    "is_error": is_error, "api_error_status": status,
                    "stop_reason": stop.map(Stop::name), "result": result.as_ref().map(Text::render),
                    "usage": {"input_tokens": 42, "output_tokens": output_tokens},
                    "modelUsage": model_usage})
            }
            EventSpec::UserEcho => json!({"type": "user", "message": {"content": "hi"}}),
            EventSpec::Garbage(text) => return text.replace('\n', " "),
            EventSpec::Any(value) => return value.to_json(),
        };
        value.to_string()
    }
}
