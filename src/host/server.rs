//! HTTP: reads each request (with the body limit of its operation), checks its signature,
//! routes it to an operation, and logs one line per request at `-v`.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use tokio::sync::watch;

use super::error::ApiError;
use super::sigv4::Caller;
use super::util::{parse_query, percent_decode, request_id};
use super::{ANONYMOUS_TENANT, HostState, functions, invoke, layers, logs, versions};

/// Synchronous invocation payload limit (6 MB).
pub const MAX_INVOKE_BYTES: usize = 6 * 1024 * 1024;
/// Request size limit of CreateFunction and UpdateFunctionCode, as Lambda's.
const MAX_UPLOAD_REQUEST_BYTES: usize = 70_167_211;
/// Request size limit of every other operation.
const MAX_CONTROL_BYTES: usize = 1024 * 1024;
/// Bodies over their limit are still read (and dropped) up to this size, so that the
/// client, which is still sending, receives the 413 instead of a broken connection.
const MAX_DRAIN_BYTES: u64 = 256 * 1024 * 1024;

/// A routed request: the operation and the function it names (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    ListFunctions,
    CreateFunction,
    GetFunction(String),
    DeleteFunction(String),
    GetConfiguration(String),
    UpdateConfiguration(String),
    UpdateCode(String),
    AddPermission(String),
    GetPolicy(String),
    RemovePermission(String, String),
    Invoke(String),
    InvokeAsync(String),
    PublishVersion(String),
    ListVersions(String),
    CreateAlias(String),
    ListAliases(String),
    GetAlias(String, String),
    UpdateAlias(String, String),
    DeleteAlias(String, String),
    PutConcurrency(String),
    GetConcurrency(String),
    DeleteConcurrency(String),
    AccountSettings,
    PublishLayerVersion(String),
    ListLayerVersions(String),
    GetLayerVersion(String, String),
    DeleteLayerVersion(String, String),
    ListLayers,
    CallerIdentity,
    /// A CloudWatch Logs operation (`POST /` with `X-Amz-Target: Logs_20140328.Op`).
    Logs(String),
    Stats,
    CodeDownload(String, String, String),
    LayerDownload(String, String, String),
}

impl Route {
    pub fn operation(&self) -> &'static str {
        match self {
            Route::ListFunctions => "ListFunctions",
            Route::CreateFunction => "CreateFunction",
            Route::GetFunction(_) => "GetFunction",
            Route::DeleteFunction(_) => "DeleteFunction",
            Route::GetConfiguration(_) => "GetFunctionConfiguration",
            Route::UpdateConfiguration(_) => "UpdateFunctionConfiguration",
            Route::UpdateCode(_) => "UpdateFunctionCode",
            Route::AddPermission(_) => "AddPermission",
            Route::GetPolicy(_) => "GetPolicy",
            Route::RemovePermission(..) => "RemovePermission",
            Route::Invoke(_) => "Invoke",
            Route::InvokeAsync(_) => "InvokeAsync",
            Route::PublishVersion(_) => "PublishVersion",
            Route::ListVersions(_) => "ListVersionsByFunction",
            Route::CreateAlias(_) => "CreateAlias",
            Route::ListAliases(_) => "ListAliases",
            Route::GetAlias(..) => "GetAlias",
            Route::UpdateAlias(..) => "UpdateAlias",
            Route::DeleteAlias(..) => "DeleteAlias",
            Route::PutConcurrency(_) => "PutFunctionConcurrency",
            Route::GetConcurrency(_) => "GetFunctionConcurrency",
            Route::DeleteConcurrency(_) => "DeleteFunctionConcurrency",
            Route::AccountSettings => "GetAccountSettings",
            Route::PublishLayerVersion(_) => "PublishLayerVersion",
            Route::ListLayerVersions(_) => "ListLayerVersions",
            Route::GetLayerVersion(..) => "GetLayerVersion",
            Route::DeleteLayerVersion(..) => "DeleteLayerVersion",
            Route::ListLayers => "ListLayers",
            Route::CallerIdentity => "GetCallerIdentity",
            Route::Logs(_) => "CloudWatchLogs",
            Route::Stats | Route::CodeDownload(..) | Route::LayerDownload(..) => "Unknown",
        }
    }

    fn function(&self) -> Option<&str> {
        match self {
            Route::GetFunction(f)
            | Route::DeleteFunction(f)
            | Route::GetConfiguration(f)
            | Route::UpdateConfiguration(f)
            | Route::UpdateCode(f)
            | Route::AddPermission(f)
            | Route::GetPolicy(f)
            | Route::RemovePermission(f, _)
            | Route::Invoke(f)
            | Route::InvokeAsync(f)
            | Route::PublishVersion(f)
            | Route::ListVersions(f)
            | Route::CreateAlias(f)
            | Route::ListAliases(f)
            | Route::GetAlias(f, _)
            | Route::UpdateAlias(f, _)
            | Route::DeleteAlias(f, _)
            | Route::PutConcurrency(f)
            | Route::GetConcurrency(f)
            | Route::DeleteConcurrency(f) => Some(f),
            _ => None,
        }
    }

    fn body_limit(&self) -> usize {
        match self {
            Route::Invoke(_) | Route::InvokeAsync(_) => MAX_INVOKE_BYTES,
            Route::CreateFunction | Route::UpdateCode(_) | Route::PublishLayerVersion(_) => {
                MAX_UPLOAD_REQUEST_BYTES
            }
            _ => MAX_CONTROL_BYTES,
        }
    }

    /// The service a signature's credential scope must name.
    fn service(&self) -> &'static str {
        match self {
            Route::CallerIdentity => "sts",
            Route::Logs(_) => "logs",
            _ => "lambda",
        }
    }

    /// Whether the request must carry a valid signature when keys are configured.
    fn signed(&self) -> bool {
        !matches!(self, Route::CodeDownload(..) | Route::LayerDownload(..))
    }
}

/// Maps method and (still encoded) path to a route.
pub fn route(method: &Method, path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let name = |s: &str| percent_decode(s, false);
    let m = method.as_str();
    Some(match (m, segments.as_slice()) {
        ("GET", ["2015-03-31", "functions"] | ["2015-03-31", "functions", ""]) => {
            Route::ListFunctions
        }
        ("POST", ["2015-03-31", "functions"] | ["2015-03-31", "functions", ""]) => {
            Route::CreateFunction
        }
        ("GET", ["2015-03-31", "functions", f]) => Route::GetFunction(name(f)),
        ("DELETE", ["2015-03-31", "functions", f]) => Route::DeleteFunction(name(f)),
        ("GET", ["2015-03-31", "functions", f, "configuration"]) => {
            Route::GetConfiguration(name(f))
        }
        ("PUT", ["2015-03-31", "functions", f, "configuration"]) => {
            Route::UpdateConfiguration(name(f))
        }
        ("PUT", ["2015-03-31", "functions", f, "code"]) => Route::UpdateCode(name(f)),
        ("POST", ["2015-03-31", "functions", f, "policy"]) => Route::AddPermission(name(f)),
        ("GET", ["2015-03-31", "functions", f, "policy"]) => Route::GetPolicy(name(f)),
        ("DELETE", ["2015-03-31", "functions", f, "policy", sid]) => {
            Route::RemovePermission(name(f), name(sid))
        }
        ("POST", ["2015-03-31", "functions", f, "invocations"]) => Route::Invoke(name(f)),
        ("POST", ["2014-11-13", "functions", f, "invoke-async"])
        | ("POST", ["2014-11-13", "functions", f, "invoke-async", ""]) => {
            Route::InvokeAsync(name(f))
        }
        ("POST", ["2015-03-31", "functions", f, "versions"]) => Route::PublishVersion(name(f)),
        ("GET", ["2015-03-31", "functions", f, "versions"]) => Route::ListVersions(name(f)),
        ("POST", ["2015-03-31", "functions", f, "aliases"]) => Route::CreateAlias(name(f)),
        ("GET", ["2015-03-31", "functions", f, "aliases"]) => Route::ListAliases(name(f)),
        ("GET", ["2015-03-31", "functions", f, "aliases", a]) => Route::GetAlias(name(f), name(a)),
        ("PUT", ["2015-03-31", "functions", f, "aliases", a]) => {
            Route::UpdateAlias(name(f), name(a))
        }
        ("DELETE", ["2015-03-31", "functions", f, "aliases", a]) => {
            Route::DeleteAlias(name(f), name(a))
        }
        ("PUT", ["2017-10-31", "functions", f, "concurrency"]) => Route::PutConcurrency(name(f)),
        ("DELETE", ["2017-10-31", "functions", f, "concurrency"]) => {
            Route::DeleteConcurrency(name(f))
        }
        ("GET", ["2019-09-30", "functions", f, "concurrency"]) => Route::GetConcurrency(name(f)),
        ("GET", ["2016-08-19", "account-settings"] | ["2016-08-19", "account-settings", ""]) => {
            Route::AccountSettings
        }
        ("GET", ["2018-10-31", "layers"] | ["2018-10-31", "layers", ""]) => Route::ListLayers,
        ("POST", ["2018-10-31", "layers", l, "versions"]) => Route::PublishLayerVersion(name(l)),
        ("GET", ["2018-10-31", "layers", l, "versions"]) => Route::ListLayerVersions(name(l)),
        ("GET", ["2018-10-31", "layers", l, "versions", v]) => {
            Route::GetLayerVersion(name(l), name(v))
        }
        ("DELETE", ["2018-10-31", "layers", l, "versions", v]) => {
            Route::DeleteLayerVersion(name(l), name(v))
        }
        ("POST" | "GET", [""]) => Route::CallerIdentity,
        ("GET", ["_lambada", "stats"]) => Route::Stats,
        ("GET", ["_lambada", "code", tenant, f, rev]) => {
            Route::CodeDownload(name(tenant), name(f), name(rev))
        }
        ("GET", ["_lambada", "layer", tenant, l, version]) => {
            Route::LayerDownload(name(tenant), name(l), name(version))
        }
        _ => return None,
    })
}

/// `POST /` is STS's, unless its `X-Amz-Target` names a CloudWatch Logs operation
/// (JSON 1.1 protocol: every operation on the same path).
fn json_target(routed: Route, headers: &HeaderMap) -> Route {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    match (
        routed,
        target.and_then(|t| t.strip_prefix(logs::TARGET_PREFIX)),
    ) {
        (Route::CallerIdentity, Some(operation)) => Route::Logs(operation.to_owned()),
        (routed, _) => routed,
    }
}

/// Serves until `stop` turns true, then finishes the requests in flight.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<HostState>,
    mut stop: watch::Receiver<bool>,
) {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = axum::Router::new().fallback(handle).with_state(state);
    let shutdown = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
}

/// A parsed request, ready for an operation.
pub struct ApiRequest {
    pub caller: Caller,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub request_id: String,
}

impl ApiRequest {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }

    /// The `Host` the client used, for URLs that point back at this host.
    pub fn host(&self) -> &str {
        self.header("host").unwrap_or("127.0.0.1")
    }
}

async fn handle(State(state): State<Arc<HostState>>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = request_id();
    let verbose = state.config.verbose;
    if request.uri().path().starts_with(super::openwhisk::PREFIX) {
        state.counters.count("OpenWhisk");
        let target = verbose.then(|| (request.method().clone(), request.uri().path().to_string()));
        let response = super::openwhisk::handle(&state, request, &request_id).await;
        if let Some((method, path)) = target {
            eprintln!(
                "{method} {path} openwhisk {} {:.2}ms",
                response.status().as_u16(),
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        return response;
    }
    let log_target = verbose.then(|| (request.method().clone(), request.uri().path().to_string()));
    let routed = route(request.method(), request.uri().path())
        .map(|routed| json_target(routed, request.headers()));
    let operation = routed.as_ref().map_or("Unknown", Route::operation);
    state.counters.count(operation);
    let function = routed
        .as_ref()
        .and_then(|r| r.function().map(str::to_string));
    let response = match routed {
        Some(route) => match serve_route(&state, route, request, &request_id).await {
            Ok(response) => response,
            Err(error) => error.into_response_with_id(&request_id),
        },
        None => ApiError::unknown_operation().into_response_with_id(&request_id),
    };
    if operation == "Invoke" {
        state.counters.invoke_took(started.elapsed());
    }
    if let Some((method, path)) = log_target {
        eprintln!(
            "{method} {path} {} {} {:.2}ms",
            function.as_deref().unwrap_or("-"),
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    response
}

async fn serve_route(
    state: &Arc<HostState>,
    route: Route,
    request: Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let limit = route.body_limit();
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_DRAIN_BYTES) {
        return Err(too_large(&route, limit));
    }
    let body = read_body(body, limit, declared)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => too_large(&route, limit),
            BodyError::Io(message) => {
                ApiError::invalid_content(format!("Could not read the request body: {message}"))
            }
        })?;
    let caller = if route.signed() {
        state.verifier.verify(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &body,
            SystemTime::now(),
            ANONYMOUS_TENANT,
            route.service(),
        )?
    } else {
        Caller {
            tenant: String::new(),
            access_key: None,
            region: String::new(),
            from_worker: false,
        }
    };
    let query = parts.uri.query().map(parse_query).unwrap_or_default();
    let request = ApiRequest {
        caller,
        headers: parts.headers,
        query,
        body,
        request_id: request_id.to_string(),
    };
    match route {
        Route::Invoke(name) => invoke::invoke(state, &name, request).await,
        Route::CallerIdentity => caller_identity(&state.config.account_id, request),
        Route::Logs(operation) => state
            .logs
            .serve(&request.caller.tenant, &operation, &request),
        Route::Stats => Ok(json_response(
            StatusCode::OK,
            &serde_json::to_value(state.stats()).unwrap_or_default(),
            request_id,
        )),
        Route::CodeDownload(tenant, name, rev) => {
            functions::download_code(state, &tenant, &name, &rev, &request).await
        }
        Route::ListFunctions => functions::list(state, request).await,
        Route::CreateFunction => functions::create(state, request).await,
        Route::GetFunction(name) => functions::get(state, &name, request).await,
        Route::GetConfiguration(name) => functions::get_configuration(state, &name, request).await,
        Route::UpdateConfiguration(name) => {
            functions::update_configuration(state, &name, request).await
        }
        Route::UpdateCode(name) => functions::update_code(state, &name, request).await,
        Route::DeleteFunction(name) => functions::delete(state, &name, request).await,
        Route::AddPermission(name) => functions::add_permission(state, &name, request).await,
        Route::GetPolicy(name) => functions::get_policy(state, &name, request).await,
        Route::RemovePermission(name, sid) => {
            functions::remove_permission(state, &name, &sid, request).await
        }
        Route::InvokeAsync(name) => invoke::invoke_async(state, &name, request).await,
        Route::PublishVersion(name) => versions::publish(state, &name, request).await,
        Route::ListVersions(name) => versions::list_versions(state, &name, request).await,
        Route::CreateAlias(name) => versions::create_alias(state, &name, request).await,
        Route::ListAliases(name) => versions::list_aliases(state, &name, request).await,
        Route::GetAlias(name, alias) => versions::get_alias(state, &name, &alias, request).await,
        Route::UpdateAlias(name, alias) => {
            versions::update_alias(state, &name, &alias, request).await
        }
        Route::DeleteAlias(name, alias) => {
            versions::delete_alias(state, &name, &alias, request).await
        }
        Route::PutConcurrency(name) => versions::put_concurrency(state, &name, request).await,
        Route::GetConcurrency(name) => versions::get_concurrency(state, &name, request).await,
        Route::DeleteConcurrency(name) => versions::delete_concurrency(state, &name, request).await,
        Route::AccountSettings => versions::account_settings(state, request).await,
        Route::PublishLayerVersion(layer) => layers::publish(state, &layer, request).await,
        Route::ListLayerVersions(layer) => layers::list_versions(state, &layer, request).await,
        Route::GetLayerVersion(layer, version) => {
            layers::get(state, &layer, &version, request).await
        }
        Route::DeleteLayerVersion(layer, version) => {
            layers::delete(state, &layer, &version, request).await
        }
        Route::ListLayers => layers::list(state, request).await,
        Route::LayerDownload(tenant, layer, version) => {
            layers::download(state, &tenant, &layer, &version, &request).await
        }
    }
}

fn too_large(route: &Route, limit: usize) -> ApiError {
    match route {
        Route::Invoke(_) => ApiError::too_large(format!(
            "Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )),
        other => ApiError::too_large(format!(
            "Request must be smaller than {limit} bytes for the {} operation",
            other.operation()
        )),
    }
}

enum BodyError {
    TooLarge,
    Io(String),
}

async fn read_body(
    mut body: Body,
    limit: usize,
    declared: Option<u64>,
) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    let mut total: u64 = 0;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| BodyError::Io(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > MAX_DRAIN_BYTES {
                return Err(BodyError::TooLarge);
            }
            if total <= limit as u64 {
                out.extend_from_slice(&data);
            } else if !out.is_empty() {
                out = Vec::new();
            }
        }
    }
    if total > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    Ok(out)
}

/// A JSON response with Lambda's headers.
pub fn json_response(status: StatusCode, value: &serde_json::Value, request_id: &str) -> Response {
    let mut response = (status, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

/// An empty response (204 and friends) with the request id.
pub fn empty_response(status: StatusCode, request_id: &str) -> Response {
    let mut response = status.into_response();
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-RequestId", id);
    }
    response
}

/// STS `GetCallerIdentity` (query protocol, XML), so that tools detecting the account work.
fn caller_identity(account: &str, request: ApiRequest) -> Result<Response, ApiError> {
    let form = parse_query(&String::from_utf8_lossy(&request.body));
    let action = form
        .iter()
        .chain(request.query.iter())
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.as_str());
    let id = &request.request_id;
    let xml = |status: StatusCode, text: String| {
        let mut response = (status, text).into_response();
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("text/xml"));
        if let Ok(value) = HeaderValue::from_str(id) {
            response.headers_mut().insert("x-amzn-RequestId", value);
        }
        response
    };
    if action != Some("GetCallerIdentity") {
        return Ok(xml(
            StatusCode::BAD_REQUEST,
            format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                 <Code>InvalidAction</Code><Message>Could not find operation {} for version 2011-06-15</Message>\
                 </Error><RequestId>{id}</RequestId></ErrorResponse>",
                action.unwrap_or("").replace(['<', '>', '&'], "")
            ),
        ));
    }
    let user = request.caller.access_key.as_deref().unwrap_or(account);
    Ok(xml(
        StatusCode::OK,
        format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Arn>arn:aws:iam::{account}:root</Arn><UserId>{user}</UserId>\
             <Account>{account}</Account></GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
            account = account
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_lambda_rest_paths() {
        let r = |m: Method, p: &str| route(&m, p);
        assert_eq!(
            r(Method::GET, "/2015-03-31/functions/"),
            Some(Route::ListFunctions)
        );
        assert_eq!(
            r(Method::POST, "/2015-03-31/functions"),
            Some(Route::CreateFunction)
        );
        assert_eq!(
            r(
                Method::POST,
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invocations"
            ),
            Some(Route::Invoke(
                "arn:aws:lambda:us-east-1:000000000000:function:f".into()
            ))
        );
        assert_eq!(
            r(Method::PUT, "/2015-03-31/functions/f/code"),
            Some(Route::UpdateCode("f".into()))
        );
        assert_eq!(
            r(Method::DELETE, "/2015-03-31/functions/f"),
            Some(Route::DeleteFunction("f".into()))
        );
        assert_eq!(
            r(Method::PUT, "/2015-03-31/functions/f/aliases/prod"),
            Some(Route::UpdateAlias("f".into(), "prod".into()))
        );
        assert_eq!(
            r(Method::GET, "/2019-09-30/functions/f/concurrency"),
            Some(Route::GetConcurrency("f".into()))
        );
        assert_eq!(
            r(Method::DELETE, "/2018-10-31/layers/deps/versions/3"),
            Some(Route::DeleteLayerVersion("deps".into(), "3".into()))
        );
        assert_eq!(
            r(Method::POST, "/2014-11-13/functions/f/invoke-async/"),
            Some(Route::InvokeAsync("f".into()))
        );
        assert_eq!(r(Method::POST, "/"), Some(Route::CallerIdentity));
        assert_eq!(r(Method::PATCH, "/2015-03-31/functions/f"), None);
        assert_eq!(r(Method::GET, "/2015-03-31/functions/f/nope"), None);
    }
}
