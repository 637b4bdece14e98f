//! Image content parts (`image_url`): a `data:` URL with base64 PNG, JPEG, GIF or WebP, or
//! an http(s) URL, checked and turned into an [`Attachment::Image`]. Anything else is a 400
//! naming the part.

use base64::Engine;
use serde_json::Value;

use super::ApiError;
use super::attachment::{Attachment, Source};

/// The media types the Messages API accepts.
const MEDIA_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Reads an `image_url` part (`{"type":"image_url","image_url":{"url":…}}`, or the url as a
/// plain string).
pub fn parse_part(part: &Value, param: &str) -> Result<Attachment, ApiError> {
    let url = match part.get("image_url") {
        Some(Value::Object(inner)) => inner.get("url").and_then(Value::as_str),
        Some(Value::String(url)) => Some(url.as_str()),
        _ => None,
    };
    let url_param = format!("{param}.image_url.url");
    let Some(url) = url else {
        return Err(ApiError::invalid(
            url_param,
            "An `image_url` part needs `image_url.url`: a data: URL or an http(s) URL.",
        ));
    };
    parse_url(url, &url_param)
}

/// An image URL: a base64 `data:` URL or an http(s) URL; errors name `param`.
pub fn parse_url(url: &str, param: &str) -> Result<Attachment, ApiError> {
    if let Some(rest) = url.strip_prefix("data:") {
        return parse_data_url(rest, param);
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(Attachment::Image(Source::Url(url.to_string())));
    }
    Err(ApiError::invalid(
        param,
        "The image URL must be a data: URL (base64 PNG, JPEG, GIF or WebP) or an http(s) URL.",
    ))
}

fn parse_data_url(rest: &str, param: &str) -> Result<Attachment, ApiError> {
    let Some((header, data)) = rest.split_once(',') else {
        return Err(ApiError::invalid(
            param,
            "This data: URL has no `,` before its data (expected data:image/png;base64,…).",
        ));
    };
    let Some(media_type) = header.strip_suffix(";base64") else {
        return Err(ApiError::invalid(
            param,
            "Only base64 data: URLs are accepted (data:image/png;base64,…).",
        ));
    };
    from_base64(media_type, data, param)
}

/// A base64 image of `media_type` (checked: a supported type, valid base64).
pub fn from_base64(media_type: &str, data: &str, param: &str) -> Result<Attachment, ApiError> {
    let media_type = match media_type.to_ascii_lowercase().as_str() {
        "image/jpg" => "image/jpeg".to_string(),
        other => other.to_string(),
    };
    if !MEDIA_TYPES.contains(&media_type.as_str()) {
        return Err(ApiError::invalid(
            param,
            format!(
                "Images of type `{}` are not supported; send PNG, JPEG, GIF or WebP.",
                media_type.chars().take(40).collect::<String>()
            ),
        ));
    }
    let data: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if base64::engine::general_purpose::STANDARD
        .decode(&data)
        .is_err()
        || data.is_empty()
    {
        return Err(ApiError::invalid(
            param,
            "The image data is not valid base64.",
        ));
    }
    Ok(Attachment::Image(Source::Base64 { media_type, data }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

    fn part(url: &str) -> Value {
        json!({"type": "image_url", "image_url": {"url": url, "detail": "auto"}})
    }

    #[test]
    fn data_and_http_urls_become_image_blocks() {
        let image = parse_part(&part(&format!("data:image/png;base64,{PIXEL}")), "p").unwrap();
        assert_eq!(
            image.to_block(),
            json!({"type": "image", "source": {"type": "base64",
                   "media_type": "image/png", "data": PIXEL}})
        );
        let jpg = parse_part(&part(&format!("data:image/jpg;base64,{PIXEL}")), "p").unwrap();
        assert!(
            matches!(jpg, Attachment::Image(Source::Base64 { media_type, .. }) if media_type == "image/jpeg")
        );
        let remote = parse_part(&part("https://example.com/cat.png"), "p").unwrap();
        assert_eq!(remote.to_block()["source"]["type"], "url");
    }

    #[test]
    fn bad_images_name_the_url_param() {
        for url in [
            "data:image/png;base64,@@@not-base64@@@",
            "data:image/bmp;base64,AAAA",
            "data:image/png,rawbytes",
            "data:image/png;base64",
            "ftp://example.com/x.png",
        ] {
            let error = parse_part(&part(url), "messages[0].content[1]").unwrap_err();
            assert_eq!(
                error.param.as_deref(),
                Some("messages[0].content[1].image_url.url"),
                "{url}"
            );
        }
        assert!(parse_part(&json!({"type": "image_url"}), "p").is_err());
    }
}
