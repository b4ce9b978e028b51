//! Published versions, aliases and reserved concurrency.
//!
//! A published version is an immutable snapshot of `$LATEST`'s record (code revision,
//! configuration, layers), kept in the function's record with the aliases, so that every
//! change is one atomic write of `function.json`. Versions are numbered from 1 and a
//! number is never given out twice. Reserved concurrency bounds the invocations of all
//! of a function's versions together; functions without it share what the account
//! leaves unreserved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::HostState;
use super::error::ApiError;
use super::functions::{
    FunctionEntry, blocking, check_revision, in_progress, json_body, opt_str, opt_u32,
    qualified_arn, required, resolve_target, version_configuration, wrong_type,
};
use super::names::{LATEST, function_arn, is_valid_alias, version_number};
use super::server::{ApiRequest, empty_response, json_response};
use super::store::{AliasRecord, FunctionRecord};
use super::util::request_id;

/// Concurrent executions of one account (Lambda's default quota per Region).
pub const ACCOUNT_CONCURRENCY: u32 = 1000;
/// What reservations must leave to the functions without one, as in Lambda.
pub const MIN_UNRESERVED: u32 = 100;
/// Versions an alias may route to besides its main one.
const MAX_ADDITIONAL_VERSIONS: usize = 1;

/// Adds a snapshot of `$LATEST` as the next version, unless `$LATEST` has not changed
/// since the last one was published (then that one is the answer, as in Lambda).
/// Returns the version's number and whether it is new.
pub fn publish_snapshot(record: &mut FunctionRecord, description: Option<&str>) -> (u32, bool) {
    let last = record.versions.iter().next_back();
    if let Some((number, last)) = last
        && last.revision_id == record.revision_id
    {
        return (*number, false);
    }
    let version = record.last_version + 1;
    let mut snapshot = FunctionRecord {
        versions: BTreeMap::new(),
        aliases: BTreeMap::new(),
        reserved_concurrency: None,
        policy: Vec::new(),
        last_version: 0,
        ..record.clone()
    };
    if let Some(description) = description {
        snapshot.description = description.to_string();
    }
    record.versions.insert(version, snapshot);
    record.last_version = version;
    (version, true)
}

/// The function of a version, alias or concurrency request. Its name may carry a
/// qualifier (an alias's ARN, say), which these operations ignore, as Lambda does.
fn resolve(
    state: &HostState,
    name: &str,
    request: &ApiRequest,
) -> Result<Arc<FunctionEntry>, ApiError> {
    let (_, entry, _) = resolve_target(state, name, request)?;
    Ok(entry)
}

fn write_record(
    state: &Arc<HostState>,
    entry: &FunctionEntry,
    record: FunctionRecord,
) -> impl Future<Output = Result<FunctionRecord, ApiError>> + use<> {
    let writer = state.clone();
    let tenant = entry.tenant.clone();
    async move {
        let stored = record.clone();
        blocking(move || writer.store.write_record(&tenant, &stored)).await?;
        Ok(record)
    }
}

fn function_arn_of(state: &HostState, record: &FunctionRecord) -> String {
    function_arn(&state.config.account_id, &record.region, &record.name)
}

/// PublishVersion: `POST /2015-03-31/functions/{name}/versions`.
pub async fn publish(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let entry = resolve(state, name, &request)?;
    let body = json_body(&request)?;
    let _guard = entry
        .update
        .try_lock()
        .map_err(|_| in_progress(&function_arn_of(state, &entry.record())))?;
    let mut record = entry.record();
    check_revision(&body, &record)?;
    if let Some(sha) = opt_str(&body, "CodeSha256")?
        && sha != record.code_sha256
    {
        return Err(ApiError::invalid_parameter(format!(
            "CodeSha256 ({sha}) is different from current CodeSha256 in $LATEST ({}). Please try again with the CodeSha256 in $LATEST.",
            record.code_sha256
        )));
    }
    let description = opt_str(&body, "Description")?;
    let (version, new) = publish_snapshot(&mut record, description);
    if new {
        record = write_record(state, &entry, record).await?;
        entry.set_record(record.clone());
    }
    let snapshot = record.versions.get(&version).cloned().unwrap_or(record);
    Ok(json_response(
        StatusCode::CREATED,
        &version_configuration(&state.config.account_id, &snapshot, Some(version)),
        &request.request_id,
    ))
}

/// A `Marker`/`MaxItems` page size (1-10,000, default 50).
fn page_size(request: &ApiRequest) -> Result<usize, ApiError> {
    match request.query("MaxItems") {
        None => Ok(50),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "1 validation error detected: Value '{text}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000"
                ))
            }),
    }
}

/// One page of `items` (keyed, in order) after `Marker`, with `NextMarker` when more follow.
pub(super) fn page(
    request: &ApiRequest,
    items: Vec<(String, Value)>,
    field: &str,
) -> Result<Value, ApiError> {
    let max = page_size(request)?;
    let start = match request.query("Marker").filter(|m| !m.is_empty()) {
        Some(marker) => items
            .iter()
            .position(|(key, _)| key == marker)
            .map_or(items.len(), |i| i + 1),
        None => 0,
    };
    let rest = &items[start.min(items.len())..];
    let shown: Vec<Value> = rest.iter().take(max).map(|(_, v)| v.clone()).collect();
    let mut body = json!({ field: shown });
    if rest.len() > max {
        body["NextMarker"] = Value::String(rest[max - 1].0.clone());
    }
    Ok(body)
}

/// ListVersionsByFunction: `$LATEST`, then the published versions in order.
pub async fn list_versions(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let entry = resolve(state, name, &request)?;
    let account = &state.config.account_id;
    let items = entry.with_record(|record| {
        let mut latest = version_configuration(account, record, None);
        // Listed among versions, $LATEST's ARN is qualified too.
        latest["FunctionArn"] = Value::String(qualified_arn(
            account,
            &record.region,
            &record.name,
            Some(LATEST),
        ));
        std::iter::once((LATEST.to_string(), latest))
            .chain(record.versions.iter().map(|(n, snapshot)| {
                (
                    n.to_string(),
                    version_configuration(account, snapshot, Some(*n)),
                )
            }))
            .collect()
    });
    let body = page(&request, items, "Versions")?;
    Ok(json_response(StatusCode::OK, &body, &request.request_id))
}

/// DeleteFunction with a version qualifier: removes that version (not while an alias
/// points at it).
pub async fn delete_version(
    state: &Arc<HostState>,
    entry: &Arc<FunctionEntry>,
    version: u32,
    request: &ApiRequest,
) -> Result<Response, ApiError> {
    let _guard = entry.update.lock().await;
    let mut record = entry.record();
    let version_name = version.to_string();
    let arn = qualified_arn(
        &state.config.account_id,
        &record.region,
        &record.name,
        Some(&version_name),
    );
    let Some(snapshot) = record.versions.remove(&version) else {
        return Err(ApiError::function_not_found(&arn));
    };
    let routed = record.aliases.iter().find(|(_, alias)| {
        alias.function_version == version_name
            || alias.additional_weights.contains_key(&version_name)
    });
    if let Some((alias, _)) = routed {
        return Err(ApiError::conflict(format!(
            "Unable to delete version because the following aliases reference it: [{alias}]"
        )));
    }
    record = write_record(state, entry, record).await?;
    entry.set_record(record.clone());
    entry.drop_version(state, version, &snapshot.code_rev, &record);
    Ok(empty_response(StatusCode::NO_CONTENT, &request.request_id))
}

fn alias_arn(state: &HostState, record: &FunctionRecord, alias: &str) -> String {
    qualified_arn(
        &state.config.account_id,
        &record.region,
        &record.name,
        Some(alias),
    )
}

fn alias_configuration(
    state: &HostState,
    record: &FunctionRecord,
    name: &str,
    alias: &AliasRecord,
) -> Value {
    let mut config = json!({
        "AliasArn": alias_arn(state, record, name),
        "Name": name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    });
    if !alias.additional_weights.is_empty() {
        config["RoutingConfig"] = json!({ "AdditionalVersionWeights": alias.additional_weights });
    }
    config
}

fn unknown_alias(state: &HostState, record: &FunctionRecord, name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Cannot find alias arn: {}",
        alias_arn(state, record, name)
    ))
}

/// The version an alias may point at: `$LATEST` or a published one (404 otherwise).
fn check_target_version(
    state: &HostState,
    record: &FunctionRecord,
    version: &str,
) -> Result<(), ApiError> {
    let exists = version == LATEST
        || version_number(version).is_some_and(|n| record.versions.contains_key(&n));
    if !exists {
        return Err(ApiError::function_not_found(&qualified_arn(
            &state.config.account_id,
            &record.region,
            &record.name,
            Some(version),
        )));
    }
    Ok(())
}

/// `RoutingConfig.AdditionalVersionWeights`: at most one other published version, with a
/// weight in [0, 1]; the main version must be a published one too.
fn routing_config(
    state: &HostState,
    record: &FunctionRecord,
    main_version: &str,
    body: &Map<String, Value>,
) -> Result<Option<BTreeMap<String, f64>>, ApiError> {
    let weights = match body.get("RoutingConfig") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(config)) => match config.get("AdditionalVersionWeights") {
            None | Some(Value::Null) => return Ok(Some(BTreeMap::new())),
            Some(Value::Object(weights)) => weights,
            Some(_) => {
                return Err(wrong_type(
                    "RoutingConfig.AdditionalVersionWeights",
                    "an object of numbers",
                ));
            }
        },
        Some(_) => return Err(wrong_type("RoutingConfig", "an object")),
    };
    if weights.len() > MAX_ADDITIONAL_VERSIONS {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to {MAX_ADDITIONAL_VERSIONS}]",
            Value::Object(weights.clone())
        )));
    }
    let mut out = BTreeMap::new();
    for (version, weight) in weights {
        let weight = weight
            .as_f64()
            .ok_or_else(|| wrong_type("RoutingConfig.AdditionalVersionWeights", "numbers"))?;
        if !(0.0..=1.0).contains(&weight) {
            return Err(ApiError::invalid_parameter(format!(
                "1 validation error detected: Value '{weight}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Member must have value between 0.0 and 1.0"
            )));
        }
        if main_version == LATEST || version_number(version).is_none() {
            return Err(ApiError::invalid_parameter(
                "$LATEST is not supported for an alias pointing to more than 1 version",
            ));
        }
        if version == main_version {
            return Err(ApiError::invalid_parameter(format!(
                "Invalid function version {version}. Function version {version} is already included in routing configuration."
            )));
        }
        check_target_version(state, record, version)?;
        out.insert(version.clone(), weight);
    }
    Ok(Some(out))
}

/// CreateAlias: `POST /2015-03-31/functions/{name}/aliases`.
pub async fn create_alias(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let entry = resolve(state, name, &request)?;
    let body = json_body(&request)?;
    let alias = required(opt_str(&body, "Name")?, "Name")?.to_string();
    if !is_valid_alias(&alias) {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{alias}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        )));
    }
    let version = required(opt_str(&body, "FunctionVersion")?, "FunctionVersion")?.to_string();
    let description = opt_str(&body, "Description")?.unwrap_or("").to_string();
    let _guard = entry
        .update
        .try_lock()
        .map_err(|_| in_progress(&function_arn_of(state, &entry.record())))?;
    let mut record = entry.record();
    if record.aliases.contains_key(&alias) {
        return Err(ApiError::conflict(format!(
            "Alias already exists: {}",
            alias_arn(state, &record, &alias)
        )));
    }
    check_target_version(state, &record, &version)?;
    let weights = routing_config(state, &record, &version, &body)?.unwrap_or_default();
    let config = AliasRecord {
        function_version: version,
        description,
        additional_weights: weights,
        revision_id: request_id(),
    };
    record.aliases.insert(alias.clone(), config.clone());
    record = write_record(state, &entry, record).await?;
    entry.set_record(record.clone());
    Ok(json_response(
        StatusCode::CREATED,
        &alias_configuration(state, &record, &alias, &config),
        &request.request_id,
    ))
}

/// GetAlias: `GET /2015-03-31/functions/{name}/aliases/{alias}`.
pub async fn get_alias(
    state: &Arc<HostState>,
    name: &str,
    alias: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let entry = resolve(state, name, &request)?;
    let record = entry.record();
    let config = record
        .aliases
        .get(alias)
        .ok_or_else(|| unknown_alias(state, &record, alias))?;
    Ok(json_response(
        StatusCode::OK,
        &alias_configuration(state, &record, alias, config),
        &request.request_id,
    ))
}

/// UpdateAlias: `PUT /2015-03-31/functions/{name}/aliases/{alias}`.
pub async fn update_alias(
    state: &Arc<HostState>,
    name: &str,
    alias: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let entry = resolve(state, name, &request)?;
    let body = json_body(&request)?;
    let _guard = entry
        .update
        .try_lock()
        .map_err(|_| in_progress(&function_arn_of(state, &entry.record())))?;
    let mut record = entry.record();
    let mut config = record
        .aliases
        .get(alias)
        .cloned()
        .ok_or_else(|| unknown_alias(state, &record, alias))?;
    if let Some(revision) = opt_str(&body, "RevisionId")?
        && revision != config.revision_id
    {
        return Err(ApiError::precondition_failed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        ));
    }
    if let Some(version) = opt_str(&body, "FunctionVersion")? {
        check_target_version(state, &record, version)?;
        config.function_version = version.to_string();
    }
    if let Some(description) = opt_str(&body, "Description")? {
        config.description = description.to_string();
    }
    if let Some(weights) = routing_config(state, &record, &config.function_version, &body)? {
        config.additional_weights = weights;
    } else if config
        .additional_weights
        .contains_key(&config.function_version)
    {
        // The main version moved onto the one it shared traffic with.
        config.additional_weights.clear();
    }
    config.revision_id = request_id();
    record.aliases.insert(alias.to_string(), config.clone());
    record = write_record(state, &entry, record).await?;
    entry.set_record(record.clone());
    Ok(json_response(
        StatusCode::OK,
        &alias_configuration(state, &record, alias, &config),
        &request.request_id,
    ))
}

/// DeleteAlias: `DELETE /2015-03-31/functions/{name}/aliases/{alias}` (204 whether or not
/// it existed, as Lambda answers).
pub async fn delete_alias(
    state: &Arc<HostState>,
    name: &str,
    alias: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let entry = resolve(state, name, &request)?;
    let _guard = entry
        .update
        .try_lock()
        .map_err(|_| in_progress(&function_arn_of(state, &entry.record())))?;
    let mut record = entry.record();
    if record.aliases.remove(alias).is_some() {
        record = write_record(state, &entry, record).await?;
        entry.set_record(record);
    }
    Ok(empty_response(StatusCode::NO_CONTENT, &request.request_id))
}

/// ListAliases: `GET /2015-03-31/functions/{name}/aliases` (`FunctionVersion` filters).
pub async fn list_aliases(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let entry = resolve(state, name, &request)?;
    let record = entry.record();
    let only = request.query("FunctionVersion");
    let items = record
        .aliases
        .iter()
        .filter(|(_, alias)| only.is_none_or(|v| alias.function_version == v))
        .map(|(name, alias)| {
            (
                name.clone(),
                alias_configuration(state, &record, name, alias),
            )
        })
        .collect();
    let body = page(&request, items, "Aliases")?;
    Ok(json_response(StatusCode::OK, &body, &request.request_id))
}

/// The version an invocation of an alias runs: its main version, or with the probability
/// of its weight the additional one.
pub fn route_alias(alias: &AliasRecord) -> String {
    let roll = f64::from(rand_u32()) / f64::from(u32::MAX);
    let mut threshold = 0.0;
    for (version, weight) in &alias.additional_weights {
        threshold += weight;
        if roll < threshold {
            return version.clone();
        }
    }
    alias.function_version.clone()
}

fn rand_u32() -> u32 {
    let bytes = super::util::secret_bytes(4);
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// PutFunctionConcurrency: `PUT /2017-10-31/functions/{name}/concurrency`.
pub async fn put_concurrency(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let entry = resolve(state, name, &request)?;
    let body = json_body(&request)?;
    let reserved = opt_u32(&body, "ReservedConcurrentExecutions")?
        .ok_or_else(|| ApiError::invalid_parameter("ReservedConcurrentExecutions is required"))?;
    let _guard = entry
        .update
        .try_lock()
        .map_err(|_| in_progress(&function_arn_of(state, &entry.record())))?;
    let mut record = entry.record();
    let others = state
        .registry
        .reserved_total(&entry.tenant, Some(&record.name));
    let unreserved = i64::from(ACCOUNT_CONCURRENCY) - i64::from(others) - i64::from(reserved);
    if unreserved < i64::from(MIN_UNRESERVED) {
        return Err(ApiError::invalid_parameter(format!(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
        )));
    }
    record.reserved_concurrency = Some(reserved);
    record = write_record(state, &entry, record).await?;
    entry.set_record(record);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ReservedConcurrentExecutions": reserved }),
        &request.request_id,
    ))
}

/// GetFunctionConcurrency: `GET /2019-09-30/functions/{name}/concurrency` (`{}` when none
/// is reserved).
pub async fn get_concurrency(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let entry = resolve(state, name, &request)?;
    let body = match entry.with_record(|r| r.reserved_concurrency) {
        Some(reserved) => json!({ "ReservedConcurrentExecutions": reserved }),
        None => json!({}),
    };
    Ok(json_response(StatusCode::OK, &body, &request.request_id))
}

/// DeleteFunctionConcurrency: `DELETE /2017-10-31/functions/{name}/concurrency`.
pub async fn delete_concurrency(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let entry = resolve(state, name, &request)?;
    let _guard = entry
        .update
        .try_lock()
        .map_err(|_| in_progress(&function_arn_of(state, &entry.record())))?;
    let mut record = entry.record();
    if record.reserved_concurrency.take().is_some() {
        record = write_record(state, &entry, record).await?;
        entry.set_record(record);
    }
    Ok(empty_response(StatusCode::NO_CONTENT, &request.request_id))
}

/// GetAccountSettings: `GET /2016-08-19/account-settings/`.
pub async fn account_settings(
    state: &Arc<HostState>,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let reserved = state.registry.reserved_total(&request.caller.tenant, None);
    let functions = state.registry.count_of(&request.caller.tenant);
    let body = json!({
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800u64,
            "CodeSizeUnzipped": super::zipcheck::MAX_UNZIPPED_BYTES,
            "CodeSizeZipped": super::zipcheck::MAX_ZIPPED_BYTES,
            "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
            "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENCY.saturating_sub(reserved),
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": functions},
    });
    Ok(json_response(StatusCode::OK, &body, &request.request_id))
}

/// A running invocation's share of its function's (or the account's unreserved)
/// concurrency, given back when dropped.
pub struct Slot {
    entry: Arc<FunctionEntry>,
    unreserved: Option<Arc<AtomicUsize>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.entry.running.fetch_sub(1, Ordering::SeqCst);
        if let Some(counter) = &self.unreserved {
            counter.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Takes a slot for one invocation of `entry`, or says why it is throttled: beyond the
/// function's reserved concurrency (0 throttles every invocation), or, for a function
/// without a reservation, beyond what the account leaves unreserved.
pub fn take_slot(state: &HostState, entry: &Arc<FunctionEntry>) -> Result<Slot, ApiError> {
    let reserved = entry.with_record(|r| r.reserved_concurrency);
    let running = entry.running.fetch_add(1, Ordering::SeqCst);
    let mut slot = Slot {
        entry: entry.clone(),
        unreserved: None,
    };
    match reserved {
        Some(limit) => {
            if running >= limit as usize {
                return Err(ApiError::throttled(
                    "ReservedFunctionConcurrentInvocationLimitExceeded",
                    "Rate Exceeded.",
                ));
            }
        }
        None => {
            let counter = state.registry.unreserved_running(&entry.tenant);
            let now = counter.fetch_add(1, Ordering::SeqCst);
            slot.unreserved = Some(counter);
            // Summing the reservations is only worth it near the limit.
            if now >= MIN_UNRESERVED as usize {
                let reserved_total = state.registry.reserved_total(&entry.tenant, None);
                if now >= ACCOUNT_CONCURRENCY.saturating_sub(reserved_total) as usize {
                    return Err(ApiError::throttled(
                        "ConcurrentInvocationLimitExceeded",
                        "Rate Exceeded.",
                    ));
                }
            }
        }
    }
    Ok(slot)
}
