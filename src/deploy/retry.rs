//! Errors from the Lambda API sorted by what to do about them, and bounded retries with
//! backoff.

use std::error::Error as StdError;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

/// How long each kind of trouble is waited out. The defaults suit AWS; tests shorten them.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// First backoff delay; doubles each time up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Throttling (429) is retried for this long.
    pub throttle_for: Duration,
    /// "An update is in progress" (409) is waited out for this long.
    pub conflict_for: Duration,
    /// "The role defined for the function cannot be assumed by Lambda": a fresh IAM role
    /// takes a few seconds to propagate.
    pub role_for: Duration,
    /// Attempts for connection failures and 5xx answers.
    pub transient_attempts: u32,
    /// Waiting for `State: Active` and `LastUpdateStatus: Successful` gives up after this.
    pub ready_for: Duration,
    /// Per-attempt timeout of requests that upload no zip (an endpoint that accepts
    /// connections but never answers must not hang the deploy).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            throttle_for: Duration::from_secs(120),
            conflict_for: Duration::from_secs(120),
            role_for: Duration::from_secs(30),
            transient_attempts: 3,
            ready_for: Duration::from_secs(300),
            request_timeout: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection could be made (refused, DNS, connect timeout).
    Unreachable,
    /// 429 TooManyRequestsException and friends.
    Throttled,
    /// 409 ResourceConflictException: exists, or an update is in progress.
    Conflict,
    /// The fresh execution role is not yet assumable.
    RoleNotReady,
    /// The endpoint rejected the signature or the key.
    Credentials,
    NotFound,
    /// 5xx, a dropped connection.
    Transient,
    /// No answer within the attempt timeout.
    TimedOut,
    Other,
}

/// An API failure reduced to what a person needs: the service's error code and message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

const CREDENTIAL_CODES: &[&str] = &[
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    "ExpiredTokenException",
];

impl<E> From<SdkError<E, HttpResponse>> for ApiError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    fn from(err: SdkError<E, HttpResponse>) -> Self {
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().map(str::to_string);
                let message = e
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| error_chain(e));
                let status = http_status(&err);
                ApiError {
                    kind: classify(code.as_deref(), &message, status),
                    code,
                    message,
                }
            }
            SdkError::DispatchFailure(failure) => {
                let detail = error_chain(&err);
                let connect = failure.as_connector_error().is_some_and(|c| {
                    is_connect_failure(c) || (c.is_timeout() && detail.contains("connect"))
                });
                ApiError {
                    kind: if connect {
                        ErrorKind::Unreachable
                    } else {
                        ErrorKind::Transient
                    },
                    code: None,
                    message: connection_reason(&err).unwrap_or(detail),
                }
            }
            SdkError::TimeoutError(_) => ApiError {
                kind: ErrorKind::TimedOut,
                code: None,
                message: "no answer in time".to_string(),
            },
            SdkError::ResponseError(_) => {
                let status = http_status(&err);
                ApiError {
                    kind: if status.is_some_and(|s| s >= 500) {
                        ErrorKind::Transient
                    } else {
                        ErrorKind::Other
                    },
                    code: None,
                    message: format!(
                        "unreadable answer{}: {}",
                        status.map(|s| format!(" (HTTP {s})")).unwrap_or_default(),
                        error_chain(&err)
                    ),
                }
            }
            _ => ApiError {
                kind: ErrorKind::Other,
                code: None,
                message: error_chain(&err),
            },
        }
    }
}

fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn classify(code: Option<&str>, message: &str, status: Option<u16>) -> ErrorKind {
    match (code.unwrap_or(""), status) {
        ("TooManyRequestsException" | "ThrottlingException" | "Throttling", _) | (_, Some(429)) => {
            ErrorKind::Throttled
        }
        ("ResourceConflictException", _) | (_, Some(409)) => ErrorKind::Conflict,
        ("InvalidParameterValueException", _) if message.contains("cannot be assumed") => {
            ErrorKind::RoleNotReady
        }
        (c, _) if CREDENTIAL_CODES.contains(&c) => ErrorKind::Credentials,
        ("ResourceNotFoundException", _) | (_, Some(404)) => ErrorKind::NotFound,
        ("ServiceException" | "EC2ThrottledException", _) => ErrorKind::Transient,
        (_, Some(s)) if s >= 500 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

fn is_connect_failure(err: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::AddrNotAvailable
                    | K::NotFound
            ) {
                return true;
            }
        }
        let text = e.to_string();
        if text.contains("dns error") || text.contains("tcp connect error") {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A short reason for a connection failure: "connection refused", "connect timed out".
fn connection_reason(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    let mut timed_out = false;
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            let reason = match io.kind() {
                K::ConnectionRefused => "connection refused".to_string(),
                K::HostUnreachable => "host unreachable".to_string(),
                K::NetworkUnreachable => "network unreachable".to_string(),
                K::TimedOut => "connection timed out".to_string(),
                _ => io.to_string(),
            };
            return Some(reason);
        }
        let text = e.to_string();
        if text.contains("dns error") {
            let mut innermost = e;
            while let Some(next) = innermost.source() {
                innermost = next;
            }
            return Some(format!("cannot resolve the host name ({innermost})"));
        }
        timed_out |= text.contains("timeout") || text.contains("timed out");
        cur = e.source();
    }
    timed_out.then(|| "connection timed out".to_string())
}

/// Every message in an error's source chain, deduplicated, joined with ": ".
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Configuration override for requests that upload no zip: a short attempt timeout.
pub fn small_request(policy: &RetryPolicy) -> aws_sdk_lambda::config::Builder {
    aws_sdk_lambda::config::Builder::default().timeout_config(
        aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(policy.request_timeout)
            .build(),
    )
}

/// Delay for the `attempt`-th retry (0-based): exponential, capped, with jitter so that
/// concurrent functions do not retry in lockstep.
pub fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << attempt.min(16))
        .min(policy.max_delay);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // Between 75% and 100% of the exponential delay.
    let jitter = exp.mul_f64(f64::from(nanos % 1000) / 4000.0);
    exp - jitter
}

/// Which troubles a call waits out besides throttling and transient failures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Waits {
    /// Retry 409 "update in progress" (not for CreateFunction, where 409 means "exists").
    pub conflict: bool,
    /// Retry the role-propagation InvalidParameterValueException.
    pub role: bool,
}

/// Runs `op` until it succeeds, fails for good, or its kind of trouble has been waited
/// out for as long as the policy allows.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    waits: Waits,
    mut op: F,
) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let start = Instant::now();
    let mut attempt = 0u32;
    let mut transient_failures = 0u32;
    loop {
        let mut err = match op().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let elapsed = start.elapsed();
        let retry = match err.kind {
            ErrorKind::Throttled => elapsed < policy.throttle_for,
            ErrorKind::Conflict => waits.conflict && elapsed < policy.conflict_for,
            ErrorKind::RoleNotReady => waits.role && elapsed < policy.role_for,
            ErrorKind::Unreachable | ErrorKind::Transient | ErrorKind::TimedOut => {
                transient_failures += 1;
                transient_failures < policy.transient_attempts
            }
            ErrorKind::Credentials | ErrorKind::NotFound | ErrorKind::Other => false,
        };
        if !retry {
            if err.kind == ErrorKind::RoleNotReady && attempt > 0 {
                // The wait was not silent for nothing: say what was waited for, and
                // what else the same message can mean.
                err.message += &format!(
                    " (retried for {:.0} s, as a new role takes seconds to propagate; check that the role exists and trusts lambda.amazonaws.com)",
                    elapsed.as_secs_f64()
                );
            }
            return Err(err);
        }
        tokio::time::sleep(backoff(policy, attempt)).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted_by_what_to_do() {
        assert_eq!(
            classify(Some("TooManyRequestsException"), "Rate exceeded", Some(429)),
            ErrorKind::Throttled
        );
        assert_eq!(classify(None, "", Some(429)), ErrorKind::Throttled);
        assert_eq!(
            classify(
                Some("ResourceConflictException"),
                "An update is in progress",
                Some(409)
            ),
            ErrorKind::Conflict
        );
        assert_eq!(
            classify(
                Some("InvalidParameterValueException"),
                "The role defined for the function cannot be assumed by Lambda.",
                Some(400)
            ),
            ErrorKind::RoleNotReady
        );
        assert_eq!(
            classify(
                Some("InvalidParameterValueException"),
                "bad memory",
                Some(400)
            ),
            ErrorKind::Other
        );
        assert_eq!(
            classify(Some("InvalidSignatureException"), "no", Some(403)),
            ErrorKind::Credentials
        );
        assert_eq!(classify(None, "", Some(503)), ErrorKind::Transient);
        assert_eq!(
            classify(
                Some("ResourceNotFoundException"),
                "Function not found",
                Some(404)
            ),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert!(backoff(&p, 0) <= Duration::from_millis(100));
        assert!(backoff(&p, 0) >= Duration::from_millis(75));
        assert!(backoff(&p, 3) >= Duration::from_millis(600));
        assert!(backoff(&p, 30) <= Duration::from_secs(5));
    }
}
