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
use super::functions::{FunctionEntry, Target, qualified_arn, resolve_target};
use super::invocation_log::{InvocationRow, error_type, time_text};
use super::names::{LATEST, version_number};
use super::server::{ApiRequest, MAX_INVOKE_BYTES, empty_response};
use super::store::PendingEvent;
use super::versions::{route_alias, take_slot};
use super::workers::{Invocation, Outcome, Pool};

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
    let (reference, entry, target) = resolve_target(state, name, &request)?;
    let kind = invocation_type(&request)?;
    let tail = wants_tail(&request)? && kind == InvocationType::RequestResponse;
    let client_context = client_context(&request)?;
    let request_id = request.request_id.clone();
    let qualifier = target.qualifier();
    let invoked_arn = target.arn(state, &reference, &entry);
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
            executed_version(&mut response, &target.version());
            Ok(response)
        }
        InvocationType::Event => {
            let event = PendingEvent {
                request_id: request_id.clone(),
                function: reference.name.clone(),
                payload: String::from_utf8_lossy(&payload).into_owned(),
                client_context,
                qualifier,
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
            executed_version(&mut response, &target.version());
            Ok(response)
        }
        InvocationType::RequestResponse => {
            let invocation = Invocation {
                request_id: request_id.clone(),
                payload,
                client_context,
                invoked_arn,
                nested: request.caller.from_worker,
            };
            let (version, pool) = target_pool(state, &entry, &target)?;
            let slot = take_slot(state, &entry)?;
            // A task of its own: a client that hangs up must not cancel the exchange with
            // the worker half-way (nor the record of it).
            let recorder = state.clone();
            let ran = Ran {
                tenant: entry.tenant.clone(),
                function: reference.name.clone(),
                version: version.clone(),
                request_id: request_id.clone(),
            };
            let outcome = tokio::spawn(async move {
                let outcome = pool.invoke(invocation, true).await;
                drop(slot);
                if let Ok(outcome) = &outcome {
                    ran.record(&recorder, outcome);
                }
                outcome
            })
            .await
            .map_err(|e| ApiError::service(format!("invocation failed: {e}")))??;
            let mut response = invoke_response(outcome, &request_id, tail);
            executed_version(&mut response, &version);
            Ok(response)
        }
    }
}

/// InvokeAsync (`POST /2014-11-13/functions/{name}/invoke-async/`), the deprecated form of
/// an `Event` invocation that tools still send: 202 `{"Status": 202}`.
pub async fn invoke_async(
    state: &Arc<HostState>,
    name: &str,
    mut request: ApiRequest,
) -> Result<Response, ApiError> {
    request
        .headers
        .insert("x-amz-invocation-type", HeaderValue::from_static("Event"));
    let accepted = invoke(state, name, request).await?;
    let request_id = accepted
        .headers()
        .get("x-amzn-RequestId")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok(super::server::json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "Status": 202 }),
        &request_id,
    ))
}

/// An invocation that ran, for its records: the CloudWatch log and the invocation log.
struct Ran {
    tenant: String,
    function: String,
    version: String,
    request_id: String,
}

impl Ran {
    fn record(&self, state: &HostState, outcome: &Outcome) {
        state
            .logs
            .append(&self.tenant, &self.function, &self.version, &outcome.log);
        let Some(log) = &state.invocation_log else {
            return;
        };
        let report = &outcome.report;
        let started = std::time::SystemTime::now()
            .checked_sub(report.duration)
            .unwrap_or(std::time::UNIX_EPOCH);
        log.record(InvocationRow {
            time: time_text(started),
            tenant: self.tenant.clone(),
            function: self.function.clone(),
            request_id: self.request_id.clone(),
            duration_ms: report.duration.as_secs_f64() * 1000.0,
            billed_ms: report.billed_ms,
            memory_mb: report.memory_mb,
            status: if outcome.function_error {
                "error"
            } else {
                "ok"
            }
            .to_owned(),
            error_type: outcome
                .function_error
                .then(|| error_type(&outcome.payload))
                .flatten(),
        });
    }
}

fn invoke_response(outcome: Outcome, request_id: &str, tail: bool) -> Response {
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
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    if function_error {
        headers.insert(
            "x-amz-function-error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if tail {
        let log = outcome.log;
        let encoded = base64::engine::general_purpose::STANDARD.encode(log);
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            headers.insert("x-amz-log-result", value);
        }
    }
    response
}

fn executed_version(response: &mut Response, version: &str) {
    if let Ok(value) = HeaderValue::from_str(version) {
        response
            .headers_mut()
            .insert("x-amz-executed-version", value);
    }
}

/// The version an invocation of `target` runs and the pool that runs it; an alias with
/// a routing configuration picks one of its versions by weight.
fn target_pool(
    state: &HostState,
    entry: &FunctionEntry,
    target: &Target,
) -> Result<(String, Arc<Pool>), ApiError> {
    let version = match target {
        Target::Latest => LATEST.to_string(),
        Target::Version(n) => n.to_string(),
        Target::Alias(alias, main) => entry
            .with_record(|r| r.aliases.get(alias).map(route_alias))
            .unwrap_or_else(|| main.clone()),
    };
    let pool = match version_number(&version) {
        None => Some(entry.pool()),
        Some(n) => entry.version_pool(state, n),
    };
    let pool = pool.ok_or_else(|| {
        ApiError::not_found(format!(
            "Function not found: version {version}, which the alias names, no longer exists"
        ))
    })?;
    Ok((version, pool))
}

/// Where an event's target stands now: the function may have lost the version or alias
/// since the event was accepted.
fn event_target(entry: &FunctionEntry, qualifier: Option<&str>) -> Option<Target> {
    let Some(q) = qualifier else {
        return Some(Target::Latest);
    };
    entry.with_record(|record| match version_number(q) {
        Some(n) => record
            .versions
            .contains_key(&n)
            .then_some(Target::Version(n)),
        None => record
            .aliases
            .get(q)
            .map(|a| Target::Alias(q.to_string(), a.function_version.clone())),
    })
}

/// Runs a stored event in the background; forgets it once it ran. A function error is
/// retried twice more, after `event_retry_delay` and twice that, as Lambda does (one and
/// two minutes by default), then the event is dropped. An event interrupted by shutdown
/// (running, or waiting for a retry) stays on disk and runs again after the next start.
pub fn run_event(state: Arc<HostState>, tenant: String, event: PendingEvent) {
    state.events_in_flight.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(async move {
        let entry = state.registry.get(&tenant, &event.function);
        let target = entry
            .as_ref()
            .and_then(|e| event_target(e, event.qualifier.as_deref()));
        let finished = match (entry, target) {
            (None, _) | (_, None) => true,
            (Some(entry), Some(target)) => {
                let region = entry.with_record(|r| r.region.clone());
                let invocation = Invocation {
                    request_id: event.request_id.clone(),
                    payload: event.payload.clone().into_bytes(),
                    client_context: event.client_context.clone(),
                    invoked_arn: qualified_arn(
                        &state.config.account_id,
                        &region,
                        &event.function,
                        event.qualifier.as_deref(),
                    ),
                    nested: false,
                };
                let mut attempt = 1;
                loop {
                    // A throttled event waits in its queue (on disk) until the function
                    // has room, as Lambda keeps retrying throttled events.
                    let slot = loop {
                        match take_slot(&state, &entry) {
                            Ok(slot) => break Some(slot),
                            Err(_) => {
                                let pause = std::time::Duration::from_secs(1);
                                if !wait_unless_stopping(&state, pause).await {
                                    break None;
                                }
                            }
                        }
                    };
                    let Some(slot) = slot else {
                        break false;
                    };
                    // The version or alias was deleted meanwhile: nothing left to run.
                    let Ok((version, pool)) = target_pool(&state, &entry, &target) else {
                        break true;
                    };
                    let outcome = pool.invoke(invocation.clone(), false).await;
                    drop(slot);
                    if let Ok(outcome) = &outcome {
                        let ran = Ran {
                            tenant: tenant.clone(),
                            function: event.function.clone(),
                            version,
                            request_id: event.request_id.clone(),
                        };
                        ran.record(&state, outcome);
                    }
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
