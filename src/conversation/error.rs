//! The OpenAI error object `{"error":{"message","type","param","code"}}` and the HTTP
//! status that goes with it. Constructors say what happened and what to do about it.

use serde::Serialize;

/// What kind of failure, as a client would branch on it: it fixes the status, `type`
/// and `code` of the error object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed or asks for something we do not support.
    InvalidRequest,
    /// 401: the upstream login or key is missing or rejected.
    Authentication,
    /// 402: upstream refused for billing (no credit left, subscription lapsed).
    Billing,
    /// 403: upstream refused the account.
    PermissionDenied,
    /// 403: the Host header does not name this daemon (DNS-rebinding protection).
    HostNotAllowed,
    /// 403: a web page's Origin that is neither ours nor in `cors_origins`.
    OriginNotAllowed,
    /// 404: unknown model.
    ModelNotFound,
    /// 404: unknown path.
    NotFound,
    /// 404: a Responses API `previous_response_id` that is not (or no longer) kept.
    PreviousResponseNotFound,
    /// 404: `GET`/`DELETE /v1/responses/{id}` of a response that is not (or no longer) kept.
    ResponseNotFound,
    /// 405: wrong method for a known path.
    MethodNotAllowed,
    /// 408: the request body did not arrive in time.
    RequestTimeout,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 429: upstream rate limit.
    RateLimited,
    /// 429: every CLI slot is busy and the queue is full (or the wait ran out).
    QueueFull,
    /// 502: upstream or the CLI failed.
    BadGateway,
    /// 503: the CLI cannot be run at all, or the daemon is shutting down.
    Unavailable,
    /// 503 (529 on the Messages API): Anthropic is overloaded.
    Overloaded,
    /// 504: a timeout fired.
    Timeout,
    /// 500: our own bug.
    Internal,
    /// 501: an endpoint this proxy cannot serve honestly.
    NotImplemented,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Billing => 402,
            ErrorKind::PermissionDenied
            | ErrorKind::HostNotAllowed
            | ErrorKind::OriginNotAllowed => 403,
            ErrorKind::ModelNotFound
            | ErrorKind::NotFound
            | ErrorKind::PreviousResponseNotFound
            | ErrorKind::ResponseNotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::RateLimited | ErrorKind::QueueFull => 429,
            ErrorKind::BadGateway => 502,
            ErrorKind::Unavailable | ErrorKind::Overloaded => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Internal => 500,
            ErrorKind::NotImplemented => 501,
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::ModelNotFound
            | ErrorKind::NotFound
            | ErrorKind::PreviousResponseNotFound
            | ErrorKind::ResponseNotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::RequestTimeout
            | ErrorKind::PayloadTooLarge
            | ErrorKind::UnsupportedMediaType
            | ErrorKind::NotImplemented => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Billing => "insufficient_quota",
            ErrorKind::PermissionDenied
            | ErrorKind::HostNotAllowed
            | ErrorKind::OriginNotAllowed => "permission_error",
            ErrorKind::RateLimited | ErrorKind::QueueFull => "rate_limit_error",
            ErrorKind::BadGateway
            | ErrorKind::Unavailable
            | ErrorKind::Overloaded
            | ErrorKind::Internal => "server_error",
            ErrorKind::Timeout => "timeout_error",
        }
    }

    fn code(self) -> Option<&'static str> {
        match self {
            ErrorKind::ModelNotFound => Some("model_not_found"),
            ErrorKind::NotFound => Some("unknown_url"),
            ErrorKind::PreviousResponseNotFound => Some("previous_response_not_found"),
            ErrorKind::MethodNotAllowed => Some("method_not_allowed"),
            ErrorKind::PayloadTooLarge => Some("request_too_large"),
            ErrorKind::UnsupportedMediaType => Some("unsupported_media_type"),
            ErrorKind::RequestTimeout => Some("request_timeout"),
            ErrorKind::Billing => Some("insufficient_quota"),
            ErrorKind::HostNotAllowed => Some("host_not_allowed"),
            ErrorKind::OriginNotAllowed => Some("origin_not_allowed"),
            ErrorKind::Authentication => Some("invalid_api_key"),
            ErrorKind::RateLimited => Some("rate_limit_exceeded"),
            ErrorKind::QueueFull => Some("queue_full"),
            ErrorKind::Unavailable | ErrorKind::Overloaded => Some("service_unavailable"),
            ErrorKind::Timeout => Some("timeout"),
            ErrorKind::BadGateway => Some("upstream_error"),
            ErrorKind::NotImplemented => Some("not_implemented"),
            _ => None,
        }
    }
}

/// An error a client sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// The request field at fault, e.g. `messages[2].content`.
    pub param: Option<String>,
    /// Seconds for a `Retry-After` header (429/503).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            param: Some(param.into()),
            ..ApiError::new(ErrorKind::InvalidRequest, message)
        }
    }

    /// Names the request field at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> ApiError {
        self.param = Some(param.into());
        self
    }

    pub fn with_retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs);
        self
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The JSON body `{"error":{…}}`.
    pub fn to_json(&self) -> String {
        let body = Body {
            error: Inner {
                message: &self.message,
                kind: self.kind.type_name(),
                param: self.param.as_deref(),
                code: self.kind.code(),
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| {
            r#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#
                .to_string()
        })
    }

    pub fn model_not_found(model: &str) -> ApiError {
        ApiError {
            param: Some("model".into()),
            ..ApiError::new(
                ErrorKind::ModelNotFound,
                format!(
                    "The model `{model}` is not served by this proxy: it serves Claude models \
                     (any `claude-…` id, and the aliases GET /v1/models lists). To send \
                     another model name to a Claude model on purpose, map it under \
                     `model_map` in the config file."
                ),
            )
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_object_has_openai_shape() {
        let err = ApiError::invalid("messages", "messages must not be empty");
        let v: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "messages");
        assert!(v["error"]["code"].is_null());
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn unknown_model_is_404_model_not_found() {
        let err = ApiError::model_not_found("gpt-9");
        let v: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(err.status(), 404);
        assert_eq!(v["error"]["code"], "model_not_found");
        assert!(v["error"]["message"].as_str().unwrap().contains("gpt-9"));
    }
}
