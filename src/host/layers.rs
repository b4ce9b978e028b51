//! Lambda layers: publish, get, list and delete layer versions, and the `Layers` of a
//! function's configuration.
//!
//! A layer version is a zip checked like function code (`zipcheck`) and kept as uploaded
//! in the state directory. A function lists up to five layer versions; they are unpacked,
//! in order, into one directory of the function that its workers see read-only as
//! Lambda's `/opt` (see `store::Store::merge_layers`). The function keeps that copy, so
//! deleting a layer version does not break the functions using it, as in Lambda.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::HostState;
use super::error::ApiError;
use super::functions::{blocking, code_link_signature, decode_zip, json_body, opt_str, wrong_type};
use super::names::{is_valid_layer_name, layer_arn, parse_layer_version_arn, version_number};
use super::server::{ApiRequest, empty_response, json_response};
use super::store::{LayerRecord, LayerUse, LayerVersionRecord};
use super::util::lambda_timestamp;

/// Layers a function may use at once.
const MAX_LAYERS: usize = 5;
/// How long a layer's download link works (as GetFunction's code link).
const LINK_SECONDS: u64 = 600;

fn check_layer_name(name: &str) -> Result<(), ApiError> {
    if !is_valid_layer_name(name) {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{name}' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
        )));
    }
    Ok(())
}

/// A layer name as a path names it: the name, or the layer's ARN.
fn layer_name(text: &str) -> Result<String, ApiError> {
    let name = match text.strip_prefix("arn:") {
        Some(_) => text.rsplit(':').next().unwrap_or(text),
        None => text,
    };
    check_layer_name(name)?;
    Ok(name.to_string())
}

fn strings(body: &Map<String, Value>, field: &str) -> Result<Vec<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| wrong_type(field, "a list of strings"))
            })
            .collect(),
        Some(_) => Err(wrong_type(field, "a list of strings")),
    }
}

fn version_arn(state: &HostState, name: &str, version: u32, record: &LayerVersionRecord) -> String {
    format!(
        "{}:{version}",
        layer_arn(&state.config.account_id, &record.region, name)
    )
}

/// A `LayerVersionsListItem` (ListLayerVersions, ListLayers' `LatestMatchingVersion`).
fn list_item(state: &HostState, name: &str, version: u32, record: &LayerVersionRecord) -> Value {
    let mut item = json!({
        "LayerVersionArn": version_arn(state, name, version, record),
        "Version": version,
        "Description": record.description,
        "CreatedDate": record.created_date,
        "CompatibleRuntimes": record.compatible_runtimes,
        "CompatibleArchitectures": record.compatible_architectures,
    });
    if let Some(license) = &record.license_info {
        item["LicenseInfo"] = Value::String(license.clone());
    }
    item
}

/// GetLayerVersion's and PublishLayerVersion's answer, with a download link.
fn layer_version(
    state: &HostState,
    request: &ApiRequest,
    name: &str,
    version: u32,
    record: &LayerVersionRecord,
) -> Value {
    let expires = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        + LINK_SECONDS;
    let tenant = &request.caller.tenant;
    let signature = code_link_signature(
        state,
        tenant,
        &format!("layer:{name}"),
        &version.to_string(),
        expires,
    );
    let location = format!(
        "http://{}/_lambada/layer/{tenant}/{name}/{version}?Expires={expires}&Signature={signature}",
        request.host()
    );
    let mut body = list_item(state, name, version, record);
    body["LayerArn"] = Value::String(layer_arn(&state.config.account_id, &record.region, name));
    body["Content"] = json!({
        "Location": location,
        "CodeSha256": record.code_sha256,
        "CodeSize": record.code_size,
    });
    body
}

async fn read_layer(
    state: &Arc<HostState>,
    tenant: &str,
    name: &str,
) -> Result<Option<LayerRecord>, ApiError> {
    let reader = state.clone();
    let (tenant, name) = (tenant.to_string(), name.to_string());
    blocking(move || reader.store.read_layer(&tenant, &name)).await
}

/// PublishLayerVersion: `POST /2018-10-31/layers/{name}/versions` with `Content.ZipFile`.
pub async fn publish(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let name = layer_name(name)?;
    let body = json_body(&request)?;
    let content = match body.get("Content") {
        Some(Value::Object(content)) if !content.is_empty() => content,
        Some(Value::Object(_)) | None | Some(Value::Null) => {
            return Err(ApiError::invalid_parameter("Missing Content"));
        }
        Some(_) => return Err(wrong_type("Content", "an object")),
    };
    let zip = decode_zip(content.get("ZipFile"), "Content.ZipFile")?;
    let description = opt_str(&body, "Description")?.unwrap_or("").to_string();
    let license_info = opt_str(&body, "LicenseInfo")?.map(str::to_string);
    let compatible_runtimes = strings(&body, "CompatibleRuntimes")?;
    let compatible_architectures = strings(&body, "CompatibleArchitectures")?;
    let tenant = request.caller.tenant.clone();
    // One publisher at a time: version numbers come from the layer's record.
    let _publishing = state.registry.layers_lock().await;
    let stager = state.clone();
    let staged = tokio::task::spawn_blocking(move || stager.store.stage_code(&zip))
        .await
        .map_err(|e| ApiError::service(e.to_string()))??;
    let version_record = LayerVersionRecord {
        region: request.caller.region.clone(),
        description,
        created_date: lambda_timestamp(SystemTime::now()),
        compatible_runtimes,
        compatible_architectures,
        license_info,
        code_sha256: staged.sha256.clone(),
        code_size: staged.size,
    };
    let writer = state.clone();
    let (layer, stored) = (name.clone(), version_record.clone());
    let version = blocking(move || {
        let mut record = writer
            .store
            .read_layer(&tenant, &layer)?
            .unwrap_or_default();
        let version = record.last_version + 1;
        writer
            .store
            .commit_layer_zip(&tenant, &layer, version, staged)?;
        record.last_version = version;
        record.versions.insert(version, stored);
        writer.store.write_layer(&tenant, &layer, &record)?;
        Ok(version)
    })
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &layer_version(state, &request, &name, version, &version_record),
        &request.request_id,
    ))
}

fn unknown_layer_version() -> ApiError {
    ApiError::not_found("The resource you requested does not exist.")
}

fn parse_version(text: &str) -> Result<u32, ApiError> {
    version_number(text).ok_or_else(|| {
        ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{text}' at 'versionNumber' failed to satisfy constraint: Member must be a positive number"
        ))
    })
}

/// GetLayerVersion: `GET /2018-10-31/layers/{name}/versions/{version}`.
pub async fn get(
    state: &Arc<HostState>,
    name: &str,
    version: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let name = layer_name(name)?;
    let version = parse_version(version)?;
    let record = read_layer(state, &request.caller.tenant, &name)
        .await?
        .and_then(|layer| layer.versions.get(&version).cloned())
        .ok_or_else(unknown_layer_version)?;
    Ok(json_response(
        StatusCode::OK,
        &layer_version(state, &request, &name, version, &record),
        &request.request_id,
    ))
}

/// ListLayers: `GET /2018-10-31/layers` (`CompatibleRuntime`, `CompatibleArchitecture`,
/// `Marker`, `MaxItems`), or GetLayerVersionByArn with `find=LayerVersion&Arn=...`.
pub async fn list(state: &Arc<HostState>, request: ApiRequest) -> Result<Response, ApiError> {
    if request.query("find") == Some("LayerVersion") {
        let arn = request.query("Arn").unwrap_or("");
        let layer = parse_layer_version_arn(arn).ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "1 validation error detected: Value '{arn}' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+:[0-9]+"
            ))
        })?;
        if layer.account != state.config.account_id {
            return Err(unknown_layer_version());
        }
        let version = layer.version.to_string();
        return get(state, &layer.name, &version, request).await;
    }
    let runtime = request.query("CompatibleRuntime");
    let architecture = request.query("CompatibleArchitecture");
    let lister = state.clone();
    let tenant = request.caller.tenant.clone();
    let layers = tokio::task::spawn_blocking(move || lister.store.list_layers(&tenant))
        .await
        .map_err(|e| ApiError::service(e.to_string()))?;
    let matches = |v: &LayerVersionRecord| {
        runtime.is_none_or(|r| v.compatible_runtimes.iter().any(|c| c == r))
            && architecture.is_none_or(|a| v.compatible_architectures.iter().any(|c| c == a))
    };
    let items: Vec<(String, Value)> = layers
        .iter()
        .filter_map(|(name, layer)| {
            let (version, latest) = layer.versions.iter().rev().find(|(_, v)| matches(v))?;
            Some((
                name.clone(),
                json!({
                    "LayerName": name,
                    "LayerArn": layer_arn(&state.config.account_id, &latest.region, name),
                    "LatestMatchingVersion": list_item(state, name, *version, latest),
                }),
            ))
        })
        .collect();
    let body = super::versions::page(&request, items, "Layers")?;
    Ok(json_response(StatusCode::OK, &body, &request.request_id))
}

/// ListLayerVersions: `GET /2018-10-31/layers/{name}/versions`, newest first.
pub async fn list_versions(
    state: &Arc<HostState>,
    name: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let name = layer_name(name)?;
    let runtime = request.query("CompatibleRuntime");
    let layer = read_layer(state, &request.caller.tenant, &name)
        .await?
        .unwrap_or_default();
    let items = layer
        .versions
        .iter()
        .rev()
        .filter(|(_, v)| runtime.is_none_or(|r| v.compatible_runtimes.iter().any(|c| c == r)))
        .map(|(version, record)| {
            (
                version.to_string(),
                list_item(state, &name, *version, record),
            )
        })
        .collect();
    let body = super::versions::page(&request, items, "LayerVersions")?;
    Ok(json_response(StatusCode::OK, &body, &request.request_id))
}

/// DeleteLayerVersion: `DELETE /2018-10-31/layers/{name}/versions/{version}` (204 whether
/// or not it existed, as Lambda answers). Functions using it keep their copy.
pub async fn delete(
    state: &Arc<HostState>,
    name: &str,
    version: &str,
    request: ApiRequest,
) -> Result<Response, ApiError> {
    let name = layer_name(name)?;
    let version = parse_version(version)?;
    let _publishing = state.registry.layers_lock().await;
    let writer = state.clone();
    let tenant = request.caller.tenant.clone();
    blocking(move || {
        let Some(mut record) = writer.store.read_layer(&tenant, &name)? else {
            return Ok(());
        };
        if record.versions.remove(&version).is_some() {
            writer.store.write_layer(&tenant, &name, &record)?;
            let _ = std::fs::remove_file(writer.store.layer_zip(&tenant, &name, version));
        }
        Ok(())
    })
    .await?;
    Ok(empty_response(StatusCode::NO_CONTENT, &request.request_id))
}

/// The layer zip behind a GetLayerVersion link.
pub async fn download(
    state: &Arc<HostState>,
    tenant: &str,
    name: &str,
    version: &str,
    request: &ApiRequest,
) -> Result<Response, ApiError> {
    super::functions::check_link(state, tenant, &format!("layer:{name}"), version, request)?;
    let not_found = || ApiError::not_found("The specified key does not exist.");
    let version = version_number(version).ok_or_else(not_found)?;
    if !is_valid_layer_name(name) {
        return Err(not_found());
    }
    let bytes = tokio::fs::read(state.store.layer_zip(tenant, name, version))
        .await
        .map_err(|_| not_found())?;
    let mut response = bytes.into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/zip"));
    Ok(response)
}

/// The `Layers` of a CreateFunction or UpdateFunctionConfiguration request: at most
/// five layer versions of this account, each with its zip.
pub fn requested_layers(
    state: &HostState,
    request: &ApiRequest,
    body: &Map<String, Value>,
) -> Result<Vec<(LayerUse, PathBuf)>, ApiError> {
    let arns = strings(body, "Layers")?;
    if arns.len() > MAX_LAYERS {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '[{}]' at 'layers' failed to satisfy constraint: Member must have length less than or equal to {MAX_LAYERS}",
            arns.join(", ")
        )));
    }
    let mut layers: Vec<(LayerUse, PathBuf)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for arn in arns {
        let reference = parse_layer_version_arn(&arn).ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "1 validation error detected: Value '[{arn}]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+:[0-9]+]"
            ))
        })?;
        if names.contains(&reference.name) {
            return Err(ApiError::invalid_parameter(
                "Two different versions of the same layer are not allowed to be referenced in the same function. Use one version of the layer.",
            ));
        }
        let missing =
            || ApiError::invalid_parameter(format!("Layer version {arn} does not exist."));
        if reference.account != state.config.account_id {
            return Err(missing());
        }
        let version = state
            .store
            .read_layer(&request.caller.tenant, &reference.name)
            .ok()
            .flatten()
            .and_then(|layer| layer.versions.get(&reference.version).cloned())
            .ok_or_else(missing)?;
        let zip = state
            .store
            .layer_zip(&request.caller.tenant, &reference.name, reference.version);
        names.push(reference.name);
        layers.push((
            LayerUse {
                arn,
                code_size: version.code_size,
                code_sha256: version.code_sha256,
            },
            zip,
        ));
    }
    Ok(layers)
}
