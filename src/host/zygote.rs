//! Zygotes: pre-started Python processes that fork workers, for millisecond cold starts.
//!
//! Starting a worker directly costs a whole interpreter start: `site` and its `.pth`
//! files, the standard library modules the lambada runtime imports, and compiling the
//! runtime itself (packages carry no bytecode). A zygote (`templates/lambada_zygote.py`)
//! pays that once: it imports the bootstrap and those modules, compiles the runtime, and
//! then forks a worker for each cold start. A fork of a warm interpreter takes about a
//! millisecond; the function's code is imported in the child only.
//!
//! There is one zygote per interpreter (`python3.X`), tenant and isolation mode, started
//! when a tenant's function is created or loaded, and never shared between tenants:
//! forked workers share the zygote's address-space layout and str hash seed, which is
//! harmless within a tenant and none of another tenant's business. What the zygote holds
//! is the same for every function of its tenant: it never imports function code, and its
//! environment holds nothing of any function (`ZYGOTE_ENVIRONMENT`). A worker's own
//! environment, its session credentials included, goes from the host straight to the
//! worker over the worker's stdin, after the worker has isolated itself, so it never
//! passes through the zygote's memory where the next fork would inherit it.
//!
//! Isolation. The zygote itself runs as the host does (it must be able to create every
//! kind of sandbox, and Landlock restrictions can only tighten); it runs only lambada's
//! code. Each forked child runs the same steps a directly started worker takes between
//! `fork` and `exec` (`Jail::into_plan`): rlimits, new user/mount/PID/IPC/UTS namespaces,
//! its own root with its code, the Python installation and a private `/tmp`, then
//! Landlock with the ruleset the host prepared and sent along as a descriptor; it also
//! drops the capabilities that `exec` would have dropped. Only then does it read its
//! environment and import the function.
//!
//! PID namespaces: `unshare(CLONE_NEWPID)` puts the caller's *children* in the new
//! namespace, so the zygote's child unshares, forks the worker (PID 1 of the namespace),
//! and waits for it holding nothing open, exiting as the worker did. The zygote reaps that
//! middle process and reports its status to the host. Both are in a process group named
//! by the middle process's pid, which is what the host kills on timeout, DeleteFunction
//! and shutdown; killing PID 1 kills the whole namespace, `setsid` children included.
//! Every process of the chain dies with its parent (PDEATHSIG): the zygote with the
//! thread of the host that started it, which lives as long as the zygote does.
//!
//! Fallback: when there is no usable zygote (it failed to start, it is restarting, the
//! function's environment changes how an interpreter starts, a path is not UTF-8), the
//! worker is started directly, as before. A zygote that dies after it was ready (killed)
//! is started again on the next cold start; one that dies before, is not (its
//! interpreter cannot run it), and the host says so once.

use std::collections::HashMap;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, Shutdown, SockFlag, SockType, sendmsg, shutdown,
    socketpair,
};
use tokio::sync::{oneshot, watch};

use super::sandbox::{Isolation, ZygotePlan, zygote_constants};

/// The zygote's program, compiled into the binary and written beside the bootstrap.
const ZYGOTE_SCRIPT: &str = include_str!("../../templates/lambada_zygote.py");
/// How long a cold start waits for a starting zygote, or for a fork, before it starts
/// its worker directly.
const ZYGOTE_WAIT: Duration = Duration::from_secs(5);
/// A zygote not ready this long after it started is given up.
const ZYGOTE_START_LIMIT: Duration = Duration::from_secs(30);
/// Largest message a zygote sends.
const MAX_MESSAGE: usize = 64 * 1024;

/// A zygote's whole environment: what an interpreter reads when it starts, with the
/// values every worker gets by default (see `worker_spec` in `functions.rs`). Nothing
/// of any function.
const ZYGOTE_ENVIRONMENT: [(&str, &str); 4] = [
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("LANG", "C.UTF-8"),
    ("TZ", ":UTC"),
    ("MALLOC_ARENA_MAX", "1"),
];

/// Whether a worker with this environment can come from a zygote: the variables read
/// when an interpreter (or the C library) starts must be those the zygote started with.
/// `TZ`, `PYTHONPATH` and `PYTHONDONTWRITEBYTECODE` the worker applies itself after the
/// fork (`run_forked` in the bootstrap).
pub fn forkable(env: &[(String, String)]) -> bool {
    let read_at_start = |name: &str| {
        (name.starts_with("PYTHON") && name != "PYTHONPATH" && name != "PYTHONDONTWRITEBYTECODE")
            || name.starts_with("LC_")
            || name.starts_with("LD_")
            || name.starts_with("MALLOC_")
            || name == "LANG"
            || name == "LANGUAGE"
            || name == "GLIBC_TUNABLES"
    };
    let zygote_value = |name: &str| {
        ZYGOTE_ENVIRONMENT
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    };
    let worker_value = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    env.iter()
        .map(|(k, _)| k.as_str())
        .chain(ZYGOTE_ENVIRONMENT.iter().map(|(k, _)| *k))
        .filter(|name| read_at_start(name))
        .all(|name| worker_value(name) == zygote_value(name))
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    python: PathBuf,
    tenant: String,
    isolation: Isolation,
}

/// A live zygote, as `Host::zygotes` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZygoteInfo {
    pub tenant: String,
    pub python: PathBuf,
    pub pid: u32,
    /// Workers it forked.
    pub forked: u64,
}

/// A worker a zygote forked: its pid (also its process group), and its exit status
/// (a wait status) once the zygote has reaped it.
pub struct Forked {
    pub pid: i32,
    pub exit: oneshot::Receiver<i32>,
}

/// Every zygote of a host.
#[derive(Default)]
pub struct Zygotes {
    by_key: Mutex<HashMap<Key, Arc<Zygote>>>,
    /// Zygotes that died before they were ready: their workers start directly.
    broken: Mutex<HashMap<Key, String>>,
    /// The host is stopping: no zygote starts any more.
    stopping: AtomicBool,
    forked: AtomicU64,
}

impl std::fmt::Debug for Zygotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zygotes")
            .field("forked", &self.forked)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Ready,
    /// Dead; whether it had been ready.
    Dead {
        was_ready: bool,
    },
}

struct Zygote {
    key: Key,
    started: Instant,
    pid: AtomicI32,
    control: OwnedFd,
    state: watch::Receiver<State>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
}

/// What a zygote's reader thread fills in.
#[derive(Default)]
struct Shared {
    /// Fork requests waiting for their answer, by id.
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Forked, String>>>>,
    /// Forked workers not reaped yet, by pid.
    exits: Mutex<HashMap<i32, oneshot::Sender<i32>>>,
    forked: AtomicU64,
}

impl Drop for Zygote {
    fn drop(&mut self) {
        // The zygote reads the end of its socket and exits.
        let _ = shutdown(self.control.as_raw_fd(), Shutdown::Both);
    }
}

impl Zygotes {
    /// Starts the zygote of this tenant and interpreter if there is none yet (a function
    /// was created or loaded), so that the first cold start finds it ready.
    pub fn prepare(&self, python: &Path, tenant: &str, isolation: Isolation, bootstrap: &Path) {
        let _ = self.get(python, tenant, isolation, bootstrap);
    }

    /// The zygote for these workers, started (again) if needed; None when there is none
    /// to use.
    fn get(
        &self,
        python: &Path,
        tenant: &str,
        isolation: Isolation,
        bootstrap: &Path,
    ) -> Option<Arc<Zygote>> {
        if self.stopping.load(Ordering::SeqCst) {
            return None;
        }
        let key = Key {
            python: python.to_path_buf(),
            tenant: tenant.to_string(),
            isolation,
        };
        let mut by_key = self.by_key.lock().ok()?;
        let current = by_key.get(&key).map(|z| (z.clone(), *z.state.borrow()));
        if let Some((zygote, state)) = current {
            match state {
                State::Starting | State::Ready => return Some(zygote),
                State::Dead { was_ready: true } => {}
                State::Dead { was_ready: false } => {
                    self.give_up(&key, "it exited while starting");
                    by_key.remove(&key);
                    return None;
                }
            }
        }
        if self.broken.lock().ok()?.contains_key(&key) {
            return None;
        }
        match Zygote::start(key.clone(), bootstrap) {
            Ok(zygote) => {
                let zygote = Arc::new(zygote);
                by_key.insert(key, zygote.clone());
                Some(zygote)
            }
            Err(e) => {
                self.give_up(&key, &e.to_string());
                None
            }
        }
    }

    fn give_up(&self, key: &Key, why: &str) {
        if let Ok(mut broken) = self.broken.lock()
            && broken.insert(key.clone(), why.to_string()).is_none()
        {
            eprintln!(
                "lambada serve: notice: no zygote for {} ({why}); its workers start without one, with slower cold starts",
                key.python.display()
            );
        }
    }

    /// Forks a worker from the zygote of `tenant` and `python`, isolated by `plan`, with
    /// `fds` (its stdin, stdout and stderr). Err: there is no usable zygote; start the
    /// worker directly.
    pub async fn fork(
        &self,
        python: &Path,
        tenant: &str,
        isolation: Isolation,
        bootstrap: &Path,
        request: ForkRequest<'_>,
    ) -> Result<Forked, String> {
        let zygote = self
            .get(python, tenant, isolation, bootstrap)
            .ok_or("no zygote")?;
        let mut state = zygote.state.clone();
        let ready = match tokio::time::timeout(
            ZYGOTE_WAIT,
            state.wait_for(|s| !matches!(s, State::Starting)),
        )
        .await
        {
            Ok(Ok(state)) => *state == State::Ready,
            _ => false,
        };
        if !ready {
            if zygote.started.elapsed() > ZYGOTE_START_LIMIT {
                // Stuck while starting: dead before it was ready, it is not started
                // again, and cold starts stop waiting for it.
                zygote.kill();
            }
            return Err("the zygote is not ready".into());
        }
        let forked = zygote.fork(request).await?;
        self.forked.fetch_add(1, Ordering::Relaxed);
        Ok(forked)
    }

    /// Workers forked by zygotes since the host started.
    pub fn forked(&self) -> u64 {
        self.forked.load(Ordering::Relaxed)
    }

    /// The live zygotes.
    pub fn list(&self) -> Vec<ZygoteInfo> {
        let Ok(by_key) = self.by_key.lock() else {
            return Vec::new();
        };
        let mut list: Vec<ZygoteInfo> = by_key
            .values()
            .filter(|z| *z.state.borrow() == State::Ready)
            .map(|z| ZygoteInfo {
                tenant: z.key.tenant.clone(),
                python: z.key.python.clone(),
                pid: z.pid.load(Ordering::SeqCst).max(0) as u32,
                forked: z.shared.forked.load(Ordering::Relaxed),
            })
            .collect();
        list.sort_by(|a, b| (&a.tenant, &a.python).cmp(&(&b.tenant, &b.python)));
        list
    }

    /// Kills every zygote, and starts none any more (host shutdown).
    pub fn kill_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let zygotes: Vec<Arc<Zygote>> = self
            .by_key
            .lock()
            .map(|mut m| m.drain().map(|(_, z)| z).collect())
            .unwrap_or_default();
        for zygote in zygotes {
            zygote.kill();
        }
    }
}

/// One worker to fork.
pub struct ForkRequest<'a> {
    pub plan: ZygotePlan,
    /// The working directory it starts in (before its plan runs).
    pub cwd: &'a Path,
    /// Its process name (`comm`, 15 bytes): the function's name, so that `ps` tells
    /// workers apart (they share the zygote's command line).
    pub comm: &'a str,
    /// Its stdin, stdout and stderr.
    pub stdio: [OwnedFd; 3],
}

impl Zygote {
    /// Writes the zygote's files beside the bootstrap (in the host's runtime directory,
    /// which workers cannot see) and starts it from a thread of its own, which then reads
    /// what it says until it exits.
    fn start(key: Key, bootstrap: &Path) -> std::io::Result<Zygote> {
        let runtime_dir = bootstrap
            .parent()
            .ok_or_else(|| std::io::Error::other("the bootstrap has no directory"))?;
        let script = runtime_dir.join("lambada_zygote.py");
        write_if_changed(&script, ZYGOTE_SCRIPT.as_bytes())?;
        // The runtime the zygote compiles ahead: workers whose packages hold the same
        // files skip compiling them.
        let preload = runtime_dir.join("zygote-preload");
        for (path, bytes) in crate::codegen::RUNTIME_FILES {
            let target = preload.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            write_if_changed(&target, bytes)?;
        }
        let (control, zygote_end) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let reader = control.try_clone()?;
        let mut cmd = std::process::Command::new(&key.python);
        // Names the host's bootstrap on the command line, as a sandboxed worker does, so
        // that the zygote and its workers can be traced to their host from outside.
        let mut marker = std::ffi::OsString::from("lambada_host=");
        marker.push(bootstrap);
        // -s: no user site-packages (the zygote's home is the host's).
        cmd.arg("-s")
            .arg("-X")
            .arg(marker)
            .arg(&script)
            .arg(bootstrap)
            .arg(&preload)
            .arg(zygote_constants().to_string())
            .current_dir("/")
            .env_clear()
            .envs(ZYGOTE_ENVIRONMENT)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
            let fd = zygote_end.as_raw_fd();
            // SAFETY: only async-signal-safe system calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || give_control_socket(fd));
            }
        }
        let (state_tx, state) = watch::channel(State::Starting);
        let shared = Arc::new(Shared::default());
        let pid = Arc::new(AtomicI32::new(0));
        let (started_tx, started) = std::sync::mpsc::channel();
        {
            let (shared, pid) = (shared.clone(), pid.clone());
            std::thread::Builder::new()
                .name("lambada-zygote".into())
                .spawn(move || {
                    // Started from this thread, which outlives it: its PDEATHSIG fires when
                    // the thread that forked it ends.
                    let spawned = cmd.spawn();
                    drop(zygote_end);
                    let mut child = match spawned {
                        Ok(child) => child,
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                            return;
                        }
                    };
                    pid.store(child.id() as i32, Ordering::SeqCst);
                    let _ = started_tx.send(Ok(()));
                    read_messages(&reader, &shared, &state_tx);
                    let was_ready = *state_tx.borrow() == State::Ready;
                    state_tx.send_replace(State::Dead { was_ready });
                    // Forks in flight and workers not reaped get no answer now.
                    shared.pending.lock().map(|mut p| p.clear()).ok();
                    shared.exits.lock().map(|mut e| e.clear()).ok();
                    let _ = child.kill();
                    let _ = child.wait();
                })?;
        }
        started
            .recv()
            .map_err(|_| std::io::Error::other("the zygote's thread ended"))??;
        let pid = pid.load(Ordering::SeqCst);
        Ok(Zygote {
            key,
            started: Instant::now(),
            pid: AtomicI32::new(pid),
            control,
            state,
            shared,
            next_id: AtomicU64::new(1),
        })
    }

    async fn fork(&self, request: ForkRequest<'_>) -> Result<Forked, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = serde_json::json!({
            "id": id,
            "cwd": request.cwd.to_str().ok_or("the code directory is not UTF-8")?,
            "comm": request.comm,
            "ops": request.plan.ops,
        })
        .to_string();
        let mut fds: Vec<RawFd> = request.stdio.iter().map(|fd| fd.as_raw_fd()).collect();
        if let Some(ruleset) = &request.plan.ruleset {
            fds.push(ruleset.as_raw_fd());
        }
        let (answer_tx, answer) = oneshot::channel();
        self.shared
            .pending
            .lock()
            .map_err(|_| "zygote state poisoned")?
            .insert(id, answer_tx);
        // A datagram of a few kilobytes: the socket's buffer takes it without waiting.
        let sent = sendmsg::<()>(
            self.control.as_raw_fd(),
            &[IoSlice::new(message.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        );
        // The zygote has its own copies now; the worker's are the only others.
        drop(request);
        if let Err(e) = sent {
            self.shared.pending.lock().map(|mut p| p.remove(&id)).ok();
            return Err(format!("cannot reach the zygote: {e}"));
        }
        match tokio::time::timeout(ZYGOTE_WAIT, answer).await {
            Ok(Ok(forked)) => forked,
            Ok(Err(_)) => Err("the zygote exited".into()),
            Err(_) => {
                self.shared.pending.lock().map(|mut p| p.remove(&id)).ok();
                // A zygote that does not answer is of no use: the next cold start gets a
                // new one.
                self.kill();
                Err("the zygote did not answer".into())
            }
        }
    }

    fn kill(&self) {
        let pid = self.pid.load(Ordering::SeqCst);
        if pid > 0 && !matches!(*self.state.borrow(), State::Dead { .. }) {
            // SAFETY: sending a signal has no memory effects; the zygote is not reaped
            // before its state is Dead.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// In the zygote's process, between fork and exec: its end of the control socket
/// becomes fd 3 (without close-on-exec), and it dies with the thread that started it.
fn give_control_socket(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: plain system calls on descriptors of this process.
    unsafe {
        if fd == 3 {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        } else if libc::dup2(fd, 3) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Reads the zygote's messages until it exits.
fn read_messages(control: &OwnedFd, shared: &Shared, state: &watch::Sender<State>) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let n = match nix::unistd::read(control, &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        };
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(&buf[..n]) else {
            continue;
        };
        if message.get("ready").is_some() {
            state.send_replace(State::Ready);
        } else if let Some(pid) = message.get("exit").and_then(|p| p.as_i64()) {
            let status = message["status"].as_i64().unwrap_or(0) as i32;
            let waiter = shared
                .exits
                .lock()
                .ok()
                .and_then(|mut e| e.remove(&(pid as i32)));
            if let Some(waiter) = waiter {
                let _ = waiter.send(status);
            }
        } else if let Some(id) = message.get("id").and_then(|i| i.as_u64()) {
            let answer = match (
                message.get("pid").and_then(|p| p.as_i64()),
                &message["error"],
            ) {
                (Some(pid), _) => {
                    // Registered before the next message is read: the zygote reports the
                    // worker's exit only after this answer.
                    let (exit_tx, exit) = oneshot::channel();
                    if let Ok(mut exits) = shared.exits.lock() {
                        exits.insert(pid as i32, exit_tx);
                    }
                    shared.forked.fetch_add(1, Ordering::Relaxed);
                    Ok(Forked {
                        pid: pid as i32,
                        exit,
                    })
                }
                (None, error) => Err(format!(
                    "the zygote could not fork: {}",
                    error.as_str().unwrap_or("no reason given")
                )),
            };
            let waiter = shared.pending.lock().ok().and_then(|mut p| p.remove(&id));
            match (waiter, answer) {
                (Some(waiter), answer) => {
                    let _ = waiter.send(answer);
                }
                // Nobody waits any more (timed out): the worker is of no use.
                (None, Ok(forked)) => {
                    // SAFETY: the zygote has not reported this process's exit yet, so
                    // its group still exists.
                    unsafe {
                        libc::kill(-forked.pid, libc::SIGKILL);
                    }
                }
                (None, Err(_)) => {}
            }
        }
    }
}

/// Writes `path` when its contents differ (atomically: a zygote may be reading it).
fn write_if_changed(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).ok().as_deref() == Some(contents) {
        return Ok(());
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, contents)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn workers_whose_interpreter_would_start_differently_are_not_forked() {
        let defaults = env(&ZYGOTE_ENVIRONMENT);
        assert!(forkable(&defaults));
        let mut with_path = defaults.clone();
        with_path.push(("PYTHONPATH".into(), "/opt/lib".into()));
        with_path.push(("TZ".into(), "Europe/Paris".into()));
        with_path.push(("AWS_SECRET_ACCESS_KEY".into(), "x".into()));
        assert!(forkable(&with_path));
        for (name, value) in [
            ("PYTHONHASHSEED", "0"),
            ("LANG", "de_DE.UTF-8"),
            ("LC_ALL", "C"),
            ("LD_PRELOAD", "/tmp/x.so"),
            ("MALLOC_ARENA_MAX", "4"),
        ] {
            let mut changed = defaults.clone();
            changed.push((name.into(), value.into()));
            assert!(!forkable(&changed), "{name}");
        }
        // The zygote's LANG is C.UTF-8: a worker without one would start differently.
        let without_lang: Vec<_> = defaults.into_iter().filter(|(k, _)| k != "LANG").collect();
        assert!(!forkable(&without_lang));
    }
}
