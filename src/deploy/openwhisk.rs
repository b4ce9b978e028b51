//! The OpenWhisk deploy client: each cloud function's zip becomes a Python action,
//! `PUT /api/v1/namespaces/{ns}/actions/{name}?overwrite=true` with basic auth (the API
//! key `uuid:key`), as `wsk action update NAME fn.zip --kind python:3` does. The zip
//! must hold the action's `__main__.py` (the provider's entry point) at its root.
//!
//! ```no_run
//! # async fn f() -> Result<(), lambada::deploy::openwhisk::OpenWhiskError> {
//! use lambada::deploy::openwhisk::{Action, Target, put_actions};
//! let target = Target::new("http://127.0.0.1:10000", "uuid:key");
//! let zip = std::fs::read("lambada-out/app/functions/app-fib.zip").unwrap();
//! let actions = vec![Action { name: "app-fib".into(), zip, memory_mb: 256, timeout_s: 30 }];
//! for (name, result) in put_actions(&target, actions).await? {
//!     println!("{name}: {}", result.map(|v| v.to_string()).unwrap_or_else(|e| e.to_string()));
//! }
//! # Ok(()) }
//! ```

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// OpenWhisk's limits on an action (the defaults of a standard deployment).
const MEMORY_MB: std::ops::RangeInclusive<u32> = 128..=512;
const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=300_000;
/// Actions put at once.
const CONCURRENT_PUTS: usize = 4;

/// Where actions go.
#[derive(Debug, Clone)]
pub struct Target {
    /// `https://host`, `http://127.0.0.1:10000`, or a bare `host:port` (https, as `wsk`).
    pub apihost: String,
    /// `uuid:key`.
    pub api_key: String,
    /// `_`: the key's own namespace.
    pub namespace: String,
}

impl Target {
    pub fn new(apihost: &str, api_key: &str) -> Target {
        Target {
            apihost: apihost.to_string(),
            api_key: api_key.to_string(),
            namespace: "_".to_string(),
        }
    }

    /// The API's base URL: `{scheme}://{host}/api/v1`.
    pub fn base_url(&self) -> String {
        let host = self.apihost.trim_end_matches('/');
        if host.starts_with("http://") || host.starts_with("https://") {
            format!("{host}/api/v1")
        } else {
            format!("https://{host}/api/v1")
        }
    }
}

/// One action to put.
#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    pub zip: Vec<u8>,
    pub memory_mb: u32,
    pub timeout_s: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenWhiskError {
    #[error("OpenWhisk API key must be 'uuid:key' (as `wsk property get --auth` shows it)")]
    BadKey,
    #[error("cannot load the system's TLS roots for {0}: {1}")]
    Tls(String, String),
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{url}: HTTP {status}: {message}")]
    Api {
        url: String,
        status: u16,
        message: String,
    },
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

fn client(target: &Target) -> Result<HttpsClient, OpenWhiskError> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| OpenWhiskError::Tls(target.apihost.clone(), e.to_string()))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// The body of a PUT: the zip as a binary Python action, limits within OpenWhisk's.
pub fn action_body(action: &Action) -> Value {
    let timeout_ms =
        (u64::from(action.timeout_s) * 1000).clamp(*TIMEOUT_MS.start(), *TIMEOUT_MS.end());
    json!({
        "exec": {
            "kind": "python:3",
            "code": base64::engine::general_purpose::STANDARD.encode(&action.zip),
            "binary": true,
        },
        "limits": {
            "timeout": timeout_ms,
            "memory": action.memory_mb.clamp(*MEMORY_MB.start(), *MEMORY_MB.end()),
        },
        "annotations": [{"key": "lambada", "value": true}],
    })
}

/// Percent-encodes a path segment (action names may hold spaces and `@`).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn put_one(
    client: &HttpsClient,
    target: &Target,
    authorization: &str,
    action: &Action,
) -> Result<Value, OpenWhiskError> {
    let url = format!(
        "{}/namespaces/{}/actions/{}?overwrite=true",
        target.base_url(),
        segment(&target.namespace),
        segment(&action.name)
    );
    let http = |message: String| OpenWhiskError::Http {
        url: url.clone(),
        message,
    };
    let request = hyper::Request::put(&url)
        .header("authorization", authorization)
        .header("content-type", "application/json")
        .header("user-agent", "lambada-deploy/1")
        .body(Full::new(Bytes::from(action_body(action).to_string())))
        .map_err(|e| http(e.to_string()))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| http(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| http(e.to_string()))?
        .to_bytes();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status != 200 {
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
        return Err(OpenWhiskError::Api {
            url,
            status,
            message,
        });
    }
    Ok(value)
}

/// Puts every action (creating or replacing it), a few at once; the outcome of each in
/// the order given: the action as the API returned it, or why it failed. A bad key or
/// TLS setup fails the whole run.
pub async fn put_actions(
    target: &Target,
    actions: Vec<Action>,
) -> Result<Vec<(String, Result<Value, OpenWhiskError>)>, OpenWhiskError> {
    if !target.api_key.contains(':') {
        return Err(OpenWhiskError::BadKey);
    }
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(&target.api_key)
    );
    let client = client(target)?;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_PUTS));
    let mut tasks = Vec::new();
    for action in actions {
        let (client, target, authorization, gate) = (
            client.clone(),
            target.clone(),
            authorization.clone(),
            gate.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            let result = put_one(&client, &target, &authorization, &action).await;
            (action.name, result)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        match task.await {
            Ok(outcome) => results.push(outcome),
            Err(e) => results.push((
                String::new(),
                Err(OpenWhiskError::Http {
                    url: target.base_url(),
                    message: e.to_string(),
                }),
            )),
        }
    }
    Ok(results)
}

/// Deploys the written output `dir` (its `lambada.json` and `functions/<key>.zip`) as
/// actions: one [`FunctionReport`](super::FunctionReport) per function, created (the
/// action's first version) or updated.
pub async fn deploy_dir(
    dir: &std::path::Path,
    target: &Target,
) -> Result<super::DeploySummary, OpenWhiskError> {
    use super::summary::{FunctionReport, Outcome};
    let started = std::time::Instant::now();
    let read = |path: std::path::PathBuf| {
        std::fs::read(&path).map_err(|e| OpenWhiskError::Http {
            url: path.display().to_string(),
            message: e.to_string(),
        })
    };
    let manifest: Value =
        serde_json::from_slice(&read(dir.join("lambada.json"))?).unwrap_or(Value::Null);
    let functions = manifest["functions"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut actions = Vec::new();
    let mut keys = std::collections::BTreeMap::new();
    for (key, entry) in &functions {
        let name = entry["function_name"].as_str().unwrap_or(key).to_string();
        let zip_path = entry["zip"].as_str().unwrap_or_default();
        keys.insert(name.clone(), key.clone());
        actions.push(Action {
            name,
            zip: read(dir.join(zip_path))?,
            memory_mb: entry["memory"].as_u64().unwrap_or(256) as u32,
            timeout_s: entry["timeout"].as_u64().unwrap_or(60) as u32,
        });
    }
    let shas: std::collections::BTreeMap<String, String> = actions
        .iter()
        .map(|a| (a.name.clone(), crate::package::code_sha256(&a.zip)))
        .collect();
    let reports = put_actions(target, actions)
        .await?
        .into_iter()
        .map(|(name, result)| {
            let (outcome, error) = match &result {
                Ok(action) if action["version"] == "0.0.1" => (Outcome::Created, None),
                Ok(_) => (Outcome::Updated, None),
                Err(e) => (Outcome::Failed, Some(format!("PUT action: {e}"))),
            };
            FunctionReport {
                key: keys.get(&name).cloned().unwrap_or_default(),
                code_sha256: shas.get(&name).cloned().unwrap_or_default(),
                function_arn: result
                    .ok()
                    .map(|a| format!("/{}/{}", a["namespace"].as_str().unwrap_or("_"), name)),
                function_name: name,
                outcome,
                changed: Vec::new(),
                error,
            }
        })
        .collect();
    Ok(super::DeploySummary::new(
        target.base_url(),
        String::new(),
        reports,
        started.elapsed().as_millis() as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apihost_without_a_scheme_is_https_as_for_wsk() {
        assert_eq!(
            Target::new("openwhisk.example.com", "a:b").base_url(),
            "https://openwhisk.example.com/api/v1"
        );
        assert_eq!(
            Target::new("http://127.0.0.1:10000/", "a:b").base_url(),
            "http://127.0.0.1:10000/api/v1"
        );
    }

    #[test]
    fn limits_stay_within_openwhisks() {
        let action = Action {
            name: "a".into(),
            zip: b"PK".to_vec(),
            memory_mb: 3008,
            timeout_s: 900,
        };
        let body = action_body(&action);
        assert_eq!(body["limits"], json!({"timeout": 300_000, "memory": 512}));
        assert_eq!(body["exec"]["kind"], "python:3");
        assert_eq!(segment("a b@c"), "a%20b%40c");
    }
}
