//! Documents in requests, as each API sends them: chat completions' `file` parts
//! (`file.file_data`, a base64 `data:` URL), the Responses API's `input_file` parts
//! (`file_data` or `file_url`) and the Messages API's `document` blocks (base64 PDF, plain
//! text or URL sources). PDFs are checked (valid base64 that starts like a PDF); uploaded
//! file ids cannot be reached through the CLI and are a 400, like anything else that is not
//! a document, naming the part.

use base64::Engine;
use serde_json::Value;

use super::ApiError;
use super::attachment::{Attachment, DocumentSource, Source};

/// The start of every PDF file.
const PDF_MAGIC: &[u8] = b"%PDF-";

/// A chat completions `file` part: `{"type":"file","file":{"file_data":…,"filename":…}}`.
pub fn parse_chat_file(part: &Value, param: &str) -> Result<Attachment, ApiError> {
    let file = part.get("file").unwrap_or(&Value::Null);
    let param = format!("{param}.file");
    from_file_fields(file, &param, "file_data")
}

/// A Responses API `input_file` part: `file_data` (a base64 `data:` URL) or `file_url`.
pub fn parse_input_file(part: &Value, param: &str) -> Result<Attachment, ApiError> {
    if let Some(url) = part.get("file_url").and_then(Value::as_str) {
        return Ok(Attachment::Document {
            source: DocumentSource::Pdf(http_url(url, &format!("{param}.file_url"))?),
            title: title(part.get("filename")),
        });
    }
    from_file_fields(part, param, "file_data")
}

/// A Messages API `document` block: `source` of type `base64` (a PDF), `text` or `url`;
/// `title` is kept; `context` and `citations` have no effect.
pub fn parse_document_block(block: &Value, param: &str) -> Result<Attachment, ApiError> {
    let source_param = format!("{param}.source");
    let source = block.get("source").unwrap_or(&Value::Null);
    let text_field = |key: &str| source.get(key).and_then(Value::as_str);
    let source = match text_field("type") {
        Some("base64") => {
            let media_type = text_field("media_type").unwrap_or("");
            if media_type != "application/pdf" {
                return Err(ApiError::invalid(
                    format!("{source_param}.media_type"),
                    "A base64 document must be `application/pdf`; send plain text with a \
                     `text` source.",
                ));
            }
            DocumentSource::Pdf(pdf(
                text_field("data").unwrap_or(""),
                &format!("{source_param}.data"),
            )?)
        }
        Some("text") => match text_field("data") {
            Some(text) => DocumentSource::Text(text.to_string()),
            None => {
                return Err(ApiError::invalid(
                    format!("{source_param}.data"),
                    "A text document needs its text in `data`.",
                ));
            }
        },
        Some("url") => DocumentSource::Pdf(http_url(
            text_field("url").unwrap_or(""),
            &format!("{source_param}.url"),
        )?),
        _ => {
            return Err(ApiError::invalid(
                format!("{source_param}.type"),
                "Document sources may be `base64` (a PDF), `text` or `url`; uploaded files \
                 and content sources are not supported.",
            ));
        }
    };
    Ok(Attachment::Document {
        source,
        title: title(block.get("title")),
    })
}

/// `file_data` (a `data:` URL of a PDF or of plain text, or bare base64 of a PDF) and
/// `filename` of `fields`; a `file_id` alone is refused.
fn from_file_fields(fields: &Value, param: &str, data_key: &str) -> Result<Attachment, ApiError> {
    let data_param = format!("{param}.{data_key}");
    let Some(data) = fields.get(data_key).and_then(Value::as_str) else {
        let why = if fields.get("file_id").is_some() {
            "Uploaded file ids cannot be read through this proxy; send the file inline as \
             `file_data` (data:application/pdf;base64,…)."
        } else {
            "A file part needs `file_data`: data:application/pdf;base64,…"
        };
        return Err(ApiError::invalid(data_param, why));
    };
    let (media_type, base64) = match data.strip_prefix("data:") {
        Some(rest) => match rest.split_once(',') {
            Some((header, base64)) if header.ends_with(";base64") => (
                header.trim_end_matches(";base64").to_ascii_lowercase(),
                base64,
            ),
            _ => {
                return Err(ApiError::invalid(
                    data_param,
                    "`file_data` must be a base64 data: URL (data:application/pdf;base64,…).",
                ));
            }
        },
        None => ("application/pdf".to_string(), data),
    };
    let source = match media_type.as_str() {
        "application/pdf" => DocumentSource::Pdf(pdf(base64, &data_param)?),
        "text/plain" | "text/markdown" | "text/csv" => {
            let bytes = decode(base64, &data_param)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                ApiError::invalid(&data_param, "This text file is not valid UTF-8.")
            })?;
            DocumentSource::Text(text)
        }
        other => {
            return Err(ApiError::invalid(
                data_param,
                format!(
                    "Files of type `{}` are not supported; send PDFs (application/pdf) or \
                     plain text (text/plain).",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    };
    Ok(Attachment::Document {
        source,
        title: title(fields.get("filename")),
    })
}

/// A base64 PDF, checked.
fn pdf(base64: &str, param: &str) -> Result<Source, ApiError> {
    let data: String = base64
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if !decode(&data, param)?.starts_with(PDF_MAGIC) {
        return Err(ApiError::invalid(
            param,
            "This file is not a PDF (it does not start with %PDF-).",
        ));
    }
    Ok(Source::Base64 {
        media_type: "application/pdf".into(),
        data,
    })
}

fn decode(base64: &str, param: &str) -> Result<Vec<u8>, ApiError> {
    let data: String = base64
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    match base64::engine::general_purpose::STANDARD.decode(&data) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(ApiError::invalid(
            param,
            "The file data is not valid base64.",
        )),
    }
}

fn http_url(url: &str, param: &str) -> Result<Source, ApiError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(Source::Url(url.to_string()))
    } else {
        Err(ApiError::invalid(
            param,
            "A document URL must be an http(s) URL.",
        ))
    }
}

fn title(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(500).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `%PDF-1.4` and a little more, base64.
    const PDF: &str = "JVBERi0xLjQKJSVFT0YK";

    fn pdf_source() -> DocumentSource {
        DocumentSource::Pdf(Source::Base64 {
            media_type: "application/pdf".into(),
            data: PDF.into(),
        })
    }

    #[test]
    fn each_api_s_pdf_becomes_one_document() {
        let chat = parse_chat_file(
            &json!({"type": "file", "file": {"filename": "a.pdf",
                "file_data": format!("data:application/pdf;base64,{PDF}")}}),
            "p",
        )
        .unwrap();
        let responses = parse_input_file(
            &json!({"type": "input_file", "filename": "a.pdf",
                "file_data": format!("data:application/pdf;base64,{PDF}")}),
            "p",
        )
        .unwrap();
        let messages = parse_document_block(
            &json!({"type": "document", "title": "a.pdf", "source": {"type": "base64",
                "media_type": "application/pdf", "data": PDF}}),
            "p",
        )
        .unwrap();
        let expected = Attachment::Document {
            source: pdf_source(),
            title: Some("a.pdf".into()),
        };
        assert_eq!(chat, expected);
        assert_eq!(responses, expected);
        assert_eq!(messages, expected);
    }

    #[test]
    fn text_and_url_documents() {
        let text = parse_chat_file(
            &json!({"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}}),
            "p",
        )
        .unwrap();
        assert_eq!(
            text,
            Attachment::Document {
                source: DocumentSource::Text("hi".into()),
                title: None
            }
        );
        let url = parse_input_file(
            &json!({"type": "input_file", "file_url": "https://example.com/a.pdf"}),
            "p",
        )
        .unwrap();
        assert_eq!(url.to_block()["source"]["type"], "url");
        let block = parse_document_block(
            &json!({"type": "document", "source": {"type": "text", "media_type": "text/plain",
                "data": "notes"}}),
            "p",
        )
        .unwrap();
        assert_eq!(block.to_block()["source"]["data"], "notes");
    }

    #[test]
    fn what_is_not_a_document_names_its_field() {
        for (part, param) in [
            (
                json!({"type": "file", "file": {"file_id": "file-1"}}),
                "p.file.file_data",
            ),
            (
                json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,aGk="}}),
                "p.file.file_data",
            ),
            (
                json!({"type": "file", "file": {"file_data": "data:image/png;base64,aGk="}}),
                "p.file.file_data",
            ),
            (
                json!({"type": "file", "file": {"file_data": "@@@"}}),
                "p.file.file_data",
            ),
        ] {
            let error = parse_chat_file(&part, "p").unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{part}");
        }
        let error = parse_input_file(&json!({"type": "input_file", "file_url": "ftp://x"}), "p")
            .unwrap_err();
        assert_eq!(error.param.as_deref(), Some("p.file_url"));
        for (source, param) in [
            (json!({"type": "file", "file_id": "f"}), "p.source.type"),
            (
                json!({"type": "base64", "media_type": "image/png", "data": PDF}),
                "p.source.media_type",
            ),
            (
                json!({"type": "base64", "media_type": "application/pdf", "data": "aGk="}),
                "p.source.data",
            ),
            (json!({"type": "text"}), "p.source.data"),
        ] {
            let error = parse_document_block(&json!({"type": "document", "source": source}), "p")
                .unwrap_err();
            assert_eq!(error.param.as_deref(), Some(param), "{source}");
        }
    }
}
