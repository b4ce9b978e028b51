//! `lambada run`: the whole job on one machine. Compiles the program, starts the
//! embedded host inside this process on an ephemeral 127.0.0.1 port with a temporary
//! state directory, deploys the cloud functions to it over the Lambda API, runs the
//! rewritten program with Python against it (stdin, stdout, stderr and the exit status
//! pass through), then stops the host and removes everything it made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::deploy::{self, DeployOptions, DeploySummary};
use crate::host::invocation_log::{self, InvocationRow};
use crate::host::{Host, HostConfig, HostStats};
use crate::providers::ProviderKind;
use crate::report::plural;
use crate::{CompileOptions, package, parse};

/// What `lambada run` needs to know.
pub struct RunOptions {
    pub compile: CompileOptions,
    /// Dependencies are built for the interpreter that runs the workers.
    pub deps: crate::deps::DepsOptions,
    /// `--max-workers`: warm workers per function on the embedded host.
    pub max_workers: Option<usize>,
    pub python: String,
    pub program_args: Vec<String>,
    pub quiet: bool,
    /// `--verify`: every invocation also runs through the local twin on a deep copy,
    /// and the runtime reports the first difference (`LAMBADA_VERIFY=1`).
    pub verify: bool,
    /// `--stats`: the runtime counts calls and local fallbacks into a file
    /// (`LAMBADA_STATS_FILE`) that is read once the program exits.
    pub stats: bool,
    /// `--invocation-log FILE`: the embedded host's invocation log (with `--stats` and
    /// no file, one in the scratch directory).
    pub invocation_log: Option<PathBuf>,
    /// Input already read from this process's stdin (by `run --profile`'s first run),
    /// given to the program again; `None`: the program reads stdin itself.
    pub stdin: Option<Vec<u8>>,
    /// `-o DIR`: the compiled copy is written to DIR/<module> and kept (the functions
    /// deployed from it, the manifest marked deployed to the host that is gone once the
    /// run ends); `None`: a temporary directory, removed afterwards.
    pub out: Option<PathBuf>,
    /// `--diff`: the review diff goes to stderr before the program runs (its stdout is
    /// the program's).
    pub diff: bool,
    /// `-v`: the analysis report (with `--profile`, the cost model's figures) goes to
    /// stderr before the program runs, as text or, with `--format json`, as JSON.
    pub report: Option<ReportFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Text,
    Json,
}

/// Environment variables of the program's process that the runtime reads.
pub const VERIFY_ENV: &str = "LAMBADA_VERIFY";
pub const STATS_FILE_ENV: &str = "LAMBADA_STATS_FILE";

/// What happened, for `--stats`.
pub struct RunReport {
    /// The program's exit status, as the shell would report it (128 + signal when killed).
    pub exit_code: i32,
    pub deploy: DeploySummary,
    pub deploy_time: Duration,
    pub program_time: Duration,
    pub host: HostStats,
    /// What the runtime counted in the program's process, when it wrote its file.
    pub runtime: Option<RuntimeStats>,
    /// `--stats`: the rows of the invocation log this run wrote.
    pub invocations: Vec<InvocationRow>,
    /// When the host started (the invocation log's time format).
    pub started: String,
}

/// What the runtime writes to `LAMBADA_STATS_FILE` when the program exits.
#[derive(Debug, Default, Clone, PartialEq, serde::Deserialize)]
pub struct RuntimeStats {
    /// Calls to each cloud function (by key), local fallbacks included.
    #[serde(default)]
    pub calls: BTreeMap<String, u64>,
    /// Calls that ran through the local twin, by key, with why.
    #[serde(default)]
    pub fallbacks: BTreeMap<String, Fallbacks>,
    /// `--verify`: calls checked against the local twin, and how many differed.
    #[serde(default)]
    pub verified: u64,
    #[serde(default)]
    pub differences: u64,
}

#[derive(Debug, Default, Clone, PartialEq, serde::Deserialize)]
pub struct Fallbacks {
    pub count: u64,
    /// Why (`argument 'out' is a StringIO: cannot travel`), with how many calls each.
    #[serde(default)]
    pub reasons: BTreeMap<String, u64>,
}

impl RuntimeStats {
    /// Reads the runtime's file; `None` when the program wrote none (it was killed, or
    /// it never imported the runtime) or it cannot be read.
    pub fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The `--stats` lines about calls, local fallbacks and verification.
    pub fn text(&self) -> String {
        let mut text = String::new();
        if !self.calls.is_empty() {
            let calls: Vec<String> = self
                .calls
                .iter()
                .map(|(key, n)| format!("{key} {n}"))
                .collect();
            text += &format!("lambada run: calls: {}\n", calls.join(", "));
        }
        for (key, fallbacks) in &self.fallbacks {
            if fallbacks.count == 0 {
                continue;
            }
            let mut reasons: Vec<(&String, &u64)> = fallbacks.reasons.iter().collect();
            // The most frequent reason first; ties by text, for stable output.
            reasons.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            let why: Vec<String> = reasons
                .iter()
                .map(|(reason, n)| {
                    if reasons.len() == 1 {
                        (*reason).clone()
                    } else {
                        format!("{n}x {reason}")
                    }
                })
                .collect();
            let calls = if fallbacks.count == 1 {
                "call"
            } else {
                "calls"
            };
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            };
            text += &format!(
                "lambada run: {key}: {} {calls} ran locally through the twin{why}\n",
                fallbacks.count
            );
        }
        if self.verified > 0 || self.differences > 0 {
            text += &format!(
                "lambada run: verified {} against the local twin, {}\n",
                plural(self.verified, "call"),
                plural(self.differences, "difference")
            );
        }
        text
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Compile(#[from] crate::CompileError),
    #[error(transparent)]
    Input(#[from] parse::InputError),
    #[error(transparent)]
    Dependencies(#[from] crate::deps::DepsError),
    #[error("cannot prepare a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the embedded host: {0}")]
    Host(#[from] crate::host::HostError),
    #[error(transparent)]
    Deploy(#[from] deploy::DeployError),
    #[error("deploying actions to the embedded host's OpenWhisk API failed: {0}")]
    OpenWhisk(String),
    #[error("deploying to the embedded host failed:\n{0}")]
    DeployFailed(DeploySummary),
    #[error("cannot start {python}: {source}; pass --python with the interpreter to use")]
    Python {
        python: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    LocalRunner(#[from] crate::providers::local::LocalRunnerError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

pub fn run(file: &Path, options: &RunOptions) -> Result<RunReport, RunError> {
    let source = parse::read(file)?;
    let mut compiled = crate::compile(source, &options.compile)?;
    crate::deps::apply(&mut compiled, &options.deps)?;
    match options.report {
        // stderr: stdout is the program's own.
        Some(ReportFormat::Text) => eprint!("{}", compiled.report.to_text()),
        Some(ReportFormat::Json) => eprintln!(
            "{}",
            serde_json::to_string_pretty(&compiled.report).expect("reports serialise")
        ),
        None => {}
    }
    if options.diff {
        eprint!("{}", crate::diff::review(&compiled));
    }
    let scratch = tempfile::Builder::new()
        .prefix("lambada-run.")
        .tempdir()
        .map_err(RunError::TempDir)?;
    let out_root = match &options.out {
        Some(dir) => dir.clone(),
        None => scratch.path().join("out"),
    };
    let out_dir =
        package::write(&compiled.output, &out_root).map_err(|source| RunError::Write {
            path: out_root.join(&compiled.output.name),
            source,
        })?;
    let driver = out_dir.join(format!("{}.py", compiled.output.name));
    let stats_file = scratch.path().join("runtime-stats.json");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let invocations = options.invocation_log.clone().or_else(|| {
        options
            .stats
            .then(|| scratch.path().join("invocations.sqlite"))
    });
    let mut report = if local_runner_provider(options.compile.provider) {
        runtime.block_on(run_against_local_runner(
            scratch.path(),
            &compiled.output.manifest,
            &out_dir,
            &driver,
            options,
            options.stats.then_some(stats_file.as_path()),
        ))?
    } else {
        runtime.block_on(run_against_host(
            &scratch.path().join("state"),
            &out_dir,
            &driver,
            options,
            options.stats.then_some(stats_file.as_path()),
            invocations.as_deref(),
        ))?
    };
    if options.stats {
        report.runtime = RuntimeStats::read(&stats_file);
        // This run's rows only: a kept log may hold earlier runs too.
        if let Some(path) = &invocations {
            let since = report.started.clone();
            report.invocations = invocation_log::read_rows(path)
                .map(|rows| rows.into_iter().filter(|r| r.time >= since).collect())
                .unwrap_or_default();
        }
    }
    Ok(report)
}

/// The providers `lambada run` serves with their local runner rather than the embedded
/// host (which speaks the Lambda and OpenWhisk APIs).
pub fn local_runner_provider(provider: ProviderKind) -> bool {
    matches!(
        provider,
        ProviderKind::Gcf | ProviderKind::Azure | ProviderKind::Fission
    )
}

/// `--provider gcf|azure|fission`: the platform's local runner (functions-framework, an
/// HTTP host of azure-functions' `HttpRequest` objects, Fission's environment server)
/// serves every function on 127.0.0.1, and the program calls them through the
/// provider's transport. The runner (and every function's process) stops when this
/// returns, also on an error: dropping it closes its stdin.
async fn run_against_local_runner(
    scratch: &Path,
    manifest: &package::Manifest,
    out_dir: &Path,
    driver: &Path,
    options: &RunOptions,
    stats_file: Option<&Path>,
) -> Result<RunReport, RunError> {
    use crate::deploy::{FunctionReport, Outcome};
    use crate::providers::{self, local};

    let provider = options.compile.provider;
    let started = invocation_log::now_text();
    let deploy_started = Instant::now();
    local::check_packages(&options.python, provider)?;
    // The functions' servers log to a file of the run's: stderr is the program's.
    let runner = local::LocalRunner::start(
        &options.python,
        provider,
        scratch,
        Some(&scratch.join("local-runner.log")),
    )?;
    let endpoint = runner.endpoint().to_owned();
    let mut reports = Vec::new();
    for (key, entry) in &manifest.functions {
        runner.register(&entry.function_name, &out_dir.join("functions").join(key))?;
        reports.push(FunctionReport {
            key: key.clone(),
            function_name: entry.function_name.clone(),
            outcome: Outcome::Created,
            changed: Vec::new(),
            code_sha256: entry.code_sha256.clone().unwrap_or_default(),
            function_arn: Some(providers::function_url(&endpoint, &entry.function_name)),
            error: None,
        });
    }
    let transport = providers::provider(provider).transport();
    providers::mark_deployed(out_dir, transport, &endpoint).map_err(|source| RunError::Write {
        path: out_dir.join(package::MANIFEST_FILE),
        source,
    })?;
    let deploy_time = deploy_started.elapsed();
    let deploy = DeploySummary::new(
        endpoint.clone(),
        String::new(),
        reports,
        deploy_time.as_millis() as u64,
    );
    let env = [
        ("LAMBADA_TRANSPORT", transport.to_owned()),
        ("LAMBADA_ENDPOINT", endpoint.clone()),
    ];
    let program_started = Instant::now();
    let status = run_program_with(driver, options, &endpoint, stats_file, &env).await;
    let program_time = program_started.elapsed();
    drop(runner);
    Ok(RunReport {
        exit_code: exit_code(status?),
        deploy,
        deploy_time,
        program_time,
        // No embedded host: the runner keeps no counts (the runtime's own, with
        // --stats, are in `runtime`).
        host: HostStats {
            requests: BTreeMap::new(),
            workers: 0,
            workers_started: 0,
            workers_forked: 0,
            functions: manifest.functions.len(),
            invoke_latency: None,
        },
        runtime: None,
        invocations: Vec::new(),
        started,
    })
}

async fn run_against_host(
    state_dir: &Path,
    out_dir: &Path,
    driver: &Path,
    options: &RunOptions,
    stats_file: Option<&Path>,
    invocations: Option<&Path>,
) -> Result<RunReport, RunError> {
    let started = invocation_log::now_text();
    // OpenWhisk's API always authenticates: the program gets a key of its own.
    let access_keys = (options.compile.provider == ProviderKind::Openwhisk).then(|| {
        vec![crate::host::AccessKey {
            access_key: OPENWHISK_UUID.to_string(),
            secret_key: openwhisk_secret(),
        }]
    });
    let host = start_host(
        state_dir,
        &options.python,
        options.max_workers,
        invocations,
        access_keys,
    )
    .await?;
    let result = deploy_and_run(&host, out_dir, driver, options, stats_file).await;
    let stats = host.stats();
    host.shutdown().await?;
    let (deploy, deploy_time, program_time, status) = result?;
    Ok(RunReport {
        exit_code: exit_code(status),
        deploy,
        deploy_time,
        program_time,
        host: stats,
        runtime: None,
        invocations: Vec::new(),
        started,
    })
}

async fn deploy_and_run(
    host: &Host,
    out_dir: &Path,
    driver: &Path,
    options: &RunOptions,
    stats_file: Option<&Path>,
) -> Result<(DeploySummary, Duration, Duration, ExitStatus), RunError> {
    let endpoint = host.endpoint();
    let started = Instant::now();
    if options.compile.provider == ProviderKind::Openwhisk {
        return deploy_actions_and_run(host, out_dir, driver, options, stats_file).await;
    }
    let summary = deploy_to_host(host, out_dir, &options.deps, options.quiet).await?;
    let deploy_time = started.elapsed();
    let started = Instant::now();
    let status = run_program(driver, options, &endpoint, stats_file).await?;
    Ok((summary, deploy_time, started.elapsed(), status))
}

/// Starts the embedded host `lambada run` (and `lambada.move()`) deploys to: an
/// ephemeral port on 127.0.0.1, functions stored in `state_dir`, workers running
/// `python` (the program's own interpreter).
pub async fn start_host(
    state_dir: &Path,
    python: &str,
    max_workers: Option<usize>,
    invocation_log: Option<&Path>,
    access_keys: Option<Vec<crate::host::AccessKey>>,
) -> Result<Host, RunError> {
    let mut config = HostConfig::new(state_dir);
    config.python = PathBuf::from(python);
    config.invocation_log = invocation_log.map(Path::to_path_buf);
    if let Some(keys) = access_keys {
        config.access_keys = keys;
    }
    if let Some(workers) = max_workers {
        config.max_workers = workers.max(1);
    }
    Ok(Host::start(config).await?)
}

/// Deploys the written output `out_dir` to the embedded host, for the Python the
/// dependencies were built for, and points its manifest at the host.
pub async fn deploy_to_host(
    host: &Host,
    out_dir: &Path,
    deps: &crate::deps::DepsOptions,
    quiet: bool,
) -> Result<DeploySummary, RunError> {
    let summary = deploy::deploy(
        out_dir,
        &DeployOptions {
            endpoint: Some(host.endpoint()),
            region: Some(HOST_REGION.into()),
            runtime: format!("python{}.{}", deps.target.python.0, deps.target.python.1),
            progress: !quiet,
            // The embedded host accepts any role: no IAM round trip.
            role: Some(deploy::LOCAL_PLACEHOLDER_ROLE.to_owned()),
            ..DeployOptions::default()
        },
    )
    .await?;
    if !summary.is_success() {
        return Err(RunError::DeployFailed(summary));
    }
    deploy::mark_deployed(out_dir, &summary.endpoint, &summary.region)?;
    Ok(summary)
}

/// The region named in the embedded host's ARNs (any would do: it has one).
pub const HOST_REGION: &str = "us-east-1";

/// Runs the rewritten program in the user's working directory, with this process's
/// standard streams. Ctrl-C reaches the program too (same process group); lambada
/// waits for it to finish rather than dying first and leaving the host's workers.
/// The access key of `lambada run --provider openwhisk`'s host (OpenWhisk's guest uuid).
const OPENWHISK_UUID: &str = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502";

fn openwhisk_secret() -> String {
    use std::fmt::Write;
    let mut bytes = [0u8; 24];
    if let Ok(mut random) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = random.read_exact(&mut bytes);
    }
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `--provider openwhisk`: the functions become actions through the host's OpenWhisk
/// API, and the program calls them over it (transport `openwhisk`, basic auth).
async fn deploy_actions_and_run(
    host: &Host,
    out_dir: &Path,
    driver: &Path,
    options: &RunOptions,
    stats_file: Option<&Path>,
) -> Result<(DeploySummary, Duration, Duration, ExitStatus), RunError> {
    let endpoint = host.endpoint();
    let key = host
        .access_keys()
        .first()
        .map(|k| format!("{}:{}", k.access_key, k.secret_key))
        .unwrap_or_else(|| "lambada:run".to_string());
    let target = deploy::openwhisk::Target::new(&endpoint, &key);
    let started = Instant::now();
    let summary = deploy::openwhisk::deploy_dir(out_dir, &target)
        .await
        .map_err(|e| RunError::OpenWhisk(e.to_string()))?;
    let deploy_time = started.elapsed();
    if !summary.is_success() {
        return Err(RunError::DeployFailed(summary));
    }
    let env = [
        ("LAMBADA_TRANSPORT", "openwhisk".to_string()),
        ("__OW_API_HOST", endpoint.clone()),
        ("__OW_API_KEY", key),
    ];
    let started = Instant::now();
    let status = run_program_with(driver, options, &endpoint, stats_file, &env).await?;
    Ok((summary, deploy_time, started.elapsed(), status))
}

async fn run_program(
    driver: &Path,
    options: &RunOptions,
    endpoint: &str,
    stats_file: Option<&Path>,
) -> Result<ExitStatus, RunError> {
    let env = [("LAMBADA_TRANSPORT", "lambda".to_string())];
    run_program_with(driver, options, endpoint, stats_file, &env).await
}

/// Runs the rewritten program in the user's working directory, with this process's
/// standard streams. Ctrl-C reaches the program too (same process group); lambada
/// waits for it to finish rather than dying first and leaving the host's workers.
async fn run_program_with(
    driver: &Path,
    options: &RunOptions,
    endpoint: &str,
    stats_file: Option<&Path>,
    env: &[(&str, String)],
) -> Result<ExitStatus, RunError> {
    let mut command = tokio::process::Command::new(&options.python);
    command
        .arg(driver)
        .args(&options.program_args)
        .env("AWS_ENDPOINT_URL_LAMBDA", endpoint)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    if options.verify {
        command.env(VERIFY_ENV, "1");
    }
    if let Some(path) = stats_file {
        command.env(STATS_FILE_ENV, path);
    }
    if options.stdin.is_some() {
        command.stdin(std::process::Stdio::piped());
    }
    let mut child = command.spawn().map_err(|source| RunError::Python {
        python: options.python.clone(),
        source,
    })?;
    if let (Some(bytes), Some(mut pipe)) = (options.stdin.clone(), child.stdin.take()) {
        // Written alongside the program's run: a large input must not wait for it.
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = pipe.write_all(&bytes).await;
        });
    }
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
    /// `--format json`: what the run did, as one JSON object (stats included).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "exit_code": self.exit_code,
            "deploy": self.deploy,
            "deploy_ms": self.deploy_time.as_millis() as u64,
            "program_ms": self.program_time.as_millis() as u64,
            "invocations": self.host.requests("Invoke"),
            "invoke_latency": self.host.invoke_latency,
            "workers_started": self.host.workers_started,
            "runtime": self.runtime.as_ref().map(|r| serde_json::json!({
                "calls": r.calls,
                "fallbacks": r.fallbacks.iter().map(|(key, f)| (key.clone(), serde_json::json!({
                    "count": f.count,
                    "reasons": f.reasons,
                }))).collect::<serde_json::Map<String, serde_json::Value>>(),
                "verified": r.verified,
                "differences": r.differences,
            })),
        })
    }

    /// The `--stats` lines.
    pub fn stats_text(&self) -> String {
        let invocations = self.host.requests("Invoke");
        let mut text = format!(
            "lambada run: {} deployed in {:.0} ms ({} created, {} updated, {} unchanged)\n",
            plural(self.deploy.functions.len() as u64, "function"),
            self.deploy_time.as_secs_f64() * 1000.0,
            self.deploy.created,
            self.deploy.updated,
            self.deploy.unchanged,
        );
        text += &format!(
            "lambada run: program ran {:.0} ms, {}",
            self.program_time.as_secs_f64() * 1000.0,
            plural(invocations, "invocation")
        );
        if let Some(latency) = &self.host.invoke_latency {
            text += &format!(
                ", latency p50 {:.2} ms, p99 {:.2} ms",
                f64::from(latency.p50_micros) / 1000.0,
                f64::from(latency.p99_micros) / 1000.0
            );
        }
        text.push('\n');
        if let Some(runtime) = &self.runtime {
            text += &runtime.text();
        }
        if let Some(hint) = profile_hint(invocations, self.program_time) {
            text += &hint;
        }
        text
    }
}

/// Invocations this many and this short mean the program moved small, hot units.
const MANY_INVOCATIONS: u64 = 1000;
/// The cost model's threshold at its default (10 x a warm invocation): below that per
/// invocation, a profile would keep the units behind them local.
const SHORT_INVOCATION: Duration = Duration::from_millis(5);

/// `--stats`: a word about `--profile` when the program made many short invocations.
fn profile_hint(invocations: u64, program_time: Duration) -> Option<String> {
    let per_invocation = program_time.checked_div(u32::try_from(invocations).ok()?)?;
    (invocations >= MANY_INVOCATIONS && per_invocation < SHORT_INVOCATION).then(|| {
        format!(
            "lambada run: {invocations} invocations averaging {:.2} ms each: functions this cheap cost more as invocations than they save; try `lambada run --profile`, which keeps them local\n",
            per_invocation.as_secs_f64() * 1000.0
        )
    })
}

/// The file `lambada run` runs: exactly one.
pub fn single_file(files: &[PathBuf]) -> Option<&Path> {
    match files {
        [one] => Some(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtimes_stats_file_reads_and_prints_fallbacks_with_their_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        std::fs::write(
            &path,
            r#"{"calls": {"fib": 10, "write_row": 3},
                "fallbacks": {"write_row": {"count": 3, "reasons": {"argument 'out' is a StringIO: cannot travel": 3}},
                              "fib": {"count": 0, "reasons": {}}},
                "verified": 7, "differences": 1}"#,
        )
        .unwrap();
        let stats = RuntimeStats::read(&path).unwrap();
        assert_eq!(stats.calls["fib"], 10);
        assert_eq!(
            stats.text(),
            "lambada run: calls: fib 10, write_row 3\n\
             lambada run: write_row: 3 calls ran locally through the twin (argument 'out' is a StringIO: cannot travel)\n\
             lambada run: verified 7 calls against the local twin, 1 difference\n"
        );
    }

    #[test]
    fn many_short_invocations_suggest_a_profile() {
        let hint = profile_hint(13_019, Duration::from_secs(10)).unwrap();
        assert!(
            hint.contains("13019 invocations averaging 0.77 ms"),
            "{hint}"
        );
        assert!(hint.contains("--profile"), "{hint}");
        assert_eq!(profile_hint(287, Duration::from_millis(690)), None);
        assert_eq!(profile_hint(5000, Duration::from_secs(60)), None);
        assert_eq!(profile_hint(0, Duration::from_secs(1)), None);
    }

    #[test]
    fn several_reasons_are_counted_and_a_missing_file_is_no_stats() {
        let stats = RuntimeStats {
            fallbacks: BTreeMap::from([
                (
                    "log".to_owned(),
                    Fallbacks {
                        count: 1,
                        reasons: BTreeMap::from([(
                            "global 'lock' is a lock: cannot travel".to_owned(),
                            1,
                        )]),
                    },
                ),
                (
                    "save".to_owned(),
                    Fallbacks {
                        count: 3,
                        reasons: BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]),
                    },
                ),
            ]),
            ..RuntimeStats::default()
        };
        assert_eq!(
            stats.text(),
            "lambada run: log: 1 call ran locally through the twin (global 'lock' is a lock: cannot travel)\n\
             lambada run: save: 3 calls ran locally through the twin (2x b; 1x a)\n"
        );
        assert_eq!(
            RuntimeStats::read(Path::new("/nonexistent/stats.json")),
            None
        );
    }
}
