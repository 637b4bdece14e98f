//! The Responses API's `tools`, `tool_choice` and `parallel_tool_calls` as the CLI gets
//! them. `function` tools are flat (name, description, parameters). `custom` tools — free
//! text input, optionally under a grammar, as Codex declares `apply_patch` — are offered to
//! the model as a function with one string argument, `input`, whose description carries
//! the tool's format; their calls go back to the client as `custom_tool_call` items
//! ([`custom_input`]). Hosted tools the CLI cannot run for the client (`web_search`,
//! `tool_search`, `image_generation`) and `namespace` groups are left out and named in
//! `x-ignored-params`, so that a client that always sends them (Codex) still works; any
//! other tool type is a 400 naming it.

use serde_json::{Map, Value, json};

use crate::conversation::ApiError;
use crate::conversation::limits;
use crate::conversation::tools::{
    FunctionDef, ToolChoice, ToolNames, Tools, function_def, parallel_tool_calls,
    require_tools_for, valid_name,
};

/// Tool types left out (the model goes without them).
const LEFT_OUT: &[&str] = &[
    "web_search",
    "web_search_preview",
    "tool_search",
    "image_generation",
    "namespace",
];

/// The tools of a request.
#[derive(Clone, Debug, Default)]
pub struct RequestTools {
    pub tools: Tools,
    /// The `custom` tools' definitions, as given (echoed in the response).
    pub custom: Vec<Value>,
    /// `tools[i]` of each tool left out.
    pub left_out: Vec<String>,
}

impl RequestTools {
    /// Whether `name` is one of the custom tools.
    pub fn is_custom(custom: &[Value], name: &str) -> bool {
        custom.iter().any(|tool| tool["name"] == name)
    }
}

/// Reads `tools`, `tool_choice` and `parallel_tool_calls`.
pub fn parse_tools(obj: &Map<String, Value>) -> Result<RequestTools, ApiError> {
    let mut functions: Vec<FunctionDef> = Vec::new();
    let mut custom = Vec::new();
    let mut left_out = Vec::new();
    match obj.get("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            limits::check_tools(items.len(), "tools")?;
            let mut names = ToolNames::default();
            for (i, tool) in items.iter().enumerate() {
                let param = format!("tools[{i}]");
                let function = match tool.get("type").and_then(Value::as_str) {
                    // A Responses tool is flat: the chat API's function object plus `type`.
                    Some("function") => function_def(tool, &param)?,
                    Some("custom") => {
                        custom.push(tool.clone());
                        custom_def(tool, &param)?
                    }
                    Some(kind) if LEFT_OUT.contains(&kind) => {
                        left_out.push(param);
                        continue;
                    }
                    other => {
                        return Err(ApiError::invalid(
                            format!("{param}.type"),
                            format!(
                                "Tools of type `{}` are not supported by this proxy; `function` \
                                 and `custom` tools are (web_search, tool_search, \
                                 image_generation and namespace tools are left out).",
                                other.unwrap_or("").chars().take(40).collect::<String>()
                            ),
                        ));
                    }
                };
                names.add(&function.name, &param)?;
                functions.push(function);
            }
        }
        Some(_) => return Err(ApiError::invalid("tools", "`tools` must be an array.")),
    }
    let choice = tool_choice(obj.get("tool_choice"), &functions)?;
    require_tools_for(&choice, &functions)?;
    let parallel = parallel_tool_calls(obj)?;
    Ok(RequestTools {
        tools: Tools {
            functions,
            choice,
            parallel,
        },
        custom,
        left_out,
    })
}

fn tool_choice(value: Option<&Value>, functions: &[FunctionDef]) -> Result<ToolChoice, ApiError> {
    let named = |choice: &Map<String, Value>| match choice.get("name").and_then(Value::as_str) {
        Some(name) if functions.iter().any(|f| f.name == name) => {
            Ok(ToolChoice::Named(name.to_string()))
        }
        _ => Err(ApiError::invalid(
            "tool_choice.name",
            "`tool_choice` must name one of the function or custom tools.",
        )),
    };
    match value {
        None | Some(Value::Null) => Ok(ToolChoice::Auto),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            _ => Err(bad_choice()),
        },
        Some(Value::Object(choice))
            if matches!(
                choice.get("type").and_then(Value::as_str),
                Some("function" | "custom")
            ) =>
        {
            named(choice)
        }
        Some(_) => Err(bad_choice()),
    }
}

fn bad_choice() -> ApiError {
    ApiError::invalid(
        "tool_choice",
        "`tool_choice` must be auto, none, required or {\"type\": \"function\" or \"custom\", \
         \"name\": …}.",
    )
}

/// A `custom` tool as the function the model is offered: one string argument, `input`.
fn custom_def(tool: &Value, param: &str) -> Result<FunctionDef, ApiError> {
    let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
    if !valid_name(name) {
        return Err(ApiError::invalid(
            format!("{param}.name"),
            "A custom tool needs a `name` of letters, digits, `_` and `-` (at most 64).",
        ));
    }
    let mut description = match tool.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{param}.description"),
                "`description` must be a string.",
            ));
        }
    };
    description.push_str(
        "\n\nThis tool takes free text, not JSON: put its whole input, exactly as the tool \
         expects it, in the `input` argument.",
    );
    if let Some(grammar) = grammar_of(tool.get("format"), &format!("{param}.format"))? {
        description.push_str(&grammar);
    }
    let parameters = json!({
        "type": "object",
        "properties": {"input": {"type": "string",
            "description": "The tool's whole input, as free text."}},
        "required": ["input"],
    });
    Ok(FunctionDef {
        name: name.to_string(),
        description,
        parameters: parameters.to_string(),
    })
}

/// What a custom tool's `format` asks of its input, for the model: nothing for `text`
/// (or none), the grammar for `grammar` (`syntax` `lark` or `regex`, `definition`).
fn grammar_of(format: Option<&Value>, param: &str) -> Result<Option<String>, ApiError> {
    let format = match format {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(format)) => format,
        Some(_) => return Err(ApiError::invalid(param, "`format` must be an object.")),
    };
    let text = |key: &str| format.get(key).and_then(Value::as_str);
    match text("type") {
        Some("text") => Ok(None),
        Some("grammar") => match (text("syntax"), text("definition")) {
            (Some(syntax @ ("lark" | "regex")), Some(definition)) => Ok(Some(format!(
                " The input must match this {syntax} grammar:\n{definition}"
            ))),
            _ => Err(ApiError::invalid(
                param,
                "A grammar `format` needs `syntax` (`lark` or `regex`) and its `definition`.",
            )),
        },
        _ => Err(ApiError::invalid(
            format!("{param}.type"),
            "`format.type` must be `text` or `grammar`.",
        )),
    }
}

/// The free-text input of a custom tool's call from its function arguments
/// (`{"input": "…"}`); the arguments themselves when they are not that shape.
pub fn custom_input(arguments: &str) -> String {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|v| v.get("input").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| arguments.to_string())
}

/// The function arguments a custom tool's earlier call (`input`) stands for.
pub fn custom_arguments(input: &str) -> String {
    json!({"input": input}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tools: Value) -> Result<RequestTools, ApiError> {
        let obj = json!({"tools": tools});
        parse_tools(obj.as_object().unwrap())
    }

    #[test]
    fn custom_tools_become_one_string_argument() {
        let parsed = parse(json!([
            {"type": "custom", "name": "apply_patch", "description": "Edit files.",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/s"}},
            {"type": "function", "name": "shell", "parameters": {"type": "object"}},
        ]))
        .unwrap();
        let patch = &parsed.tools.functions[0];
        assert_eq!(patch.name, "apply_patch");
        assert!(patch.description.starts_with("Edit files."));
        assert!(
            patch.description.contains("start: /.+/s"),
            "{}",
            patch.description
        );
        let parameters: Value = serde_json::from_str(&patch.parameters).unwrap();
        assert_eq!(parameters["required"], json!(["input"]));
        assert!(RequestTools::is_custom(&parsed.custom, "apply_patch"));
        assert!(!RequestTools::is_custom(&parsed.custom, "shell"));
        assert_eq!(
            custom_input(&custom_arguments("*** Begin Patch\n")),
            "*** Begin Patch\n"
        );
        assert_eq!(custom_input("not json"), "not json");
    }

    #[test]
    fn hosted_tools_are_left_out_and_named() {
        let parsed = parse(json!([
            {"type": "web_search", "external_web_access": true},
            {"type": "function", "name": "shell"},
            {"type": "namespace", "name": "mcp__x", "tools": []},
        ]))
        .unwrap();
        assert_eq!(parsed.tools.functions.len(), 1);
        assert_eq!(parsed.left_out, ["tools[0]", "tools[2]"]);
        let error = parse(json!([{"type": "file_search"}])).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("tools[0].type"));
        let error = parse(json!(vec![json!({"type": "web_search"}); 513])).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("tools"));
        let twice = json!([{"type": "function", "name": "f"}, {"type": "custom", "name": "f"}]);
        let error = parse(twice).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("tools[1].name"));
        for (tool, param) in [
            (
                json!({"type": "custom", "name": "t", "format": [null]}),
                "tools[0].format",
            ),
            (
                json!({"type": "custom", "name": "t", "format": {"type": "x"}}),
                "tools[0].format.type",
            ),
            (
                json!({"type": "custom", "name": "t", "format": {"type": "grammar"}}),
                "tools[0].format",
            ),
            (
                json!({"type": "custom", "name": "t", "description": 1}),
                "tools[0].description",
            ),
        ] {
            let error = parse(json!([tool])).unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{tool}");
        }
    }

    #[test]
    fn tool_choice_may_name_a_custom_tool() {
        let obj = json!({"tools": [{"type": "custom", "name": "apply_patch"}],
            "tool_choice": {"type": "custom", "name": "apply_patch"}});
        let parsed = parse_tools(obj.as_object().unwrap()).unwrap();
        assert_eq!(parsed.tools.choice, ToolChoice::Named("apply_patch".into()));
        let obj = json!({"tools": [], "tool_choice": {"type": "custom", "name": "nope"}});
        let error = parse_tools(obj.as_object().unwrap()).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("tool_choice.name"));
    }
}
