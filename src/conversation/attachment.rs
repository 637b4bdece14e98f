//! What a user turn carries besides its text: images and documents (PDFs, plain text), in
//! one type for all three APIs, each becoming the Messages API content block the CLI
//! forwards upstream unchanged (measured with CLI 2.1.332: image and document blocks of a
//! stream-json user message reach the API as given). Parsing lives with each kind:
//! [`super::image`] and [`super::document`].

use serde_json::{Value, json};

/// An image or a document of a user turn (or of a tool result).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attachment {
    Image(Source),
    Document {
        source: DocumentSource,
        /// The file's name or title, shown to the model.
        title: Option<String>,
    },
}

/// Where an image or a PDF comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Base64 { media_type: String, data: String },
    Url(String),
}

/// A document's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentSource {
    /// A PDF, base64 (`application/pdf`) or by URL.
    Pdf(Source),
    /// Plain text.
    Text(String),
}

impl Attachment {
    /// The Messages API content block.
    pub fn to_block(&self) -> Value {
        match self {
            Attachment::Image(source) => json!({"type": "image", "source": source.to_json()}),
            Attachment::Document { source, title } => {
                let source = match source {
                    DocumentSource::Pdf(source) => source.to_json(),
                    DocumentSource::Text(text) => {
                        json!({"type": "text", "media_type": "text/plain", "data": text})
                    }
                };
                let mut block = json!({"type": "document", "source": source});
                if let Some(title) = title {
                    block["title"] = json!(title);
                }
                block
            }
        }
    }

    /// An image's size in bytes (decoded), for `max_image_bytes`; 0 for URLs and documents.
    pub fn image_bytes(&self) -> usize {
        match self {
            Attachment::Image(Source::Base64 { data, .. }) => data.len() / 4 * 3,
            _ => 0,
        }
    }

    /// The bytes this attachment holds in memory (base64 text, URLs, titles).
    pub fn held_bytes(&self) -> usize {
        let source_bytes = |source: &Source| match source {
            Source::Base64 { media_type, data } => media_type.len() + data.len(),
            Source::Url(url) => url.len(),
        };
        match self {
            Attachment::Image(source) => source_bytes(source),
            Attachment::Document { source, title } => {
                let content = match source {
                    DocumentSource::Pdf(source) => source_bytes(source),
                    DocumentSource::Text(text) => text.len(),
                };
                content + title.as_ref().map_or(0, String::len)
            }
        }
    }
}

impl Source {
    fn to_json(&self) -> Value {
        match self {
            Source::Base64 { media_type, data } => {
                json!({"type": "base64", "media_type": media_type, "data": data})
            }
            Source::Url(url) => json!({"type": "url", "url": url}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_become_document_blocks() {
        let pdf = Attachment::Document {
            source: DocumentSource::Pdf(Source::Base64 {
                media_type: "application/pdf".into(),
                data: "JVBERi0=".into(),
            }),
            title: Some("report.pdf".into()),
        };
        assert_eq!(
            pdf.to_block(),
            json!({"type": "document", "title": "report.pdf", "source": {"type": "base64",
                   "media_type": "application/pdf", "data": "JVBERi0="}})
        );
        let text = Attachment::Document {
            source: DocumentSource::Text("notes".into()),
            title: None,
        };
        assert_eq!(
            text.to_block(),
            json!({"type": "document", "source": {"type": "text",
                   "media_type": "text/plain", "data": "notes"}})
        );
        assert_eq!(pdf.image_bytes(), 0, "the image limit is for images");
        assert_eq!(
            pdf.held_bytes(),
            "application/pdf".len() + 8 + "report.pdf".len()
        );
    }
}
