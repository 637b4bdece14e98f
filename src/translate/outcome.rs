//! CLI events → what the client gets, as a sequence of [`Output`]s.
//!
//! Rules:
//! - Text comes from the main conversation's `text_delta`s, in order. A complete
//!   `assistant` message whose text was already streamed is ignored; one that was not
//!   streamed (the CLI's non-streaming retry) is sent as text.
//! - When the CLI abandons streamed blocks (`message_stop` with `abandoned_blocks`) the
//!   text already sent must be regenerated exactly: the retry's text is matched against it
//!   and only what goes beyond is sent. If the retry says something else, the client gets
//!   an error instead of contradicting text.
//! - The first `max_tokens` stop ends the answer with `length` (the CLI would otherwise
//!   ask the model to continue, several times).
//! - `result` ends the run: a finish with usage, or an error.

use std::collections::{HashMap, HashSet};

use crate::claude::events::{
    Abandoned, AssistantEvent, CliEvent, ResultEvent, StreamEvent, SystemEvent, TokenUsage,
};
use crate::conversation::{ApiError, ErrorKind, FinishReason, Usage};

use super::errors;
use super::tool_names::ToolNames;

/// The end of a successful answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finish {
    pub reason: FinishReason,
    pub usage: Usage,
    /// The stop sequence that ended the answer (the proxy applies them).
    pub stop_sequence: Option<String>,
}

/// One thing for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The model that answers (known before the first text, may be refined later).
    Model(String),
    Text(String),
    /// A piece of the model's thinking (only when the run thinks).
    Reasoning(String),
    /// Non-streaming only: the CLI abandoned this much already-produced text (bytes at the
    /// end of the answer so far); drop it, the retry replaces it.
    Retract(usize),
    Finished(Finish),
    Failed(ApiError),
    /// Anthropic bills this request as extra usage (overage), per its rate-limit report.
    Overage,
    /// How the run got its CLI process.
    Served(Served),
    /// The model calls a client function: `index` counts the calls of the answer from 0.
    ToolCall {
        index: usize,
        id: String,
        name: String,
    },
    /// A piece of that call's arguments (JSON text).
    ToolArgs {
        index: usize,
        arguments: String,
    },
}

/// How a request got the CLI process that answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// Started for it.
    Cold,
    /// Started ahead for its setup (the warm pool).
    Warm,
    /// Kept from its conversation's previous step.
    Live,
}

impl Served {
    /// `cold`, `warm`, `live`: the log's and the status page's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Cold => "cold",
            Served::Warm => "warm",
            Served::Live => "live",
        }
    }
}

/// Maps a CLI stop reason to OpenAI's finish reason.
pub fn finish_reason(stop_reason: Option<&str>) -> FinishReason {
    match stop_reason {
        Some("max_tokens") | Some("model_context_window_exceeded") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Strips the CLI's context-window tag: `claude-opus-4-8[1m]` → `claude-opus-4-8`.
fn clean_model(model: &str) -> String {
    match model.find('[') {
        Some(i) => model[..i].to_string(),
        None => model.to_string(),
    }
}

/// The state of one run's translation.
#[derive(Debug, Default)]
pub struct Translator {
    model: Option<String>,
    /// Ids of messages whose text arrived as deltas.
    streamed: HashSet<String>,
    /// Ids of messages whose streamed blocks were abandoned.
    abandoned: HashSet<String>,
    current_message: Option<String>,
    /// Text per (message id, block index), to know what an abandonment takes back.
    block_text: HashMap<(String, u64), String>,
    /// Text the client already has but the CLI took back: the retry must repeat it.
    to_repeat: String,
    /// Text sent so far.
    sent_any: bool,
    synthetic_error: Option<AssistantEvent>,
    /// The client sees the answer only at the end, so abandoned text can be retracted
    /// instead of having to be repeated.
    buffered: bool,
    /// Usage of the message being streamed (for an early `max_tokens` finish).
    stream_usage: TokenUsage,
    finished: bool,
    /// The answer ended at a streamed `max_tokens` stop (the CLI goes on without us).
    cut_at_max_tokens: bool,
    /// `--json-schema` runs: the answer is the `StructuredOutput` tool's input JSON, and
    /// text around it is not part of the answer.
    structured: bool,
    /// (message id, block index) of `StructuredOutput` calls being streamed.
    structured_blocks: HashSet<(String, u64)>,
    /// Client tools: how upstream names map back (None: no client tools in this run).
    tool_names: Option<ToolNames>,
    /// (message id, block index) → the OpenAI index of client tool calls being streamed.
    tool_blocks: HashMap<(String, u64), usize>,
    /// The client asked for the model's thinking (the CLI may think on some models even
    /// with `--thinking disabled`; that thinking is not sent).
    thinking: bool,
    /// Bridged tool runs: the CLI waits at a client's tool call instead of ending the turn,
    /// so the answer ends at the `message_stop` of a message that stopped for `tool_use`;
    /// and since a process serves several steps of one turn, each answer reports its own
    /// message's usage (the `result` sums the turn).
    ends_at_tool_calls: bool,
    /// The message being streamed stopped for `tool_use`.
    stopped_for_tools: bool,
}

impl Translator {
    /// A translator for a streaming client: text once sent is final.
    pub fn new() -> Translator {
        Translator::default()
    }

    /// A translator for a client that gets the whole answer at once.
    pub fn buffered() -> Translator {
        Translator {
            buffered: true,
            ..Translator::default()
        }
    }

    /// For a `--json-schema` run: the answer is the structured output's JSON text.
    pub fn structured(mut self) -> Translator {
        self.structured = true;
        self
    }

    /// For a run whose client asked for the model's thinking: it becomes
    /// [`Output::Reasoning`].
    pub fn with_thinking(mut self) -> Translator {
        self.thinking = true;
        self
    }

    /// For a run with client tools: their calls become [`Output::ToolCall`]s.
    pub fn with_tools(mut self, names: ToolNames) -> Translator {
        self.tool_names = Some(names);
        self
    }

    /// For a run whose CLI waits at the client's tool calls (see the field's docs).
    pub fn ends_at_tool_calls(mut self) -> Translator {
        self.ends_at_tool_calls = true;
        self
    }

    /// Whether a finish or an error was produced: nothing more will be.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether the answer ended at a streamed `max_tokens` stop, before the CLI's `result`:
    /// the CLI is still running and would ask the model to continue.
    pub fn finished_at_max_tokens(&self) -> bool {
        self.finished && self.cut_at_max_tokens
    }

    /// Whether anything of the answer reached the client: text or a tool call (the
    /// first-token timeout then no longer applies, and a CLI that ends now did not refuse
    /// its session).
    pub fn produced_content(&self) -> bool {
        self.sent_any
    }

    /// The usage known so far (the streamed message's), for an answer the proxy ends early.
    pub fn usage_so_far(&self) -> Usage {
        let u = self.stream_usage;
        Usage::new(
            u.input_tokens,
            u.cache_creation_input_tokens,
            u.cache_read_input_tokens,
            u.output_tokens,
        )
    }

    /// Translates one event.
    pub fn on_event(&mut self, event: CliEvent) -> Vec<Output> {
        if self.finished {
            return Vec::new();
        }
        match event {
            CliEvent::System(system) => self.on_system(system),
            CliEvent::Stream(stream) => self.on_stream(stream),
            CliEvent::Assistant(assistant) => self.on_assistant(assistant),
            CliEvent::Result(result) => self.on_result(result),
            CliEvent::RateLimit(_) | CliEvent::ControlRequest(_) | CliEvent::Other => Vec::new(),
        }
    }

    fn set_model(&mut self, model: &str) -> Vec<Output> {
        if model == "<synthetic>" {
            return Vec::new();
        }
        let model = clean_model(model);
        if model.is_empty() {
            return Vec::new();
        }
        if self.model.as_deref() == Some(model.as_str()) {
            return Vec::new();
        }
        self.model = Some(model.clone());
        vec![Output::Model(model)]
    }

    fn on_system(&mut self, system: SystemEvent) -> Vec<Output> {
        match (system.subtype.as_str(), &system.model) {
            ("init", Some(model)) if self.model.is_none() => self.set_model(model),
            _ => Vec::new(),
        }
    }

    fn on_stream(&mut self, event: StreamEvent) -> Vec<Output> {
        match event {
            StreamEvent::MessageStart {
                message_id,
                model,
                usage,
            } => self.on_message_start(message_id, model, usage),
            StreamEvent::TextDelta { .. } if self.structured => Vec::new(),
            // The model's thinking is not part of the answer's text (never retracted).
            StreamEvent::ThinkingDelta { thinking, .. } if self.thinking => {
                vec![Output::Reasoning(thinking)]
            }
            StreamEvent::ToolUseStart { index, id, name } => self.on_tool_use(index, id, name),
            StreamEvent::InputJsonDelta {
                index,
                partial_json,
            } => self.on_input_json(index, partial_json),
            StreamEvent::TextDelta { index, text } => {
                if let Some(id) = &self.current_message {
                    self.block_text
                        .entry((id.clone(), index))
                        .or_default()
                        .push_str(&text);
                }
                self.emit_text(&text)
            }
            StreamEvent::MessageDelta {
                stop_reason,
                output_tokens,
            } => self.on_message_delta(stop_reason.as_deref(), output_tokens),
            StreamEvent::MessageStop {
                abandoned: Some(abandoned),
            } => self.on_abandoned(abandoned),
            StreamEvent::MessageStop { abandoned: None } => self.on_message_stop(),
            StreamEvent::ThinkingDelta { .. } | StreamEvent::Other => Vec::new(),
        }
    }

    fn on_message_start(
        &mut self,
        message_id: Option<String>,
        model: Option<String>,
        usage: TokenUsage,
    ) -> Vec<Output> {
        if let Some(id) = &message_id {
            self.streamed.insert(id.clone());
        }
        self.current_message = message_id;
        self.stream_usage = usage;
        model.map(|m| self.set_model(&m)).unwrap_or_default()
    }

    /// A `tool_use` block opens: a client's call (announced now), the structured output's
    /// (its input is the answer's text), or a tool of the CLI's own (not the client's).
    fn on_tool_use(&mut self, index: u64, id: String, name: String) -> Vec<Output> {
        let Some(message) = self.current_message.clone() else {
            return Vec::new();
        };
        if self.structured && name == crate::claude::events::STRUCTURED_OUTPUT_TOOL {
            self.structured_blocks.insert((message, index));
            return Vec::new();
        }
        let Some(client) = self.tool_names.as_ref().and_then(|n| n.client_name(&name)) else {
            return Vec::new();
        };
        let call = self.tool_blocks.len();
        self.tool_blocks.insert((message, index), call);
        self.sent_any = true;
        vec![Output::ToolCall {
            index: call,
            id,
            name: client,
        }]
    }

    /// A piece of a tool call's input: the client's call's arguments, or the structured
    /// output's text.
    fn on_input_json(&mut self, index: u64, partial_json: String) -> Vec<Output> {
        let Some(id) = self.current_message.clone() else {
            return Vec::new();
        };
        if let Some(call) = self.tool_blocks.get(&(id.clone(), index)) {
            return vec![Output::ToolArgs {
                index: *call,
                arguments: partial_json,
            }];
        }
        if !self.structured_blocks.contains(&(id.clone(), index)) {
            return Vec::new();
        }
        self.block_text
            .entry((id, index))
            .or_default()
            .push_str(&partial_json);
        self.emit_text(&partial_json)
    }

    /// The message's stop reason and output tokens: the first `max_tokens` stop ends the
    /// answer (the CLI would ask the model to go on).
    fn on_message_delta(
        &mut self,
        stop_reason: Option<&str>,
        output_tokens: Option<u64>,
    ) -> Vec<Output> {
        if let Some(tokens) = output_tokens {
            self.stream_usage.output_tokens = tokens;
        }
        self.stopped_for_tools = stop_reason == Some("tool_use");
        if stop_reason == Some("max_tokens") && self.to_repeat.is_empty() {
            self.finished = true;
            self.cut_at_max_tokens = true;
            return vec![Output::Finished(Finish {
                reason: FinishReason::Length,
                usage: self.usage_so_far(),
                stop_sequence: None,
            })];
        }
        Vec::new()
    }

    /// The CLI abandoned the message's blocks from an index on (it retries the message):
    /// a whole answer takes their text back; a stream must see it repeated.
    fn on_abandoned(&mut self, abandoned: Abandoned) -> Vec<Output> {
        let id = abandoned
            .message_id
            .or_else(|| self.current_message.clone())
            .unwrap_or_default();
        let mut blocks: Vec<(u64, String)> = self
            .block_text
            .iter()
            .filter(|((msg, index), _)| *msg == id && *index >= abandoned.from_block_index)
            .map(|((_, index), text)| (*index, text.clone()))
            .collect();
        blocks.sort();
        let taken_back: String = blocks.into_iter().map(|(_, t)| t).collect();
        self.abandoned.insert(id);
        if self.buffered {
            return if taken_back.is_empty() {
                Vec::new()
            } else {
                vec![Output::Retract(taken_back.len())]
            };
        }
        self.to_repeat.push_str(&taken_back);
        Vec::new()
    }

    /// A message ends: in a run whose CLI waits at the client's calls, the answer ends
    /// with the message that makes them.
    fn on_message_stop(&mut self) -> Vec<Output> {
        if !(self.ends_at_tool_calls
            && self.stopped_for_tools
            && !self.tool_blocks.is_empty()
            && self.to_repeat.is_empty())
        {
            return Vec::new();
        }
        self.finished = true;
        vec![Output::Finished(Finish {
            reason: FinishReason::ToolCalls,
            usage: self.usage_so_far(),
            stop_sequence: None,
        })]
    }

    fn on_assistant(&mut self, assistant: AssistantEvent) -> Vec<Output> {
        if assistant.synthetic {
            self.synthetic_error = Some(assistant);
            return Vec::new();
        }
        let already_streamed = assistant
            .message_id
            .as_ref()
            .is_some_and(|id| self.streamed.contains(id) && !self.abandoned.contains(id));
        let mut out = assistant
            .model
            .as_deref()
            .map(|m| self.set_model(m))
            .unwrap_or_default();
        if !already_streamed {
            let answer = if self.structured {
                assistant.structured_output.unwrap_or_default()
            } else {
                assistant.text
            };
            out.extend(self.emit_text(&answer));
        }
        out
    }

    /// Sends `text`, first checking it against text the client already has.
    fn emit_text(&mut self, text: &str) -> Vec<Output> {
        if text.is_empty() {
            return Vec::new();
        }
        let mut fresh = text;
        if !self.to_repeat.is_empty() {
            if let Some(rest) = self.to_repeat.strip_prefix(text) {
                self.to_repeat = rest.to_string();
                return Vec::new();
            }
            match text.strip_prefix(self.to_repeat.as_str()) {
                Some(rest) => {
                    fresh = rest;
                    self.to_repeat.clear();
                }
                None => return self.fail(contradiction()),
            }
        }
        if fresh.is_empty() {
            return Vec::new();
        }
        self.sent_any = true;
        vec![Output::Text(fresh.to_string())]
    }

    fn fail(&mut self, error: ApiError) -> Vec<Output> {
        self.finished = true;
        vec![Output::Failed(error)]
    }

    fn on_result(&mut self, result: ResultEvent) -> Vec<Output> {
        if result.is_error {
            let error = errors::from_result(&result, self.synthetic_error.as_ref());
            return self.fail(error);
        }
        let mut out = Vec::new();
        if self.model.is_none()
            && let Some(model) = result.models.first()
        {
            out.extend(self.set_model(model));
        }
        // A run that printed no stream events still has its answer in `result`.
        if !self.sent_any
            && self.to_repeat.is_empty()
            && let Some(text) = &result.result
        {
            out.extend(self.emit_text(text));
        }
        if !self.to_repeat.is_empty() {
            out.extend(self.fail(contradiction()));
            return out;
        }
        self.finished = true;
        let u = if self.ends_at_tool_calls {
            self.stream_usage
        } else {
            result.usage
        };
        let reason = if self.tool_blocks.is_empty() {
            finish_reason(result.stop_reason.as_deref())
        } else {
            FinishReason::ToolCalls
        };
        out.push(Output::Finished(Finish {
            reason,
            usage: Usage::new(
                u.input_tokens,
                u.cache_creation_input_tokens,
                u.cache_read_input_tokens,
                u.output_tokens,
            ),
            stop_sequence: None,
        }));
        out
    }
}

fn contradiction() -> ApiError {
    ApiError::new(
        ErrorKind::BadGateway,
        "The upstream stream broke and Anthropic's retried answer differs from the text already \
         sent, so the answer was stopped rather than contradict itself. Retry the request.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::events::parse_line;

    fn run(lines: &[&str]) -> Vec<Output> {
        run_with(Translator::new(), lines)
    }

    fn run_with(mut t: Translator, lines: &[&str]) -> Vec<Output> {
        lines
            .iter()
            .flat_map(|l| t.on_event(parse_line(l).unwrap()))
            .collect()
    }

    fn text(outputs: &[Output]) -> String {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// A recorded fixture as lines (see `recorded_fixture`).
    fn fixture_lines(path: &str) -> Option<Vec<String>> {
        let text = crate::claude::events::recorded_fixture(path)?;
        Some(
            text.lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
        )
    }

    const START: &str = r#"{"type":"stream_event","event":{"type":"message_start","message":{"id":"m1","model":"claude-opus-5-5","usage":{"input_tokens":10,"output_tokens":1}}}}"#;

    fn delta(text: &str) -> String {
        format!(
            r#"{{"type":"stream_event","event":{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{text}"}}}}}}"#
        )
    }

    fn assistant(id: &str, text: &str) -> String {
        format!(
            r#"{{"type":"assistant","message":{{"id":"{id}","model":"claude-opus-5-5","content":[{{"type":"text","text":"{text}"}}]}}}}"#
        )
    }

    const ABANDON: &str = r#"{"type":"stream_event","event":{"type":"message_stop"},"abandoned_blocks":{"api_message_id":"m1","from_block_index":0}}"#;
    const RESULT_OK: &str = r#"{"type":"result","is_error":false,"stop_reason":"end_turn","usage":{"input_tokens":42,"cache_creation_input_tokens":3,"cache_read_input_tokens":5,"output_tokens":7},"modelUsage":{"claude-opus-5-5":{}}}"#;

    #[test]
    fn fixture_stream_gives_text_model_and_finish() {
        let Some(lines) = fixture_lines("v2.1.332/c_partial/stdout.txt") else {
            eprintln!("skip: fixtures not present beside the repo");
            return;
        };
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let out = run(&refs);
        assert_eq!(text(&out), "Hi there! This is the mock Anthropic API.");
        assert_eq!(out[0], Output::Model("claude-opus-5-5".into()));
        assert!(matches!(out.last(), Some(Output::Finished(f))
            if f.reason == FinishReason::Stop && f.usage.prompt_tokens == 42));
    }

    #[test]
    fn midstream_fixture_never_contradicts() {
        let Some(lines) = fixture_lines("v2.1.332/f_error_err-midstream/stdout.txt") else {
            eprintln!("skip: fixtures not present beside the repo");
            return;
        };
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let out = run(&refs);
        // "partial" was sent, and the retry says something else: an error, not new text.
        assert_eq!(text(&out), "partial");
        assert!(matches!(out.last(), Some(Output::Failed(e)) if e.status() == 502));
    }

    #[test]
    fn buffered_abandonment_retracts_instead() {
        let out = run_with(
            Translator::buffered(),
            &[
                START,
                &delta("partial"),
                ABANDON,
                &assistant("m2", "Different."),
                RESULT_OK,
            ],
        );
        assert!(out.contains(&Output::Retract("partial".len())), "{out:?}");
        assert!(out.contains(&Output::Text("Different.".into())), "{out:?}");
        assert!(matches!(out.last(), Some(Output::Finished(_))));
    }

    #[test]
    fn abandoned_prefix_continues_with_the_rest_only() {
        let out = run(&[
            START,
            &delta("Hello wor"),
            ABANDON,
            &assistant("m2", "Hello world, again."),
            RESULT_OK,
        ]);
        assert_eq!(text(&out), "Hello world, again.");
        assert!(matches!(out.last(), Some(Output::Finished(_))));
    }

    #[test]
    fn streamed_assistant_message_is_not_repeated() {
        let out = run(&[
            START,
            &delta("Hi"),
            &delta(" there"),
            &assistant("m1", "Hi there"),
            RESULT_OK,
        ]);
        assert_eq!(text(&out), "Hi there");
    }

    #[test]
    fn unstreamed_answer_comes_from_assistant_or_result() {
        let out = run(&[&assistant("m9", "whole answer"), RESULT_OK]);
        assert_eq!(text(&out), "whole answer");
        let only_result = r#"{"type":"result","is_error":false,"result":"from result","stop_reason":"end_turn","usage":{}}"#;
        assert_eq!(text(&run(&[only_result])), "from result");
    }

    #[test]
    fn first_max_tokens_finishes_with_length() {
        let stop = r#"{"type":"stream_event","event":{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":5}}}"#;
        let mut t = Translator::new();
        let mut out = Vec::new();
        for line in [START, &delta("abc"), stop] {
            out.extend(t.on_event(parse_line(line).unwrap()));
        }
        assert!(
            t.finished_at_max_tokens(),
            "the CLI must be ended, not waited for"
        );
        for line in [&delta("more"), RESULT_OK] {
            out.extend(t.on_event(parse_line(line).unwrap()));
        }
        assert_eq!(text(&out), "abc");
        assert!(matches!(out.last(), Some(Output::Finished(f))
            if f.reason == FinishReason::Length && f.usage.completion_tokens == 5));
        let mut whole = Translator::new();
        for line in [START, &delta("abc"), RESULT_OK] {
            whole.on_event(parse_line(line).unwrap());
        }
        assert!(whole.is_finished() && !whole.finished_at_max_tokens());
    }

    #[test]
    fn error_result_becomes_failed_with_status() {
        let Some(lines) = fixture_lines("v2.1.332/f_error_err-400/stdout.txt") else {
            eprintln!("skip: fixtures not present beside the repo");
            return;
        };
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let out = run(&refs);
        assert_eq!(text(&out), "");
        assert!(matches!(out.last(), Some(Output::Failed(e)) if e.status() == 400));
    }

    #[test]
    fn a_model_that_cleans_to_nothing_is_ignored() {
        let init = r#"{"type":"system","subtype":"init","model":"[1m]"}"#;
        assert!(run(&[init]).is_empty());
    }

    #[test]
    fn stop_reasons_map() {
        assert_eq!(finish_reason(Some("end_turn")), FinishReason::Stop);
        assert_eq!(finish_reason(Some("stop_sequence")), FinishReason::Stop);
        assert_eq!(finish_reason(Some("max_tokens")), FinishReason::Length);
        assert_eq!(finish_reason(Some("refusal")), FinishReason::ContentFilter);
        assert_eq!(finish_reason(None), FinishReason::Stop);
    }
}
