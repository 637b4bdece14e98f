//! Function tools in a chat request: `tools` (type `function`) and the legacy `functions`,
//! `tool_choice` / `function_call`, `parallel_tool_calls`, and the tool calls and results
//! of earlier turns. Validated here; the names the model sees upstream are made in
//! `translate::tool_names`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::ApiError;
use super::limits::{self, ToolTally};

/// One client function the model may call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionDef {
    pub name: String,
    pub description: String,
    /// The JSON schema of the arguments (compact JSON text; `{"type":"object"}` if none).
    pub parameters: String,
}

/// `tool_choice`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ToolChoice {
    #[default]
    Auto,
    /// No tools are offered.
    None,
    /// The model is told it must call a tool.
    Required,
    /// The model is told it must call this function.
    Named(String),
}

/// The request's tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tools {
    pub functions: Vec<FunctionDef>,
    pub choice: ToolChoice,
    /// `parallel_tool_calls` (default true).
    pub parallel: bool,
}

impl Default for Tools {
    fn default() -> Tools {
        Tools {
            functions: Vec::new(),
            choice: ToolChoice::Auto,
            parallel: true,
        }
    }
}

impl Tools {
    /// Whether any tool is offered to the model.
    pub fn offered(&self) -> bool {
        !self.functions.is_empty() && self.choice != ToolChoice::None
    }
}

/// A call the assistant made in an earlier turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

/// A function name OpenAI and Anthropic both accept.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Reads `tools` / `functions`, `tool_choice` / `function_call` and `parallel_tool_calls`.
pub fn parse(obj: &Map<String, Value>) -> Result<Tools, ApiError> {
    let mut functions = Vec::new();
    if let Some(list) = non_null(obj.get("tools")) {
        let items = list
            .as_array()
            .ok_or_else(|| ApiError::invalid("tools", "`tools` must be an array."))?;
        limits::check_tools(items.len(), "tools")?;
        for (i, tool) in items.iter().enumerate() {
            let param = format!("tools[{i}]");
            match tool.get("type").and_then(Value::as_str) {
                Some("function") => {}
                Some(other) => {
                    return Err(ApiError::invalid(
                        format!("{param}.type"),
                        format!(
                            "Tools of type `{}` are not supported; only `function` tools are.",
                            other.chars().take(40).collect::<String>()
                        ),
                    ));
                }
                None => {
                    return Err(ApiError::invalid(
                        format!("{param}.type"),
                        "Each tool needs `\"type\": \"function\"`.",
                    ));
                }
            }
            let function = tool.get("function").ok_or_else(|| {
                ApiError::invalid(format!("{param}.function"), "A tool needs `function`.")
            })?;
            functions.push(function_def(function, &format!("{param}.function"))?);
        }
    }
    if let Some(list) = non_null(obj.get("functions")) {
        let items = list
            .as_array()
            .ok_or_else(|| ApiError::invalid("functions", "`functions` must be an array."))?;
        limits::check_tools(functions.len() + items.len(), "functions")?;
        for (i, function) in items.iter().enumerate() {
            functions.push(function_def(function, &format!("functions[{i}]"))?);
        }
    }
    let mut names = HashSet::with_capacity(functions.len());
    if let Some(twice) = functions.iter().find(|f| !names.insert(f.name.as_str())) {
        return Err(ApiError::invalid(
            "tools",
            format!("The function name `{}` appears twice.", twice.name),
        ));
    }
    let choice = match (
        non_null(obj.get("tool_choice")),
        non_null(obj.get("function_call")),
    ) {
        (Some(choice), _) => tool_choice(choice, "tool_choice")?,
        (None, Some(choice)) => tool_choice(choice, "function_call")?,
        (None, None) => ToolChoice::Auto,
    };
    if let ToolChoice::Named(name) = &choice
        && !functions.iter().any(|f| &f.name == name)
    {
        return Err(ApiError::invalid(
            "tool_choice",
            format!("`tool_choice` names `{name}`, which is not among the tools."),
        ));
    }
    require_tools_for(&choice, &functions)?;
    let parallel = parallel_tool_calls(obj)?;
    Ok(Tools {
        functions,
        choice,
        parallel,
    })
}

/// `parallel_tool_calls` (default true).
pub fn parallel_tool_calls(obj: &Map<String, Value>) -> Result<bool, ApiError> {
    match non_null(obj.get("parallel_tool_calls")) {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid(
            "parallel_tool_calls",
            "`parallel_tool_calls` must be a boolean.",
        )),
    }
}

fn non_null(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

/// A tool choice that asks for a call needs tools to call.
pub fn require_tools_for(choice: &ToolChoice, functions: &[FunctionDef]) -> Result<(), ApiError> {
    if matches!(choice, ToolChoice::Required | ToolChoice::Named(_)) && functions.is_empty() {
        return Err(ApiError::invalid(
            "tool_choice",
            "`tool_choice` asks for a tool call, but no tools are given.",
        ));
    }
    Ok(())
}

/// The names of one request's tools so far: a name given twice is refused.
#[derive(Debug, Default)]
pub struct ToolNames(HashSet<String>);

impl ToolNames {
    /// Adds the name of the tool at `param`, or refuses it as a repeat.
    pub fn add(&mut self, name: &str, param: &str) -> Result<(), ApiError> {
        if self.0.insert(name.to_string()) {
            return Ok(());
        }
        Err(ApiError::invalid(
            format!("{param}.name"),
            format!("Tool names must be unique; `{name}` appears twice."),
        ))
    }
}

/// A call's id under `key` (1 to 128 characters); `message` says what lacks it.
pub fn call_id<'a>(
    item: &'a Value,
    key: &str,
    param: &str,
    message: &str,
) -> Result<&'a str, ApiError> {
    let id = item.get(key).and_then(Value::as_str).unwrap_or("");
    if id.is_empty() || id.len() > 128 {
        return Err(ApiError::invalid(format!("{param}.{key}"), message));
    }
    Ok(id)
}

/// A tool's or a call's `name` (see [`valid_name`]); `message` says what lacks it.
pub fn tool_name<'a>(item: &'a Value, param: &str, message: &str) -> Result<&'a str, ApiError> {
    let name = item.get("name").and_then(Value::as_str).unwrap_or("");
    if !valid_name(name) {
        return Err(ApiError::invalid(format!("{param}.name"), message));
    }
    Ok(name)
}

/// A tool definition's optional `description`.
pub fn description(definition: &Value, param: &str) -> Result<String, ApiError> {
    match definition.get("description") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(d)) => Ok(d.clone()),
        Some(_) => Err(ApiError::invalid(
            format!("{param}.description"),
            "`description` must be a string.",
        )),
    }
}

/// A function object (`name`, `description`, `parameters`), checked; errors name `param`.
pub fn function_def(function: &Value, param: &str) -> Result<FunctionDef, ApiError> {
    let name = tool_name(
        function,
        param,
        "A function needs a `name` of 1 to 64 letters, digits, `_` or `-`.",
    )?;
    let description = description(function, param)?;
    let parameters = match function.get("parameters") {
        None | Some(Value::Null) => r#"{"type":"object","properties":{}}"#.to_string(),
        Some(schema @ Value::Object(map)) => {
            if map
                .get("type")
                .is_some_and(|t| t.as_str() != Some("object"))
            {
                return Err(ApiError::invalid(
                    format!("{param}.parameters"),
                    "`parameters` must be a JSON schema of `\"type\": \"object\"`.",
                ));
            }
            let mut schema = schema.clone();
            if let Some(object) = schema.as_object_mut() {
                object
                    .entry("type")
                    .or_insert_with(|| Value::String("object".into()));
            }
            schema.to_string()
        }
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{param}.parameters"),
                "`parameters` must be a JSON schema object.",
            ));
        }
    };
    Ok(FunctionDef {
        name: name.to_string(),
        description,
        parameters,
    })
}

fn tool_choice(value: &Value, param: &str) -> Result<ToolChoice, ApiError> {
    match value {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" | "any" => Ok(ToolChoice::Required),
            _ => Err(ApiError::invalid(
                param,
                format!("`{param}` must be auto, none, required or a named function."),
            )),
        },
        Value::Object(choice) => {
            let name = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| choice.get("name"))
                .and_then(Value::as_str);
            match name {
                Some(name) => Ok(ToolChoice::Named(name.to_string())),
                None => Err(ApiError::invalid(
                    param,
                    format!(
                        "`{param}` names no function (expected {{\"type\": \"function\", \"function\": {{\"name\": …}}}})."
                    ),
                )),
            }
        }
        _ => Err(ApiError::invalid(
            param,
            format!("`{param}` must be a string or an object."),
        )),
    }
}

/// An assistant message's `tool_calls` (or legacy `function_call`, given `legacy_id`),
/// each counted in `tally`.
pub fn parse_calls(
    msg: &Map<String, Value>,
    param: &str,
    legacy_id: &str,
    tally: &mut ToolTally,
) -> Result<Vec<ToolCall>, ApiError> {
    let mut calls = Vec::new();
    if let Some(list) = non_null(msg.get("tool_calls")) {
        let items = list.as_array().ok_or_else(|| {
            ApiError::invalid(
                format!("{param}.tool_calls"),
                "`tool_calls` must be an array.",
            )
        })?;
        for (j, call) in items.iter().enumerate() {
            let call_param = format!("{param}.tool_calls[{j}]");
            tally.call(&call_param)?;
            let id = call_id(call, "id", &call_param, "Each tool call needs an `id`.")?;
            let function = call.get("function").cloned().unwrap_or(Value::Null);
            calls.push(call_of(id, &function, &format!("{call_param}.function"))?);
        }
    }
    if let Some(function) = non_null(msg.get("function_call")) {
        tally.call(&format!("{param}.function_call"))?;
        calls.push(call_of(
            legacy_id,
            function,
            &format!("{param}.function_call"),
        )?);
    }
    Ok(calls)
}

fn call_of(id: &str, function: &Value, param: &str) -> Result<ToolCall, ApiError> {
    let name = tool_name(function, param, "A tool call needs the function's `name`.")?;
    let arguments = match function.get("arguments") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{param}.arguments"),
                "`arguments` must be a JSON string.",
            ));
        }
    };
    Ok(ToolCall {
        id: id.to_string(),
        name: name.to_string(),
        arguments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools(value: Value) -> Result<Tools, ApiError> {
        parse(value.as_object().unwrap())
    }

    #[test]
    fn reads_tools_choices_and_legacy_functions() {
        let t = tools(
            json!({"tools": [{"type": "function", "function": {"name": "get_weather",
            "description": "Weather", "parameters": {"type": "object",
            "properties": {"city": {"type": "string"}}}}}], "tool_choice": "required",
            "parallel_tool_calls": false}),
        )
        .unwrap();
        assert_eq!(t.functions[0].name, "get_weather");
        assert_eq!(t.choice, ToolChoice::Required);
        assert!(!t.parallel && t.offered());
        let legacy =
            tools(json!({"functions": [{"name": "f"}], "function_call": {"name": "f"}})).unwrap();
        assert_eq!(legacy.choice, ToolChoice::Named("f".into()));
        assert!(
            !tools(
                json!({"tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "none"})
            )
            .unwrap()
            .offered()
        );
    }

    #[test]
    fn bad_tools_name_their_param() {
        for (body, param) in [
            (
                json!({"tools": [{"type": "function", "function": {}}]}),
                "tools[0].function.name",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "a b"}}]}),
                "tools[0].function.name",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f",
                "parameters": {"type": "string"}}}]}),
                "tools[0].function.parameters",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f",
                "parameters": 3}}]}),
                "tools[0].function.parameters",
            ),
            (json!({"tools": [{"type": "web_search"}]}), "tools[0].type"),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}}}),
                "tool_choice",
            ),
            (json!({"tool_choice": "required"}), "tool_choice"),
            (
                json!({"tools": vec![json!({"type": "function", "function": {"name": "f"}}); 513]}),
                "tools",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f"}},
                {"type": "function", "function": {"name": "f"}}]}),
                "tools",
            ),
        ] {
            let error = tools(body.clone()).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{body}");
        }
    }
}
