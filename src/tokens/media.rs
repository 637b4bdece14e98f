//! Per-item estimates for what is not text: images from their pixel size, PDFs from their
//! page count, both the way Anthropic documents their cost.
//!
//! - An image costs about `width × height / 750` tokens after the API scales it down to
//!   fit the model's limits (Anthropic's vision guide: long edge 1568 px and ~1,600 tokens;
//!   newer models 2576 px and the CLI registry's `maxImageTokens`, 4,784). The size comes
//!   from the image's header; an image whose size cannot be read (a URL, unknown bytes)
//!   counts as the model's maximum.
//! - A PDF page costs its text plus an image of the page (Anthropic's PDF guide: 1,500–3,000
//!   text tokens a page, plus the image): [`PDF_PAGE_TOKENS`] a page. The page count is the
//!   page tree's `/Count` (or the number of page objects); a PDF given by URL counts as one
//!   page.

use base64::Engine;
use serde_json::Value;

use super::text;

/// Pixels per token in Anthropic's image formula.
const PIXELS_PER_TOKEN: f64 = 750.0;
/// Longest edge before scaling, for models with the standard image budget.
const STANDARD_EDGE: f64 = 1568.0;
/// Longest edge before scaling, for models with a larger budget.
const LARGE_EDGE: f64 = 2576.0;
/// The standard image budget (Anthropic's vision guide).
const STANDARD_IMAGE_TOKENS: u64 = 1_600;
/// One PDF page: 1,500 text tokens (the low end of Anthropic's range) and a page image at
/// the standard budget.
pub const PDF_PAGE_TOKENS: u64 = 1_500 + STANDARD_IMAGE_TOKENS;

/// Tokens of an `image` block's `source` for a model whose images cost at most `cap`.
pub fn image_tokens(source: Option<&Value>, cap: u64) -> u64 {
    let size = source
        .and_then(base64_data)
        .and_then(|bytes| imagesize::blob_size(&bytes).ok());
    match size {
        Some(size) => scaled_tokens(size.width as f64, size.height as f64, cap),
        None => cap,
    }
}

/// `width × height / 750` after scaling to the model's edge and token limits.
fn scaled_tokens(width: f64, height: f64, cap: u64) -> u64 {
    let edge = if cap > STANDARD_IMAGE_TOKENS {
        LARGE_EDGE
    } else {
        STANDARD_EDGE
    };
    let longest = width.max(height);
    let scale = if longest > edge { edge / longest } else { 1.0 };
    let tokens = (width * scale) * (height * scale) / PIXELS_PER_TOKEN;
    (tokens.ceil() as u64).clamp(1, cap)
}

/// Tokens of a `document` block's `source`: a PDF by pages, plain text by its text.
pub fn document_tokens(source: Option<&Value>) -> u64 {
    let Some(source) = source else {
        return PDF_PAGE_TOKENS;
    };
    match source.get("type").and_then(Value::as_str) {
        Some("text") => source
            .get("data")
            .and_then(Value::as_str)
            .map_or(0, text::tokens),
        Some("base64") => match base64_data(source) {
            Some(pdf) => pdf_pages(&pdf) * PDF_PAGE_TOKENS,
            None => PDF_PAGE_TOKENS,
        },
        _ => PDF_PAGE_TOKENS,
    }
}

/// The decoded bytes of a `{"type": "base64", "data": …}` source.
fn base64_data(source: &Value) -> Option<Vec<u8>> {
    if source.get("type").and_then(Value::as_str) != Some("base64") {
        return None;
    }
    let data = source.get("data").and_then(Value::as_str)?;
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .ok()
}

/// Pages of a PDF: the largest `/Count` (the page tree's root holds the total), else the
/// page objects, else one.
fn pdf_pages(pdf: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(pdf);
    let counted = text
        .match_indices("/Count")
        .filter_map(|(at, key)| {
            let digits: String = text[at + key.len()..]
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u64>().ok()
        })
        .max();
    let objects = text
        .match_indices("/Type")
        .filter(|(at, key)| {
            let rest = text[at + key.len()..].trim_start();
            rest.starts_with("/Page") && !rest.starts_with("/Pages")
        })
        .count() as u64;
    counted.filter(|&n| n > 0).unwrap_or(objects).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base64_source(bytes: &[u8]) -> Value {
        json!({"type": "base64", "media_type": "image/png",
               "data": base64::engine::general_purpose::STANDARD.encode(bytes)})
    }

    /// A PNG header of the given size (enough for its dimensions to be read).
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
        bytes
    }

    #[test]
    fn images_cost_their_pixels_over_750_within_the_budget() {
        let small = base64_source(&png_header(200, 200));
        assert_eq!(image_tokens(Some(&small), 1_600), 54);
        // Anthropic's example: 1092 × 1092 is about 1,590 tokens.
        let square = base64_source(&png_header(1092, 1092));
        assert_eq!(image_tokens(Some(&square), 1_600), 1_590);
        let huge = base64_source(&png_header(4000, 3000));
        assert_eq!(image_tokens(Some(&huge), 1_600), 1_600);
        assert_eq!(image_tokens(Some(&huge), 4_784), 4_784);
        let url = json!({"type": "url", "url": "https://example.com/a.png"});
        assert_eq!(image_tokens(Some(&url), 1_600), 1_600);
        assert_eq!(
            image_tokens(Some(&base64_source(b"not an image")), 4_784),
            4_784
        );
    }

    #[test]
    fn pdfs_cost_per_page_and_text_documents_their_text() {
        let three = b"%PDF-1.4\n1 0 obj << /Type /Pages /Kids [2 0 R 3 0 R 4 0 R] /Count 3 >>";
        assert_eq!(
            document_tokens(Some(&base64_source(three))),
            3 * PDF_PAGE_TOKENS
        );
        let two = b"%PDF-1.4\n<< /Type /Page >> << /Type/Page >> << /Type /Pages >>";
        assert_eq!(
            document_tokens(Some(&base64_source(two))),
            2 * PDF_PAGE_TOKENS
        );
        let text = json!({"type": "text", "media_type": "text/plain", "data": "Hello, world!"});
        assert_eq!(document_tokens(Some(&text)), 4);
        let url = json!({"type": "url", "url": "https://example.com/a.pdf"});
        assert_eq!(document_tokens(Some(&url)), PDF_PAGE_TOKENS);
    }
}
