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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// One system call of isolating a worker (or a few, named), with every argument prepared
/// before `fork`. A jail is a list of them, run in order: by the host's child between
/// `fork` and `exec` (`Jail::install`), or by a zygote's child after its `fork`
/// (`Jail::into_plan`, executed by `templates/lambada_zygote.py`), so that both kinds of
/// worker take exactly the same steps.
enum Op {
    Limit {
        resource: Resource,
        value: u64,
    },
    Unshare(CloneFlags),
    Write {
        path: CString,
        data: Vec<u8>,
    },
    /// Forks: the child goes on as PID 1 of the new PID namespace, the parent waits for
    /// it and exits as it did.
    PidOne,
    Mkdir(CString),
    Touch(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: MsFlags,
        data: Option<CString>,
    },
    Chdir(CString),
    /// `pivot_root(".", ".")`: the current directory becomes the root.
    PivotRoot,
    /// A lazy unmount.
    Unmount(CString),
    Hostname,
    /// Root gives up every privilege (see `drop_to_nobody`).
    DropToNobody,
    /// Landlock: the rules the child adds itself, then `restrict_self`.
    Landlock,
}

/// Everything a child needs to isolate itself, prepared before `fork`.
pub struct Jail {
    mode: Isolation,
    ruleset: Mutex<Option<RulesetCreated>>,
    /// Hierarchies the child grants itself after the mounts (they do not exist before).
    child_rules: Vec<(CString, BitFlags<AccessFs>)>,
    ops: Vec<Op>,
}

/// The isolation of one worker as a zygote's child runs it: the steps as JSON, and the
/// Landlock ruleset (sent along as a descriptor) if the kernel has Landlock.
pub struct ZygotePlan {
    pub ops: serde_json::Value,
    pub ruleset: Option<OwnedFd>,
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
fn dirs_to(ops: &mut Vec<Op>, root: &Path, inside: &Path) -> std::io::Result<()> {
    let mut current = PathBuf::from("/");
    for part in inside.components().skip(1) {
        current.push(part);
        ops.push(Op::Mkdir(c_path(&under(root, &current))?));
    }
    Ok(())
}

/// A read-only bind mount of `source` at `inside` under the new root; the source's flags
/// that an unprivileged remount may not drop are kept.
fn bind(ops: &mut Vec<Op>, root: &Path, source: &Path, inside: &Path) -> std::io::Result<()> {
    if let Some(parent) = inside.parent() {
        dirs_to(ops, root, parent)?;
    }
    let target = c_path(&under(root, inside))?;
    ops.push(if source.is_dir() {
        Op::Mkdir(target.clone())
    } else {
        Op::Touch(target.clone())
    });
    ops.push(Op::Mount {
        source: Some(c_path(source)?),
        target: target.clone(),
        fstype: None,
        flags: MsFlags::MS_BIND | MsFlags::MS_REC,
        data: None,
    });
    ops.push(Op::Mount {
        source: None,
        target,
        fstype: None,
        flags: MsFlags::MS_REMOUNT
            | MsFlags::MS_BIND
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | locked_flags(source),
        data: None,
    });
    Ok(())
}

fn tmpfs(target: CString, options: &str) -> Op {
    Op::Mount {
        source: Some(c"tmpfs".to_owned()),
        target,
        fstype: Some(c"tmpfs".to_owned()),
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        data: Some(c_string(options)),
    }
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
    ///
    /// A root host builds the sandbox as root (mount, PID, IPC and UTS namespaces owned
    /// by the initial user namespace, so the worker can never change them), then drops to
    /// `NOBODY` and enters a user namespace of its own, where RLIMIT_NPROC counts the
    /// worker's processes only. Any other host does it the unprivileged way: a user
    /// namespace first, owning the others.
    pub fn prepare(mode: Isolation, paths: &WorkerPaths<'_>) -> std::io::Result<Jail> {
        let abi = ABI::V5;
        let mut jail = Jail {
            mode,
            ruleset: Mutex::new(None),
            child_rules: Vec::new(),
            ops: Vec::new(),
        };
        let as_root = nix::unistd::geteuid().is_root();
        let ops = &mut jail.ops;
        match mode {
            Isolation::None | Isolation::Auto => return Ok(jail),
            Isolation::Process => {
                *jail.ruleset.get_mut().unwrap_or_else(|p| p.into_inner()) =
                    Some(ruleset(paths, Some(paths.scratch))?);
                // Its own /proc entry only: the bootstrap reads its memory use there.
                jail.child_rules
                    .push((c_string("/proc/self"), AccessFs::from_read(abi)));
                ops.push(Op::Limit {
                    resource: Resource::RLIMIT_FSIZE,
                    value: FILE_BYTES,
                });
                ops.push(Op::Limit {
                    resource: Resource::RLIMIT_CORE,
                    value: 0,
                });
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
                let (uid, gid) = if as_root {
                    (NOBODY, NOBODY)
                } else {
                    (
                        nix::unistd::getuid().as_raw(),
                        nix::unistd::getgid().as_raw(),
                    )
                };
                let map_user = [
                    Op::Write {
                        path: c_string("/proc/self/setgroups"),
                        data: b"deny".to_vec(),
                    },
                    Op::Write {
                        path: c_string("/proc/self/uid_map"),
                        data: format!("{WORKER_UID} {uid} 1\n").into_bytes(),
                    },
                    Op::Write {
                        path: c_string("/proc/self/gid_map"),
                        data: format!("{WORKER_UID} {gid} 1\n").into_bytes(),
                    },
                ];
                ops.push(Op::Limit {
                    resource: Resource::RLIMIT_FSIZE,
                    value: FILE_BYTES,
                });
                ops.push(Op::Limit {
                    resource: Resource::RLIMIT_CORE,
                    value: 0,
                });
                let others = CloneFlags::CLONE_NEWNS
                    | CloneFlags::CLONE_NEWPID
                    | CloneFlags::CLONE_NEWIPC
                    | CloneFlags::CLONE_NEWUTS;
                if as_root {
                    ops.push(Op::Unshare(others));
                    ops.push(Op::PidOne);
                    build_root(ops, paths)?;
                    ops.push(Op::DropToNobody);
                    ops.push(Op::Unshare(CloneFlags::CLONE_NEWUSER));
                    ops.extend(map_user);
                } else {
                    ops.push(Op::Unshare(CloneFlags::CLONE_NEWUSER | others));
                    ops.extend(map_user);
                    ops.push(Op::PidOne);
                    build_root(ops, paths)?;
                }
            }
        }
        if mode == Isolation::Sandbox || as_root {
            // Without a user namespace of its own a non-root worker would share this
            // count with every process of its user.
            ops.push(Op::Limit {
                resource: Resource::RLIMIT_NPROC,
                value: MAX_PROCESSES,
            });
        }
        ops.push(Op::Landlock);
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
    fn enter(&self) -> std::io::Result<()> {
        for op in &self.ops {
            self.run(op)?;
        }
        Ok(())
    }

    fn run(&self, op: &Op) -> std::io::Result<()> {
        match op {
            Op::Limit { resource, value } => setrlimit(*resource, *value, *value)?,
            Op::Unshare(flags) => unshare(*flags)?,
            Op::Write { path, data } => write_file(path, data)?,
            Op::PidOne => become_pid_one()?,
            Op::Mkdir(path) => {
                match nix::unistd::mkdir(path.as_c_str(), Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Op::Touch(path) => {
                let fd = open(
                    path.as_c_str(),
                    OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o644),
                )?;
                drop(fd);
            }
            Op::Symlink { target, link } => {
                nix::unistd::symlinkat(target.as_c_str(), nix::fcntl::AT_FDCWD, link.as_c_str())?
            }
            Op::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => mount(
                source.as_deref(),
                target.as_c_str(),
                fstype.as_deref(),
                *flags,
                data.as_deref(),
            )?,
            Op::Chdir(path) => nix::unistd::chdir(path.as_c_str())?,
            Op::PivotRoot => pivot_root(c".", c".")?,
            Op::Unmount(path) => umount2(path.as_c_str(), MntFlags::MNT_DETACH)?,
            Op::Hostname => {
                // SAFETY: a plain system call on a static string.
                if unsafe { libc::sethostname(HOSTNAME.as_ptr(), HOSTNAME.count_bytes()) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Op::DropToNobody => drop_to_nobody()?,
            Op::Landlock => self.restrict()?,
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

    /// The same isolation for a zygote's child (`templates/lambada_zygote.py`), which
    /// runs these steps itself after `fork`. That child does not `exec` afterwards, so
    /// it also drops the capabilities its new user namespace gave it (which `exec` does
    /// for a directly started worker) before Landlock. Err: a path the zygote's JSON
    /// cannot carry (not UTF-8).
    pub fn into_plan(self) -> Result<ZygotePlan, String> {
        let text = |c: &CStr| -> Result<String, String> {
            c.to_str()
                .map(str::to_owned)
                .map_err(|_| format!("{}: not UTF-8", c.to_string_lossy()))
        };
        let optional = |c: &Option<CString>| -> Result<serde_json::Value, String> {
            Ok(match c {
                Some(c) => serde_json::Value::String(text(c)?),
                None => serde_json::Value::Null,
            })
        };
        let kernel_access = AccessFs::from_all(ABI::from(landlock_abi()));
        let mut ops = Vec::with_capacity(self.ops.len() + 1);
        for op in &self.ops {
            let json = match op {
                Op::Limit { resource, value } => {
                    serde_json::json!({"op": "limit", "resource": *resource as i32, "value": value})
                }
                Op::Unshare(flags) => serde_json::json!({"op": "unshare", "flags": flags.bits()}),
                Op::Write { path, data } => serde_json::json!({
                    "op": "write",
                    "path": text(path)?,
                    "data": String::from_utf8_lossy(data),
                }),
                Op::PidOne => serde_json::json!({"op": "pid_one"}),
                Op::Mkdir(path) => serde_json::json!({"op": "mkdir", "path": text(path)?}),
                Op::Touch(path) => serde_json::json!({"op": "touch", "path": text(path)?}),
                Op::Symlink { target, link } => serde_json::json!({
                    "op": "symlink",
                    "target": text(target)?,
                    "link": text(link)?,
                }),
                Op::Mount {
                    source,
                    target,
                    fstype,
                    flags,
                    data,
                } => serde_json::json!({
                    "op": "mount",
                    "source": optional(source)?,
                    "target": text(target)?,
                    "fstype": optional(fstype)?,
                    "flags": flags.bits(),
                    "data": optional(data)?,
                }),
                Op::Chdir(path) => serde_json::json!({"op": "chdir", "path": text(path)?}),
                Op::PivotRoot => serde_json::json!({"op": "pivot_root"}),
                Op::Unmount(path) => serde_json::json!({"op": "unmount", "target": text(path)?}),
                Op::Hostname => serde_json::json!({"op": "hostname", "name": text(HOSTNAME)?}),
                Op::DropToNobody => {
                    serde_json::json!({"op": "drop_to_nobody", "uid": NOBODY, "gid": NOBODY})
                }
                Op::Landlock => {
                    if self.mode == Isolation::Sandbox {
                        ops.push(serde_json::json!({"op": "drop_capabilities"}));
                    }
                    let mut rules = Vec::new();
                    for (path, access) in &self.child_rules {
                        rules.push(serde_json::json!([
                            text(path)?,
                            (*access & kernel_access).bits()
                        ]));
                    }
                    serde_json::json!({"op": "landlock", "rules": rules})
                }
            };
            ops.push(json);
        }
        let ruleset = self
            .ruleset
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .and_then(Option::<OwnedFd>::from);
        Ok(ZygotePlan {
            ops: serde_json::Value::Array(ops),
            ruleset,
        })
    }
}

/// The hostname inside a sandbox.
const HOSTNAME: &CStr = c"localhost";

/// The Linux constants `templates/lambada_zygote.py` needs to run a plan, as this host's
/// platform defines them.
pub fn zygote_constants() -> serde_json::Value {
    serde_json::json!({
        "PR_SET_PDEATHSIG": libc::PR_SET_PDEATHSIG,
        "PR_SET_DUMPABLE": libc::PR_SET_DUMPABLE,
        "PR_SET_NO_NEW_PRIVS": libc::PR_SET_NO_NEW_PRIVS,
        "PR_SET_NAME": libc::PR_SET_NAME,
        "SYS_pivot_root": libc::SYS_pivot_root,
        "SYS_landlock_add_rule": libc::SYS_landlock_add_rule,
        "SYS_landlock_restrict_self": libc::SYS_landlock_restrict_self,
        // include/uapi/linux/landlock.h
        "LANDLOCK_RULE_PATH_BENEATH": 1,
        "MNT_DETACH": libc::MNT_DETACH,
        // include/uapi/linux/capability.h
        "LINUX_CAPABILITY_VERSION_3": 0x2008_0522u32,
    })
}

/// Fills a sandbox's root (mounted on `paths.scratch`) and makes it the root.
fn build_root(ops: &mut Vec<Op>, paths: &WorkerPaths<'_>) -> std::io::Result<()> {
    let root = c_path(paths.scratch)?;
    ops.push(Op::Mount {
        source: None,
        target: c_string("/"),
        fstype: None,
        flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        data: None,
    });
    ops.push(Op::Mount {
        source: Some(c_string("lambada")),
        target: root.clone(),
        fstype: Some(c_string("tmpfs")),
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        data: Some(c_string("size=1m,mode=0755")),
    });
    root_steps(ops, paths)?;
    ops.push(Op::Chdir(root));
    ops.push(Op::PivotRoot);
    ops.push(Op::Unmount(c_string(".")));
    ops.push(Op::Mount {
        source: None,
        target: c_string("/"),
        fstype: None,
        flags: MsFlags::MS_REMOUNT
            | MsFlags::MS_BIND
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        data: None,
    });
    ops.push(Op::Chdir(c_string(TASK_ROOT)));
    ops.push(Op::Hostname);
    Ok(())
}

/// The steps that fill a sandbox's root (mounted on `paths.scratch`).
fn root_steps(ops: &mut Vec<Op>, paths: &WorkerPaths<'_>) -> std::io::Result<()> {
    let root = paths.scratch;
    for dir in SYSTEM_DIRS {
        let dir = Path::new(dir);
        match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(dir)?;
                ops.push(Op::Symlink {
                    target: c_path(&target)?,
                    link: c_path(&under(root, dir))?,
                });
            }
            Ok(meta) if meta.is_dir() => bind(ops, root, dir, dir)?,
            _ => {}
        }
    }
    for file in ETC_FILES {
        let file = Path::new(file);
        // Resolved: /etc/localtime and friends are often links into /usr or /run.
        if let Ok(real) = std::fs::canonicalize(file) {
            bind(ops, root, &real, file)?;
        }
    }
    let prefix = std::fs::canonicalize(paths.python_prefix)?;
    if !prefix.starts_with("/usr") {
        bind(ops, root, &prefix, &prefix)?;
    }
    bind(ops, root, paths.code, Path::new(TASK_ROOT))?;
    if let Some(opt) = paths.opt {
        bind(ops, root, opt, Path::new(OPT_DIR))?;
    }
    let bootstrap_name = paths.bootstrap.file_name().unwrap_or_default();
    bind(
        ops,
        root,
        paths.bootstrap,
        &Path::new(RUNTIME_DIR).join(bootstrap_name),
    )?;
    dirs_to(ops, root, Path::new("/dev"))?;
    for device in DEVICES {
        if Path::new(device).exists() {
            bind(ops, root, Path::new(device), Path::new(device))?;
        }
    }
    let tmp = c_path(&under(root, Path::new("/tmp")))?;
    ops.push(Op::Mkdir(tmp.clone()));
    ops.push(tmpfs(
        tmp,
        &format!("size={TMP_BYTES},nr_inodes=65536,mode=1777"),
    ));
    let proc = c_path(&under(root, Path::new("/proc")))?;
    ops.push(Op::Mkdir(proc.clone()));
    ops.push(Op::Mount {
        source: Some(c_string("proc")),
        target: proc,
        fstype: Some(c_string("proc")),
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        data: None,
    });
    Ok(())
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
    landlock_abi() > 0
}

/// The Landlock ABI version of the kernel (0 or less: none).
fn landlock_abi() -> i32 {
    // SAFETY: the documented version query of landlock_create_ruleset.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    i32::try_from(abi).unwrap_or(0)
}
