//! Invoke: `RequestResponse` runs the function and answers with its result (function
//! errors as 200 with `X-Amz-Function-Error`), `Event` stores the event durably, answers
//! 202 and runs it in the background, `DryRun` only checks the request (204).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde::de::IgnoredAny;

use super::HostState;
use super::error::ApiError;
use super::functions::resolve;
use super::names::function_arn;
use super::server::{ApiRequest, MAX_INVOKE_BYTES, empty_response};
use super::store::PendingEvent;
use super::workers::{Invocation, Outcome};

/// Asynchronous event size limit: 1 MB (Lambda raised it from 256 KB in October 2025).
const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// A failed event runs at most this many times in all, as in Lambda.
const EVENT_ATTEMPTS: u32 = 3;
/// `X-Amz-Client-Context` limit, base64 included.
const MAX_CLIENT_CONTEXT_BYTES: usize = 3583;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

fn invocation_type(request: &ApiRequest) -> Result<InvocationType, ApiError> {
    match request.header("x-amz-invocation-type") {
        None | Some("RequestResponse") => Ok(InvocationType::RequestResponse),
        Some("Event") => Ok(InvocationType::Event),
        Some("DryRun") => Ok(InvocationType::DryRun),
        Some(other) => Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        ))),
    }
}

fn wants_tail(request: &ApiRequest) -> Result<bool, ApiError> {
    match request.header("x-amz-log-type") {
        None | Some("None") => Ok(false),
        Some("Tail") => Ok(true),
        Some(other) => Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
        ))),
    }
}

/// The decoded client context: base64 of a JSON object, at most 3,583 bytes.
fn client_context(request: &ApiRequest) -> Result<Option<String>, ApiError> {
    let Some(encoded) = request.header("x-amz-client-context") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::invalid_parameter("Client context must be a valid Base64-encoded JSON object.")
    };
    if encoded.len() > MAX_CLIENT_CONTEXT_BYTES {
        return Err(ApiError::invalid_parameter(format!(
            "Client context must be smaller than {MAX_CLIENT_CONTEXT_BYTES} bytes."
        )));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid())?;
    match serde_json::from_slice::<serde_json::Value>(&decoded) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(Some(value.to_string())),
        _ => Err(invalid()),
    }
}

/// Deepest nesting of arrays and objects an event may have: deeper ones would only
/// exhaust the handler's parser (Python's stops near 1,000 levels).
const MAX_EVENT_DEPTH: usize = 512;

/// The event JSON to hand to the handler: the body, `{}` when empty.
fn event_payload(body: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(b"{}".to_vec());
    }
    let refuse = |why: String| {
        ApiError::invalid_content(format!("Could not parse request body into json: {why}"))
    };
    std::str::from_utf8(&body).map_err(|e| refuse(format!("invalid UTF-8: {e}")))?;
    if json_depth(&body) > MAX_EVENT_DEPTH {
        return Err(refuse(format!(
            "nested deeper than {MAX_EVENT_DEPTH} levels"
        )));
    }
    serde_json::from_slice::<IgnoredAny>(&body).map_err(|e| refuse(e.to_string()))?;
    Ok(body)
}

/// The deepest nesting of `[` and `{` in a JSON text (strings skipped).
fn json_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

pub async fn invoke(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let (reference, entry) = resolve(state, name, &request)?;
    let kind = invocation_type(&request)?;
    let tail = wants_tail(&request)? && kind == InvocationType::RequestResponse;
    let client_context = client_context(&request)?;
    let request_id = request.request_id.clone();
    let region = entry.record().region;
    let invoked_arn = match &reference.qualifier {
        Some(q) => format!(
            "{}:{q}",
            function_arn(&state.config.account_id, &region, &reference.name)
        ),
        None => function_arn(&state.config.account_id, &region, &reference.name),
    };
    if kind == InvocationType::Event && request.body.len() > MAX_EVENT_BYTES {
        return Err(ApiError::too_large(format!(
            "{} byte payload is too large for the Event invocation type (limit {MAX_EVENT_BYTES} bytes)",
            request.body.len()
        )));
    }
    let payload = event_payload(request.body)?;
    match kind {
        InvocationType::DryRun => {
            let mut response = empty_response(StatusCode::NO_CONTENT, &request_id);
            response.headers_mut().insert(
                "x-amz-executed-version",
                HeaderValue::from_static("$LATEST"),
            );
            Ok(response)
        }
        InvocationType::Event => {
            let event = PendingEvent {
                request_id: request_id.clone(),
                function: reference.name.clone(),
                payload: String::from_utf8_lossy(&payload).into_owned(),
                client_context,
            };
            let saver = state.clone();
            let tenant = entry.tenant.clone();
            let saved = event.clone();
            tokio::task::spawn_blocking(move || saver.store.save_event(&tenant, &saved))
                .await
                .map_err(|e| ApiError::service(e.to_string()))?
                .map_err(|e| ApiError::service(format!("could not queue the event: {e}")))?;
            run_event(state.clone(), entry.tenant.clone(), event);
            let mut response = empty_response(StatusCode::ACCEPTED, &request_id);
            response.headers_mut().insert(
                "x-amz-executed-version",
                HeaderValue::from_static("$LATEST"),
            );
            Ok(response)
        }
        InvocationType::RequestResponse => {
            let invocation = Invocation {
                request_id: request_id.clone(),
                payload,
                client_context,
                invoked_arn,
                want_log: tail,
                nested: request.caller.from_worker,
            };
            // A task of its own: a client that hangs up must not cancel the exchange with
            // the worker half-way.
            let pool = entry.pool();
            let outcome = tokio::spawn(pool.invoke(invocation, true))
                .await
                .map_err(|e| ApiError::service(format!("invocation failed: {e}")))??;
            Ok(invoke_response(outcome, &request_id))
        }
    }
}

fn invoke_response(outcome: Outcome, request_id: &str) -> Response {
    let (payload, function_error) = if outcome.payload.len() > MAX_INVOKE_BYTES {
        let message = format!(
            "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_INVOKE_BYTES} bytes).",
            outcome.payload.len()
        );
        let body = serde_json::json!({"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"});
        (body.to_string().into_bytes(), true)
    } else {
        (outcome.payload, outcome.function_error)
    };
    let mut response = Response::new(Body::from(payload));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    if function_error {
        headers.insert(
            "x-amz-function-error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if let Some(log) = outcome.log {
        let encoded = base64::engine::general_purpose::STANDARD.encode(log);
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            headers.insert("x-amz-log-result", value);
        }
    }
    response
}

/// Runs a stored event in the background; forgets it once it ran. A function error is
/// retried twice more, after `event_retry_delay` and twice that, as Lambda does (one and
/// two minutes by default), then the event is dropped. An event interrupted by shutdown
/// (running, or waiting for a retry) stays on disk and runs again after the next start.
pub fn run_event(state: Arc<HostState>, tenant: String, event: PendingEvent) {
    state.events_in_flight.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(async move {
        let finished = match state.registry.get(&tenant, &event.function) {
            None => true,
            Some(entry) => {
                let region = entry.record().region;
                let invocation = Invocation {
                    request_id: event.request_id.clone(),
                    payload: event.payload.clone().into_bytes(),
                    client_context: event.client_context.clone(),
                    invoked_arn: function_arn(&state.config.account_id, &region, &event.function),
                    want_log: false,
                    nested: false,
                };
                let mut attempt = 1;
                loop {
                    let outcome = entry.pool().invoke(invocation.clone(), false).await;
                    let failed = outcome.as_ref().is_ok_and(|o| o.function_error);
                    let interrupted = state.shutting_down.load(Ordering::SeqCst) && failed;
                    if state.config.verbose {
                        let status = match &outcome {
                            Ok(o) if o.function_error => "function error",
                            Ok(_) => "ok",
                            Err(_) => "not run",
                        };
                        eprintln!(
                            "event {} {} attempt {attempt} {status}",
                            event.function, event.request_id
                        );
                    }
                    if outcome.is_err() || interrupted {
                        break false;
                    }
                    if !failed || attempt == EVENT_ATTEMPTS {
                        break true;
                    }
                    if !wait_unless_stopping(&state, state.config.event_retry_delay * attempt).await
                    {
                        break false;
                    }
                    attempt += 1;
                }
            }
        };
        if finished {
            let remover = state.clone();
            let id = event.request_id.clone();
            let _ =
                tokio::task::spawn_blocking(move || remover.store.remove_event(&tenant, &id)).await;
        }
        if state.events_in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            state.events_done.notify_waiters();
        }
    });
}

/// Waits `delay`; false if the host started stopping meanwhile.
async fn wait_unless_stopping(state: &HostState, delay: std::time::Duration) -> bool {
    let deadline = tokio::time::Instant::now() + delay;
    while tokio::time::Instant::now() < deadline {
        if state.shutting_down.load(Ordering::SeqCst) {
            return false;
        }
        let step = deadline - tokio::time::Instant::now();
        tokio::time::sleep(step.min(std::time::Duration::from_millis(50))).await;
    }
    !state.shutting_down.load(Ordering::SeqCst)
}

/// Runs the events accepted before the last stop.
pub fn replay_pending_events(state: &Arc<HostState>) {
    for (tenant, event) in state.store.pending_events() {
        run_event(state.clone(), tenant, event);
    }
}
