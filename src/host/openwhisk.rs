//! The OpenWhisk REST API (`/api/v1`): actions (PUT, GET, DELETE, list, POST to
//! invoke) and activations (list, get, logs, result), authenticated with basic auth.
//!
//! An action is a function of the host, stored and run like any other (the same store,
//! worker pools, sandbox and zygotes), in a tenant of its own beside the Lambda tenant
//! of the same key (`<tenant>.ow`), so that Lambda's API never lists actions and names
//! never collide. Its record's handler is `openwhisk:<main>`: the worker bootstrap then
//! imports `__main__.py` and calls `main(args)` (see `templates/worker_bootstrap.py`).
//!
//! Keys: the API key `uuid:key` is an access key and its secret key (`--access-key`,
//! `--secret-key`, `--accounts`), so `wsk property set --apihost 127.0.0.1:10000 --auth
//! AK:SK` reaches the same tenant as the Lambda API signed with that key. A tenant has
//! one namespace, named by its access key (`guest` without keys); `_` names it too.
//! With no keys configured any key is accepted, as the Lambda API accepts any request.
//!
//! Activations are kept in memory (the newest `MAX_ACTIVATIONS`), with at most the last
//! 4 KB of an activation's output as its logs. Packages, sequences, triggers, rules and
//! web actions are not served.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::functions::{FunctionEntry, blocking, functions_of, put_function, stage_zip};
use super::server::MAX_INVOKE_BYTES;
use super::store::{ActionMeta, FunctionRecord};
use super::util::{hex_token, percent_decode, utc_parts};
use super::versions::take_slot;
use super::workers::{Invocation, Outcome};
use super::{ANONYMOUS_TENANT, HostState};

/// Where the API is served.
pub const PREFIX: &str = "/api/v1";
/// Activations kept, all tenants together; the oldest go first.
const MAX_ACTIVATIONS: usize = 10_000;
/// OpenWhisk's limit on an action's code (48 MB), base64 included.
const MAX_ACTION_REQUEST_BYTES: usize = 64 * 1024 * 1024;
const MAX_CODE_BYTES: usize = 48 * 1024 * 1024;
/// How long a blocking invocation waits before answering 202 with the activation id.
const MAX_BLOCKING_WAIT: Duration = Duration::from_secs(60);
/// OpenWhisk's default and allowed limits.
const DEFAULT_TIMEOUT_MS: u64 = 60_000;
const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=300_000;
const DEFAULT_MEMORY_MB: u32 = 256;
const MEMORY_MB: std::ops::RangeInclusive<u32> = 128..=512;
const DEFAULT_LOGS_MB: u32 = 10;
const LOGS_MB: std::ops::RangeInclusive<u32> = 0..=10;
const DEFAULT_LIST_LIMIT: usize = 30;
const MAX_LIST_LIMIT: usize = 200;

const SUCCESS: u8 = 0;
const APPLICATION_ERROR: u8 = 1;
const DEVELOPER_ERROR: u8 = 2;
const WHISK_ERROR: u8 = 3;

/// An error answer: `{"error": message, "code": transaction id}`.
#[derive(Debug)]
struct OwError {
    status: StatusCode,
    message: String,
}

impl OwError {
    fn new(status: StatusCode, message: impl Into<String>) -> OwError {
        OwError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> OwError {
        OwError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found() -> OwError {
        OwError::new(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist.",
        )
    }

    fn response(self, code: &str) -> Response {
        let mut response = json_response(
            self.status,
            &json!({ "error": self.message, "code": code }),
            None,
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Basic realm=\"whisk rest service\""),
            );
        }
        response
    }
}

impl From<super::error::ApiError> for OwError {
    fn from(e: super::error::ApiError) -> OwError {
        let status = match e.status {
            StatusCode::CONFLICT => StatusCode::CONFLICT,
            StatusCode::TOO_MANY_REQUESTS => StatusCode::TOO_MANY_REQUESTS,
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            s if s.is_client_error() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        OwError::new(status, e.message)
    }
}

fn json_response(status: StatusCode, value: &Value, activation: Option<&str>) -> Response {
    let mut response = (status, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(id) = activation.and_then(|id| HeaderValue::from_str(id).ok()) {
        headers.insert("x-openwhisk-activation-id", id);
    }
    response
}

/// One finished activation.
#[derive(Debug, Clone)]
struct Activation {
    tenant: String,
    namespace: String,
    name: String,
    version: String,
    id: String,
    start: u64,
    end: u64,
    status: u8,
    result: Value,
    logs: Vec<String>,
    annotations: Vec<Value>,
}

impl Activation {
    fn response(&self) -> Value {
        let status = match self.status {
            SUCCESS => "success",
            APPLICATION_ERROR => "application error",
            DEVELOPER_ERROR => "action developer error",
            _ => "whisk internal error",
        };
        json!({
            "result": self.result,
            "size": self.result.to_string().len(),
            "status": status,
            "success": self.status == SUCCESS,
        })
    }

    fn brief(&self) -> Value {
        json!({
            "namespace": self.namespace,
            "name": self.name,
            "version": self.version,
            "publish": false,
            "annotations": self.annotations,
            "activationId": self.id,
            "start": self.start,
            "end": self.end,
            "duration": self.end.saturating_sub(self.start),
            "statusCode": self.status,
        })
    }

    fn full(&self) -> Value {
        let mut value = self.brief();
        value["subject"] = Value::String(self.namespace.clone());
        value["response"] = self.response();
        value["logs"] = json!(self.logs);
        value
    }
}

/// The activations of every tenant, newest last.
#[derive(Debug, Default)]
pub struct Activations {
    list: Mutex<VecDeque<Activation>>,
}

impl Activations {
    fn push(&self, activation: Activation) {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        if list.len() == MAX_ACTIVATIONS {
            list.pop_front();
        }
        list.push_back(activation);
    }

    fn get(&self, tenant: &str, id: &str) -> Option<Activation> {
        let list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .rev()
            .find(|a| a.tenant == tenant && a.id == id)
            .cloned()
    }

    fn newest_first(&self, tenant: &str, name: Option<&str>) -> Vec<Activation> {
        let list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .rev()
            .filter(|a| a.tenant == tenant && name.is_none_or(|n| a.name == n))
            .cloned()
            .collect()
    }
}

/// The tenant that holds a caller's actions.
fn action_tenant(tenant: &str) -> String {
    if tenant.ends_with(".ow") {
        tenant.to_string()
    } else {
        format!("{tenant}.ow")
    }
}

/// The one namespace of a tenant: its access key, `guest` without keys.
fn namespace_of(tenant: &str) -> String {
    let base = tenant.strip_suffix(".ow").unwrap_or(tenant);
    if base == ANONYMOUS_TENANT {
        "guest".to_string()
    } else {
        base.strip_prefix("key-").unwrap_or(base).to_string()
    }
}

/// OpenWhisk's entity names: `[\w]([\w@ .-]*[\w@.-])?`, at most 256 characters.
fn valid_entity_name(name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let inner = |c: char| word(c) || matches!(c, '@' | ' ' | '.' | '-');
    let last_ok = |c: char| word(c) || matches!(c, '@' | '.' | '-');
    !name.is_empty()
        && name.len() <= 256
        && name.starts_with(word)
        && name.chars().all(inner)
        && (name.len() == 1 || name.ends_with(last_ok))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A log line's timestamp, `2024-05-01T12:00:00.123000Z` as OpenWhisk writes them.
fn log_timestamp(ms: u64) -> String {
    let (y, mo, d, h, mi, s, milli) = utc_parts(UNIX_EPOCH + Duration::from_millis(ms));
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}000Z")
}

/// What a request names below `/api/v1`.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Namespaces,
    Actions(String),
    Action(String, String),
    Activations(String),
    Activation(String, String),
    ActivationLogs(String, String),
    ActivationResult(String, String),
}

fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix(PREFIX)?;
    let segments: Vec<String> = rest
        .trim_matches('/')
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    Some(match s.as_slice() {
        ["namespaces"] => Route::Namespaces,
        ["namespaces", ns, "actions"] => Route::Actions(ns.to_string()),
        ["namespaces", ns, "actions", name] => Route::Action(ns.to_string(), name.to_string()),
        ["namespaces", ns, "activations"] => Route::Activations(ns.to_string()),
        ["namespaces", ns, "activations", id] => Route::Activation(ns.to_string(), id.to_string()),
        ["namespaces", ns, "activations", id, "logs"] => {
            Route::ActivationLogs(ns.to_string(), id.to_string())
        }
        ["namespaces", ns, "activations", id, "result"] => {
            Route::ActivationResult(ns.to_string(), id.to_string())
        }
        _ => return None,
    })
}

/// Who called: the tenant of the actions and its namespace.
struct Caller {
    tenant: String,
    namespace: String,
    from_worker: bool,
}

fn authenticate(state: &HostState, request: &Request) -> Result<Caller, OwError> {
    let invalid = || {
        OwError::new(
            StatusCode::UNAUTHORIZED,
            "The supplied authentication is invalid",
        )
    };
    let header = match request.headers().get("authorization") {
        None if state.verifier.is_open() => {
            return Ok(Caller {
                tenant: action_tenant(ANONYMOUS_TENANT),
                namespace: namespace_of(ANONYMOUS_TENANT),
                from_worker: false,
            });
        }
        None => {
            return Err(OwError::new(
                StatusCode::UNAUTHORIZED,
                "The resource requires authentication, which was not supplied with the request",
            ));
        }
        Some(value) => value.to_str().map_err(|_| invalid())?,
    };
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
        .ok_or_else(invalid)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (user, password) = text.split_once(':').ok_or_else(invalid)?;
    let tenant = state
        .verifier
        .basic_tenant(user, password, SystemTime::now(), ANONYMOUS_TENANT)
        .ok_or_else(invalid)?;
    let from_worker = state.verifier.sessions().get(user).is_some();
    Ok(Caller {
        namespace: namespace_of(&tenant),
        tenant: action_tenant(&tenant),
        from_worker,
    })
}

/// `_` or the caller's own namespace; any other is forbidden.
fn check_namespace(caller: &Caller, ns: &str) -> Result<(), OwError> {
    if ns == "_" || ns == caller.namespace {
        return Ok(());
    }
    Err(OwError::new(
        StatusCode::FORBIDDEN,
        format!("The supplied authentication is not authorized to access '{ns}'."),
    ))
}

fn query_map(request: &Request) -> Vec<(String, String)> {
    request
        .uri()
        .query()
        .map(super::util::parse_query)
        .unwrap_or_default()
}

fn query<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn flag(pairs: &[(String, String)], key: &str) -> bool {
    query(pairs, key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// `skip` and `limit` of a list, checked as OpenWhisk checks them.
fn paging(query_pairs: &[(String, String)], collection: &str) -> Result<(usize, usize), OwError> {
    let number = |key: &str, default: usize| -> Result<usize, OwError> {
        match query(query_pairs, key) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| {
                    OwError::bad_request(format!(
                        "The value '{v}' is not an integer for {collection}."
                    ))
                })
                .and_then(|n| {
                    usize::try_from(n).map_err(|_| {
                        OwError::bad_request(format!(
                            "The value '{n}' is not greater than or equal to 0 for {collection}."
                        ))
                    })
                }),
        }
    };
    let skip = number("skip", 0)?;
    let limit = number("limit", DEFAULT_LIST_LIMIT)?;
    if limit > MAX_LIST_LIMIT {
        return Err(OwError::bad_request(format!(
            "The value '{limit}' is not in the range of 0 to {MAX_LIST_LIMIT} for {collection}."
        )));
    }
    // OpenWhisk reads limit 0 as "the most it allows".
    Ok((skip, if limit == 0 { MAX_LIST_LIMIT } else { limit }))
}

/// Serves one request below `/api/v1`.
pub async fn handle(state: &Arc<HostState>, request: Request, request_id: &str) -> Response {
    let code = request_id.replace('-', "");
    match serve(state, request).await {
        Ok(response) => response,
        Err(error) => error.response(&code),
    }
}

async fn serve(state: &Arc<HostState>, request: Request) -> Result<Response, OwError> {
    let caller = authenticate(state, &request)?;
    let route = route(request.uri().path()).ok_or_else(OwError::not_found)?;
    let method = request.method().clone();
    let pairs = query_map(&request);
    match (method, route) {
        (Method::GET, Route::Namespaces) => Ok(json_response(
            StatusCode::OK,
            &json!([caller.namespace]),
            None,
        )),
        (Method::GET, Route::Actions(ns)) => {
            check_namespace(&caller, &ns)?;
            list_actions(state, &caller, &pairs)
        }
        (method, Route::Action(ns, name)) => {
            check_namespace(&caller, &ns)?;
            if !valid_entity_name(&name) {
                return Err(OwError::bad_request(
                    "The name of the entity contains illegal characters.",
                ));
            }
            match method {
                Method::GET => {
                    get_action(state, &caller, &name, !query_is_false(&pairs, "code")).await
                }
                Method::PUT => put_action(state, &caller, &name, &pairs, request).await,
                Method::DELETE => delete_action(state, &caller, &name).await,
                Method::POST => invoke_action(state, &caller, &name, &pairs, request).await,
                _ => Err(method_not_allowed()),
            }
        }
        (Method::GET, Route::Activations(ns)) => {
            check_namespace(&caller, &ns)?;
            list_activations(state, &caller, &pairs)
        }
        (Method::GET, Route::Activation(ns, id)) => {
            let activation = find_activation(state, &caller, &ns, &id)?;
            Ok(json_response(StatusCode::OK, &activation.full(), None))
        }
        (Method::GET, Route::ActivationLogs(ns, id)) => {
            let activation = find_activation(state, &caller, &ns, &id)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "logs": activation.logs }),
                None,
            ))
        }
        (Method::GET, Route::ActivationResult(ns, id)) => {
            let activation = find_activation(state, &caller, &ns, &id)?;
            Ok(json_response(StatusCode::OK, &activation.response(), None))
        }
        _ => Err(method_not_allowed()),
    }
}

fn method_not_allowed() -> OwError {
    OwError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP method not allowed, supported methods: GET, PUT, POST, DELETE",
    )
}

fn query_is_false(query_pairs: &[(String, String)], key: &str) -> bool {
    query(query_pairs, key).is_some_and(|v| v.eq_ignore_ascii_case("false"))
}

fn action_entry(
    state: &HostState,
    caller: &Caller,
    name: &str,
) -> Result<Arc<FunctionEntry>, OwError> {
    state
        .registry
        .get(&caller.tenant, name)
        .filter(|e| e.with_record(|r| r.openwhisk.is_some()))
        .ok_or_else(OwError::not_found)
}

fn limits(record: &FunctionRecord, action: &ActionMeta) -> Value {
    json!({
        "timeout": action.timeout_ms,
        "memory": record.memory_size,
        "logs": action.logs_mb,
        "concurrency": 1,
    })
}

/// An action as the API shows it; `code`: with `exec.code`.
fn action_json(record: &FunctionRecord, action: &ActionMeta, code: Option<String>) -> Value {
    let mut exec = json!({ "kind": action.kind, "binary": action.binary });
    if action.main != "main" {
        exec["main"] = Value::String(action.main.clone());
    }
    if let Some(code) = code {
        exec["code"] = Value::String(code);
    }
    json!({
        "namespace": action.namespace,
        "name": record.name,
        "version": action.version,
        "publish": action.publish,
        "exec": exec,
        "annotations": action.annotations,
        "parameters": action.parameters,
        "limits": limits(record, action),
        "updated": action.updated,
    })
}

/// `exec.code` of a stored action: the zip in base64, or the text of `__main__.py`.
async fn stored_code(state: &Arc<HostState>, entry: &FunctionEntry) -> Result<String, OwError> {
    let record = entry.record();
    let binary = record.openwhisk.as_ref().is_some_and(|a| a.binary);
    let code = state.store.code_dir(&entry.tenant, &record);
    let (zip, main) = (code.zip.clone(), code.path.join("__main__.py"));
    let bytes = blocking(move || std::fs::read(if binary { &zip } else { &main })).await?;
    Ok(if binary {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

async fn get_action(
    state: &Arc<HostState>,
    caller: &Caller,
    name: &str,
    with_code: bool,
) -> Result<Response, OwError> {
    let entry = action_entry(state, caller, name)?;
    let code = match with_code {
        true => Some(stored_code(state, &entry).await?),
        false => None,
    };
    let record = entry.record();
    let action = record.openwhisk.clone().ok_or_else(OwError::not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &action_json(&record, &action, code),
        None,
    ))
}

fn list_actions(
    state: &HostState,
    caller: &Caller,
    pairs: &[(String, String)],
) -> Result<Response, OwError> {
    let (skip, limit) = paging(pairs, "actions")?;
    let mut actions: Vec<(FunctionRecord, ActionMeta)> = functions_of(state, &caller.tenant)
        .iter()
        .filter_map(|e| {
            let record = e.record();
            let action = record.openwhisk.clone()?;
            Some((record, action))
        })
        .collect();
    // Most recently updated first, as OpenWhisk lists them.
    actions.sort_by(|a, b| b.1.updated.cmp(&a.1.updated).then(a.0.name.cmp(&b.0.name)));
    let page: Vec<Value> = actions
        .iter()
        .skip(skip)
        .take(limit)
        .map(|(record, action)| {
            let mut brief = action_json(record, action, None);
            if let Value::Object(map) = &mut brief {
                map.remove("parameters");
            }
            brief
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(page), None))
}

async fn delete_action(
    state: &Arc<HostState>,
    caller: &Caller,
    name: &str,
) -> Result<Response, OwError> {
    let entry = action_entry(state, caller, name)?;
    let record = entry.record();
    let action = record.openwhisk.clone().ok_or_else(OwError::not_found)?;
    if !super::functions::remove_function(state, &entry).await? {
        return Err(OwError::not_found());
    }
    Ok(json_response(
        StatusCode::OK,
        &action_json(&record, &action, None),
        None,
    ))
}

/// The interpreter runtime of a Python kind, or the error OpenWhisk gives for a kind it
/// does not run.
fn runtime_of(state: &HostState, kind: &str) -> Result<String, OwError> {
    let runtime = match kind {
        "python:3" | "python:default" => Some("python3".to_string()),
        other => other
            .strip_prefix("python:3.")
            .filter(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
            .map(|minor| format!("python3.{minor}"))
            .filter(|runtime| state.runtimes.get(runtime).is_some()),
    };
    runtime.ok_or_else(|| {
        let mut valid = vec!["'python:3'".to_string(), "'python:default'".to_string()];
        valid.extend(
            state
                .runtimes
                .names()
                .iter()
                .map(|r| format!("'python:{}'", r.trim_start_matches("python"))),
        );
        OwError::bad_request(format!(
            "The specified runtime '{kind}' is not supported by this platform. Valid values are: {}.",
            valid.join(", ")
        ))
    })
}

/// `exec.code` as a zip: a base64 zip as it is, Python source as `__main__.py`.
fn code_zip(code: &str) -> Result<(Vec<u8>, bool), OwError> {
    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(code.trim().as_bytes())
        && bytes.starts_with(b"PK\x03\x04")
    {
        return Ok((bytes, true));
    }
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
    let zipped = writer
        .start_file("__main__.py", options)
        .map_err(|e| e.to_string())
        .and_then(|()| writer.write_all(code.as_bytes()).map_err(|e| e.to_string()))
        .and_then(|()| writer.finish().map_err(|e| e.to_string()));
    match zipped {
        Ok(cursor) => Ok((cursor.into_inner(), false)),
        Err(e) => Err(OwError::new(StatusCode::INTERNAL_SERVER_ERROR, e)),
    }
}

fn key_values(body: &Map<String, Value>, field: &str) -> Result<Option<Vec<Value>>, OwError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items))
            if items
                .iter()
                .all(|i| i.get("key").is_some_and(Value::is_string)) =>
        {
            Ok(Some(items.clone()))
        }
        Some(_) => Err(OwError::bad_request(format!(
            "The request content was malformed:\n'{field}' must be an array of {{\"key\", \"value\"}} objects"
        ))),
    }
}

fn limit_u64(
    limits: Option<&Map<String, Value>>,
    field: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, OwError> {
    let Some(value) = limits.and_then(|l| l.get(field)).filter(|v| !v.is_null()) else {
        return Ok(default);
    };
    let n = value.as_u64().ok_or_else(|| {
        OwError::bad_request(format!(
            "The request content was malformed:\nlimits.{field} must be an integer"
        ))
    })?;
    if n < *range.start() {
        return Err(OwError::bad_request(format!(
            "{field} {n} {unit} below allowed threshold of {} {unit}",
            range.start()
        )));
    }
    if n > *range.end() {
        return Err(OwError::bad_request(format!(
            "{field} {n} {unit} exceeds allowed threshold of {} {unit}",
            range.end()
        )));
    }
    Ok(n)
}

fn next_version(version: &str) -> String {
    let mut parts: Vec<u64> = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    parts.resize(3, 0);
    parts[2] += 1;
    format!("{}.{}.{}", parts[0], parts[1], parts[2])
}

async fn put_action(
    state: &Arc<HostState>,
    caller: &Caller,
    name: &str,
    pairs: &[(String, String)],
    request: Request,
) -> Result<Response, OwError> {
    let overwrite = flag(pairs, "overwrite");
    let body = axum::body::to_bytes(request.into_body(), MAX_ACTION_REQUEST_BYTES)
        .await
        .map_err(|_| {
            OwError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request content was larger than {MAX_ACTION_REQUEST_BYTES} bytes."),
            )
        })?;
    let body: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(OwError::bad_request(
                "The request content was malformed:\nexpected a JSON object",
            ));
        }
        Err(e) => {
            return Err(OwError::bad_request(format!(
                "The request content was malformed:\n{e}"
            )));
        }
    };
    let existing = state.registry.get(&caller.tenant, name);
    let previous = existing.as_ref().and_then(|e| {
        let record = e.record();
        record.openwhisk.clone().map(|a| (record, a))
    });
    if existing.is_some() && (previous.is_none() || !overwrite) {
        return Err(OwError::new(
            StatusCode::CONFLICT,
            "resource already exists",
        ));
    }
    let exec = match body.get("exec") {
        None | Some(Value::Null) => None,
        Some(Value::Object(exec)) => Some(exec),
        Some(_) => {
            return Err(OwError::bad_request(
                "The request content was malformed:\n'exec' must be an object",
            ));
        }
    };
    let limits = match body.get("limits") {
        Some(Value::Object(limits)) => Some(limits),
        _ => None,
    };
    let old_limits = previous.as_ref().map(|(r, a)| limits_of(r, a));
    let limits = limits.or(old_limits.as_ref());
    let timeout_ms = limit_u64(
        limits,
        "timeout",
        DEFAULT_TIMEOUT_MS,
        TIMEOUT_MS,
        "milliseconds",
    )?;
    let memory = limit_u64(
        limits,
        "memory",
        u64::from(DEFAULT_MEMORY_MB),
        u64::from(*MEMORY_MB.start())..=u64::from(*MEMORY_MB.end()),
        "MB",
    )? as u32;
    let logs_mb = limit_u64(
        limits,
        "logs",
        u64::from(DEFAULT_LOGS_MB),
        u64::from(*LOGS_MB.start())..=u64::from(*LOGS_MB.end()),
        "MB",
    )? as u32;
    let parameters = key_values(&body, "parameters")?;
    let annotations = key_values(&body, "annotations")?;
    let publish = body.get("publish").and_then(Value::as_bool);

    // The code: new with `exec`, else the action's current code (an update of its
    // parameters or limits only).
    let (kind, main, zip, binary) = match (exec, &previous) {
        (Some(exec), _) => {
            let kind = exec.get("kind").and_then(Value::as_str).unwrap_or("");
            let code = exec.get("code").and_then(Value::as_str).ok_or_else(|| {
                OwError::bad_request("The request content was malformed:\n'code' must be a string defined in 'exec' for '" .to_string() + kind + "' actions")
            })?;
            let main = exec
                .get("main")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .unwrap_or("main")
                .to_string();
            if code.len() > MAX_CODE_BYTES {
                return Err(OwError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "exec larger than allowed: {} > {MAX_CODE_BYTES} bytes.",
                        code.len()
                    ),
                ));
            }
            let (zip, binary) = code_zip(code)?;
            (kind.to_string(), main, zip, binary)
        }
        (None, Some((record, action))) => {
            let code = state.store.code_dir(&caller.tenant, record);
            let zip = blocking(move || std::fs::read(&code.zip)).await?;
            (action.kind.clone(), action.main.clone(), zip, action.binary)
        }
        (None, None) => {
            return Err(OwError::bad_request(
                "The request content was malformed:\nexec undefined",
            ));
        }
    };
    let runtime = runtime_of(state, &kind)?;
    let mut annotations = annotations
        .or_else(|| previous.as_ref().map(|(_, a)| a.annotations.clone()))
        .unwrap_or_default();
    annotations.retain(|a| a.get("key").and_then(Value::as_str) != Some("exec"));
    annotations.push(json!({ "key": "exec", "value": kind.split(':').next().unwrap_or("python") }));
    let action = ActionMeta {
        namespace: caller.namespace.clone(),
        kind,
        main: main.clone(),
        binary,
        parameters: parameters
            .or_else(|| previous.as_ref().map(|(_, a)| a.parameters.clone()))
            .unwrap_or_default(),
        annotations,
        version: previous
            .as_ref()
            .map_or_else(|| "0.0.1".to_string(), |(_, a)| next_version(&a.version)),
        publish: publish
            .or_else(|| previous.as_ref().map(|(_, a)| a.publish))
            .unwrap_or(false),
        updated: now_ms(),
        timeout_ms,
        logs_mb,
    };
    let staged = stage_zip(state, zip).await?;
    let record = FunctionRecord {
        name: name.to_string(),
        region: "us-east-1".to_string(),
        runtime,
        role: String::new(),
        handler: format!("openwhisk:{main}"),
        description: String::new(),
        timeout: timeout_ms.div_ceil(1000) as u32,
        memory_size: memory,
        environment: None,
        code_sha256: String::new(),
        code_size: 0,
        code_rev: String::new(),
        last_modified: String::new(),
        revision_id: String::new(),
        policy: Vec::new(),
        layers: Vec::new(),
        opt_dir: None,
        versions: Default::default(),
        last_version: 0,
        aliases: Default::default(),
        reserved_concurrency: None,
        openwhisk: Some(action.clone()),
    };
    let record = put_function(state, &caller.tenant, record, staged, existing.as_ref()).await?;
    Ok(json_response(
        StatusCode::OK,
        &action_json(&record, &action, None),
        None,
    ))
}

fn limits_of(record: &FunctionRecord, action: &ActionMeta) -> Map<String, Value> {
    match limits(record, action) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The arguments of an activation: the action's parameters, then the request's.
fn arguments(action: &ActionMeta, payload: Map<String, Value>) -> Map<String, Value> {
    let mut args = Map::new();
    for parameter in &action.parameters {
        if let (Some(key), Some(value)) = (
            parameter.get("key").and_then(Value::as_str),
            parameter.get("value"),
        ) {
            args.insert(key.to_string(), value.clone());
        }
    }
    args.extend(payload);
    args
}

async fn invoke_action(
    state: &Arc<HostState>,
    caller: &Caller,
    name: &str,
    pairs: &[(String, String)],
    request: Request,
) -> Result<Response, OwError> {
    let blocking_call = flag(pairs, "blocking");
    let result_only = flag(pairs, "result");
    let entry = action_entry(state, caller, name)?;
    let body = axum::body::to_bytes(request.into_body(), MAX_INVOKE_BYTES)
        .await
        .map_err(|_| {
            OwError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request content was larger than {MAX_INVOKE_BYTES} bytes."),
            )
        })?;
    let payload = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice(&body) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(OwError::bad_request(
                    "The request content was malformed:\nExpected JSON object",
                ));
            }
        }
    };
    let record = entry.record();
    let action = record.openwhisk.clone().ok_or_else(OwError::not_found)?;
    // The body as it came when there are no parameters to merge: serde_json does not
    // give back every float it parsed to the last digit.
    let args = if action.parameters.is_empty() && !body.iter().all(u8::is_ascii_whitespace) {
        body.to_vec()
    } else {
        Value::Object(arguments(&action, payload))
            .to_string()
            .into_bytes()
    };
    let slot = take_slot(state, &entry).map_err(|_| {
        OwError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many concurrent requests in flight.",
        )
    })?;
    let id = hex_token(16);
    let activation_id = id.clone();
    let invocation = Invocation {
        request_id: id.clone(),
        payload: args,
        client_context: None,
        invoked_arn: format!("/{}/{}", action.namespace, record.name),
        nested: caller.from_worker,
    };
    let pool = entry.pool();
    let activations = state.clone();
    let tenant = caller.tenant.clone();
    let start = now_ms();
    let annotations = vec![
        json!({ "key": "path", "value": format!("{}/{}", action.namespace, record.name) }),
        json!({ "key": "kind", "value": action.kind }),
        json!({ "key": "limits", "value": limits(&record, &action) }),
    ];
    let task = tokio::spawn(async move {
        let outcome = pool.invoke(invocation, false).await;
        drop(slot);
        let end = now_ms();
        let raw = outcome
            .as_ref()
            .ok()
            .filter(|o| !o.function_error)
            .map(|o| o.payload.clone());
        let (status, result, output) = judge(outcome, action.timeout_ms);
        let activation = Activation {
            tenant,
            namespace: action.namespace.clone(),
            name: record.name.clone(),
            version: action.version.clone(),
            id,
            start,
            end,
            status,
            result,
            logs: log_lines(&output, end),
            annotations,
        };
        activations.activations.push(activation.clone());
        (activation, raw)
    });
    if !blocking_call {
        return Ok(accepted(&activation_id));
    }
    let wait = query_wait(pairs);
    let (activation, raw) = match tokio::time::timeout(wait, task).await {
        Ok(Ok(finished)) => finished,
        Ok(Err(e)) => {
            return Err(OwError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ));
        }
        Err(_) => return Ok(accepted(&activation_id)),
    };
    let status = match activation.status {
        SUCCESS => StatusCode::OK,
        APPLICATION_ERROR | DEVELOPER_ERROR => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if result_only
        && activation.status != DEVELOPER_ERROR
        && let Some(raw) = raw
    {
        // The function's own bytes: floats exactly as Python wrote them.
        let mut response = json_response(status, &Value::Null, Some(&activation.id));
        *response.body_mut() = axum::body::Body::from(raw);
        return Ok(response);
    }
    let body = if result_only {
        activation.result.clone()
    } else {
        activation.full()
    };
    Ok(json_response(status, &body, Some(&activation.id)))
}

/// 202 with the activation id: the activation runs on (non-blocking, or blocking past
/// the wait).
fn accepted(id: &str) -> Response {
    json_response(
        StatusCode::ACCEPTED,
        &json!({ "activationId": id }),
        Some(id),
    )
}

/// How long a blocking invocation waits: `timeout` (milliseconds) up to a minute.
fn query_wait(query_pairs: &[(String, String)]) -> Duration {
    query(query_pairs, "timeout")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(MAX_BLOCKING_WAIT, |ms| {
            Duration::from_millis(ms).min(MAX_BLOCKING_WAIT)
        })
}

/// The status, result and output of a finished invocation, as OpenWhisk reports them:
/// a dictionary with `error` is an application error, a function that failed (did not
/// return a dictionary, timed out, ran out of memory, did not start) a developer error.
fn judge(
    outcome: Result<Outcome, super::error::ApiError>,
    timeout_ms: u64,
) -> (u8, Value, Vec<u8>) {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => return (WHISK_ERROR, json!({ "error": e.message }), Vec::new()),
    };
    let output = outcome.output.unwrap_or_default();
    let payload: Value = serde_json::from_slice(&outcome.payload).unwrap_or(Value::Null);
    if !outcome.function_error {
        return match payload {
            Value::Object(map) if map.contains_key("error") => {
                (APPLICATION_ERROR, Value::Object(map), output)
            }
            Value::Object(map) => (SUCCESS, Value::Object(map), output),
            _ => (
                DEVELOPER_ERROR,
                json!({ "error": "The action did not return a dictionary." }),
                output,
            ),
        };
    }
    let kind = payload
        .get("errorType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = payload
        .get("errorMessage")
        .and_then(Value::as_str)
        .unwrap_or("");
    let error = match kind {
        "Sandbox.Timedout" => {
            format!("The action exceeded its time limits of {timeout_ms} milliseconds.")
        }
        "Runtime.OutOfMemory" => "The action exhausted its memory and was aborted.".to_string(),
        "Action.NotADictionary" => message.to_string(),
        "Runtime.ExitError" => {
            "The action did not produce a valid response and exited unexpectedly.".to_string()
        }
        k if k.starts_with("Runtime.") => {
            format!("The action failed during initialization: {message}")
        }
        _ => format!("{kind}: {message}"),
    };
    (DEVELOPER_ERROR, json!({ "error": error }), output)
}

/// An activation's logs: each line of its output, stamped as OpenWhisk stamps them.
fn log_lines(output: &[u8], end_ms: u64) -> Vec<String> {
    let stamp = log_timestamp(end_ms);
    String::from_utf8_lossy(output)
        .lines()
        .map(|line| format!("{stamp} stdout: {line}"))
        .collect()
}

fn find_activation(
    state: &HostState,
    caller: &Caller,
    ns: &str,
    id: &str,
) -> Result<Activation, OwError> {
    check_namespace(caller, ns)?;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OwError::bad_request("The activation id is not valid."));
    }
    state
        .activations
        .get(&caller.tenant, id)
        .ok_or_else(OwError::not_found)
}

fn list_activations(
    state: &HostState,
    caller: &Caller,
    query_pairs: &[(String, String)],
) -> Result<Response, OwError> {
    let (skip, limit) = paging(query_pairs, "activations")?;
    let docs = flag(query_pairs, "docs");
    let name = query(query_pairs, "name").filter(|n| !n.is_empty());
    let since = query(query_pairs, "since").and_then(|v| v.parse::<u64>().ok());
    let upto = query(query_pairs, "upto").and_then(|v| v.parse::<u64>().ok());
    let page: Vec<Value> = state
        .activations
        .newest_first(&caller.tenant, name)
        .iter()
        .filter(|a| since.is_none_or(|t| a.start >= t) && upto.is_none_or(|t| a.start <= t))
        .skip(skip)
        .take(limit)
        .map(|a| if docs { a.full() } else { a.brief() })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(page), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_openwhisk_paths() {
        assert_eq!(route("/api/v1/namespaces"), Some(Route::Namespaces));
        assert_eq!(
            route("/api/v1/namespaces/_/actions/"),
            Some(Route::Actions("_".into()))
        );
        assert_eq!(
            route("/api/v1/namespaces/guest/actions/my%20action"),
            Some(Route::Action("guest".into(), "my action".into()))
        );
        assert_eq!(
            route("/api/v1/namespaces/_/activations/abc/logs"),
            Some(Route::ActivationLogs("_".into(), "abc".into()))
        );
        assert_eq!(route("/api/v1/namespaces/_/actions/pkg/a"), None);
        assert_eq!(route("/2015-03-31/functions"), None);
    }

    #[test]
    fn entity_names_follow_openwhisk() {
        for ok in ["a", "hello", "app-fib_2", "x.y@z", "a b"] {
            assert!(valid_entity_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a ", "a/b", "a\u{e9}", &"n".repeat(257)] {
            assert!(!valid_entity_name(bad), "{bad}");
        }
    }

    #[test]
    fn each_update_is_one_patch_level_up() {
        assert_eq!(next_version("0.0.1"), "0.0.2");
        assert_eq!(next_version("1.2.9"), "1.2.10");
    }

    #[test]
    fn tenants_and_namespaces() {
        assert_eq!(action_tenant("key-AK"), "key-AK.ow");
        assert_eq!(action_tenant("key-AK.ow"), "key-AK.ow");
        assert_eq!(namespace_of("key-AK.ow"), "AK");
        assert_eq!(namespace_of(ANONYMOUS_TENANT), "guest");
    }
}
