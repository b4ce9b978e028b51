//! The control plane: create, list, get, update, delete functions and their permissions,
//! and the in-memory registry of functions with their worker pools.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::HostState;
use super::error::{ApiError, HostError};
use super::names::{
    FunctionRef, LATEST, function_arn, parse_function_ref, requested_qualifier, version_number,
};
use super::sandbox::{Isolation, OPT_DIR, RUNTIME_DIR, TASK_ROOT};
use super::server::{ApiRequest, empty_response, json_response};
use super::store::{CodeDir, FunctionRecord, LayerUse, StagedCode};
use super::util::{lambda_timestamp, request_id};
use super::workers::{Pool, WorkerSpec};
use super::zipcheck::{MAX_ZIPPED_BYTES, handler_module_exists};

/// Environment variables Lambda reserves; functions may not set them.
const RESERVED_ENV: [&str; 18] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];
const MAX_ENV_BYTES: usize = 4096;

/// One function in memory: its record, the pool running `$LATEST` and the pools of the
/// published versions invoked so far.
pub struct FunctionEntry {
    pub tenant: String,
    pub record: RwLock<FunctionRecord>,
    pub pool: RwLock<Arc<Pool>>,
    /// Pools of published versions, made at a version's first invocation.
    versions: Mutex<BTreeMap<u32, Arc<Pool>>>,
    /// Invocations of any version running now (reserved concurrency counts these).
    pub running: AtomicUsize,
    /// Held by every change; a second concurrent change gets 409.
    pub(super) update: tokio::sync::Mutex<()>,
}

impl FunctionEntry {
    pub fn pool(&self) -> Arc<Pool> {
        self.pool
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn record(&self) -> FunctionRecord {
        self.record
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Reads the record without copying it.
    pub fn with_record<T>(&self, f: impl FnOnce(&FunctionRecord) -> T) -> T {
        match self.record.read() {
            Ok(r) => f(&r),
            Err(p) => f(&p.into_inner()),
        }
    }

    pub(super) fn set_record(&self, record: FunctionRecord) {
        match self.record.write() {
            Ok(mut r) => *r = record,
            Err(p) => *p.into_inner() = record,
        }
    }

    /// Puts a new pool in place and retires the old one in the background.
    fn swap_pool(&self, pool: Arc<Pool>) -> Arc<Pool> {
        let old = match self.pool.write() {
            Ok(mut p) => std::mem::replace(&mut *p, pool),
            Err(p) => std::mem::replace(&mut *p.into_inner(), pool),
        };
        let retiring = old.clone();
        tokio::spawn(async move { retiring.retire().await });
        old
    }

    fn version_pools(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Arc<Pool>>> {
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The code directory of revision `rev`, shared with any pool already using it: a
    /// directory is removed when its last user is gone, so there must be one owner.
    fn shared_code(&self, state: &HostState, rev: &str) -> Arc<CodeDir> {
        let wanted =
            state
                .store
                .code_dir_of(&self.tenant, &self.with_record(|r| r.name.clone()), rev);
        for pool in self.all_pools() {
            if pool.spec().code.path == wanted.path {
                return pool.spec().code.clone();
            }
        }
        Arc::new(wanted)
    }

    /// The pool of published version `version`, made at its first use.
    pub fn version_pool(&self, state: &HostState, version: u32) -> Option<Arc<Pool>> {
        if let Some(pool) = self.version_pools().get(&version) {
            return Some(pool.clone());
        }
        let snapshot = self.with_record(|r| r.versions.get(&version).cloned())?;
        let code = self.shared_code(state, &snapshot.code_rev);
        let pool = new_pool(state, &self.tenant, &snapshot, &version.to_string(), code);
        Some(self.version_pools().entry(version).or_insert(pool).clone())
    }

    /// Stops the pool of a deleted version; its code goes with its last worker unless
    /// another version or `$LATEST` still uses it.
    pub(super) fn drop_version(
        &self,
        state: &HostState,
        version: u32,
        rev: &str,
        record: &FunctionRecord,
    ) {
        let pool = self.version_pools().remove(&version);
        let code = match &pool {
            Some(pool) => pool.spec().code.clone(),
            None => self.shared_code(state, rev),
        };
        if !record.code_revs().contains(rev) {
            code.mark_obsolete();
        }
        if let Some(pool) = pool {
            tokio::spawn(async move { pool.retire().await });
        }
    }

    /// Every pool: `$LATEST`'s and the versions'.
    fn all_pools(&self) -> Vec<Arc<Pool>> {
        std::iter::once(self.pool())
            .chain(self.version_pools().values().cloned())
            .collect()
    }
}

/// Every function by tenant and name.
#[derive(Default)]
pub struct Registry {
    tenants: RwLock<HashMap<String, BTreeMap<String, Arc<FunctionEntry>>>>,
    creating: Mutex<HashSet<(String, String)>>,
    /// Per tenant: invocations running now of functions without reserved concurrency.
    unreserved: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    /// Held while a layer version is published or deleted.
    layers: tokio::sync::Mutex<()>,
}

impl Registry {
    pub fn get(&self, tenant: &str, name: &str) -> Option<Arc<FunctionEntry>> {
        let tenants = self.tenants.read().ok()?;
        tenants.get(tenant)?.get(name).cloned()
    }

    fn insert(&self, entry: Arc<FunctionEntry>) {
        let name = entry.record().name;
        if let Ok(mut tenants) = self.tenants.write() {
            tenants
                .entry(entry.tenant.clone())
                .or_default()
                .insert(name, entry);
        }
    }

    fn remove(&self, tenant: &str, name: &str) -> Option<Arc<FunctionEntry>> {
        self.tenants.write().ok()?.get_mut(tenant)?.remove(name)
    }

    /// The tenant's functions in name order, starting after `marker`.
    fn list(
        &self,
        tenant: &str,
        marker: Option<&str>,
        max: usize,
    ) -> (Vec<Arc<FunctionEntry>>, bool) {
        let Ok(tenants) = self.tenants.read() else {
            return (Vec::new(), false);
        };
        let Some(functions) = tenants.get(tenant) else {
            return (Vec::new(), false);
        };
        let mut iter = functions
            .iter()
            .filter(|(name, _)| marker.is_none_or(|m| name.as_str() > m))
            .map(|(_, e)| e.clone());
        let page: Vec<_> = iter.by_ref().take(max).collect();
        (page, iter.next().is_some())
    }

    pub fn count(&self) -> usize {
        self.tenants
            .read()
            .map(|t| t.values().map(BTreeMap::len).sum())
            .unwrap_or(0)
    }

    pub async fn layers_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.layers.lock().await
    }

    pub fn count_of(&self, tenant: &str) -> usize {
        self.tenants
            .read()
            .map(|t| t.get(tenant).map_or(0, BTreeMap::len))
            .unwrap_or(0)
    }

    /// The concurrency the tenant's functions reserve, all together (`except` left out).
    pub fn reserved_total(&self, tenant: &str, except: Option<&str>) -> u32 {
        let Ok(tenants) = self.tenants.read() else {
            return 0;
        };
        tenants.get(tenant).map_or(0, |functions| {
            functions
                .iter()
                .filter(|(name, _)| Some(name.as_str()) != except)
                .map(|(_, e)| e.with_record(|r| r.reserved_concurrency.unwrap_or(0)))
                .sum()
        })
    }

    pub fn unreserved_running(&self, tenant: &str) -> Arc<AtomicUsize> {
        self.unreserved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant.to_string())
            .or_default()
            .clone()
    }

    /// Stops every pool (host shutdown).
    pub async fn retire_all(&self) {
        let entries: Vec<Arc<FunctionEntry>> = self
            .tenants
            .read()
            .map(|t| t.values().flat_map(|f| f.values().cloned()).collect())
            .unwrap_or_default();
        for entry in entries {
            for pool in entry.all_pools() {
                pool.retire().await;
            }
        }
    }
}

/// The worker configuration of a function version.
fn worker_spec(
    state: &HostState,
    tenant: &str,
    record: &FunctionRecord,
    version: &str,
    code: Arc<CodeDir>,
) -> WorkerSpec {
    let sandboxed = state.isolation == Isolation::Sandbox;
    let bootstrap = state.store.bootstrap_path();
    let opt = record
        .opt_dir
        .as_ref()
        .map(|dir| state.store.opt_path(tenant, &record.name, dir));
    let (task_root, runtime_dir, layers_dir) = if sandboxed {
        (
            TASK_ROOT.to_string(),
            RUNTIME_DIR.to_string(),
            OPT_DIR.to_string(),
        )
    } else {
        (
            code.path.to_string_lossy().into_owned(),
            bootstrap
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            opt.as_ref()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    };
    // The function's variables first: the fixed ones below win.
    let mut env: Vec<(String, String)> = Vec::new();
    if let Some(vars) = &record.environment {
        env.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()));
    }
    env.extend([
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("TZ".into(), ":UTC".into()),
        // One malloc arena: thread arenas would eat the address-space limit.
        ("MALLOC_ARENA_MAX".into(), "1".into()),
        ("AWS_ENDPOINT_URL_LAMBDA".into(), state.endpoint.clone()),
        ("LAMBDA_TASK_ROOT".to_string(), task_root),
        ("LAMBDA_RUNTIME_DIR".into(), runtime_dir),
        ("_HANDLER".into(), record.handler.clone()),
        ("AWS_REGION".into(), record.region.clone()),
        ("AWS_DEFAULT_REGION".into(), record.region.clone()),
        (
            "AWS_EXECUTION_ENV".into(),
            format!("AWS_Lambda_{}", record.runtime),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), record.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            record.memory_size.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), version.to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            format!("/aws/lambda/{}", record.name),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
    ]);
    if let Some(action) = &record.openwhisk {
        // What OpenWhisk gives an action (its API key is set by the bootstrap from the
        // worker's session credentials).
        env.extend([
            ("__OW_API_HOST".to_string(), state.endpoint.clone()),
            ("__OW_NAMESPACE".into(), action.namespace.clone()),
            (
                "__OW_ACTION_NAME".into(),
                format!("/{}/{}", action.namespace, record.name),
            ),
            ("__OW_ACTION_VERSION".into(), action.version.clone()),
        ]);
    }
    if opt.is_some() {
        // The bootstrap puts the layers' python directories on sys.path (see there).
        env.push(("LAMBADA_LAYERS_DIR".into(), layers_dir));
    }
    let interpreter = state.runtimes.get_or_default(&record.runtime);
    WorkerSpec {
        python: interpreter.path.clone(),
        python_prefix: interpreter.prefix.clone(),
        bootstrap,
        scratch_root: state.store.workers_dir(),
        code,
        opt,
        version: version.to_string(),
        env,
        timeout: match &record.openwhisk {
            Some(action) => Duration::from_millis(action.timeout_ms),
            None => Duration::from_secs(u64::from(record.timeout)),
        },
        memory_mb: record.memory_size,
        isolation: state.isolation,
        tenant: tenant.to_string(),
        function: record.name.clone(),
        sessions: state.verifier.sessions().clone(),
    }
}

fn new_pool(
    state: &HostState,
    tenant: &str,
    record: &FunctionRecord,
    version: &str,
    code: Arc<CodeDir>,
) -> Arc<Pool> {
    Arc::new(Pool::new(
        worker_spec(state, tenant, record, version, code),
        state.config.max_workers,
        state.config.max_queue,
        state.census.clone(),
    ))
}

fn new_entry(
    state: &HostState,
    tenant: &str,
    record: FunctionRecord,
    code: Arc<CodeDir>,
) -> Arc<FunctionEntry> {
    let pool = new_pool(state, tenant, &record, LATEST, code);
    Arc::new(FunctionEntry {
        tenant: tenant.to_string(),
        record: RwLock::new(record),
        pool: RwLock::new(pool),
        versions: Mutex::new(BTreeMap::new()),
        running: AtomicUsize::new(0),
        update: tokio::sync::Mutex::new(()),
    })
}

/// Loads every stored function into the registry (host start).
pub async fn load_stored(state: &Arc<HostState>) -> Result<(), HostError> {
    let loader = state.clone();
    let stored = tokio::task::spawn_blocking(move || loader.store.load_all())
        .await
        .map_err(|e| HostError::Config(e.to_string()))?
        .map_err(|source| HostError::State {
            path: state.store.root().to_path_buf(),
            source,
        })?;
    for (tenant, record) in stored {
        let code = Arc::new(state.store.code_dir(&tenant, &record));
        state
            .registry
            .insert(new_entry(state, &tenant, record, code));
    }
    Ok(())
}

/// What a qualifier names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Latest,
    Version(u32),
    /// An alias, with the version it points at.
    Alias(String, String),
}

impl Target {
    /// The version this target runs (an alias's main version).
    pub fn version(&self) -> String {
        match self {
            Target::Latest => LATEST.to_string(),
            Target::Version(n) => n.to_string(),
            Target::Alias(_, version) => version.clone(),
        }
    }

    /// The qualifier this target is named by (`$LATEST`: none).
    pub fn qualifier(&self) -> Option<String> {
        match self {
            Target::Latest => None,
            Target::Version(n) => Some(n.to_string()),
            Target::Alias(alias, _) => Some(alias.clone()),
        }
    }

    /// The qualified ARN this target is named by (`$LATEST`: unqualified).
    pub fn arn(&self, state: &HostState, reference: &FunctionRef, entry: &FunctionEntry) -> String {
        let region = entry.with_record(|r| r.region.clone());
        let qualifier = self.qualifier();
        qualified_arn(
            &state.config.account_id,
            &region,
            &reference.name,
            qualifier.as_deref(),
        )
    }
}

/// The qualified ARN of a function's version or alias (`$LATEST`: unqualified).
pub fn qualified_arn(account: &str, region: &str, name: &str, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => format!("{}:{q}", function_arn(account, region, name)),
        None => function_arn(account, region, name),
    }
}

/// The function a request names, in the caller's tenant, with the version or alias its
/// qualifier names (404 when there is no such version or alias).
pub fn resolve_target(
    state: &HostState,
    name: &str,
    request: &ApiRequest,
) -> Result<(FunctionRef, Arc<FunctionEntry>, Target), ApiError> {
    let reference = parse_function_ref(name, &state.config.account_id)?;
    let region = &request.caller.region;
    let qualifier = requested_qualifier(&reference, request.query("Qualifier"))?;
    let account = &state.config.account_id;
    let entry = state
        .registry
        .get(&request.caller.tenant, &reference.name)
        .ok_or_else(|| {
            ApiError::function_not_found(&qualified_arn(
                account,
                region,
                &reference.name,
                qualifier.as_deref(),
            ))
        })?;
    let target = match qualifier {
        None => Target::Latest,
        Some(q) => entry
            .with_record(|record| match version_number(&q) {
                Some(n) => record
                    .versions
                    .contains_key(&n)
                    .then_some(Target::Version(n)),
                None => record
                    .aliases
                    .get(&q)
                    .map(|alias| Target::Alias(q.clone(), alias.function_version.clone())),
            })
            .ok_or_else(|| {
                ApiError::function_not_found(&qualified_arn(
                    account,
                    region,
                    &reference.name,
                    Some(&q),
                ))
            })?,
    };
    Ok((reference, entry, target))
}

/// The function a request names, which must be `$LATEST` (operations that change it).
pub fn resolve(
    state: &HostState,
    name: &str,
    request: &ApiRequest,
) -> Result<(FunctionRef, Arc<FunctionEntry>), ApiError> {
    let (reference, entry, target) = resolve_target(state, name, request)?;
    if target != Target::Latest {
        return Err(ApiError::invalid_parameter(format!(
            "{} is a published version or an alias; this operation changes the function's $LATEST version only: name the function without a qualifier",
            reference
                .qualifier
                .as_deref()
                .or(request.query("Qualifier"))
                .unwrap_or("")
        )));
    }
    Ok((reference, entry))
}

/// The record of a target: `$LATEST`'s or a published version's snapshot.
pub fn target_record(record: &FunctionRecord, target: &Target) -> Option<FunctionRecord> {
    match target {
        Target::Latest => Some(record.clone()),
        Target::Version(n) => record.versions.get(n).cloned(),
        Target::Alias(_, version) => match version_number(version) {
            Some(n) => record.versions.get(&n).cloned(),
            None => Some(record.clone()),
        },
    }
}

/// Lambda's `FunctionConfiguration` of `$LATEST`.
pub fn configuration(account: &str, record: &FunctionRecord) -> Value {
    version_configuration(account, record, None)
}

/// Lambda's `FunctionConfiguration` of a record: `$LATEST`'s (`version` None) or a
/// published version's snapshot.
pub fn version_configuration(
    account: &str,
    record: &FunctionRecord,
    version: Option<u32>,
) -> Value {
    let version_name = version.map_or(LATEST.to_string(), |n| n.to_string());
    let arn = qualified_arn(
        account,
        &record.region,
        &record.name,
        version.map(|_| version_name.as_str()),
    );
    let mut config = json!({
        "FunctionName": record.name,
        "FunctionArn": arn,
        "Runtime": record.runtime,
        "Role": record.role,
        "Handler": record.handler,
        "CodeSize": record.code_size,
        "Description": record.description,
        "Timeout": record.timeout,
        "MemorySize": record.memory_size,
        "LastModified": record.last_modified,
        "CodeSha256": record.code_sha256,
        "Version": version_name,
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": record.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": format!("/aws/lambda/{}", record.name)},
    });
    if let Value::Object(map) = &mut config {
        if let Some(vars) = &record.environment {
            map.insert("Environment".into(), json!({ "Variables": vars }));
        }
        if !record.layers.is_empty() {
            let layers: Vec<Value> = record
                .layers
                .iter()
                .map(|l| json!({"Arn": l.arn, "CodeSize": l.code_size}))
                .collect();
            map.insert("Layers".into(), Value::Array(layers));
        }
    }
    config
}

pub(super) fn set_fields(config: &mut Value, fields: &[(&str, &str)]) {
    if let Value::Object(map) = config {
        for (k, v) in fields {
            map.insert((*k).to_string(), Value::String((*v).to_string()));
        }
    }
}

/// The body of a control-plane request as a JSON object.
pub(super) fn json_body(request: &ApiRequest) -> Result<Map<String, Value>, ApiError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid_content(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::invalid_content(format!(
            "Could not parse request body into json: {e}"
        ))),
    }
}

pub(super) fn wrong_type(field: &str, expected: &str) -> ApiError {
    ApiError::invalid_content(format!(
        "Could not parse request body into json: field '{field}' must be {expected}"
    ))
}

pub(super) fn opt_str<'a>(
    body: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

pub(super) fn opt_u32(body: &Map<String, Value>, field: &str) -> Result<Option<u32>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| wrong_type(field, "a non-negative integer")),
        Some(_) => Err(wrong_type(field, "an integer")),
    }
}

fn opt_bool(body: &Map<String, Value>, field: &str) -> Result<bool, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(wrong_type(field, "a boolean")),
    }
}

pub(super) fn required<'a>(value: Option<&'a str>, field: &str) -> Result<&'a str, ApiError> {
    value.ok_or_else(|| ApiError::invalid_parameter(format!("{field} is required")))
}

/// A runtime is accepted when an interpreter for it was found at host start-up.
fn check_runtime(state: &HostState, runtime: &str) -> Result<(), ApiError> {
    if state.runtimes.get(runtime).is_none() {
        return Err(ApiError::invalid_parameter(format!(
            "Value '{runtime}' at 'runtime' failed to satisfy constraint: lambada serve runs the Python runtimes installed on this host: {}",
            state.runtimes.names().join(", ")
        )));
    }
    Ok(())
}

fn check_role(role: &str) -> Result<(), ApiError> {
    let ok = role.starts_with("arn:aws")
        && role.contains(":iam::")
        && role.contains(":role/")
        && role.len() <= 2048;
    if !ok {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{role}' at 'role' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::(\\d{{12}}):role/?[a-zA-Z_0-9+=,.@\\-_/]+"
        )));
    }
    Ok(())
}

fn check_handler(handler: &str) -> Result<(), ApiError> {
    if handler.is_empty() || handler.len() > 128 || handler.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{handler}' at 'handler' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [^\\s]+"
        )));
    }
    Ok(())
}

fn check_timeout(timeout: u32) -> Result<(), ApiError> {
    if !(1..=900).contains(&timeout) {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{timeout}' at 'timeout' failed to satisfy constraint: \
             Member must have value between 1 and 900"
        )));
    }
    Ok(())
}

fn check_memory(memory: u32) -> Result<(), ApiError> {
    if !(128..=10240).contains(&memory) {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{memory}' at 'memorySize' failed to satisfy constraint: \
             Member must have value between 128 and 10240"
        )));
    }
    Ok(())
}

/// `Architectures` and `EphemeralStorage`, checked against the API model as Lambda does
/// (workers run on the host's architecture with a 512 MB /tmp whatever they say).
fn check_model_constraints(body: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(architectures) = body.get("Architectures").filter(|v| !v.is_null()) {
        let valid = architectures.as_array().is_some_and(|list| {
            list.len() == 1
                && list
                    .iter()
                    .all(|a| matches!(a.as_str(), Some("x86_64" | "arm64")))
        });
        if !valid {
            let shown: Vec<String> = architectures
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|a| format!("'{}'", a.as_str().unwrap_or("?")))
                        .collect()
                })
                .unwrap_or_default();
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '[{}]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
                shown.join(", ")
            )));
        }
    }
    if let Some(storage) = body.get("EphemeralStorage").filter(|v| !v.is_null()) {
        let size = storage.get("Size").and_then(Value::as_u64).unwrap_or(0);
        if size > 10240 {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{size}' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value less than or equal to 10240"
            )));
        }
        if size < 512 {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{size}' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value greater than or equal to 512"
            )));
        }
    }
    Ok(())
}

/// `Environment: {"Variables": {...}}` checked as Lambda checks it.
fn parse_environment(
    body: &Map<String, Value>,
) -> Result<Option<Option<BTreeMap<String, String>>>, ApiError> {
    let Some(env) = body.get("Environment") else {
        return Ok(None);
    };
    let vars = match env {
        Value::Null => return Ok(Some(None)),
        Value::Object(env) => match env.get("Variables") {
            None | Some(Value::Null) => return Ok(Some(None)),
            Some(Value::Object(vars)) => vars,
            Some(_) => return Err(wrong_type("Environment.Variables", "an object of strings")),
        },
        _ => return Err(wrong_type("Environment", "an object")),
    };
    let mut out = BTreeMap::new();
    for (key, value) in vars {
        let Value::String(value) = value else {
            return Err(wrong_type("Environment.Variables", "an object of strings"));
        };
        let valid_key = key.len() >= 2
            && key.starts_with(|c: char| c.is_ascii_alphabetic())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_key {
            return Err(ApiError::invalid_parameter(format!(
                "Lambda was unable to configure your environment variables because the environment variables you have provided contains an invalid key '{key}': keys must match [a-zA-Z]([a-zA-Z0-9_])+"
            )));
        }
        if value.contains('\0') {
            return Err(ApiError::invalid_parameter(format!(
                "Lambda was unable to configure your environment variables because the value of '{key}' contains a NUL character."
            )));
        }
        if RESERVED_ENV.contains(&key.as_str()) {
            return Err(ApiError::invalid_parameter(format!(
                "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {key}"
            )));
        }
        out.insert(key.clone(), value.clone());
    }
    if serde_json::to_string(&out).map(|s| s.len()).unwrap_or(0) > MAX_ENV_BYTES {
        return Err(ApiError::invalid_parameter(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit.",
        ));
    }
    Ok(Some((!out.is_empty()).then_some(out)))
}

/// The zip of `Code.ZipFile` / `ZipFile`, base64-decoded and size-checked.
pub(super) fn decode_zip(value: Option<&Value>, field: &str) -> Result<Vec<u8>, ApiError> {
    let text = match value {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_parameter(format!(
                "{field} is required: lambada serve accepts code as a base64 zip (S3 locations and images are not supported)"
            )));
        }
        Some(_) => return Err(wrong_type(field, "a base64 string")),
    };
    let zip = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| {
            ApiError::invalid_content(format!(
                "Could not parse request body into json: {field} is not valid base64: {e}"
            ))
        })?;
    if zip.len() > MAX_ZIPPED_BYTES {
        return Err(ApiError::too_large(format!(
            "Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes"
        )));
    }
    Ok(zip)
}

fn handler_missing(handler: &str) -> ApiError {
    ApiError::invalid_parameter(format!(
        "Handler '{handler}' does not name a module of the function's code: expected module.function with module.py (or a package, or an extension module) in the zip"
    ))
}

/// Checks and extracts a zip in the staging area, and checks that it has the handler's module.
async fn stage(
    state: &Arc<HostState>,
    zip: Vec<u8>,
    handler: String,
) -> Result<StagedCode, ApiError> {
    let stager = state.clone();
    tokio::task::spawn_blocking(move || {
        let staged = stager.store.stage_code(&zip)?;
        if !handler_module_exists(&staged.code_path(), &handler) {
            return Err(handler_missing(&handler));
        }
        Ok(staged)
    })
    .await
    .map_err(|e| ApiError::service(e.to_string()))?
}

fn io_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::service(format!("could not store the function: {e}"))
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io_error)?
        .map_err(io_error)
}

fn name_reference(body: &Map<String, Value>, account: &str) -> Result<String, ApiError> {
    let text = required(opt_str(body, "FunctionName")?, "FunctionName")?;
    let reference = parse_function_ref(text, account)?;
    if reference.qualifier.is_some() {
        return Err(ApiError::invalid_parameter(
            "FunctionName must not have a qualifier when creating a function",
        ));
    }
    Ok(reference.name)
}

pub async fn create(state: &Arc<HostState>, request: ApiRequest) -> Result<Response, ApiError> {
    let body = json_body(&request)?;
    // The API model's constraints come first, as in Lambda.
    check_model_constraints(&body)?;
    let name = name_reference(&body, &state.config.account_id)?;
    if opt_str(&body, "PackageType")?.is_some_and(|kind| kind != "Zip") {
        return Err(ApiError::invalid_parameter(
            "lambada serve runs Zip packages only (PackageType: Zip)",
        ));
    }
    let runtime = required(opt_str(&body, "Runtime")?, "Runtime")?.to_string();
    check_runtime(state, &runtime)?;
    let role = required(opt_str(&body, "Role")?, "Role")?.to_string();
    check_role(&role)?;
    let handler = required(opt_str(&body, "Handler")?, "Handler")?.to_string();
    check_handler(&handler)?;
    let timeout = opt_u32(&body, "Timeout")?.unwrap_or(3);
    check_timeout(timeout)?;
    let memory_size = opt_u32(&body, "MemorySize")?.unwrap_or(128);
    check_memory(memory_size)?;
    let description = opt_str(&body, "Description")?.unwrap_or("").to_string();
    let environment = parse_environment(&body)?.flatten();
    let publish = opt_bool(&body, "Publish")?;
    let layers = super::layers::requested_layers(state, &request, &body)?;
    let code = match body.get("Code") {
        Some(Value::Object(code)) => code,
        None | Some(Value::Null) => return Err(ApiError::invalid_parameter("Code is required")),
        Some(_) => return Err(wrong_type("Code", "an object")),
    };
    let zip = decode_zip(code.get("ZipFile"), "Code.ZipFile")?;

    let tenant = request.caller.tenant.clone();
    let region = request.caller.region.clone();
    let exists = || ApiError::conflict(format!("Function already exist: {name}"));
    if state.registry.get(&tenant, &name).is_some() {
        return Err(exists());
    }
    let key = (tenant.clone(), name.clone());
    if !state
        .registry
        .creating
        .lock()
        .map(|mut c| c.insert(key.clone()))
        .unwrap_or(false)
    {
        return Err(exists());
    }
    let result = async {
        let staged = stage(state, zip, handler.clone()).await?;
        let opt_dir = merge_layers(state, &tenant, &name, layers.clone()).await?;
        let mut record = FunctionRecord {
            name: name.clone(),
            region,
            runtime,
            role,
            handler,
            description,
            timeout,
            memory_size,
            environment,
            code_sha256: staged.sha256.clone(),
            code_size: staged.size,
            code_rev: String::new(),
            last_modified: lambda_timestamp(SystemTime::now()),
            revision_id: request_id(),
            policy: Vec::new(),
            layers: layers.into_iter().map(|(layer, _)| layer).collect(),
            opt_dir,
            versions: BTreeMap::new(),
            last_version: 0,
            aliases: BTreeMap::new(),
            reserved_concurrency: None,
            openwhisk: None,
        };
        let writer = state.clone();
        let tenant_for_store = tenant.clone();
        let (record, code) = blocking(move || {
            let (rev, code) = writer
                .store
                .commit_code(&tenant_for_store, &record.name, staged)?;
            record.code_rev = rev;
            if publish {
                super::versions::publish_snapshot(&mut record, None);
            }
            if let Err(e) = writer.store.write_record(&tenant_for_store, &record) {
                code.mark_obsolete();
                return Err(e);
            }
            Ok((record, code))
        })
        .await?;
        let entry = new_entry(state, &tenant, record.clone(), Arc::new(code));
        state.registry.insert(entry);
        Ok::<_, ApiError>(record)
    }
    .await;
    if let Ok(mut creating) = state.registry.creating.lock() {
        creating.remove(&key);
    }
    let record = result?;
    let mut config = configuration(&state.config.account_id, &record);
    let published = (record.last_version > 0).then(|| record.last_version.to_string());
    set_fields(
        &mut config,
        &[
            ("Version", published.as_deref().unwrap_or(LATEST)),
            ("State", "Pending"),
            ("StateReason", "The function is being created."),
            ("StateReasonCode", "Creating"),
        ],
    );
    if let Value::Object(map) = &mut config {
        map.remove("LastUpdateStatus");
    }
    Ok(json_response(
        StatusCode::CREATED,
        &config,
        &request.request_id,
    ))
}

pub async fn list(state: &Arc<HostState>, request: ApiRequest) -> Result<Response, ApiError> {
    let max = match request.query("MaxItems") {
        None => 50,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::invalid_parameter(format!("1 validation error detected: Value '{text}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000")))?,
    };
    let marker = request.query("Marker").filter(|m| !m.is_empty());
    let (page, more) = state.registry.list(&request.caller.tenant, marker, max);
    // `FunctionVersion=ALL` lists the published versions too.
    let all = request.query("FunctionVersion") == Some("ALL");
    let account = &state.config.account_id;
    let functions: Vec<Value> = page
        .iter()
        .flat_map(|e| {
            e.with_record(|record| {
                let mut configs = vec![configuration(account, record)];
                if all {
                    // Among versions, $LATEST's ARN is qualified too.
                    configs[0]["FunctionArn"] = Value::String(qualified_arn(
                        account,
                        &record.region,
                        &record.name,
                        Some(LATEST),
                    ));
                    configs.extend(
                        record
                            .versions
                            .iter()
                            .map(|(n, v)| version_configuration(account, v, Some(*n))),
                    );
                }
                configs
            })
        })
        .collect();
    let mut body = json!({ "Functions": functions });
    if let (true, Some(last), Value::Object(map)) = (more, page.last(), &mut body) {
        map.insert("NextMarker".into(), Value::String(last.record().name));
    }
    Ok(json_response(StatusCode::OK, &body, &request.request_id))
}

pub async fn get(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let (_, entry, target) = resolve_target(state, name, &request)?;
    let (record, version) = target_snapshot(&entry, &target)?;
    let expires = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        + CODE_LINK_SECONDS;
    let signature = code_link_signature(
        state,
        &entry.tenant,
        &record.name,
        &record.code_rev,
        expires,
    );
    let location = format!(
        "http://{}/_lambada/code/{}/{}/{}?Expires={expires}&Signature={signature}",
        request.host(),
        entry.tenant,
        record.name,
        record.code_rev
    );
    let mut body = json!({
        "Configuration": version_configuration(&state.config.account_id, &record, version),
        "Code": {"RepositoryType": "S3", "Location": location},
    });
    if let Some(reserved) = entry.with_record(|r| r.reserved_concurrency) {
        body["Concurrency"] = json!({ "ReservedConcurrentExecutions": reserved });
    }
    Ok(json_response(StatusCode::OK, &body, &request.request_id))
}

pub async fn get_configuration(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let (_, entry, target) = resolve_target(state, name, &request)?;
    let (record, version) = target_snapshot(&entry, &target)?;
    Ok(json_response(
        StatusCode::OK,
        &version_configuration(&state.config.account_id, &record, version),
        &request.request_id,
    ))
}

pub(super) fn in_progress(arn: &str) -> ApiError {
    ApiError::conflict(format!(
        "The operation cannot be performed at this time. An update is in progress for resource: {arn}"
    ))
}

pub(super) fn check_revision(
    body: &Map<String, Value>,
    record: &FunctionRecord,
) -> Result<(), ApiError> {
    match opt_str(body, "RevisionId")? {
        Some(rev) if rev != record.revision_id => Err(ApiError::precondition_failed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )),
        _ => Ok(()),
    }
}

fn updated_response(
    account: &str,
    record: &FunctionRecord,
    published: Option<u32>,
    request_id: &str,
) -> Response {
    let mut config = configuration(account, record);
    let version = published.map_or(LATEST.to_string(), |n| n.to_string());
    set_fields(
        &mut config,
        &[
            ("Version", &version),
            ("LastUpdateStatus", "InProgress"),
            ("LastUpdateStatusReason", "The function is being updated."),
            ("LastUpdateStatusReasonCode", "Updating"),
        ],
    );
    json_response(StatusCode::OK, &config, request_id)
}

pub async fn update_code(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let (reference, entry) = resolve(state, name, &request)?;
    let body = json_body(&request)?;
    let arn = function_arn(
        &state.config.account_id,
        &entry.record().region,
        &reference.name,
    );
    let _guard = entry.update.try_lock().map_err(|_| in_progress(&arn))?;
    let current = entry.record();
    check_revision(&body, &current)?;
    let publish = opt_bool(&body, "Publish")?;
    let dry_run = opt_bool(&body, "DryRun")?;
    let zip = decode_zip(body.get("ZipFile"), "ZipFile")?;
    let staged = stage(state, zip, current.handler.clone()).await?;
    if dry_run {
        let record = FunctionRecord {
            code_sha256: staged.sha256.clone(),
            code_size: staged.size,
            ..current
        };
        return Ok(json_response(
            StatusCode::OK,
            &configuration(&state.config.account_id, &record),
            &request.request_id,
        ));
    }
    let base = FunctionRecord {
        code_sha256: staged.sha256.clone(),
        code_size: staged.size,
        last_modified: lambda_timestamp(SystemTime::now()),
        revision_id: request_id(),
        ..current
    };
    let writer = state.clone();
    let tenant = entry.tenant.clone();
    let (record, code) = blocking(move || {
        let (rev, code) = writer.store.commit_code(&tenant, &base.name, staged)?;
        let mut record = FunctionRecord {
            code_rev: rev,
            ..base
        };
        if publish {
            super::versions::publish_snapshot(&mut record, None);
        }
        if let Err(e) = writer.store.write_record(&tenant, &record) {
            code.mark_obsolete();
            return Err(e);
        }
        Ok((record, code))
    })
    .await?;
    entry.set_record(record.clone());
    let old = entry.swap_pool(new_pool(
        state,
        &entry.tenant,
        &record,
        LATEST,
        Arc::new(code),
    ));
    if !record
        .code_revs()
        .iter()
        .any(|rev| old.spec().code.path.ends_with(format!("code-{rev}")))
    {
        old.spec().code.mark_obsolete();
    }
    // With `Publish`, Lambda reports the version it published.
    let published = publish.then_some(record.last_version);
    Ok(updated_response(
        &state.config.account_id,
        &record,
        published,
        &request.request_id,
    ))
}

pub async fn update_configuration(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let (reference, entry) = resolve(state, name, &request)?;
    let body = json_body(&request)?;
    let arn = function_arn(
        &state.config.account_id,
        &entry.record().region,
        &reference.name,
    );
    let _guard = entry.update.try_lock().map_err(|_| in_progress(&arn))?;
    let mut record = entry.record();
    check_revision(&body, &record)?;
    if let Some(runtime) = opt_str(&body, "Runtime")? {
        check_runtime(state, runtime)?;
        record.runtime = runtime.to_string();
    }
    if let Some(role) = opt_str(&body, "Role")? {
        check_role(role)?;
        record.role = role.to_string();
    }
    if let Some(timeout) = opt_u32(&body, "Timeout")? {
        check_timeout(timeout)?;
        record.timeout = timeout;
    }
    if let Some(memory) = opt_u32(&body, "MemorySize")? {
        check_memory(memory)?;
        record.memory_size = memory;
    }
    if let Some(description) = opt_str(&body, "Description")? {
        record.description = description.to_string();
    }
    if let Some(environment) = parse_environment(&body)? {
        record.environment = environment;
    }
    if body.contains_key("Layers") {
        let layers = super::layers::requested_layers(state, &request, &body)?;
        record.opt_dir = merge_layers(state, &entry.tenant, &record.name, layers.clone()).await?;
        record.layers = layers.into_iter().map(|(layer, _)| layer).collect();
    }
    let code = entry.pool().spec().code.clone();
    if let Some(handler) = opt_str(&body, "Handler")? {
        check_handler(handler)?;
        let path: PathBuf = code.path.clone();
        let owned = handler.to_string();
        let exists = tokio::task::spawn_blocking(move || handler_module_exists(&path, &owned))
            .await
            .unwrap_or(false);
        if !exists {
            return Err(handler_missing(handler));
        }
        record.handler = handler.to_string();
    }
    record.last_modified = lambda_timestamp(SystemTime::now());
    record.revision_id = request_id();
    let writer = state.clone();
    let tenant = entry.tenant.clone();
    let stored = record.clone();
    blocking(move || writer.store.write_record(&tenant, &stored)).await?;
    entry.set_record(record.clone());
    entry.swap_pool(new_pool(state, &entry.tenant, &record, LATEST, code));
    Ok(updated_response(
        &state.config.account_id,
        &record,
        None,
        &request.request_id,
    ))
}

pub async fn delete(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let (_, entry, target) = resolve_target(state, name, &request)?;
    match target {
        Target::Latest => {}
        Target::Version(version) => {
            return super::versions::delete_version(state, &entry, version, &request).await;
        }
        Target::Alias(alias, _) => {
            return Err(ApiError::invalid_parameter(format!(
                "Deletion of aliases is not supported through DeleteFunction: '{alias}' is an alias; use DeleteAlias, or name a version"
            )));
        }
    }
    if !remove_function(state, &entry).await? {
        return Err(ApiError::function_not_found(&function_arn(
            &state.config.account_id,
            &request.caller.region,
            &entry.with_record(|r| r.name.clone()),
        )));
    }
    Ok(empty_response(StatusCode::NO_CONTENT, &request.request_id))
}

/// Deletes a function with all its versions; false if it was already gone.
pub(super) async fn remove_function(
    state: &Arc<HostState>,
    entry: &Arc<FunctionEntry>,
) -> Result<bool, ApiError> {
    let _guard = entry.update.lock().await;
    let record = entry.record();
    if state
        .registry
        .get(&entry.tenant, &record.name)
        .is_none_or(|e| !Arc::ptr_eq(&e, entry))
    {
        return Ok(false);
    }
    let writer = state.clone();
    let tenant = entry.tenant.clone();
    let function = record.name.clone();
    blocking(move || writer.store.delete_record(&tenant, &function)).await?;
    state.registry.remove(&entry.tenant, &record.name);
    // Its workers' credentials stop working now, not when the workers have stopped.
    state
        .verifier
        .sessions()
        .revoke_function(&entry.tenant, &record.name);
    // Every code revision goes once its last worker is gone, versions' included.
    let pools = entry.all_pools();
    let mut codes: Vec<Arc<CodeDir>> = pools.iter().map(|p| p.spec().code.clone()).collect();
    for rev in record.code_revs() {
        codes.push(entry.shared_code(state, rev));
    }
    for code in codes {
        code.mark_obsolete();
    }
    tokio::spawn(async move {
        for pool in pools {
            pool.retire().await;
        }
    });
    Ok(true)
}

/// Stores `record` with the code `staged`: as a new function of `tenant` when
/// `existing` is None (409 if one appeared meanwhile), else as the new code and
/// configuration of `existing`, whose workers retire (OpenWhisk's PUT of an action).
/// The record's code fields are filled in here.
pub(super) async fn put_function(
    state: &Arc<HostState>,
    tenant: &str,
    record: FunctionRecord,
    staged: StagedCode,
    existing: Option<&Arc<FunctionEntry>>,
) -> Result<FunctionRecord, ApiError> {
    let name = record.name.clone();
    let key = (tenant.to_string(), name.clone());
    let conflict = || ApiError::conflict("Concurrent modification to resource detected.");
    let _guard = match existing {
        Some(entry) => Some(entry.update.try_lock().map_err(|_| conflict())?),
        None => {
            let fresh = state.registry.get(tenant, &name).is_none()
                && state
                    .registry
                    .creating
                    .lock()
                    .map(|mut c| c.insert(key.clone()))
                    .unwrap_or(false);
            if !fresh {
                return Err(conflict());
            }
            None
        }
    };
    let base = FunctionRecord {
        code_sha256: staged.sha256.clone(),
        code_size: staged.size,
        last_modified: lambda_timestamp(SystemTime::now()),
        revision_id: request_id(),
        ..record
    };
    let writer = state.clone();
    let owner = tenant.to_string();
    let stored = blocking(move || {
        let (rev, code) = writer.store.commit_code(&owner, &base.name, staged)?;
        let record = FunctionRecord {
            code_rev: rev,
            ..base
        };
        if let Err(e) = writer.store.write_record(&owner, &record) {
            code.mark_obsolete();
            return Err(e);
        }
        Ok((record, code))
    })
    .await;
    if existing.is_none()
        && let Ok(mut creating) = state.registry.creating.lock()
    {
        creating.remove(&key);
    }
    let (record, code) = stored?;
    match existing {
        None => {
            let entry = new_entry(state, tenant, record.clone(), Arc::new(code));
            state.registry.insert(entry);
        }
        Some(entry) => {
            entry.set_record(record.clone());
            let old = entry.swap_pool(new_pool(state, tenant, &record, LATEST, Arc::new(code)));
            old.spec().code.mark_obsolete();
        }
    }
    Ok(record)
}

/// Every function of a tenant, in name order.
pub(super) fn functions_of(state: &HostState, tenant: &str) -> Vec<Arc<FunctionEntry>> {
    state.registry.list(tenant, None, usize::MAX).0
}

/// Checks and extracts a zip in the staging area (no handler check).
pub(super) async fn stage_zip(
    state: &Arc<HostState>,
    zip: Vec<u8>,
) -> Result<StagedCode, ApiError> {
    let stager = state.clone();
    tokio::task::spawn_blocking(move || stager.store.stage_code(&zip))
        .await
        .map_err(|e| ApiError::service(e.to_string()))?
}

/// The record and version number (None: `$LATEST`) a target stands for.
pub fn target_snapshot(
    entry: &FunctionEntry,
    target: &Target,
) -> Result<(FunctionRecord, Option<u32>), ApiError> {
    let version = version_number(&target.version());
    entry
        .with_record(|record| target_record(record, target))
        .map(|record| (record, version))
        .ok_or_else(|| ApiError::not_found("The version the alias points at no longer exists."))
}

/// Unpacks the function's layers, merged in order, in its directory (blocking).
async fn merge_layers(
    state: &Arc<HostState>,
    tenant: &str,
    name: &str,
    layers: Vec<(LayerUse, PathBuf)>,
) -> Result<Option<String>, ApiError> {
    if layers.is_empty() {
        return Ok(None);
    }
    let merger = state.clone();
    let (tenant, name) = (tenant.to_string(), name.to_string());
    tokio::task::spawn_blocking(move || merger.store.merge_layers(&tenant, &name, &layers))
        .await
        .map_err(|e| ApiError::service(e.to_string()))?
        .map(Some)
}

fn principal(principal: &str) -> Value {
    if principal == "*" {
        Value::String("*".into())
    } else if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        json!({ "AWS": format!("arn:aws:iam::{principal}:root") })
    } else if principal.starts_with("arn:") {
        json!({ "AWS": principal })
    } else {
        json!({ "Service": principal })
    }
}

/// The ARN whose resource policy a permission request is about (a version or alias has
/// its own, as in Lambda), and the function.
fn policy_target(
    state: &HostState,
    name: &str,
    request: &ApiRequest,
) -> Result<(String, Arc<FunctionEntry>), ApiError> {
    let (reference, entry, target) = resolve_target(state, name, request)?;
    let arn = target.arn(state, &reference, &entry);
    Ok((arn, entry))
}

/// Whether a stored statement belongs to the policy of `arn` (statements of every
/// qualifier are kept in one list, told apart by their `Resource`).
fn statement_of(statement: &Value, arn: &str) -> bool {
    statement.get("Resource").and_then(Value::as_str) == Some(arn)
}

pub async fn add_permission(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let (arn, entry) = policy_target(state, name, &request)?;
    let body = json_body(&request)?;
    let sid = required(opt_str(&body, "StatementId")?, "StatementId")?;
    if sid.is_empty()
        || sid.len() > 100
        || !sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{sid}' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)"
        )));
    }
    let action = required(opt_str(&body, "Action")?, "Action")?;
    let who = required(opt_str(&body, "Principal")?, "Principal")?;
    let _guard = entry.update.try_lock().map_err(|_| in_progress(&arn))?;
    let mut record = entry.record();
    check_revision(&body, &record)?;
    if record
        .policy
        .iter()
        .any(|s| statement_of(s, &arn) && s.get("Sid").and_then(Value::as_str) == Some(sid))
    {
        return Err(ApiError::conflict(
            "The statement id (sid) provided already exists. Please choose another statement id.",
        ));
    }
    let mut statement = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal(who),
        "Action": action,
        "Resource": arn,
    });
    let mut condition = Map::new();
    if let Some(source_arn) = opt_str(&body, "SourceArn")? {
        condition.insert("ArnLike".into(), json!({ "AWS:SourceArn": source_arn }));
    }
    let mut equals = Map::new();
    if let Some(account) = opt_str(&body, "SourceAccount")? {
        equals.insert("AWS:SourceAccount".into(), account.into());
    }
    if let Some(org) = opt_str(&body, "PrincipalOrgID")? {
        equals.insert("aws:PrincipalOrgID".into(), org.into());
    }
    if !equals.is_empty() {
        condition.insert("StringEquals".into(), Value::Object(equals));
    }
    if let (false, Value::Object(map)) = (condition.is_empty(), &mut statement) {
        map.insert("Condition".into(), Value::Object(condition));
    }
    record.policy.push(statement.clone());
    record.revision_id = request_id();
    let writer = state.clone();
    let tenant = entry.tenant.clone();
    let stored = record.clone();
    blocking(move || writer.store.write_record(&tenant, &stored)).await?;
    entry.set_record(record);
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "Statement": statement.to_string() }),
        &request.request_id,
    ))
}

pub async fn get_policy(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let (arn, entry) = policy_target(state, name, &request)?;
    let record = entry.record();
    let statements: Vec<&Value> = record
        .policy
        .iter()
        .filter(|s| statement_of(s, &arn))
        .collect();
    if statements.is_empty() {
        return Err(ApiError::not_found(
            "The resource you requested does not exist.",
        ));
    }
    let policy = json!({ "Version": "2012-10-17", "Id": "default", "Statement": statements });
    Ok(json_response(
        StatusCode::OK,
        &json!({ "Policy": policy.to_string(), "RevisionId": record.revision_id }),
        &request.request_id,
    ))
}

pub async fn remove_permission(
    state: &Arc<HostState>,
    name: &str,
    sid: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let (arn, entry) = policy_target(state, name, &request)?;
    let _guard = entry.update.try_lock().map_err(|_| in_progress(&arn))?;
    let mut record = entry.record();
    if !record.policy.iter().any(|s| statement_of(s, &arn)) {
        return Err(ApiError::not_found(
            "No policy is associated with the given resource.",
        ));
    }
    let before = record.policy.len();
    record
        .policy
        .retain(|s| !statement_of(s, &arn) || s.get("Sid").and_then(Value::as_str) != Some(sid));
    if record.policy.len() == before {
        return Err(ApiError::not_found(
            "Statement sid is not found in resource policy.",
        ));
    }
    record.revision_id = request_id();
    let writer = state.clone();
    let tenant = entry.tenant.clone();
    let stored = record.clone();
    blocking(move || writer.store.write_record(&tenant, &stored)).await?;
    entry.set_record(record);
    Ok(empty_response(StatusCode::NO_CONTENT, &request.request_id))
}

/// `Code.Location` of GetFunction: the zip as uploaded, for whoever has the URL (it
/// contains the code revision, which is random), like a presigned S3 URL.
/// How long GetFunction's code link works (Lambda's presigned links last 10 minutes).
const CODE_LINK_SECONDS: u64 = 600;

pub(super) fn code_link_signature(
    state: &HostState,
    tenant: &str,
    name: &str,
    rev: &str,
    expires: u64,
) -> String {
    let message = format!("{tenant}\n{name}\n{rev}\n{expires}");
    super::util::hmac_sha256_hex(&state.link_key, message.as_bytes())
}

/// Checks a download link's signature and expiry.
pub(super) fn check_link(
    state: &HostState,
    tenant: &str,
    name: &str,
    rev: &str,
    request: &ApiRequest,
) -> Result<(), ApiError> {
    let expires: u64 = request
        .query("Expires")
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let now = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let expected = code_link_signature(state, tenant, name, rev, expires);
    let given = request.query("Signature").unwrap_or("");
    if !super::util::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(ApiError::forbidden(
            "AccessDenied",
            "Request has an invalid or missing signature",
        ));
    }
    if now > expires {
        return Err(ApiError::forbidden("AccessDenied", "Request has expired"));
    }
    Ok(())
}

pub async fn download_code(
    state: &Arc<HostState>,
    tenant: &str,
    name: &str,
    rev: &str,
    request: &ApiRequest,
) -> Result<Response, ApiError> {
    check_link(state, tenant, name, rev, request)?;
    let not_found = || ApiError::not_found("The specified key does not exist.");
    let entry = state.registry.get(tenant, name).ok_or_else(not_found)?;
    if !entry.with_record(|r| r.code_revs().contains(rev)) {
        return Err(not_found());
    }
    let code = entry.shared_code(state, rev);
    let bytes = tokio::fs::read(&code.zip).await.map_err(|_| not_found())?;
    let mut response = bytes.into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/zip"));
    Ok(response)
}
