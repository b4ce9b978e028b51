//! `lambada run`: the whole job on one machine. Compiles the program, starts the
//! embedded host inside this process on an ephemeral 127.0.0.1 port with a temporary
//! state directory, deploys the cloud functions to it over the Lambda API, runs the
//! rewritten program with Python against it (stdin, stdout, stderr and the exit status
//! pass through), then stops the host and removes everything it made.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::deploy::{self, DeployOptions, DeploySummary};
use crate::host::{Host, HostConfig, HostStats};
use crate::{CompileOptions, package, parse};

/// What `lambada run` needs to know.
pub struct RunOptions {
    pub compile: CompileOptions,
    pub python: String,
    pub program_args: Vec<String>,
    pub quiet: bool,
}

/// What happened, for `--stats`.
pub struct RunReport {
    /// The program's exit status, as the shell would report it (128 + signal when killed).
    pub exit_code: i32,
    pub deploy: DeploySummary,
    pub deploy_time: Duration,
    pub program_time: Duration,
    pub host: HostStats,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Compile(#[from] crate::CompileError),
    #[error(transparent)]
    Input(#[from] parse::InputError),
    #[error("cannot prepare a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("cannot start the embedded host: {0}")]
    Host(#[from] crate::host::HostError),
    #[error(transparent)]
    Deploy(#[from] deploy::DeployError),
    #[error("deploying to the embedded host failed:\n{0}")]
    DeployFailed(DeploySummary),
    #[error("cannot start {python}: {source}; pass --python with the interpreter to use")]
    Python {
        python: String,
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

pub fn run(file: &Path, options: &RunOptions) -> Result<RunReport, RunError> {
    let source = parse::read(file)?;
    let compiled = crate::compile(source, &options.compile)?;
    let scratch = tempfile::Builder::new()
        .prefix("lambada-run.")
        .tempdir()
        .map_err(RunError::TempDir)?;
    let out_dir =
        package::write(&compiled.output, &scratch.path().join("out")).map_err(RunError::TempDir)?;
    let driver = out_dir.join(format!("{}.py", compiled.output.name));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    runtime.block_on(run_against_host(
        &scratch.path().join("state"),
        &out_dir,
        &driver,
        options,
    ))
}

async fn run_against_host(
    state_dir: &Path,
    out_dir: &Path,
    driver: &Path,
    options: &RunOptions,
) -> Result<RunReport, RunError> {
    let mut config = HostConfig::new(state_dir);
    config.python = PathBuf::from(&options.python);
    let host = Host::start(config).await?;
    let result = deploy_and_run(&host, out_dir, driver, options).await;
    let stats = host.stats();
    host.shutdown().await?;
    let (deploy, deploy_time, program_time, status) = result?;
    Ok(RunReport {
        exit_code: exit_code(status),
        deploy,
        deploy_time,
        program_time,
        host: stats,
    })
}

async fn deploy_and_run(
    host: &Host,
    out_dir: &Path,
    driver: &Path,
    options: &RunOptions,
) -> Result<(DeploySummary, Duration, Duration, ExitStatus), RunError> {
    let endpoint = host.endpoint();
    let started = Instant::now();
    let summary = deploy::deploy(
        out_dir,
        &DeployOptions {
            endpoint: Some(endpoint.clone()),
            region: Some("us-east-1".into()),
            progress: !options.quiet,
            ..DeployOptions::default()
        },
    )
    .await?;
    let deploy_time = started.elapsed();
    if !summary.is_success() {
        return Err(RunError::DeployFailed(summary));
    }
    deploy::mark_deployed(out_dir, &summary.endpoint, &summary.region)?;
    let started = Instant::now();
    let status = run_program(driver, options, &endpoint).await?;
    Ok((summary, deploy_time, started.elapsed(), status))
}

/// Runs the rewritten program in the user's working directory, with this process's
/// standard streams. Ctrl-C reaches the program too (same process group); lambada
/// waits for it to finish rather than dying first and leaving the host's workers.
async fn run_program(
    driver: &Path,
    options: &RunOptions,
    endpoint: &str,
) -> Result<ExitStatus, RunError> {
    let mut child = tokio::process::Command::new(&options.python)
        .arg(driver)
        .args(&options.program_args)
        .env("AWS_ENDPOINT_URL_LAMBDA", endpoint)
        .env("LAMBADA_TRANSPORT", "lambda")
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RunError::Python {
            python: options.python.clone(),
            source,
        })?;
    loop {
        tokio::select! {
            status = child.wait() => {
                return status.map_err(|source| RunError::Python { python: options.python.clone(), source });
            }
            _ = tokio::signal::ctrl_c() => {
                // The program got the same SIGINT; give it a moment to exit on its own.
                match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                    Ok(status) => {
                        return status.map_err(|source| RunError::Python { python: options.python.clone(), source });
                    }
                    Err(_) => {
                        let _ = child.kill().await;
                    }
                }
            }
        }
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    1
}

impl RunReport {
    /// The `--stats` lines.
    pub fn stats_text(&self) -> String {
        let invocations = self.host.requests("Invoke");
        let mut text = format!(
            "lambada run: {} functions deployed in {:.0} ms ({} created, {} updated, {} unchanged)\n",
            self.deploy.functions.len(),
            self.deploy_time.as_secs_f64() * 1000.0,
            self.deploy.created,
            self.deploy.updated,
            self.deploy.unchanged,
        );
        text += &format!(
            "lambada run: program ran {:.0} ms, {invocations} invocations",
            self.program_time.as_secs_f64() * 1000.0
        );
        if let Some(latency) = &self.host.invoke_latency {
            text += &format!(
                ", latency p50 {:.2} ms, p99 {:.2} ms",
                f64::from(latency.p50_micros) / 1000.0,
                f64::from(latency.p99_micros) / 1000.0
            );
        }
        text.push('\n');
        text
    }
}

/// The file `lambada run` runs: exactly one.
pub fn single_file(files: &[PathBuf]) -> Option<&Path> {
    match files {
        [one] => Some(one),
        _ => None,
    }
}
