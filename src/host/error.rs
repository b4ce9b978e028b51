//! Errors of the Lambda API (not function errors): an HTTP status, the `x-amzn-ErrorType`
//! header and a JSON body `{"Type": "User", "message": ...}`, as Lambda answers them.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer of the API. Function errors are not `ApiError`s: they are 200
/// responses with `X-Amz-Function-Error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    /// `Reason` of a `TooManyRequestsException` (Lambda's `ThrottleReason`).
    pub throttle_reason: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            throttle_reason: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    pub fn function_not_found(arn: &str) -> Self {
        Self::not_found(format!("Function not found: {arn}"))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "ResourceConflictException", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }

    /// A request value outside the API model's constraints (checked before the service
    /// looks at it).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    pub fn invalid_content(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            message,
        )
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            message,
        )
    }

    /// Every worker of the function is busy and its queue is full.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::throttled("ConcurrentInvocationLimitExceeded", message)
    }

    /// A 429 with the given `Reason` (`ReservedFunctionConcurrentInvocationLimitExceeded`,
    /// `ConcurrentInvocationLimitExceeded`, ...).
    pub fn throttled(reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            throttle_reason: Some(reason),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                message,
            )
        }
    }

    pub fn forbidden(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, kind, message)
    }

    pub fn service(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            message,
        )
    }

    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
            message,
        )
    }

    pub fn unknown_operation() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "Unknown operation",
        )
    }

    /// The JSON body and headers Lambda sends for this error.
    pub fn into_response_with_id(self, request_id: &str) -> Response {
        let mut body = serde_json::json!({ "Type": "User", "message": self.message });
        let throttled = self.status == StatusCode::TOO_MANY_REQUESTS;
        if throttled {
            body["Reason"] = self
                .throttle_reason
                .unwrap_or("ConcurrentInvocationLimitExceeded")
                .into();
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        if throttled {
            headers.insert("retry-after", HeaderValue::from_static("1"));
        }
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(self.kind));
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-RequestId", id);
        }
        response
    }
}

/// Why the host could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("state directory {path}: {source}")]
    State {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state directory {0} is in use by another `lambada serve`; stop it or pass another --state-dir"
    )]
    StateLocked(std::path::PathBuf),
    #[error("{0}")]
    Config(String),
}
