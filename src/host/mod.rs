//! The embedded Lambda-compatible host (`lambada serve`).
//!
//! It answers the Lambda REST API subset that deployers and clients use (the contract is
//! `docs/lambda-api.md` in this repository), plus STS `GetCallerIdentity`; stores
//! functions durably in a state directory; runs each function in warm Python worker
//! processes, each in its own sandbox (see `sandbox`), with its timeout and memory
//! enforced; gives workers short-lived session credentials (see `credentials`); verifies
//! SigV4 signatures when credentials are configured.
//!
//! # Library API (for `lambada run` and tests)
//!
//! ```no_run
//! # async fn demo() -> Result<(), lambada::host::HostError> {
//! use lambada::host::{Host, HostConfig};
//! let mut config = HostConfig::new("/tmp/lambada-state"); // 127.0.0.1, ephemeral port
//! config.max_workers = 4;
//! let host = Host::start(config).await?;      // listening once this returns
//! let url = host.endpoint();                  // "http://127.0.0.1:PORT": AWS_ENDPOINT_URL_LAMBDA
//! // ... deploy and invoke through `url` ...
//! let updates = host.stats().requests("UpdateFunctionCode"); // requests seen, by operation
//! host.shutdown().await?;                     // finishes in-flight requests, stops workers
//! # Ok(()) }
//! ```
//!
//! `Host::start` must run inside a Tokio runtime with IO and time enabled
//! (`Builder::enable_all()`); it spawns its server task there. Dropping a `Host` without
//! `shutdown` kills its workers at once. The same counters are served as JSON at
//! `GET {endpoint}/_lambada/stats` (signed like any request when credentials are
//! configured; counts only) for tests in other processes.
//!
//! # Layout
//! `server` (HTTP, routing, signatures, request log) → `functions` (control plane and the
//! in-memory registry) / `versions` (published versions, aliases, reserved concurrency) /
//! `layers` (layer versions, a function's `/opt`) / `invoke` (Invoke, async events) → `workers` (process pools, each
//! worker isolated by `sandbox`, run by an interpreter of `runtimes`) and `store`
//! (durable state), with `sigv4`, `credentials`, `zipcheck`, `names`, `error` and `util`
//! beside.

mod credentials;
mod error;
mod functions;
pub mod invocation_log;
mod invoke;
mod layers;
mod logs;
mod names;
mod openwhisk;
mod runtimes;
mod sandbox;
mod server;
mod sigv4;
mod store;
mod util;
mod versions;
mod workers;
mod zipcheck;
mod zygote;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

pub use credentials::DEFAULT_SESSION_TTL;
pub use error::{ApiError, HostError};
pub use names::ACCOUNT_ID;
pub use sandbox::Isolation;
pub use zygote::ZygoteInfo;

/// One tenant's credentials: requests signed with this key see only its functions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AccessKey {
    pub access_key: String,
    pub secret_key: String,
}

/// How to run a host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Address to listen on (loopback by default).
    pub bind: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Where functions and pending events are stored.
    pub state_dir: PathBuf,
    /// Invocations run at once per function (= warm workers per function).
    pub max_workers: usize,
    /// Synchronous invocations waiting per function before 429.
    pub max_queue: usize,
    /// Accepted keys; empty means signatures are not checked.
    pub access_keys: Vec<AccessKey>,
    /// The Python interpreter of the workers.
    pub python: PathBuf,
    /// Every `python3.X` runtime runs on `python` (the embedded host of `lambada run`,
    /// where the program's interpreter is the one). Otherwise `Runtime: python3.X` runs
    /// on an installed `python3.X` (`python` if it is 3.X, else found through pyenv or
    /// PATH), and a runtime without one is refused at CreateFunction.
    pub python_for_every_runtime: bool,
    /// How workers are isolated (`Auto`: a sandbox where the kernel allows it).
    pub isolation: Isolation,
    /// How long the session credentials given to a worker last.
    pub session_ttl: Duration,
    /// How long a failed asynchronous event waits before its first retry (twice that
    /// before the second).
    pub event_retry_delay: Duration,
    /// The 12-digit account in every ARN (`ACCOUNT_ID` unless configured; moto and
    /// AWS's documentation use `123456789012`).
    pub account_id: String,
    /// One line per request on stderr.
    pub verbose: bool,
    /// How long shutdown waits for in-flight requests before failing them.
    pub shutdown_grace: Duration,
    /// SQLite file that gets one row per invocation (`--invocation-log`).
    pub invocation_log: Option<PathBuf>,
}

impl HostConfig {
    /// The embedded host of one program (`lambada run`, tests): 127.0.0.1, an ephemeral
    /// port, one worker per core, no credentials, every runtime on `python3`, workers not
    /// isolated (they are the program's own functions and see its files, as the
    /// in-process transport does). `lambada serve` sets `isolation` to `Auto` and
    /// `python_for_every_runtime` to false.
    pub fn new(state_dir: impl Into<PathBuf>) -> HostConfig {
        HostConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            state_dir: state_dir.into(),
            max_workers: default_workers(),
            max_queue: 128,
            access_keys: Vec::new(),
            python: PathBuf::from("python3"),
            python_for_every_runtime: true,
            isolation: Isolation::None,
            session_ttl: DEFAULT_SESSION_TTL,
            event_retry_delay: Duration::from_secs(60),
            account_id: ACCOUNT_ID.to_string(),
            verbose: false,
            shutdown_grace: Duration::from_secs(10),
            invocation_log: None,
        }
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// `$XDG_DATA_HOME/lambada/host`, else `~/.local/share/lambada/host`
/// (`~/Library/Application Support/lambada/host` on macOS).
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("lambada").join("host"));
    }
    let home = PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?);
    let base = if cfg!(target_os = "macos") {
        home.join("Library").join("Application Support")
    } else {
        home.join(".local").join("share")
    };
    Some(base.join("lambada").join("host"))
}

/// The operations counted by [`HostStats`], in a fixed order.
pub const OPERATIONS: [&str; 32] = [
    "CreateFunction",
    "ListFunctions",
    "GetFunction",
    "GetFunctionConfiguration",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "DeleteFunction",
    "AddPermission",
    "GetPolicy",
    "RemovePermission",
    "Invoke",
    "InvokeAsync",
    "PublishVersion",
    "ListVersionsByFunction",
    "CreateAlias",
    "GetAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "PutFunctionConcurrency",
    "GetFunctionConcurrency",
    "DeleteFunctionConcurrency",
    "GetAccountSettings",
    "PublishLayerVersion",
    "GetLayerVersion",
    "ListLayers",
    "ListLayerVersions",
    "DeleteLayerVersion",
    "GetCallerIdentity",
    "CloudWatchLogs",
    "OpenWhisk",
    "Unknown",
];

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: [AtomicU64; OPERATIONS.len()],
    /// How long each Invoke took, in microseconds (the first million).
    invoke_micros: std::sync::Mutex<Vec<u32>>,
}

/// Invocations kept for latency percentiles; a long-running host stops recording there.
const LATENCY_SAMPLES: usize = 1_000_000;

impl Counters {
    pub(crate) fn invoke_took(&self, elapsed: Duration) {
        let micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
        let mut samples = self
            .invoke_micros
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if samples.len() < LATENCY_SAMPLES {
            samples.push(micros);
        }
    }

    fn invoke_latency(&self) -> Option<Latency> {
        let mut samples = self
            .invoke_micros
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Some(Latency {
            invocations: samples.len(),
            p50_micros: at(0.50),
            p99_micros: at(0.99),
            max_micros: at(1.0),
        })
    }

    pub(crate) fn count(&self, operation: &str) {
        let index = OPERATIONS
            .iter()
            .position(|o| *o == operation)
            .unwrap_or(OPERATIONS.len() - 1);
        self.requests[index].fetch_add(1, Ordering::Relaxed);
    }
}

/// What a host has done so far.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostStats {
    /// Requests received, by operation name (`Invoke`, `UpdateFunctionCode`, ...),
    /// whatever their outcome; operations never requested are absent.
    pub requests: BTreeMap<String, u64>,
    /// Worker processes alive now.
    pub workers: usize,
    /// Worker processes started since the host started.
    pub workers_started: u64,
    /// Of those, the ones forked by a zygote (see `zygote`), not started directly.
    pub workers_forked: u64,
    /// Functions stored, all tenants.
    pub functions: usize,
    /// How long Invoke requests took, as the host saw them (request in, response out).
    pub invoke_latency: Option<Latency>,
}

/// Percentiles of Invoke durations.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Latency {
    pub invocations: usize,
    pub p50_micros: u32,
    pub p99_micros: u32,
    pub max_micros: u32,
}

impl HostStats {
    /// How many requests of `operation` the host received.
    pub fn requests(&self, operation: &str) -> u64 {
        self.requests.get(operation).copied().unwrap_or(0)
    }
}

/// The state shared by every request of one host.
pub(crate) struct HostState {
    pub config: HostConfig,
    pub store: store::Store,
    pub verifier: sigv4::Verifier,
    pub registry: functions::Registry,
    pub census: Arc<workers::Census>,
    pub counters: Counters,
    /// The endpoint workers use to invoke other functions.
    pub endpoint: String,
    /// How workers are isolated, as resolved at start-up.
    pub isolation: Isolation,
    /// The interpreters of the `python3.X` runtimes.
    pub runtimes: runtimes::Runtimes,
    /// Signs the code download links of GetFunction.
    pub link_key: Vec<u8>,
    pub shutting_down: AtomicBool,
    pub events_in_flight: AtomicUsize,
    pub events_done: Notify,
    /// Every invocation's log, read through the CloudWatch Logs API.
    pub logs: logs::LogStore,
    pub invocation_log: Option<invocation_log::InvocationLog>,
    /// OpenWhisk activations (see `openwhisk`).
    pub activations: openwhisk::Activations,
}

impl HostState {
    pub(crate) fn stats(&self) -> HostStats {
        let requests = OPERATIONS
            .iter()
            .zip(&self.counters.requests)
            .map(|(name, n)| (name.to_string(), n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        HostStats {
            requests,
            workers: self.census.live(),
            workers_started: self.census.spawned(),
            workers_forked: self.census.zygotes.forked(),
            functions: self.registry.count(),
            invoke_latency: self.counters.invoke_latency(),
        }
    }
}

/// The tenant of requests when no credentials are configured.
pub(crate) const ANONYMOUS_TENANT: &str = "anonymous";

fn tenant_of(access_key: &str) -> String {
    format!("key-{access_key}")
}

fn valid_access_key(key: &str) -> bool {
    (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A running host.
pub struct Host {
    addr: SocketAddr,
    state: Arc<HostState>,
    server: Option<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
    /// Why `Auto` isolation fell back to `Process`.
    fallback: Option<String>,
}

impl Host {
    /// Opens the state directory, loads the stored functions, binds and starts serving.
    pub async fn start(config: HostConfig) -> Result<Host, HostError> {
        if config.account_id.len() != 12 || !config.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HostError::Config(format!(
                "account id '{}': an account id is 12 digits",
                config.account_id
            )));
        }
        let sessions = Arc::new(credentials::Sessions::new(config.session_ttl));
        let mut verifier = sigv4::Verifier::with_sessions(sessions);
        for key in &config.access_keys {
            if !valid_access_key(&key.access_key) || key.secret_key.is_empty() {
                return Err(HostError::Config(format!(
                    "access key '{}': keys are 1-128 characters of A-Z, a-z, 0-9, '_' and '-', with a non-empty secret",
                    key.access_key
                )));
            }
            let tenant = tenant_of(&key.access_key);
            verifier.add_key(&key.access_key, &key.secret_key, &tenant);
        }
        let python = config.python.clone();
        let any_runtime = config.python_for_every_runtime;
        let requested = config.isolation;
        let (runtimes, isolation, fallback) = tokio::task::spawn_blocking(move || {
            let runtimes = if any_runtime && requested == Isolation::None {
                runtimes::Runtimes::just(&python)
            } else {
                runtimes::Runtimes::discover(&python, any_runtime)?
            };
            let (isolation, fallback) = resolve_isolation(requested, &runtimes)?;
            Ok::<_, HostError>((runtimes, isolation, fallback))
        })
        .await
        .map_err(|e| HostError::Config(e.to_string()))??;
        let addr = SocketAddr::new(config.bind, config.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| HostError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| HostError::Bind { addr, source })?;
        let store_root = config.state_dir.clone();
        let store = tokio::task::spawn_blocking(move || store::Store::open(&store_root))
            .await
            .map_err(|e| HostError::Config(e.to_string()))??;
        let invocation_log = match &config.invocation_log {
            Some(path) => Some(
                invocation_log::InvocationLog::open(path)
                    .map_err(|e| HostError::Config(e.to_string()))?,
            ),
            None => None,
        };
        let reachable = if addr.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        } else {
            addr
        };
        let state = Arc::new(HostState {
            config,
            store,
            verifier,
            registry: functions::Registry::default(),
            census: Arc::new(workers::Census::default()),
            counters: Counters::default(),
            endpoint: format!("http://{reachable}"),
            isolation,
            runtimes,
            link_key: util::secret_bytes(32),
            shutting_down: AtomicBool::new(false),
            events_in_flight: AtomicUsize::new(0),
            events_done: Notify::new(),
            logs: logs::LogStore::default(),
            invocation_log,
            activations: openwhisk::Activations::default(),
        });
        functions::load_stored(&state).await?;
        invoke::replay_pending_events(&state);
        let (stop, stop_rx) = watch::channel(false);
        let server = tokio::spawn(server::run(listener, state.clone(), stop_rx));
        Ok(Host {
            addr,
            state,
            server: Some(server),
            stop,
            fallback,
        })
    }

    /// How workers are isolated.
    pub fn isolation(&self) -> Isolation {
        self.state.isolation
    }

    /// One line saying why workers are not sandboxed, when `Auto` had to fall back.
    pub fn isolation_notice(&self) -> Option<String> {
        self.fallback.as_ref().map(|why| {
            format!(
                "lambada serve: notice: no sandbox here ({why}); workers run with --isolation process (Landlock {}, rlimits, process groups)",
                if sandbox::landlock_available() { "on" } else { "unavailable" }
            )
        })
    }

    /// The address the host listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients use, e.g. `http://127.0.0.1:10000`.
    pub fn endpoint(&self) -> String {
        self.state.endpoint.clone()
    }

    /// Request counters and worker counts.
    pub fn stats(&self) -> HostStats {
        self.state.stats()
    }

    /// The live zygotes: one per tenant and interpreter that has functions.
    pub fn zygotes(&self) -> Vec<ZygoteInfo> {
        self.state.census.zygotes.list()
    }

    /// The access keys the host accepts (as configured).
    pub fn access_keys(&self) -> &[AccessKey] {
        &self.state.config.access_keys
    }

    /// Whether signatures are checked.
    pub fn verifies_signatures(&self) -> bool {
        !self.state.verifier.is_open()
    }

    /// Stops accepting connections, lets in-flight requests finish (failing those still
    /// running after the grace period), keeps unstarted async events for the next start,
    /// and stops every worker.
    pub async fn shutdown(mut self) -> Result<(), HostError> {
        let state = self.state.clone();
        state.shutting_down.store(true, Ordering::SeqCst);
        state.census.set_stopping();
        let _ = self.stop.send(true);
        let deadline = Instant::now() + state.config.shutdown_grace;
        let mut server = self.server.take();
        let finished = match server.as_mut() {
            Some(server) => tokio::time::timeout_at(deadline.into(), server)
                .await
                .is_ok(),
            None => true,
        };
        if let (false, Some(mut server)) = (finished, server) {
            // Still running: fail the invocations in flight so their requests end.
            state.census.kill_all();
            if tokio::time::timeout(Duration::from_secs(3), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
        while state.events_in_flight.load(Ordering::SeqCst) > 0 {
            let notified = state.events_done.notified();
            if state.events_in_flight.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                state.census.kill_all();
                break;
            }
        }
        state.registry.retire_all().await;
        state.census.kill_all();
        if let Some(log) = &state.invocation_log {
            log.close();
        }
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.state.shutting_down.store(true, Ordering::SeqCst);
            let _ = self.stop.send(true);
            server.abort();
            self.state.census.kill_all();
        }
    }
}

/// The isolation to run with, and why `Auto` fell back to `Process` if it did.
fn resolve_isolation(
    requested: Isolation,
    runtimes: &runtimes::Runtimes,
) -> Result<(Isolation, Option<String>), HostError> {
    let probe = || {
        let python = runtimes.default_interpreter();
        sandbox::probe(&python.path, &python.prefix)
    };
    match requested {
        Isolation::None | Isolation::Process => Ok((requested, None)),
        Isolation::Sandbox => match probe() {
            Ok(()) => Ok((Isolation::Sandbox, None)),
            Err(why) => Err(HostError::Config(format!(
                "--isolation sandbox: cannot build a sandbox here: {why}; use --isolation process"
            ))),
        },
        Isolation::Auto => match probe() {
            Ok(()) => Ok((Isolation::Sandbox, None)),
            Err(why) => Ok((Isolation::Process, Some(why))),
        },
    }
}

/// `lambada serve`: runs a host until SIGINT or SIGTERM. Exit status 0 after a clean
/// shutdown, 1 when the host fails, 2 for bad arguments.
pub fn serve(config: HostConfig, print_endpoint: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lambada serve: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let state_dir = config.state_dir.clone();
        let non_loopback = !config.bind.is_loopback();
        let host = match Host::start(config).await {
            Ok(host) => host,
            Err(e) => {
                eprintln!("lambada serve: error: {e}");
                return ExitCode::from(match e {
                    HostError::Config(_) => 2,
                    _ => 1,
                });
            }
        };
        if print_endpoint {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", host.endpoint());
            let _ = out.flush();
        }
        let stats = host.stats();
        eprintln!(
            "lambada serve: listening on http://{} ({} function{} in {})",
            host.addr(),
            stats.functions,
            if stats.functions == 1 { "" } else { "s" },
            state_dir.display()
        );
        if let Some(notice) = host.isolation_notice() {
            eprintln!("{notice}");
        }
        if non_loopback {
            eprintln!(
                "lambada serve: warning: bound to {}, reachable from other machines",
                host.addr().ip()
            );
        }
        if host.verifies_signatures() {
            eprintln!(
                "lambada serve: verifying SigV4 signatures for {} access key{}",
                host.state.config.access_keys.len(),
                if host.state.config.access_keys.len() == 1 { "" } else { "s" }
            );
        } else {
            eprintln!(
                "lambada serve: no credentials configured: any well-formed request is accepted, signatures are not checked (use --access-key/--secret-key or --accounts)"
            );
        }
        if let Err(e) = wait_for_stop_signal().await {
            eprintln!("lambada serve: error: cannot listen for signals: {e}");
            let _ = host.shutdown().await;
            return ExitCode::from(1);
        }
        eprintln!("lambada serve: stopping (again to force)");
        let census = host.state.census.clone();
        tokio::spawn(async move {
            if wait_for_stop_signal().await.is_ok() {
                census.kill_all();
                std::process::exit(1);
            }
        });
        match host.shutdown().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lambada serve: error: {e}");
                ExitCode::from(1)
            }
        }
    })
}

async fn wait_for_stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
