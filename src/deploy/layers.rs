//! Dependency layers: published once per content, found again by their description.
//!
//! A layer's name is content-addressed (`lambada-deps-<hash of the requirement set and
//! target>`), and each published version is described as `lambada <CodeSha256>`: a
//! deploy lists the versions of the name and reuses the one with the same bytes, so
//! an unchanged dependency set is never uploaded twice, by this program or another.

use std::collections::BTreeMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{LayerVersionContentInput, Runtime};

use super::DeployError;
use super::manifest::LayerSpec;
use super::retry::{self, ApiError, ErrorKind, RetryPolicy, Waits};

fn description(spec: &LayerSpec) -> String {
    format!("lambada {}", spec.code_sha256)
}

/// The version ARN of every layer, by hash: reused when published before, else published.
pub async fn publish_all(
    client: &Client,
    policy: &RetryPolicy,
    runtime: &str,
    layers: &[LayerSpec],
) -> Result<BTreeMap<String, String>, DeployError> {
    let mut arns = BTreeMap::new();
    for spec in layers {
        let arn = match existing(client, policy, spec).await? {
            Some(arn) => arn,
            None => publish(client, policy, runtime, spec).await?,
        };
        arns.insert(spec.hash.clone(), arn);
    }
    Ok(arns)
}

fn failed(spec: &LayerSpec, step: &str, e: ApiError) -> DeployError {
    DeployError::Layer {
        name: spec.layer_name.clone(),
        reason: format!("{step}: {e}"),
    }
}

async fn existing(
    client: &Client,
    policy: &RetryPolicy,
    spec: &LayerSpec,
) -> Result<Option<String>, DeployError> {
    let wanted = description(spec);
    let mut marker: Option<String> = None;
    loop {
        let listed = retry::with_retries(policy, Waits::default(), || async {
            client
                .list_layer_versions()
                .layer_name(&spec.layer_name)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(ApiError::from)
        })
        .await;
        let page = match listed {
            Ok(page) => page,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failed(spec, "listing versions", e)),
        };
        let found = page
            .layer_versions()
            .iter()
            .find(|v| v.description() == Some(wanted.as_str()))
            .and_then(|v| v.layer_version_arn().map(str::to_owned));
        if found.is_some() {
            return Ok(found);
        }
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => return Ok(None),
        }
    }
}

async fn publish(
    client: &Client,
    policy: &RetryPolicy,
    runtime: &str,
    spec: &LayerSpec,
) -> Result<String, DeployError> {
    let zip = std::fs::read(&spec.zip_path).map_err(|source| DeployError::Package {
        path: spec.zip_path.clone(),
        source,
    })?;
    let published = retry::with_retries(policy, Waits::default(), || async {
        client
            .publish_layer_version()
            .layer_name(&spec.layer_name)
            .description(description(spec))
            .compatible_runtimes(Runtime::from(runtime))
            .content(
                LayerVersionContentInput::builder()
                    .zip_file(Blob::new(zip.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(ApiError::from)
    })
    .await
    .map_err(|e| failed(spec, "publishing", e))?;
    published
        .layer_version_arn()
        .map(str::to_owned)
        .ok_or_else(|| DeployError::Layer {
            name: spec.layer_name.clone(),
            reason: "publishing: the answer has no LayerVersionArn".into(),
        })
}
