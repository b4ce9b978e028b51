//! The deployer's view of `lambada.json`: which cloud functions to deploy, with their
//! zips verified against the manifest, and the rewrite that points the program at the
//! endpoint it was deployed to.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::DeployError;

pub use crate::package::{MANIFEST_FILE, code_sha256};

/// Direct zip uploads to Lambda are limited to 50 MB.
const MAX_ZIP_BYTES: u64 = 50 * 1024 * 1024;

/// One cloud function as the manifest describes it, its zip verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// The key in the manifest's `functions` map (the Python name).
    pub key: String,
    /// The Lambda function name (prefix already applied by the compiler).
    pub function_name: String,
    pub handler: String,
    /// MB.
    pub memory: i32,
    /// Seconds.
    pub timeout: i32,
    /// Base64 of the SHA-256 of the zip, computed from the file.
    pub code_sha256: String,
    /// Absolute or manifest-dir-joined path of the zip.
    pub zip_path: PathBuf,
    /// Hashes of the dependency layers it runs with, in order.
    pub layers: Vec<String>,
}

/// A dependency layer of the manifest, its zip verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    pub hash: String,
    /// Content-addressed, so programs with the same dependency set share it.
    pub layer_name: String,
    pub code_sha256: String,
    pub zip_path: PathBuf,
}

#[derive(Deserialize)]
struct ManifestLayer {
    zip: String,
    code_sha256: String,
}

/// The layers of `manifest_dir/lambada.json`, their zips checked like functions'.
pub fn load_layers(manifest_dir: &Path) -> Result<Vec<LayerSpec>, DeployError> {
    let path = manifest_dir.join(MANIFEST_FILE);
    let manifest = read_manifest(&path)?;
    let invalid = |reason: String| DeployError::InvalidManifest {
        path: path.clone(),
        reason,
    };
    let Some(layers) = manifest.get("layers") else {
        return Ok(Vec::new());
    };
    let Value::Object(layers) = layers else {
        return Err(invalid("`layers` is not an object".into()));
    };
    let mut specs = Vec::new();
    for (hash, entry) in layers {
        let layer: ManifestLayer = serde_json::from_value(entry.clone())
            .map_err(|e| invalid(format!("layers.{hash}: {e}")))?;
        if hash.is_empty() || !hash.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid(format!("layers.{hash}: not a layer hash")));
        }
        let zip_path = manifest_dir.join(&layer.zip);
        let code_sha256 = zip_code_sha256(&zip_path).map_err(|source| DeployError::Package {
            path: zip_path.clone(),
            source,
        })?;
        if code_sha256 != layer.code_sha256 {
            return Err(DeployError::StalePackages {
                manifest: path.clone(),
                problems: vec![format!(
                    "{}: CodeSha256 is {code_sha256} but the manifest says {}",
                    layer.zip, layer.code_sha256
                )],
            });
        }
        specs.push(LayerSpec {
            layer_name: format!("lambada-deps-{hash}"),
            hash: hash.clone(),
            code_sha256,
            zip_path,
        });
    }
    Ok(specs)
}

#[derive(Deserialize)]
struct ManifestFunction {
    function_name: String,
    handler: String,
    memory: i64,
    timeout: i64,
    code_sha256: String,
    zip: String,
    #[serde(default)]
    layers: Vec<String>,
}

/// Reads `manifest_dir/lambada.json` and every zip it names; fails if a zip is missing,
/// too large, or its CodeSha256 differs from the manifest's (a stale build).
pub fn load_functions(manifest_dir: &Path) -> Result<Vec<FunctionSpec>, DeployError> {
    let path = manifest_dir.join(MANIFEST_FILE);
    let manifest = read_manifest(&path)?;
    let invalid = |reason: String| DeployError::InvalidManifest {
        path: path.clone(),
        reason,
    };
    let functions = match manifest.get("functions") {
        Some(Value::Object(map)) => map,
        Some(_) => return Err(invalid("`functions` is not an object".into())),
        None => return Err(invalid("no `functions` map".into())),
    };

    let mut specs = Vec::with_capacity(functions.len());
    let mut stale = Vec::new();
    for (key, entry) in functions {
        let f: ManifestFunction = serde_json::from_value(entry.clone())
            .map_err(|e| invalid(format!("functions.{key}: {e}")))?;
        check_function_name(&f.function_name)
            .map_err(|reason| invalid(format!("functions.{key}.function_name: {reason}")))?;
        if !(128..=10240).contains(&f.memory) {
            return Err(invalid(format!(
                "functions.{key}.memory: {} MB is outside Lambda's 128..=10240",
                f.memory
            )));
        }
        if !(1..=900).contains(&f.timeout) {
            return Err(invalid(format!(
                "functions.{key}.timeout: {} s is outside Lambda's 1..=900",
                f.timeout
            )));
        }
        let zip_path = manifest_dir.join(&f.zip);
        let code_sha256 = zip_code_sha256(&zip_path).map_err(|source| DeployError::Package {
            path: zip_path.clone(),
            source,
        })?;
        if code_sha256 != f.code_sha256 {
            stale.push(format!(
                "{}: CodeSha256 is {code_sha256} but the manifest says {}",
                f.zip, f.code_sha256
            ));
        }
        specs.push(FunctionSpec {
            key: key.clone(),
            function_name: f.function_name,
            handler: f.handler,
            memory: f.memory as i32,
            timeout: f.timeout as i32,
            code_sha256,
            zip_path,
            layers: f.layers,
        });
    }
    if !stale.is_empty() {
        return Err(DeployError::StalePackages {
            manifest: path,
            problems: stale,
        });
    }
    let mut names: Vec<&str> = specs.iter().map(|s| s.function_name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid(format!(
            "two functions share the Lambda name {}",
            w[0]
        )));
    }
    Ok(specs)
}

fn read_manifest(path: &Path) -> Result<Value, DeployError> {
    let text = fs::read_to_string(path).map_err(|source| DeployError::ReadManifest {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| DeployError::InvalidManifest {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn check_function_name(name: &str) -> Result<(), String> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if name.is_empty() || name.len() > 64 || !valid_chars {
        return Err(format!(
            "{name:?} is not a valid Lambda name (1-64 characters of A-Z a-z 0-9 _ -)"
        ));
    }
    Ok(())
}

fn zip_code_sha256(path: &Path) -> io::Result<String> {
    let len = fs::metadata(path)?.len();
    if len > MAX_ZIP_BYTES {
        return Err(io::Error::other(format!(
            "{len} bytes is over Lambda's 50 MB limit for direct uploads"
        )));
    }
    Ok(code_sha256(&fs::read(path)?))
}

/// Points a manifest at the deployed functions: `transport: "lambda"`, the endpoint and
/// the region. Other fields keep their order and values.
pub fn mark_manifest_deployed(manifest: &mut Value, endpoint: &str, region: &str) {
    if let Value::Object(map) = manifest {
        map.insert("transport".into(), Value::String("lambda".into()));
        map.insert("endpoint".into(), Value::String(endpoint.into()));
        map.insert("region".into(), Value::String(region.into()));
    }
}

/// Rewrites `manifest_dir/lambada.json` with [`mark_manifest_deployed`], atomically
/// (temporary file in the same directory, then rename), so a reader never sees half a
/// manifest. Call it only after a deploy whose summary has no failure.
pub fn mark_deployed(manifest_dir: &Path, endpoint: &str, region: &str) -> Result<(), DeployError> {
    mark_deployed_with_profile(manifest_dir, endpoint, region, None)
}

/// [`mark_deployed`], and the AWS profile the functions were deployed with
/// (`--aws-profile`), so that the program signs its invocations with the same
/// credentials (the runtime reads `profile` unless `AWS_PROFILE` is set).
pub fn mark_deployed_with_profile(
    manifest_dir: &Path,
    endpoint: &str,
    region: &str,
    profile: Option<&str>,
) -> Result<(), DeployError> {
    let path = manifest_dir.join(MANIFEST_FILE);
    let mut manifest = read_manifest(&path)?;
    mark_manifest_deployed(&mut manifest, endpoint, region);
    if let (Some(profile), Value::Object(map)) = (profile, &mut manifest) {
        map.insert("profile".into(), Value::String(profile.into()));
    }
    let write_error = |source: io::Error| DeployError::WriteManifest {
        path: path.clone(),
        source,
    };
    let mut text =
        serde_json::to_string_pretty(&manifest).map_err(|e| write_error(io::Error::other(e)))?;
    text.push('\n');
    let mut tmp = tempfile::NamedTempFile::new_in(manifest_dir).map_err(write_error)?;
    tmp.write_all(text.as_bytes()).map_err(write_error)?;
    tmp.as_file().sync_all().map_err(write_error)?;
    tmp.persist(&path).map_err(|e| write_error(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_sha256_is_base64_of_sha256() {
        assert_eq!(
            code_sha256(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn function_names_follow_lambda_rules() {
        assert!(check_function_name("app-fib_2").is_ok());
        assert!(check_function_name("").is_err());
        assert!(check_function_name("app.fib").is_err());
        assert!(check_function_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn marking_deployed_keeps_other_fields_in_order() {
        let mut m: Value = serde_json::from_str(
            r#"{"lambada":1,"module":"app","transport":"inprocess","endpoint":null,"region":null,"functions":{}}"#,
        )
        .unwrap();
        mark_manifest_deployed(&mut m, "http://127.0.0.1:10000", "us-east-1");
        assert_eq!(
            m.to_string(),
            r#"{"lambada":1,"module":"app","transport":"lambda","endpoint":"http://127.0.0.1:10000","region":"us-east-1","functions":{}}"#
        );
    }
}
