//! Warm Python worker processes, a pool per function.
//!
//! A worker is forked by its tenant's zygote (see `zygote`), or, where there is none,
//! started as `python3.X worker_bootstrap.py`. Either way it runs in its own process
//! group, isolated as the host's `--isolation` says (see `sandbox`), with the function's
//! code as working directory, a private temporary directory, a clean environment with
//! session credentials of its own (see `credentials`), and a pipe as stdout/stderr of
//! which the host keeps the last 4 KB per invocation. It imports the handler once and
//! serves invocations one at a time over its stdin/stdout pipes (length-prefixed frames,
//! see the bootstrap). A pool runs at most `max_workers` invocations at once; more wait
//! in a bounded queue, beyond which the caller gets `TooManyRequestsException`. The
//! function's timeout is enforced by killing the worker's process group; a worker that
//! dies for any reason fails only the invocation it was running, and the next invocation
//! starts a fresh one (an idle worker found dead is replaced before it is used).

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, oneshot};

use super::credentials::Sessions;
use super::error::ApiError;
use super::sandbox::{Isolation, Jail, RUNTIME_DIR, WorkerPaths};
use super::store::CodeDir;
use super::util::{hex_token, utc_parts};
use super::zygote::{ForkRequest, Zygotes, forkable};

/// Init (importing the handler) may take this long at least, as in Lambda.
const MIN_INIT_LIMIT: Duration = Duration::from_secs(10);
/// The log tail returned with `LogType: Tail`, and all the host keeps of a worker's output.
const LOG_TAIL_BYTES: usize = 4096;
/// A worker is replaced before an invocation that could outlive its credentials.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(60);
/// Largest frame a worker may send (a response over 6 MB is an error anyway).
const MAX_FRAME: usize = 64 << 20;

const RESULT: u8 = 0;
const ERROR: u8 = 1;
const ERROR_RETIRE: u8 = 2;
const READY: u8 = 3;
const INIT_ERROR: u8 = 4;

/// What every worker of one function version is started with.
#[derive(Debug)]
pub struct WorkerSpec {
    pub python: PathBuf,
    /// The interpreter's installation, which a sandbox mounts read-only.
    pub python_prefix: PathBuf,
    pub bootstrap: PathBuf,
    /// Where each worker gets a scratch directory (in the state directory, so that a
    /// restarted host removes what a killed one left).
    pub scratch_root: PathBuf,
    pub code: Arc<CodeDir>,
    /// The function's merged layers (its `/opt`), if it has layers.
    pub opt: Option<PathBuf>,
    /// The version the workers run (`$LATEST` or a published number), for the logs.
    pub version: String,
    /// The complete environment, but for the per-worker variables set at spawn.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: u32,
    pub isolation: Isolation,
    /// Whose function this is: each worker gets session credentials scoped to it.
    pub tenant: String,
    pub function: String,
    pub sessions: Arc<Sessions>,
}

/// One invocation as the pool receives it.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// The event JSON, already validated.
    pub payload: Vec<u8>,
    /// The decoded client context JSON, already validated.
    pub client_context: Option<String>,
    pub invoked_arn: String,
    /// Sent by a function of this host (signed with worker credentials): it never waits
    /// behind the bound, since its caller may hold the worker it would wait for.
    pub nested: bool,
}

/// How an invocation ended, as the Invoke API reports it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub payload: Vec<u8>,
    /// `X-Amz-Function-Error: Unhandled`.
    pub function_error: bool,
    /// The log of the invocation (START … REPORT, its last 4 KB): the `LogType: Tail`
    /// answer and what the host's CloudWatch Logs keep.
    pub log: Vec<u8>,
    /// The figures of its REPORT line, for the invocation log.
    pub report: Report,
    /// What the function itself wrote (the log without START … REPORT), when the log
    /// was asked for: an OpenWhisk activation's logs.
    pub output: Option<Vec<u8>>,
}

/// What Lambda's REPORT line says of an invocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    pub duration: Duration,
    /// Whole milliseconds, rounded up, at least 1 (Lambda bills by the millisecond).
    pub billed_ms: u64,
    pub memory_mb: u32,
    pub max_memory_mb: u32,
}

impl Report {
    fn new(duration: Duration, memory_mb: u32, max_rss_kb: u32) -> Report {
        Report {
            duration,
            billed_ms: (duration.as_secs_f64() * 1000.0).ceil().max(1.0) as u64,
            memory_mb,
            max_memory_mb: max_rss_kb.div_ceil(1024),
        }
    }
}

/// The live worker processes of the whole host, so that none outlives it.
#[derive(Debug, Default)]
pub struct Census {
    /// The host is stopping: queued asynchronous events stay queued.
    stopping: AtomicBool,
    live: AtomicUsize,
    spawned: AtomicU64,
    groups: Mutex<HashSet<i32>>,
    /// The zygotes that fork workers (see `zygote`).
    pub zygotes: Zygotes,
}

impl Census {
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    pub fn spawned(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
    }

    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Kills every worker's process group and every zygote (shutdown after the grace
    /// period).
    pub fn kill_all(&self) {
        self.zygotes.kill_all();
        let groups: Vec<i32> = self
            .groups
            .lock()
            .map(|g| g.iter().copied().collect())
            .unwrap_or_default();
        for group in groups {
            kill_group(group);
        }
    }
}

#[cfg(unix)]
fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: sending a signal has no memory effects; pgid is a group we created and
        // have not reaped the leader of.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_: i32) {}

/// The last `LOG_TAIL_BYTES` a worker wrote since the current invocation started.
#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
}

impl Tail {
    fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        if self.bytes.len() > 2 * LOG_TAIL_BYTES {
            self.bytes.drain(..self.bytes.len() - LOG_TAIL_BYTES);
        }
    }

    fn take(&mut self) -> Vec<u8> {
        let mut bytes = std::mem::take(&mut self.bytes);
        if bytes.len() > LOG_TAIL_BYTES {
            bytes.drain(..bytes.len() - LOG_TAIL_BYTES);
        }
        bytes
    }
}

/// A worker's process: a child of the host, or of a zygote (which reports its exit).
enum Process {
    Spawned(Child),
    Forked {
        /// Where the zygote reports the wait status; None once it did, or once the
        /// zygote died (which kills the processes it forked).
        exit: Option<oneshot::Receiver<i32>>,
        /// The wait status, once reported.
        status: Option<i32>,
    },
}

impl Process {
    /// Whether the process has not ended yet, as far as the host can tell.
    fn is_alive(&mut self) -> bool {
        match self {
            Process::Spawned(child) => matches!(child.try_wait(), Ok(None)),
            Process::Forked { exit, status } => {
                let Some(receiver) = exit else {
                    return false;
                };
                match receiver.try_recv() {
                    Err(oneshot::error::TryRecvError::Empty) => true,
                    Ok(reported) => {
                        *status = Some(reported);
                        *exit = None;
                        false
                    }
                    // Its zygote died, which kills every process it forked.
                    Err(oneshot::error::TryRecvError::Closed) => {
                        *exit = None;
                        false
                    }
                }
            }
        }
    }

    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        use std::os::unix::process::ExitStatusExt;
        match self {
            Process::Spawned(child) => child.wait().await,
            Process::Forked { exit, status } => {
                if let Some(receiver) = exit {
                    *status = receiver.await.ok();
                    *exit = None;
                }
                status
                    .map(ExitStatus::from_raw)
                    .ok_or_else(|| std::io::Error::other("its zygote exited"))
            }
        }
    }
}

/// The host's ends of a worker's pipes.
struct HostEnds {
    stdin: OwnedFd,
    stdout: OwnedFd,
    output: OwnedFd,
}

/// A worker's three pipes: the host's ends, and the worker's stdin, stdout and stderr.
fn worker_pipes() -> std::io::Result<(HostEnds, [OwnedFd; 3])> {
    let flags = nix::fcntl::OFlag::O_CLOEXEC;
    let (stdin_r, stdin_w) = nix::unistd::pipe2(flags)?;
    let (stdout_r, stdout_w) = nix::unistd::pipe2(flags)?;
    let (output_r, output_w) = nix::unistd::pipe2(flags)?;
    Ok((
        HostEnds {
            stdin: stdin_w,
            stdout: stdout_r,
            output: output_r,
        },
        [stdin_r, stdout_w, output_w],
    ))
}

struct Worker {
    process: Process,
    stdin: Option<pipe::Sender>,
    stdout: BufReader<pipe::Receiver>,
    /// The worker's stdout and stderr (user code's output), read while it runs.
    output: pipe::Receiver,
    tail: Tail,
    pgid: i32,
    reaped: bool,
    invocations: u64,
    init_duration: Option<Duration>,
    census: Arc<Census>,
    /// The session credentials' key, revoked when the worker goes, and their expiry.
    access_key: String,
    credentials_expire: SystemTime,
    sessions: Arc<Sessions>,
    _dir: tempfile::TempDir,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.sessions.revoke(&self.access_key);
        if !self.reaped {
            kill_group(self.pgid);
        }
        if let Ok(mut groups) = self.census.groups.lock() {
            groups.remove(&self.pgid);
        }
        self.census.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a worker could not serve an invocation.
enum Failure {
    /// The worker answered during init with an error (import failed, ...).
    Init { payload: Vec<u8>, log: Vec<u8> },
    /// The worker did not answer in time.
    Timeout { limit: Duration, log: Vec<u8> },
    /// The worker died or broke the protocol.
    Died {
        reason: String,
        out_of_memory: bool,
        log: Vec<u8>,
    },
    /// The worker could not be started at all: a host problem.
    Spawn(String),
}

struct Frame {
    kind: u8,
    max_rss_kb: u32,
    payload: Vec<u8>,
}

impl Worker {
    async fn spawn(spec: &WorkerSpec, census: &Arc<Census>) -> Result<Worker, String> {
        let dir = tempfile::Builder::new()
            .prefix("lambada-worker-")
            .tempdir_in(&spec.scratch_root)
            .map_err(|e| format!("cannot create a worker directory: {e}"))?;
        let scratch = dir.path().join(match spec.isolation {
            Isolation::Sandbox => "root",
            _ => "tmp",
        });
        std::fs::create_dir(&scratch)
            .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
        let paths = WorkerPaths {
            code: &spec.code.path,
            opt: spec.opt.as_deref(),
            bootstrap: &spec.bootstrap,
            python_prefix: &spec.python_prefix,
            scratch: &scratch,
        };
        let jail = Jail::prepare(spec.isolation, &paths)
            .map_err(|e| format!("cannot prepare the worker's sandbox: {e}"))?;
        let tmp = if spec.isolation == Isolation::Sandbox {
            PathBuf::from("/tmp")
        } else {
            scratch.clone()
        };
        let credentials = spec.sessions.mint(&spec.tenant, &spec.function);
        let (y, mo, d, ..) = utc_parts(SystemTime::now());
        let mut env: Vec<(String, String)> = spec.env.clone();
        env.extend([
            ("TMPDIR".to_string(), tmp.to_string_lossy().into_owned()),
            ("HOME".to_string(), tmp.to_string_lossy().into_owned()),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME".to_string(),
                format!("{y:04}/{mo:02}/{d:02}/[{}]{}", spec.version, hex_token(16)),
            ),
            (
                "AWS_ACCESS_KEY_ID".to_string(),
                credentials.access_key_id.clone(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                credentials.secret_access_key.clone(),
            ),
            (
                "AWS_SESSION_TOKEN".to_string(),
                credentials.session_token.clone(),
            ),
        ]);
        let forked = if forkable(&env) {
            Self::fork(spec, census, jail, &env).await
        } else {
            Err(Some(jail))
        };
        let started = match forked {
            Ok(forked) => Ok(forked),
            Err(Some(jail)) => Self::start_directly(spec, jail, &env),
            // The plan was made for the zygote: the same again for a direct start.
            Err(None) => Jail::prepare(spec.isolation, &paths)
                .map_err(|e| format!("cannot prepare the worker's sandbox: {e}"))
                .and_then(|jail| Self::start_directly(spec, jail, &env)),
        };
        let (process, pgid, ends) = match started {
            Ok(started) => started,
            Err(e) => {
                spec.sessions.revoke(&credentials.access_key_id);
                return Err(e);
            }
        };
        census.live.fetch_add(1, Ordering::Relaxed);
        census.spawned.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut groups) = census.groups.lock() {
            groups.insert(pgid);
        }
        let stdin = pipe::Sender::from_owned_fd(ends.stdin);
        let stdout = pipe::Receiver::from_owned_fd(ends.stdout);
        let output = pipe::Receiver::from_owned_fd(ends.output);
        let (stdin, stdout, output) = match (stdin, stdout, output) {
            (Ok(stdin), Ok(stdout), Ok(output)) => (stdin, stdout, output),
            _ => {
                kill_group(pgid);
                return Err("cannot watch the worker's pipes".into());
            }
        };
        Ok(Worker {
            process,
            stdin: Some(stdin),
            stdout: BufReader::with_capacity(64 * 1024, stdout),
            output,
            tail: Tail::default(),
            pgid,
            reaped: false,
            invocations: 0,
            init_duration: None,
            census: census.clone(),
            access_key: credentials.access_key_id,
            credentials_expire: credentials.expires,
            sessions: spec.sessions.clone(),
            _dir: dir,
        })
    }

    /// Forks the worker from its tenant's zygote. Err: there is no zygote to use; the
    /// jail back if it was not turned into a plan yet.
    async fn fork(
        spec: &WorkerSpec,
        census: &Census,
        jail: Jail,
        env: &[(String, String)],
    ) -> Result<(Process, i32, HostEnds), Option<Jail>> {
        // The environment goes to the worker's stdin, never through the zygote; written
        // before the worker runs, so it must fit in the pipe (64 KB).
        let environment: serde_json::Map<String, serde_json::Value> = env
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let environment = serde_json::Value::Object(environment).to_string();
        if environment.len() > 32 * 1024 {
            return Err(Some(jail));
        }
        let Ok((ends, stdio)) = worker_pipes() else {
            return Err(Some(jail));
        };
        let mut frame = (environment.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(environment.as_bytes());
        if nix::unistd::write(&ends.stdin, &frame) != Ok(frame.len()) {
            return Err(Some(jail));
        }
        let plan = jail.into_plan().map_err(|_| None)?;
        let request = ForkRequest {
            plan,
            cwd: &spec.code.path,
            comm: &spec.function,
            stdio,
        };
        let forked = census
            .zygotes
            .fork(
                &spec.python,
                &spec.tenant,
                spec.isolation,
                &spec.bootstrap,
                request,
            )
            .await
            .map_err(|_| None)?;
        let process = Process::Forked {
            exit: Some(forked.exit),
            status: None,
        };
        Ok((process, forked.pid, ends))
    }

    /// Starts the worker as a child of the host: `python3.X worker_bootstrap.py`.
    fn start_directly(
        spec: &WorkerSpec,
        jail: Jail,
        env: &[(String, String)],
    ) -> Result<(Process, i32, HostEnds), String> {
        let (ends, [stdin, stdout, stderr]) =
            worker_pipes().map_err(|e| format!("cannot create the worker's pipes: {e}"))?;
        let bootstrap = if spec.isolation == Isolation::Sandbox {
            let name = spec.bootstrap.file_name().unwrap_or_default();
            PathBuf::from(RUNTIME_DIR).join(name)
        } else {
            spec.bootstrap.clone()
        };
        let mut cmd = std::process::Command::new(&spec.python);
        if spec.isolation == Isolation::Sandbox {
            // Names the host's bootstrap on the command line (not in sys.argv), so that
            // a worker can be traced to its host from outside.
            let mut marker = std::ffi::OsString::from("lambada_host=");
            marker.push(&spec.bootstrap);
            cmd.arg("-X").arg(marker);
        }
        cmd.arg(&bootstrap);
        cmd.current_dir(&spec.code.path)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    // The worker dies with the host even if the host is killed outright.
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        jail.install(&mut cmd);
        let mut cmd = Command::from(cmd);
        cmd.kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", spec.python.display()))?;
        let pgid = child.id().map(|p| p as i32).unwrap_or(0);
        Ok((Process::Spawned(child), pgid, ends))
    }

    fn is_alive(&mut self) -> bool {
        !self.reaped && self.process.is_alive()
    }

    /// Reads a frame while keeping the tail of what the worker prints meanwhile (a worker
    /// that prints more than a pipe holds would otherwise block).
    async fn read_frame(&mut self) -> std::io::Result<Frame> {
        let result = {
            let frame = read_frame(&mut self.stdout);
            tokio::pin!(frame);
            let mut buf = [0u8; 8192];
            let mut output_open = true;
            loop {
                tokio::select! {
                    frame = &mut frame => break frame,
                    n = self.output.read(&mut buf), if output_open => match n {
                        Ok(0) | Err(_) => output_open = false,
                        Ok(n) => self.tail.push(&buf[..n]),
                    },
                }
            }
        };
        self.drain_output();
        result
    }

    /// Takes what the worker wrote before its last frame (it flushes before answering),
    /// without waiting for more.
    fn drain_output(&mut self) {
        let mut buf = [0u8; 8192];
        for _ in 0..64 {
            match nix::unistd::read(self.output.as_fd(), &mut buf) {
                Ok(n) if n > 0 => self.tail.push(&buf[..n]),
                _ => break,
            }
        }
    }

    /// What the worker printed since the invocation started (at most the last 4 KB).
    fn take_log(&mut self) -> Vec<u8> {
        self.drain_output();
        self.tail.take()
    }

    async fn exchange(&mut self, header: &[u8], payload: &[u8]) -> std::io::Result<Frame> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("worker closed"))?;
        let mut buf = Vec::with_capacity(8 + header.len() + payload.len().min(64 * 1024));
        buf.extend_from_slice(&(header.len() as u32).to_be_bytes());
        buf.extend_from_slice(header);
        buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        if payload.len() <= 64 * 1024 {
            buf.extend_from_slice(payload);
            stdin.write_all(&buf).await?;
        } else {
            stdin.write_all(&buf).await?;
            stdin.write_all(payload).await?;
        }
        stdin.flush().await?;
        self.read_frame().await
    }

    /// The failure of a worker that died; its log says whether memory ran out.
    fn died(&mut self, reason: String) -> Failure {
        let log = self.take_log();
        let text = String::from_utf8_lossy(&log);
        let out_of_memory = text.contains("MemoryError") || text.contains("Cannot allocate memory");
        Failure::Died {
            reason,
            out_of_memory,
            log,
        }
    }

    /// The exit status of a worker that closed its end of the protocol: it is exiting, and
    /// a sandboxed one reports how through the process that waits for it; then the rest
    /// of its process group is killed.
    async fn exit_status(&mut self) -> Option<ExitStatus> {
        if let Ok(Ok(status)) =
            tokio::time::timeout(Duration::from_millis(500), self.process.wait()).await
        {
            kill_group(self.pgid);
            self.reaped = true;
            return Some(status);
        }
        self.kill_and_reap().await
    }

    /// Kills the process group and collects the exit status.
    async fn kill_and_reap(&mut self) -> Option<ExitStatus> {
        kill_group(self.pgid);
        self.reap().await
    }

    async fn reap(&mut self) -> Option<ExitStatus> {
        let status = tokio::time::timeout(Duration::from_secs(5), self.process.wait())
            .await
            .ok()
            .and_then(Result::ok);
        self.reaped = status.is_some();
        status
    }

    /// Closes stdin so that the worker exits by itself; kills it if it does not.
    async fn stop(mut self) {
        self.stdin = None;
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), self.process.wait()).await {
            // Still kill the group: the handler may have left processes behind.
            kill_group(self.pgid);
            self.reaped = true;
        }
    }
}

async fn read_frame(stdout: &mut BufReader<pipe::Receiver>) -> std::io::Result<Frame> {
    let mut head = [0u8; 9];
    stdout.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other("worker sent an oversized frame"));
    }
    let mut payload = vec![0u8; len];
    stdout.read_exact(&mut payload).await?;
    Ok(Frame {
        kind: head[0],
        max_rss_kb: u32::from_be_bytes([head[1], head[2], head[3], head[4]]),
        payload,
    })
}

fn describe_exit(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "Runtime exited with error: unknown".to_string();
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                libc::SIGKILL => "killed",
                libc::SIGSEGV => "segmentation fault",
                libc::SIGABRT => "aborted",
                libc::SIGBUS => "bus error",
                libc::SIGTERM => "terminated",
                libc::SIGFPE => "floating point exception",
                libc::SIGILL => "illegal instruction",
                _ => "",
            };
            return if name.is_empty() {
                format!("Runtime exited with error: signal: {signal}")
            } else {
                format!("Runtime exited with error: signal: {name}")
            };
        }
    }
    match status.code() {
        Some(code) => format!("Runtime exited with error: exit status {code}"),
        None => "Runtime exited with error: unknown".to_string(),
    }
}

fn error_payload(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::json!({ "errorMessage": message, "errorType": error_type })
        .to_string()
        .into_bytes()
}

/// The worker's error JSON with this invocation's request id filled in.
fn with_request_id(payload: &[u8], request_id: &str) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("requestId".into(), request_id.into());
            serde_json::Value::Object(map).to_string().into_bytes()
        }
        _ => payload.to_vec(),
    }
}

/// The warm workers of one function version.
/// Warm workers kept for nested invocations beyond `--max-workers`.
const NESTED_IDLE_WORKERS: usize = 32;

pub struct Pool {
    spec: WorkerSpec,
    slots_total: usize,
    idle: Mutex<Vec<Worker>>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
    retired: AtomicBool,
    census: Arc<Census>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub fn new(
        spec: WorkerSpec,
        max_workers: usize,
        max_queue: usize,
        census: Arc<Census>,
    ) -> Pool {
        // The tenant's zygote starts now, so that the first cold start finds it ready.
        census
            .zygotes
            .prepare(&spec.python, &spec.tenant, spec.isolation, &spec.bootstrap);
        Pool {
            spec,
            slots_total: max_workers.max(1),
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(max_workers.max(1))),
            waiting: AtomicUsize::new(0),
            max_queue,
            retired: AtomicBool::new(false),
            census,
        }
    }

    fn idle_count(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(usize::MAX)
    }

    /// Idle workers kept at most: the concurrency bound, plus room for nested calls.
    fn max_idle(&self) -> usize {
        self.slots_total + NESTED_IDLE_WORKERS
    }

    pub fn spec(&self) -> &WorkerSpec {
        &self.spec
    }

    /// No new invocations come here any more (the function changed or is deleted):
    /// idle workers stop now, busy ones when their invocation ends.
    pub async fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        let idle: Vec<Worker> = self
            .idle
            .lock()
            .map(|mut v| v.drain(..).collect())
            .unwrap_or_default();
        for worker in idle {
            worker.stop().await;
        }
    }

    /// Runs one invocation, waiting for a free worker. `bounded`: refuse with 429 when
    /// the queue is full (synchronous calls); asynchronous events always wait.
    pub async fn invoke(
        self: Arc<Self>,
        inv: Invocation,
        bounded: bool,
    ) -> Result<Outcome, ApiError> {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            // An overflow worker: waiting could deadlock (f calls f with all workers busy).
            Err(_) if inv.nested => None,
            Err(_) => {
                let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
                if bounded && queued >= self.max_queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(ApiError::too_many_requests("Rate Exceeded."));
                }
                let permit = self.slots.clone().acquire_owned().await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                Some(permit.map_err(|_| ApiError::service("the function's workers were stopped"))?)
            }
        };
        if !bounded && self.census.stopping.load(Ordering::SeqCst) {
            return Err(ApiError::service(
                "the host is stopping; the event stays queued",
            ));
        }
        let mut idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        if let Some(mut worker) = idle.take_if(|w| !w.is_alive()) {
            // Died while idle (killed from outside, or with its zygote): a fresh one.
            worker.reap().await;
        }
        if let Some(worker) = idle.take_if(|w| {
            w.credentials_expire < SystemTime::now() + self.spec.timeout + CREDENTIALS_MARGIN
        }) {
            // Its credentials would expire mid-invocation: a fresh worker gets new ones.
            worker.stop().await;
        }
        let started = Instant::now();
        let result = match idle {
            Some(worker) => self.run(worker, &inv).await,
            None => match self.start_worker(&inv).await {
                Ok(worker) => self.run(worker, &inv).await,
                Err(failure) => (None, Err(failure)),
            },
        };
        let (worker, result) = result;
        if let Some(worker) = worker {
            // Overflow workers (nested calls: recursion with --remote-calls all) stay warm
            // too, up to a bound: recursion goes as deep again on the next call.
            let keep = !self.retired.load(Ordering::SeqCst)
                && (permit.is_some() || self.idle_count() < self.max_idle());
            let worker = if keep {
                match self.idle.lock() {
                    Ok(mut idle) => {
                        idle.push(worker);
                        None
                    }
                    Err(_) => Some(worker),
                }
            } else {
                Some(worker)
            };
            if let Some(worker) = worker {
                worker.stop().await;
            }
        }
        drop(permit);
        match result {
            Ok(outcome) => Ok(outcome),
            Err(Failure::Spawn(message)) => Err(ApiError::service(message)),
            Err(failure) => Ok(self.failed(&inv, failure, started)),
        }
    }

    async fn start_worker(&self, inv: &Invocation) -> Result<Worker, Failure> {
        let started = Instant::now();
        let mut worker = Worker::spawn(&self.spec, &self.census)
            .await
            .map_err(Failure::Spawn)?;
        let limit = self.spec.timeout.max(MIN_INIT_LIMIT);
        match tokio::time::timeout(limit, worker.read_frame()).await {
            Ok(Ok(frame)) if frame.kind == READY => {
                worker.init_duration = Some(started.elapsed());
                Ok(worker)
            }
            Ok(Ok(frame)) if frame.kind == INIT_ERROR => {
                worker.kill_and_reap().await;
                Err(Failure::Init {
                    payload: with_request_id(&frame.payload, &inv.request_id),
                    log: worker.take_log(),
                })
            }
            Ok(_) => {
                let status = worker.exit_status().await;
                Err(worker.died(describe_exit(status)))
            }
            Err(_) => {
                worker.kill_and_reap().await;
                Err(Failure::Timeout {
                    limit,
                    log: worker.take_log(),
                })
            }
        }
    }

    /// One exchange with a worker; gives the worker back if it can serve again.
    async fn run(
        &self,
        mut worker: Worker,
        inv: &Invocation,
    ) -> (Option<Worker>, Result<Outcome, Failure>) {
        let timeout = self.spec.timeout;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let client_context = inv
            .client_context
            .as_deref()
            .and_then(|cc| serde_json::from_str::<serde_json::Value>(cc).ok())
            .unwrap_or(serde_json::Value::Null);
        let header = serde_json::json!({
            "id": inv.request_id,
            "deadline_ms": now_ms + timeout.as_millis() as u64,
            "arn": inv.invoked_arn,
            "cc": client_context,
        })
        .to_string();
        let started = Instant::now();
        let exchanged =
            tokio::time::timeout(timeout, worker.exchange(header.as_bytes(), &inv.payload)).await;
        let duration = started.elapsed();
        worker.invocations += 1;
        let init_duration = worker.init_duration.take();
        match exchanged {
            Ok(Ok(frame))
                if frame.kind == RESULT || frame.kind == ERROR || frame.kind == ERROR_RETIRE =>
            {
                let report = Report::new(duration, self.spec.memory_mb, frame.max_rss_kb);
                let body = worker.take_log();
                let log = self.compose_log(inv, &body, &report, init_duration);
                // The body itself (not a copy) is what an OpenWhisk activation shows.
                let output = Some(body);
                let outcome = Outcome {
                    payload: frame.payload,
                    function_error: frame.kind != RESULT,
                    log,
                    report,
                    output,
                };
                if frame.kind == ERROR_RETIRE {
                    worker.stdin = None;
                    worker.kill_and_reap().await;
                    return (None, Ok(outcome));
                }
                (Some(worker), Ok(outcome))
            }
            Ok(Ok(_)) => {
                worker.kill_and_reap().await;
                let failure = worker.died("Runtime exited with error: protocol violation".into());
                (None, Err(failure))
            }
            Ok(Err(_)) => {
                let status = worker.exit_status().await;
                (None, Err(worker.died(describe_exit(status))))
            }
            Err(_) => {
                worker.kill_and_reap().await;
                let log = worker.take_log();
                (
                    None,
                    Err(Failure::Timeout {
                        limit: timeout,
                        log,
                    }),
                )
            }
        }
    }

    /// The answer for an invocation that failed outside the handler.
    fn failed(&self, inv: &Invocation, failure: Failure, started: Instant) -> Outcome {
        let id = &inv.request_id;
        let (payload, mut log) = match failure {
            Failure::Init { payload, log } => (payload, log),
            Failure::Timeout { limit, mut log } => {
                let message = format!(
                    "RequestId: {id} Error: Task timed out after {:.2} seconds",
                    limit.as_secs_f64()
                );
                log.extend_from_slice(format!("{message}\n").as_bytes());
                (error_payload("Sandbox.Timedout", &message), log)
            }
            Failure::Died {
                reason,
                out_of_memory,
                mut log,
            } => {
                let error_type = if out_of_memory {
                    "Runtime.OutOfMemory"
                } else {
                    "Runtime.ExitError"
                };
                let message = format!("RequestId: {id} Error: {reason}");
                if !log.is_empty() && !log.ends_with(b"\n") {
                    log.push(b'\n');
                }
                log.extend_from_slice(format!("{message}\n").as_bytes());
                (error_payload(error_type, &message), log)
            }
            Failure::Spawn(reason) => (error_payload("Runtime.Unknown", &reason), Vec::new()),
        };
        let report = Report::new(started.elapsed(), self.spec.memory_mb, 0);
        let body = std::mem::take(&mut log);
        let log = self.compose_log(inv, &body, &report, None);
        let output = Some(body);
        Outcome {
            payload,
            function_error: true,
            log,
            report,
            output,
        }
    }

    fn compose_log(
        &self,
        inv: &Invocation,
        body: &[u8],
        report: &Report,
        init: Option<Duration>,
    ) -> Vec<u8> {
        let id = &inv.request_id;
        let ms = report.duration.as_secs_f64() * 1000.0;
        let version = &self.spec.version;
        let mut log = format!("START RequestId: {id} Version: {version}\n").into_bytes();
        log.extend_from_slice(body);
        if !body.is_empty() && !body.ends_with(b"\n") {
            log.push(b'\n');
        }
        let mut report = format!(
            "END RequestId: {id}\nREPORT RequestId: {id}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            report.billed_ms, report.memory_mb, report.max_memory_mb,
        );
        if let Some(init) = init {
            report.push_str(&format!(
                "\tInit Duration: {:.2} ms",
                init.as_secs_f64() * 1000.0
            ));
        }
        report.push_str("\t\n");
        log.extend_from_slice(report.as_bytes());
        if log.len() > LOG_TAIL_BYTES {
            log.drain(..log.len() - LOG_TAIL_BYTES);
        }
        log
    }
}
