//! The Messages API's error object, `{"type":"error","error":{"type","message"}}`, made
//! from the same [`ApiError`] every endpoint fails with: the `type` follows the status the
//! Messages API would have used.

use serde_json::json;

use crate::conversation::{ApiError, ErrorKind};

/// The Messages API's `error.type` for `err`.
pub fn error_type(err: &ApiError) -> &'static str {
    match err.kind {
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Billing => "billing_error",
        ErrorKind::PermissionDenied | ErrorKind::HostNotAllowed | ErrorKind::OriginNotAllowed => {
            "permission_error"
        }
        ErrorKind::ModelNotFound
        | ErrorKind::NotFound
        | ErrorKind::PreviousResponseNotFound
        | ErrorKind::ResponseNotFound => "not_found_error",
        ErrorKind::PayloadTooLarge => "request_too_large",
        ErrorKind::RateLimited | ErrorKind::QueueFull => "rate_limit_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::BadGateway | ErrorKind::Unavailable | ErrorKind::Internal => "api_error",
        ErrorKind::InvalidRequest
        | ErrorKind::MethodNotAllowed
        | ErrorKind::RequestTimeout
        | ErrorKind::UnsupportedMediaType
        | ErrorKind::NotImplemented => "invalid_request_error",
    }
}

/// The HTTP status on the Messages API: as everywhere, except Anthropic's own overload,
/// which that API reports as 529.
pub fn status(err: &ApiError) -> u16 {
    match err.kind {
        ErrorKind::Overloaded => 529,
        _ => err.status(),
    }
}

/// The error body. The field at fault, when known, is named in the message (this shape
/// has no `param`).
pub fn error_json(err: &ApiError) -> String {
    let message = match &err.param {
        Some(param) if !err.message.contains(param.as_str()) => {
            format!("{param}: {}", err.message)
        }
        _ => err.message.clone(),
    };
    json!({"type": "error", "error": {"type": error_type(err), "message": message}}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_take_the_messages_api_shape_and_types() {
        let err = ApiError::invalid("max_tokens", "must be a positive integer");
        let v: serde_json::Value = serde_json::from_str(&error_json(&err)).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(
            v["error"]["message"],
            "max_tokens: must be a positive integer"
        );
        assert_eq!(
            error_type(&ApiError::model_not_found("x")),
            "not_found_error"
        );
        let overloaded = ApiError::new(ErrorKind::Overloaded, "busy");
        assert_eq!((status(&overloaded), overloaded.status()), (529, 503));
        assert_eq!(error_type(&overloaded), "overloaded_error");
    }
}
