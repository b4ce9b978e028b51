//! One function's deploy: get → create, or skip the upload when CodeSha256 matches, or
//! update code and/or configuration; after each change, wait until the function is
//! Active and its last update Successful. A function is reported done only when the
//! endpoint confirms the code it holds is ours.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, PackageType, Runtime};

use super::manifest::{FunctionSpec, code_sha256};
use super::progress::{Line, Step};
use super::retry::{self, ApiError, ErrorKind, RetryPolicy, Waits};
use super::summary::{FunctionReport, Outcome};
use super::wait::{self, Readiness, RemoteFunction};

/// What every function's deploy shares.
#[derive(Debug, Clone)]
pub struct Context {
    pub client: Client,
    pub role: String,
    /// The role was created in this run: Lambda may refuse it for a few seconds, until
    /// it has propagated (any other role's rejection is final).
    pub fresh_role: bool,
    pub runtime: String,
    pub policy: RetryPolicy,
    /// Published dependency layers: hash to version ARN.
    pub layer_arns: std::collections::BTreeMap<String, String>,
}

impl Context {
    /// The layer version ARNs a function runs with, in its manifest's order.
    fn layers(&self, spec: &FunctionSpec) -> Vec<String> {
        spec.layers
            .iter()
            .filter_map(|hash| self.layer_arns.get(hash).cloned())
            .collect()
    }
}

/// Why a function failed: the step and the reason, the service's message included.
struct Failure(String);

impl Failure {
    fn api(step: &str, e: ApiError) -> Self {
        Failure(format!("{step}: {e}"))
    }
}

pub async fn deploy_function(ctx: &Context, spec: &FunctionSpec, line: &Line) -> FunctionReport {
    let result = run(ctx, spec, line).await;
    let (outcome, changed, function_arn, error) = match result {
        Ok(done) => (done.outcome, done.changed, done.function_arn, None),
        Err(Failure(msg)) => (Outcome::Failed, Vec::new(), None, Some(msg)),
    };
    let report = FunctionReport {
        key: spec.key.clone(),
        function_name: spec.function_name.clone(),
        outcome,
        changed,
        code_sha256: spec.code_sha256.clone(),
        function_arn,
        error,
    };
    line.finish(&report);
    report
}

struct Done {
    outcome: Outcome,
    changed: Vec<String>,
    function_arn: Option<String>,
}

async fn run(ctx: &Context, spec: &FunctionSpec, line: &Line) -> Result<Done, Failure> {
    line.step(Step::Getting);
    let existing = match get_configuration(ctx, spec).await? {
        Some(conf) => conf,
        None => match create(ctx, spec, line).await? {
            Some(done) => return Ok(done),
            // Someone created it between our get and our create: update it instead.
            None => get_configuration(ctx, spec).await?.ok_or_else(|| {
                Failure(
                    "creating: the endpoint says the function exists, then that it does not".into(),
                )
            })?,
        },
    };
    update(ctx, spec, line, existing).await
}

/// `None` when the function does not exist.
async fn get_configuration(
    ctx: &Context,
    spec: &FunctionSpec,
) -> Result<Option<RemoteFunction>, Failure> {
    let got = retry::with_retries(&ctx.policy, Waits::default(), || async {
        ctx.client
            .get_function()
            .function_name(&spec.function_name)
            .customize()
            .config_override(retry::small_request(&ctx.policy))
            .send()
            .await
            .map_err(ApiError::from)
    })
    .await;
    match got {
        Ok(out) => out
            .configuration
            .map(|c| Some(c.into()))
            .ok_or_else(|| Failure("getting: the answer has no Configuration".into())),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::api("getting", e)),
    }
}

/// `None` when the function turned out to exist already.
async fn create(ctx: &Context, spec: &FunctionSpec, line: &Line) -> Result<Option<Done>, Failure> {
    line.step(Step::Creating);
    let zip = read_zip(spec)?;
    let created = retry::with_retries(
        &ctx.policy,
        Waits {
            conflict: false,
            role: ctx.fresh_role,
        },
        || async {
            ctx.client
                .create_function()
                .function_name(&spec.function_name)
                .runtime(Runtime::from(ctx.runtime.as_str()))
                .role(&ctx.role)
                .handler(&spec.handler)
                .memory_size(spec.memory)
                .timeout(spec.timeout)
                .package_type(PackageType::Zip)
                .set_layers(Some(ctx.layers(spec)).filter(|l| !l.is_empty()))
                .description(format!("lambada: {}", spec.key))
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(zip.clone()))
                        .build(),
                )
                .send()
                .await
                .map_err(ApiError::from)
        },
    )
    .await;
    match created {
        Ok(_) => {}
        Err(e) if e.kind == ErrorKind::Conflict => return Ok(None),
        Err(e) => return Err(Failure::api("creating", e)),
    }
    line.step(Step::Waiting);
    let conf = wait_until_settled(ctx, spec).await?;
    check_code(spec, &conf)?;
    Ok(Some(Done {
        outcome: Outcome::Created,
        changed: Vec::new(),
        function_arn: conf.function_arn,
    }))
}

async fn update(
    ctx: &Context,
    spec: &FunctionSpec,
    line: &Line,
    mut conf: RemoteFunction,
) -> Result<Done, Failure> {
    // Someone else's update, or an interrupted deploy of ours, may be in progress:
    // decide on what the function is once it is over.
    if conf.readiness() == Readiness::Busy {
        line.step(Step::Waiting);
        conf = wait::until_not_busy(&ctx.client, &ctx.policy, &spec.function_name)
            .await
            .map_err(|reason| Failure(format!("waiting: {reason}")))?;
    }
    // A function left Failed by an earlier update gets its code again: that may be
    // what repairs it, and it must not be reported unchanged.
    let broken = matches!(conf.readiness(), Readiness::Failed(_));
    let mut changed = Vec::new();
    if broken || conf.code_sha256.as_deref() != Some(spec.code_sha256.as_str()) {
        line.step(Step::Uploading);
        let zip = read_zip(spec)?;
        retry::with_retries(
            &ctx.policy,
            Waits {
                conflict: true,
                role: false,
            },
            || async {
                ctx.client
                    .update_function_code()
                    .function_name(&spec.function_name)
                    .zip_file(Blob::new(zip.clone()))
                    .send()
                    .await
                    .map_err(ApiError::from)
            },
        )
        .await
        .map_err(|e| Failure::api("uploading", e))?;
        line.step(Step::Waiting);
        conf = wait_until_settled(ctx, spec).await?;
        check_code(spec, &conf)?;
        changed.push("code".to_string());
    }

    let config_changes = configuration_changes(ctx, spec, &conf);
    // Layers are sent when there are some to set or to remove.
    let wanted = ctx.layers(spec);
    let layers = (!wanted.is_empty() || !conf.layers.is_empty()).then_some(wanted);
    if !config_changes.is_empty() {
        line.step(Step::UpdatingConfiguration);
        retry::with_retries(
            &ctx.policy,
            Waits {
                conflict: true,
                role: ctx.fresh_role,
            },
            || async {
                ctx.client
                    .update_function_configuration()
                    .function_name(&spec.function_name)
                    .runtime(Runtime::from(ctx.runtime.as_str()))
                    .handler(&spec.handler)
                    .memory_size(spec.memory)
                    .timeout(spec.timeout)
                    .set_layers(layers.clone())
                    .send()
                    .await
                    .map_err(ApiError::from)
            },
        )
        .await
        .map_err(|e| Failure::api("updating configuration", e))?;
        line.step(Step::Waiting);
        conf = wait_until_settled(ctx, spec).await?;
        check_code(spec, &conf)?;
        let still = configuration_changes(ctx, spec, &conf);
        if !still.is_empty() {
            return Err(Failure(format!(
                "updating configuration: the endpoint kept a different {}",
                still.join(", ")
            )));
        }
        changed.extend(config_changes.into_iter().map(str::to_string));
    }

    Ok(Done {
        outcome: if changed.is_empty() {
            Outcome::Unchanged
        } else {
            Outcome::Updated
        },
        changed,
        function_arn: conf.function_arn,
    })
}

/// The configuration fields lambada manages that differ on the endpoint.
fn configuration_changes(
    ctx: &Context,
    spec: &FunctionSpec,
    conf: &RemoteFunction,
) -> Vec<&'static str> {
    let mut changes = Vec::new();
    if conf.memory != Some(spec.memory) {
        changes.push("memory");
    }
    if conf.timeout != Some(spec.timeout) {
        changes.push("timeout");
    }
    if conf.handler.as_deref() != Some(spec.handler.as_str()) {
        changes.push("handler");
    }
    if conf.runtime.as_deref() != Some(ctx.runtime.as_str()) {
        changes.push("runtime");
    }
    if conf.layers != ctx.layers(spec) {
        changes.push("layers");
    }
    changes
}

async fn wait_until_settled(ctx: &Context, spec: &FunctionSpec) -> Result<RemoteFunction, Failure> {
    wait::until_settled(&ctx.client, &ctx.policy, &spec.function_name)
        .await
        .map_err(|reason| Failure(format!("waiting: {reason}")))
}

/// The endpoint must hold exactly our zip; otherwise nothing is reported as done.
fn check_code(spec: &FunctionSpec, conf: &RemoteFunction) -> Result<(), Failure> {
    match conf.code_sha256.as_deref() {
        Some(sha) if sha == spec.code_sha256 => Ok(()),
        other => Err(Failure(format!(
            "verifying: the endpoint holds code with CodeSha256 {}, expected {}",
            other.unwrap_or("(none)"),
            spec.code_sha256
        ))),
    }
}

/// Reads the zip again at upload time and makes sure it is still what was verified.
fn read_zip(spec: &FunctionSpec) -> Result<Vec<u8>, Failure> {
    let bytes = std::fs::read(&spec.zip_path)
        .map_err(|e| Failure(format!("reading {}: {e}", spec.zip_path.display())))?;
    let sha = code_sha256(&bytes);
    if sha != spec.code_sha256 {
        return Err(Failure(format!(
            "reading {}: the zip changed during the deploy (CodeSha256 {sha}, verified {})",
            spec.zip_path.display(),
            spec.code_sha256
        )));
    }
    Ok(bytes)
}
