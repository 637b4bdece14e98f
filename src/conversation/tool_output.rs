//! What a client's tool returned, as the three APIs carry it (a chat `tool` message, a
//! Messages `tool_result` block, a Responses `function_call_output` item): its parts in
//! order — text and images — and whether it reports an error. The model must get it
//! unchanged, so the parts are kept apart (not joined) and `is_error` is a flag, not a
//! prefix: the daemon hands it to the CLI as an MCP tool result (`content` + `isError`),
//! which the CLI turns back into the same `tool_result` block upstream (measured with
//! 2.1.332, tests/fixtures/claude-cli/n_tool_parked_live).

use serde_json::{Value, json};

use super::attachment::{Attachment, Source};

/// One part of a tool's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputPart {
    Text(String),
    /// An image (never a document: tool results carry text and images).
    Image(Attachment),
}

/// A tool's result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolOutput {
    pub parts: Vec<OutputPart>,
    pub is_error: bool,
}

impl ToolOutput {
    /// A result of one text.
    pub fn text(text: &str) -> ToolOutput {
        ToolOutput {
            parts: vec![OutputPart::Text(text.to_string())],
            is_error: false,
        }
    }

    /// The result a parser already validated: the text parts read from `content` (a string,
    /// or an array whose text-like parts are `text`, `input_text`, `output_text`), the
    /// images taken in order from `images` (what the parser made of the array's image
    /// parts), so both keep their places.
    pub fn assemble(content: Option<&Value>, images: &[Attachment], is_error: bool) -> ToolOutput {
        let mut parts = Vec::new();
        let mut images = images.iter();
        match content {
            Some(Value::String(text)) => parts.push(OutputPart::Text(text.clone())),
            Some(Value::Array(items)) => {
                for item in items {
                    match item.get("type").and_then(Value::as_str) {
                        Some(kind @ ("text" | "input_text" | "output_text" | "refusal")) => {
                            let key = if kind == "refusal" { "refusal" } else { "text" };
                            let text = item.get(key).and_then(Value::as_str).unwrap_or("");
                            parts.push(OutputPart::Text(text.to_string()));
                        }
                        Some("image" | "input_image" | "image_url") => {
                            if let Some(image) = images.next() {
                                parts.push(OutputPart::Image(image.clone()));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        // Images the walk did not place (a parser that reads images from elsewhere).
        parts.extend(images.cloned().map(OutputPart::Image));
        ToolOutput { parts, is_error }
    }

    /// The text parts joined by newlines (for logs and flattened prompts).
    pub fn joined_text(&self) -> String {
        let texts: Vec<&str> = self
            .parts
            .iter()
            .filter_map(|p| match p {
                OutputPart::Text(t) => Some(t.as_str()),
                OutputPart::Image(_) => None,
            })
            .collect();
        texts.join("\n")
    }

    /// The first image given by URL (MCP results carry image data only), if any.
    pub fn url_image(&self) -> Option<&str> {
        self.parts.iter().find_map(|p| match p {
            OutputPart::Image(Attachment::Image(Source::Url(url))) => Some(url.as_str()),
            _ => None,
        })
    }

    /// The MCP `tools/call` result: `{"content": [...], "isError": …}` with text parts and
    /// base64 images (`{"type":"image","data","mimeType"}`).
    pub fn to_mcp_result(&self) -> Value {
        let content: Vec<Value> = self
            .parts
            .iter()
            .filter_map(|part| match part {
                OutputPart::Text(text) => Some(json!({"type": "text", "text": text})),
                OutputPart::Image(Attachment::Image(Source::Base64 { media_type, data })) => {
                    Some(json!({"type": "image", "data": data, "mimeType": media_type}))
                }
                OutputPart::Image(_) => None,
            })
            .collect();
        json!({"content": content, "isError": self.is_error})
    }

    /// The Messages API `tool_result` block for `id` (session rows): text and image
    /// blocks, `is_error` when set.
    pub fn to_result_block(&self, id: &str) -> Value {
        let content: Vec<Value> = self
            .parts
            .iter()
            .map(|part| match part {
                OutputPart::Text(text) => json!({"type": "text", "text": text}),
                OutputPart::Image(image) => image.to_block(),
            })
            .collect();
        let mut block = json!({"type": "tool_result", "tool_use_id": id, "content": content});
        if self.is_error {
            block["is_error"] = json!(true);
        }
        block
    }

    /// Bytes for a digest: every part with its kind and length, then the error flag.
    pub fn digest_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for part in &self.parts {
            let (kind, body) = match part {
                OutputPart::Text(text) => (b'T', text.clone()),
                OutputPart::Image(image) => (b'I', image.to_block().to_string()),
            };
            out.push(kind);
            out.extend((body.len() as u64).to_le_bytes());
            out.extend(body.as_bytes());
        }
        out.push(u8::from(self.is_error));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png() -> Attachment {
        Attachment::Image(Source::Base64 {
            media_type: "image/png".into(),
            data: "iVBORw0KGgo=".into(),
        })
    }

    #[test]
    fn parts_keep_their_order_and_the_error_flag_is_kept_apart() {
        let content = json!([
            {"type": "text", "text": "before"},
            {"type": "image", "source": {}},
            {"type": "text", "text": "after"}]);
        let output = ToolOutput::assemble(Some(&content), &[png()], true);
        assert_eq!(
            output.parts,
            vec![
                OutputPart::Text("before".into()),
                OutputPart::Image(png()),
                OutputPart::Text("after".into())
            ]
        );
        let mcp = output.to_mcp_result();
        assert_eq!(mcp["isError"], true);
        assert_eq!(mcp["content"][1]["mimeType"], "image/png");
        assert_eq!(mcp["content"][2]["text"], "after");
        let block = output.to_result_block("toolu_1");
        assert_eq!(block["is_error"], true);
        assert_eq!(block["content"][1]["type"], "image");
        assert_eq!(output.joined_text(), "before\nafter");
    }

    #[test]
    fn a_string_is_one_text_part_and_digests_differ_by_error_flag() {
        let ok = ToolOutput::assemble(Some(&json!("18C")), &[], false);
        assert_eq!(ok, ToolOutput::text("18C"));
        let failed = ToolOutput {
            is_error: true,
            ..ok.clone()
        };
        assert_ne!(ok.digest_bytes(), failed.digest_bytes());
        assert!(ok.to_result_block("x").get("is_error").is_none());
    }
}
