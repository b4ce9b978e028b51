//! Deploy stage: puts the cloud functions of a packaged program (`lambada.json` and
//! `functions/<key>.zip`) on AWS Lambda or any Lambda-compatible endpoint, with
//! aws-sdk-lambda.
//!
//! ```no_run
//! # async fn f() -> Result<(), lambada::deploy::DeployError> {
//! use lambada::deploy::{DeployOptions, deploy, mark_deployed};
//! let dir = std::path::Path::new("lambada-out/app");
//! let opts = DeployOptions {
//!     endpoint: Some("http://127.0.0.1:10000".into()),
//!     ..DeployOptions::default()
//! };
//! let summary = deploy(dir, &opts).await?;
//! eprintln!("{summary}");
//! if summary.is_success() {
//!     mark_deployed(dir, &summary.endpoint, &summary.region)?;
//! }
//! # Ok(()) }
//! ```
//!
//! - [`deploy`] (async) or [`deploy_blocking`] (builds its own tokio runtime) returns a
//!   [`DeploySummary`]: created / updated / unchanged / failed counts and one
//!   [`FunctionReport`] per function, each failure with the step and the service's
//!   message. It is `Serialize` (for `--format json`) and `Display` (for people). Exit
//!   with status 1 when `!summary.is_success()`.
//! - [`DeployError`] is for whole-run failures only, before or instead of any per-function
//!   work: no or bad manifest, zips that do not match it, no role given and none that
//!   could be created through IAM, no credentials, an unreachable endpoint, credentials the endpoint rejects.
//! - [`mark_deployed`] rewrites the manifest (atomically) with `transport: "lambda"`,
//!   the endpoint and the region, for the rewritten program to invoke the deployed
//!   functions. Call it after a successful deploy.
//!
//! Per function, at most [`DeployOptions::jobs`] at once: GetFunction → CreateFunction
//! when missing; when present, UpdateFunctionCode only if its CodeSha256 differs from the
//! local zip's, and UpdateFunctionConfiguration only if memory, timeout, handler or
//! runtime differ. After each change it polls GetFunctionConfiguration until `State` is
//! Active and `LastUpdateStatus` Successful, and a function counts as done only once the
//! endpoint reports our CodeSha256. Throttling (429) and "update in progress" (409) are
//! retried with backoff, the "role cannot be assumed" error of an IAM role created in this
//! run for 30 s (see [`RetryPolicy`]); any other role's rejection fails at once.
//!
//! Files: `client` (configuration chain, endpoint), `role` (the execution role: given,
//! or created or reused through IAM), `function` (the per-function
//! state machine), `retry` (error classification, backoff), `wait` (function states),
//! `progress` (terminal lines), `summary` (the result), `manifest` (reading, verifying,
//! rewriting `lambada.json`).

mod client;
mod function;
mod layers;
mod manifest;
mod progress;
mod retry;
pub mod role;
mod summary;
mod wait;

pub mod openwhisk;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use client::{Connected, LOCAL_PLACEHOLDER_ROLE, connect_sdk, is_loopback_url};
pub use manifest::{
    FunctionSpec, MANIFEST_FILE, code_sha256, load_functions, mark_deployed,
    mark_deployed_with_profile, mark_manifest_deployed,
};
pub use retry::RetryPolicy;
pub use summary::{DeploySummary, FunctionReport, Outcome};

use retry::{ApiError, ErrorKind, Waits};

/// How and where to deploy. Function names (prefix included) come from the manifest.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Lambda API endpoint; `None`: `AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL`, the
    /// profile's, then AWS itself.
    pub endpoint: Option<String>,
    /// `None`: the standard chain (`AWS_REGION`, profile...), then us-east-1.
    pub region: Option<String>,
    /// Profile of the shared config files.
    pub profile: Option<String>,
    /// Execution role of created functions. Required on AWS; loopback endpoints get
    /// [`LOCAL_PLACEHOLDER_ROLE`].
    pub role: Option<String>,
    /// Functions deployed at once (at least 1).
    pub jobs: usize,
    /// Lambda runtime, e.g. `python3.12`.
    pub runtime: String,
    /// Show progress lines on stderr (only ever when it is a terminal); the CLI passes
    /// `!quiet`.
    pub progress: bool,
    /// Retry and wait bounds.
    pub retry: RetryPolicy,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            endpoint: None,
            region: None,
            profile: None,
            role: None,
            jobs: 8,
            runtime: "python3.12".into(),
            progress: true,
            retry: RetryPolicy::default(),
        }
    }
}

/// A failure of the whole run; per-function failures are in the [`DeploySummary`].
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("cannot read the manifest {}: {source}", path.display())]
    ReadManifest {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid manifest {}: {reason}", path.display())]
    InvalidManifest { path: PathBuf, reason: String },
    #[error("cannot read the package {}: {source}", path.display())]
    Package {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the packages do not match the manifest {}; run lambada again to rebuild them:\n  {}",
        manifest.display(),
        problems.join("\n  ")
    )]
    StalePackages {
        manifest: PathBuf,
        problems: Vec<String>,
    },
    #[error("cannot write the manifest {}: {source}", path.display())]
    WriteManifest {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid endpoint {endpoint:?}: expected a URL such as http://127.0.0.1:10000")]
    InvalidEndpoint { endpoint: String },
    #[error(
        "no execution role for the functions: lambada could not create or find role {name} through IAM ({message}); pass --role arn:aws:iam::ACCOUNT:role/NAME or set LAMBADA_ROLE_ARN (a role that lambda.amazonaws.com may assume, e.g. with the AWSLambdaBasicExecutionRole policy)"
    )]
    RoleNotCreated { name: String, message: String },
    #[error(
        "no AWS credentials found ({reason}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --profile NAME"
    )]
    NoCredentials { reason: String },
    #[error("cannot reach the Lambda endpoint {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error(
        "the Lambda endpoint {endpoint} rejected the request signature ({code}: {message}); check the access key and secret key (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or --profile)"
    )]
    Credentials {
        endpoint: String,
        code: String,
        message: String,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("dependency layer {name}: {reason}")]
    Layer { name: String, reason: String },
}

/// Deploys every function of `manifest_dir/lambada.json`. See the module documentation.
pub async fn deploy(
    manifest_dir: &Path,
    opts: &DeployOptions,
) -> Result<DeploySummary, DeployError> {
    let start = Instant::now();
    let specs = load_functions(manifest_dir)?;
    let target = client::connect(opts).await?;
    if let Some(first) = specs.first() {
        preflight(&target, &opts.retry, &first.function_name).await?;
    }

    let role = match specs.first() {
        Some(first) => {
            let name = role::role_name(&first.function_name, &first.key);
            role::resolve(&target, opts.role.as_deref(), &name).await?
        }
        None => role::Role {
            arn: opts.role.clone().unwrap_or_default(),
            origin: role::Origin::Given,
        },
    };
    let layer_specs = manifest::load_layers(manifest_dir)?;
    let layer_arns =
        layers::publish_all(&target.client, &opts.retry, &opts.runtime, &layer_specs).await?;
    let ctx = Arc::new(function::Context {
        client: target.client.clone(),
        fresh_role: role.is_fresh(),
        role: role.arn,
        runtime: opts.runtime.clone(),
        policy: opts.retry.clone(),
        layer_arns,
    });
    let names: Vec<&str> = specs.iter().map(|s| s.function_name.as_str()).collect();
    let progress = Arc::new(progress::Progress::new(opts.progress, &names));
    let permits = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let mut tasks = JoinSet::new();
    for spec in specs.iter().cloned() {
        // Taking the permit before spawning starts functions in manifest order.
        let permit = permits.clone().acquire_owned().await;
        let (ctx, progress) = (ctx.clone(), progress.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let line = progress.line(&spec.function_name);
            function::deploy_function(&ctx, &spec, &line).await
        });
    }
    let mut reports = Vec::with_capacity(specs.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(report) => reports.push(report),
            // A panicking task must not be mistaken for a deployed function.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    Ok(DeploySummary::new(
        target.endpoint,
        target.region,
        reports,
        start.elapsed().as_millis() as u64,
    ))
}

/// [`deploy`] on a tokio runtime of its own, for callers that are not async (not from
/// inside a tokio runtime: tokio refuses nested runtimes).
pub fn deploy_blocking(
    manifest_dir: &Path,
    opts: &DeployOptions,
) -> Result<DeploySummary, DeployError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DeployError::Runtime)?
        .block_on(deploy(manifest_dir, opts))
}

/// One GetFunction before the fan-out, so that an unreachable endpoint or rejected
/// credentials fail the run once, clearly, instead of every function.
async fn preflight(
    target: &client::Target,
    policy: &RetryPolicy,
    function_name: &str,
) -> Result<(), DeployError> {
    let result = retry::with_retries(policy, Waits::default(), || async {
        target
            .client
            .get_function()
            .function_name(function_name)
            .customize()
            .config_override(retry::small_request(policy))
            .send()
            .await
            .map_err(ApiError::from)
    })
    .await;
    match result {
        Err(e) if e.kind == ErrorKind::TimedOut => Err(DeployError::Unreachable {
            endpoint: target.endpoint.clone(),
            reason: format!(
                "no answer within {} s",
                policy.request_timeout.as_secs_f64()
            ),
        }),
        Err(e) if matches!(e.kind, ErrorKind::Unreachable | ErrorKind::Transient) => {
            Err(DeployError::Unreachable {
                endpoint: target.endpoint.clone(),
                reason: e.to_string(),
            })
        }
        Err(e) if e.kind == ErrorKind::Credentials => Err(DeployError::Credentials {
            endpoint: target.endpoint.clone(),
            code: e.code.unwrap_or_default(),
            message: e.message,
        }),
        // Anything else is the first function's business.
        _ => Ok(()),
    }
}
