//! Isolation of worker processes (`--isolation none|process|sandbox`).
//!
//! * `sandbox`: each worker gets its own user, PID, mount, IPC and UTS namespaces. Its
//!   root is an empty read-only tmpfs holding read-only bind mounts of the system
//!   libraries, the Python installation, the function's code (at `/var/task`) and the
//!   bootstrap (at `/var/runtime`), a private `/tmp` tmpfs capped at 512 MB, a few
//!   devices and a `/proc` that shows only the worker's own processes. The worker runs
//!   as a non-root user of its namespace (and as `nobody` outside it when the host is
//!   root), so it holds no capability after `exec`, and a Landlock domain repeats the
//!   filesystem rules (and forbids mount changes, signals and abstract sockets outside
//!   it). The worker is PID 1 of its namespace: killing it kills every process it
//!   started, `setsid` or not. The network is the host's: workers reach the host's
//!   endpoint on 127.0.0.1 for nested calls.
//! * `process`: no namespaces (where the kernel or a container refuses them); Landlock
//!   alone limits the filesystem to the same paths (the private `/tmp` is then a directory
//!   on the host's disk, bounded per file by RLIMIT_FSIZE), and the worker's process
//!   group is what gets killed.
//! * `none`: a plain child process in its own process group, as before.
//!
//! Every mode but `none` sets RLIMIT_FSIZE and RLIMIT_CORE, and RLIMIT_NPROC where it
//! counts the worker's processes (a sandbox; in `process` mode the kernel exempts root,
//! and for another user it would count all of that user's processes).
//!
//! Everything the child does between `fork` and `exec` is prepared in the host first
//! (paths as C strings, the Landlock ruleset with its path descriptors): the host is
//! multi-threaded, so the child may only make system calls, never allocate.

use std::ffi::{CStr, CString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use landlock::{
    ABI, Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, Scope,
};
use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pivot_root};

/// How workers are isolated from the host, from each other and from other tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A plain child process (process group, clean environment).
    None,
    /// Landlock and resource limits, no namespaces.
    Process,
    /// Namespaces, a private root and `/tmp`, Landlock and resource limits.
    Sandbox,
    /// `Sandbox` where the kernel allows it, else `Process` (with a notice).
    Auto,
}

impl std::str::FromStr for Isolation {
    type Err = String;

    fn from_str(s: &str) -> Result<Isolation, String> {
        match s {
            "none" => Ok(Isolation::None),
            "process" => Ok(Isolation::Process),
            "sandbox" => Ok(Isolation::Sandbox),
            "auto" => Ok(Isolation::Auto),
            other => Err(format!(
                "unknown isolation '{other}': expected none, process or sandbox"
            )),
        }
    }
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isolation::None => "none",
            Isolation::Process => "process",
            Isolation::Sandbox => "sandbox",
            Isolation::Auto => "auto",
        })
    }
}

/// Where a sandboxed worker finds its code.
pub const TASK_ROOT: &str = "/var/task";
/// Where a sandboxed worker finds the function's layers (Lambda's `/opt`).
pub const OPT_DIR: &str = "/opt";
/// Where a sandboxed worker finds the bootstrap.
pub const RUNTIME_DIR: &str = "/var/runtime";
/// Size of a sandboxed worker's `/tmp` (Lambda's default ephemeral storage).
pub const TMP_BYTES: u64 = 512 << 20;
/// Largest file a worker may write (RLIMIT_FSIZE), in every mode but `none`.
pub const FILE_BYTES: u64 = 512 << 20;
/// Processes and threads a worker may have at once (RLIMIT_NPROC).
pub const MAX_PROCESSES: u64 = 256;

/// System directories every worker reads (those that exist; symbolic links such as a
/// merged-/usr `/bin` are recreated as links).
const SYSTEM_DIRS: [&str; 6] = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"];
/// Files of `/etc` the C library and Python may read; nothing else of `/etc` is visible.
const ETC_FILES: [&str; 8] = [
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/resolv.conf",
    "/etc/host.conf",
    "/etc/ssl/certs",
    "/etc/ca-certificates",
];
const DEVICES: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"];

/// The paths of one worker, as the host sees them.
#[derive(Debug, Clone)]
pub struct WorkerPaths<'a> {
    /// The function's unpacked code.
    pub code: &'a Path,
    /// The function's layers, merged: read-only like the code, at `/opt` in a sandbox.
    pub opt: Option<&'a Path>,
    /// The bootstrap script.
    pub bootstrap: &'a Path,
    /// The Python installation (`sys.base_prefix` of the interpreter).
    pub python_prefix: &'a Path,
    /// An empty directory owned by the host for this worker: the sandbox's root mount
    /// point, or the private temporary directory in `process` mode.
    pub scratch: &'a Path,
}

/// One step of building a sandbox's root, with paths already under the new root.
enum Step {
    Dir(CString),
    File(CString),
    Link {
        target: CString,
        link: CString,
    },
    /// A read-only bind mount; `keep` are the source's flags that must survive remounting.
    Bind {
        source: CString,
        target: CString,
        keep: MsFlags,
    },
    Tmpfs {
        target: CString,
        options: CString,
    },
    Proc(CString),
}

/// Everything a child needs to isolate itself, prepared before `fork`.
pub struct Jail {
    mode: Isolation,
    ruleset: Mutex<Option<RulesetCreated>>,
    /// Hierarchies the child grants itself after the mounts (they do not exist before).
    child_rules: Vec<(CString, BitFlags<AccessFs>)>,
    steps: Vec<Step>,
    root: CString,
    task_root: CString,
    /// The host runs as root: the worker drops to `NOBODY` (the kernel never applies
    /// RLIMIT_NPROC to uid 0, namespace or not).
    as_root: bool,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

/// The user a root host's sandboxed workers run as (outside their user namespace).
const NOBODY: u32 = 65534;
/// The user a sandboxed worker is inside its user namespace: not root, so it holds no
/// capability after `exec`.
const WORKER_UID: u32 = 1000;

fn c_path(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other(format!("{}: path contains a NUL byte", path.display())))
}

fn c_string(text: &str) -> CString {
    CString::new(text).unwrap_or_default()
}

/// `inside`, an absolute path, under `root`.
fn under(root: &Path, inside: &Path) -> PathBuf {
    root.join(inside.strip_prefix("/").unwrap_or(inside))
}

/// The mount flags of the filesystem holding `path` that a bind mount of it keeps
/// (an unprivileged remount may not drop them).
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(stat) = statvfs(path) else {
        return MsFlags::empty();
    };
    let flags = stat.flags();
    let mut keep = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if flags.contains(fs) {
            keep |= ms;
        }
    }
    keep
}

/// Builds the steps that create `path` and its parents under the new root.
fn dirs_to(steps: &mut Vec<Step>, root: &Path, inside: &Path) -> std::io::Result<()> {
    let mut current = PathBuf::from("/");
    for part in inside.components().skip(1) {
        current.push(part);
        steps.push(Step::Dir(c_path(&under(root, &current))?));
    }
    Ok(())
}

fn bind(steps: &mut Vec<Step>, root: &Path, source: &Path, inside: &Path) -> std::io::Result<()> {
    if let Some(parent) = inside.parent() {
        dirs_to(steps, root, parent)?;
    }
    let target = c_path(&under(root, inside))?;
    steps.push(if source.is_dir() {
        Step::Dir(target.clone())
    } else {
        Step::File(target.clone())
    });
    steps.push(Step::Bind {
        source: c_path(source)?,
        target,
        keep: locked_flags(source),
    });
    Ok(())
}

/// The Landlock rules the host can open paths for: read-only system and Python paths,
/// the code and the bootstrap, read-write devices, and `writable` (process mode).
fn ruleset(paths: &WorkerPaths<'_>, writable: Option<&Path>) -> std::io::Result<RulesetCreated> {
    let abi = ABI::V5;
    let err = |e: landlock::RulesetError| std::io::Error::other(e.to_string());
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .scope(Scope::from_all(ABI::V6))
        .map_err(err)?
        .create()
        .map_err(err)?;
    let read_dir = AccessFs::from_read(abi);
    let read_file = AccessFs::ReadFile | AccessFs::Execute;
    let mut readable: Vec<PathBuf> = SYSTEM_DIRS
        .iter()
        .chain(&ETC_FILES)
        .map(PathBuf::from)
        .collect();
    readable.extend([
        paths.python_prefix.to_path_buf(),
        paths.code.to_path_buf(),
        paths.bootstrap.to_path_buf(),
    ]);
    readable.extend(paths.opt.map(Path::to_path_buf));
    for path in readable {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let access = if meta.is_dir() { read_dir } else { read_file };
        let fd = PathFd::new(&path).map_err(|e| std::io::Error::other(e.to_string()))?;
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(err)?;
    }
    for device in DEVICES {
        if let Ok(fd) = PathFd::new(device) {
            let access = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, access))
                .map_err(err)?;
        }
    }
    if let Some(dir) = writable {
        let fd = PathFd::new(dir).map_err(|e| std::io::Error::other(e.to_string()))?;
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, AccessFs::from_all(abi)))
            .map_err(err)?;
    }
    Ok(ruleset)
}

impl Jail {
    /// Prepares the isolation of one worker. `mode` is `None`, `Process` or `Sandbox`.
    pub fn prepare(mode: Isolation, paths: &WorkerPaths<'_>) -> std::io::Result<Jail> {
        let abi = ABI::V5;
        let mut jail = Jail {
            mode,
            ruleset: Mutex::new(None),
            child_rules: Vec::new(),
            steps: Vec::new(),
            root: c_path(paths.scratch)?,
            task_root: c_string(TASK_ROOT),
            as_root: nix::unistd::geteuid().is_root(),
            uid_map: Vec::new(),
            gid_map: Vec::new(),
        };
        match mode {
            Isolation::None | Isolation::Auto => {}
            Isolation::Process => {
                *jail.ruleset.get_mut().unwrap_or_else(|p| p.into_inner()) =
                    Some(ruleset(paths, Some(paths.scratch))?);
                // Its own /proc entry only: the bootstrap reads its memory use there.
                jail.child_rules
                    .push((c_string("/proc/self"), AccessFs::from_read(abi)));
            }
            Isolation::Sandbox => {
                *jail.ruleset.get_mut().unwrap_or_else(|p| p.into_inner()) =
                    Some(ruleset(paths, None)?);
                jail.child_rules
                    .push((c_string("/tmp"), AccessFs::from_all(abi)));
                // Everything the sandbox's root shows may be read (directories can be
                // listed, as in Lambda); only /tmp and the devices may be written.
                jail.child_rules
                    .push((c_string("/"), AccessFs::from_read(abi)));
                jail.steps = root_steps(paths)?;
                let (uid, gid) = if jail.as_root {
                    (NOBODY, NOBODY)
                } else {
                    (
                        nix::unistd::getuid().as_raw(),
                        nix::unistd::getgid().as_raw(),
                    )
                };
                jail.uid_map = format!("{WORKER_UID} {uid} 1\n").into_bytes();
                jail.gid_map = format!("{WORKER_UID} {gid} 1\n").into_bytes();
            }
        }
        Ok(jail)
    }

    /// Makes `cmd` isolate its child before `exec`.
    pub fn install(self, cmd: &mut std::process::Command) {
        if self.mode == Isolation::None || self.mode == Isolation::Auto {
            return;
        }
        // SAFETY: the closure only makes system calls on data prepared before `fork`
        // (see the module documentation); it allocates nothing.
        unsafe {
            cmd.pre_exec(move || self.enter());
        }
    }

    /// In the child, after `fork`: applies limits, namespaces, mounts and Landlock.
    ///
    /// A root host builds the sandbox as root (mount, PID, IPC and UTS namespaces owned
    /// by the initial user namespace, so the worker can never change them), then drops to
    /// `NOBODY` and enters a user namespace of its own, where RLIMIT_NPROC counts the
    /// worker's processes only. Any other host does it the unprivileged way: a user
    /// namespace first, owning the others.
    fn enter(&self) -> std::io::Result<()> {
        setrlimit(Resource::RLIMIT_FSIZE, FILE_BYTES, FILE_BYTES)?;
        setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
        if self.mode == Isolation::Sandbox {
            let others = CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWPID
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_NEWUTS;
            if self.as_root {
                unshare(others)?;
                become_pid_one()?;
                self.build_root()?;
                drop_to_nobody()?;
                unshare(CloneFlags::CLONE_NEWUSER)?;
                self.map_user()?;
            } else {
                unshare(CloneFlags::CLONE_NEWUSER | others)?;
                self.map_user()?;
                become_pid_one()?;
                self.build_root()?;
            }
        }
        if self.mode == Isolation::Sandbox || self.as_root {
            // Without a user namespace of its own a non-root worker would share this
            // count with every process of its user.
            setrlimit(Resource::RLIMIT_NPROC, MAX_PROCESSES, MAX_PROCESSES)?;
        }
        self.restrict()
    }

    fn map_user(&self) -> std::io::Result<()> {
        write_file(c"/proc/self/setgroups", b"deny")?;
        write_file(c"/proc/self/uid_map", &self.uid_map)?;
        write_file(c"/proc/self/gid_map", &self.gid_map)?;
        Ok(())
    }

    fn build_root(&self) -> std::io::Result<()> {
        mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&CStr>,
        )?;
        mount(
            Some(c"lambada"),
            self.root.as_c_str(),
            Some(c"tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(c"size=1m,mode=0755"),
        )?;
        for step in &self.steps {
            step.run()?;
        }
        nix::unistd::chdir(self.root.as_c_str())?;
        pivot_root(c".", c".")?;
        umount2(c".", MntFlags::MNT_DETACH)?;
        mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_BIND
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV,
            None::<&CStr>,
        )?;
        nix::unistd::chdir(self.task_root.as_c_str())?;
        // SAFETY: a plain system call on a static string.
        if unsafe { libc::sethostname(c"localhost".as_ptr(), 9) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn restrict(&self) -> std::io::Result<()> {
        let Some(mut ruleset) = self.ruleset.lock().ok().and_then(|mut r| r.take()) else {
            return Ok(());
        };
        for (path, access) in &self.child_rules {
            let fd: OwnedFd = open(
                path.as_c_str(),
                OFlag::O_PATH | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, *access))
                .map_err(|_| std::io::Error::from_raw_os_error(libc::EPERM))?;
        }
        ruleset
            .restrict_self()
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EPERM))?;
        Ok(())
    }
}

impl Step {
    fn run(&self) -> std::io::Result<()> {
        match self {
            Step::Dir(path) => {
                match nix::unistd::mkdir(path.as_c_str(), Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Step::File(path) => {
                let fd = open(
                    path.as_c_str(),
                    OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o644),
                )?;
                drop(fd);
                Ok(())
            }
            Step::Link { target, link } => {
                nix::unistd::symlinkat(target.as_c_str(), nix::fcntl::AT_FDCWD, link.as_c_str())?;
                Ok(())
            }
            Step::Bind {
                source,
                target,
                keep,
            } => {
                mount(
                    Some(source.as_c_str()),
                    target.as_c_str(),
                    None::<&CStr>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&CStr>,
                )?;
                mount(
                    None::<&CStr>,
                    target.as_c_str(),
                    None::<&CStr>,
                    MsFlags::MS_REMOUNT
                        | MsFlags::MS_BIND
                        | MsFlags::MS_RDONLY
                        | MsFlags::MS_NOSUID
                        | *keep,
                    None::<&CStr>,
                )?;
                Ok(())
            }
            Step::Tmpfs { target, options } => {
                mount(
                    Some(c"tmpfs"),
                    target.as_c_str(),
                    Some(c"tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some(options.as_c_str()),
                )?;
                Ok(())
            }
            Step::Proc(target) => {
                mount(
                    Some(c"proc"),
                    target.as_c_str(),
                    Some(c"proc"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    None::<&CStr>,
                )?;
                Ok(())
            }
        }
    }
}

/// The steps that fill a sandbox's root (mounted on `paths.scratch`).
fn root_steps(paths: &WorkerPaths<'_>) -> std::io::Result<Vec<Step>> {
    let root = paths.scratch;
    let mut steps = Vec::new();
    for dir in SYSTEM_DIRS {
        let dir = Path::new(dir);
        match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(dir)?;
                steps.push(Step::Link {
                    target: c_path(&target)?,
                    link: c_path(&under(root, dir))?,
                });
            }
            Ok(meta) if meta.is_dir() => bind(&mut steps, root, dir, dir)?,
            _ => {}
        }
    }
    for file in ETC_FILES {
        let file = Path::new(file);
        // Resolved: /etc/localtime and friends are often links into /usr or /run.
        if let Ok(real) = std::fs::canonicalize(file) {
            bind(&mut steps, root, &real, file)?;
        }
    }
    let prefix = std::fs::canonicalize(paths.python_prefix)?;
    if !prefix.starts_with("/usr") {
        bind(&mut steps, root, &prefix, &prefix)?;
    }
    bind(&mut steps, root, paths.code, Path::new(TASK_ROOT))?;
    if let Some(opt) = paths.opt {
        bind(&mut steps, root, opt, Path::new(OPT_DIR))?;
    }
    let bootstrap_name = paths.bootstrap.file_name().unwrap_or_default();
    bind(
        &mut steps,
        root,
        paths.bootstrap,
        &Path::new(RUNTIME_DIR).join(bootstrap_name),
    )?;
    dirs_to(&mut steps, root, Path::new("/dev"))?;
    for device in DEVICES {
        if Path::new(device).exists() {
            bind(&mut steps, root, Path::new(device), Path::new(device))?;
        }
    }
    let tmp = c_path(&under(root, Path::new("/tmp")))?;
    steps.push(Step::Dir(tmp.clone()));
    steps.push(Step::Tmpfs {
        target: tmp,
        options: c_string(&format!("size={TMP_BYTES},nr_inodes=65536,mode=1777")),
    });
    let proc = c_path(&under(root, Path::new("/proc")))?;
    steps.push(Step::Dir(proc.clone()));
    steps.push(Step::Proc(proc));
    Ok(steps)
}

/// Only a child enters a new PID namespace: it becomes its PID 1 and runs the worker,
/// and the calling process waits for it and exits as it did.
fn become_pid_one() -> std::io::Result<()> {
    // SAFETY: the child continues with async-signal-safe calls only.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => wait_and_exit_like(child),
        ForkResult::Child => {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            Ok(())
        }
    }
}

/// Root gives up every privilege: no supplementary groups, `NOBODY`, no capabilities.
fn drop_to_nobody() -> std::io::Result<()> {
    let nobody_gid = nix::unistd::Gid::from_raw(NOBODY);
    let nobody_uid = nix::unistd::Uid::from_raw(NOBODY);
    nix::unistd::setgroups(&[])?;
    nix::unistd::setresgid(nobody_gid, nobody_gid, nobody_gid)?;
    nix::unistd::setresuid(nobody_uid, nobody_uid, nobody_uid)?;
    // Changing credentials cleared the parent-death signal, and made /proc/self root's
    // (the worker could not write its own uid_map).
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    nix::sys::prctl::set_dumpable(true)?;
    Ok(())
}

fn write_file(path: &CStr, data: &[u8]) -> std::io::Result<()> {
    let fd = open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    nix::unistd::write(&fd, data)?;
    Ok(())
}

/// The middle process of a sandbox: holds nothing open, waits for the worker (PID 1 of
/// the new namespace) and exits as it did, so that the host sees the worker's status.
fn wait_and_exit_like(child: nix::unistd::Pid) -> ! {
    // SAFETY: closing every descriptor of this process only; the host's end of the
    // pipes stay open in the worker.
    unsafe {
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
    }
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => unsafe { libc::_exit(code) },
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                // SAFETY: resetting a disposition and signalling ourselves are
                // async-signal-safe.
                unsafe {
                    libc::signal(signal as i32, libc::SIG_DFL);
                    libc::kill(libc::getpid(), signal as i32);
                    libc::_exit(128 + signal as i32)
                }
            }
            Err(nix::errno::Errno::EINTR) | Ok(_) => continue,
            Err(_) => unsafe { libc::_exit(127) },
        }
    }
}

/// Whether a sandbox can be built here: starts `python` in one and runs a line in it.
/// The error says why not (the kernel or a container refusing namespaces, ...).
pub fn probe(python: &Path, python_prefix: &Path) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("lambada-probe-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let code = dir.path().join("code");
    let scratch = dir.path().join("root");
    let bootstrap = dir.path().join("probe.py");
    std::fs::create_dir(&code).map_err(|e| e.to_string())?;
    std::fs::create_dir(&scratch).map_err(|e| e.to_string())?;
    std::fs::write(
        &bootstrap,
        "import os\nopen('/tmp/probe', 'w').write('ok')\nassert os.getpid() == 1\n",
    )
    .map_err(|e| e.to_string())?;
    let paths = WorkerPaths {
        code: &code,
        opt: None,
        bootstrap: &bootstrap,
        python_prefix,
        scratch: &scratch,
    };
    let jail = Jail::prepare(Isolation::Sandbox, &paths).map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(python);
    cmd.arg(format!("{RUNTIME_DIR}/probe.py"))
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    jail.install(&mut cmd);
    let output = cmd.output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "a test worker failed ({}): {}",
            output.status,
            stderr.lines().last().unwrap_or("")
        ))
    }
}

/// Whether the kernel enforces Landlock (process isolation limits the filesystem then).
pub fn landlock_available() -> bool {
    // SAFETY: the documented version query of landlock_create_ruleset.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    abi > 0
}
