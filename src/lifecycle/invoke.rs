//! `lambada invoke FUNCTION --data JSON`: one raw Lambda invocation, its payload as is.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine;
use serde::Serialize;

use super::{Connection, LifecycleError};

/// What the endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoked {
    pub function_name: String,
    pub status_code: i32,
    /// `Unhandled` when the function raised (or timed out, or crashed).
    pub function_error: Option<String>,
    pub executed_version: Option<String>,
    /// The response payload, as text.
    pub payload: String,
    /// The end of the invocation's log (`LogType: Tail`), when asked for.
    pub log: Option<String>,
}

pub async fn invoke(
    conn: &Connection,
    function: &str,
    payload: &[u8],
    tail: bool,
) -> Result<Invoked, LifecycleError> {
    let mut request = conn
        .lambda
        .invoke()
        .function_name(function)
        .payload(Blob::new(payload));
    if tail {
        request = request.log_type(LogType::Tail);
    }
    let output = request
        .send()
        .await
        .map_err(|e| conn.api_error("Invoke", function, e))?;
    let log = output.log_result().and_then(|encoded| {
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    });
    Ok(Invoked {
        function_name: function.to_owned(),
        status_code: output.status_code(),
        function_error: output.function_error().map(str::to_owned),
        executed_version: output.executed_version().map(str::to_owned),
        payload: output
            .payload()
            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
            .unwrap_or_default(),
        log,
    })
}
