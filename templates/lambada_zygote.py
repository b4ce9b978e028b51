"""lambada zygote: forks ready-made workers for one tenant and one interpreter.

Started by `lambada serve` (src/host/zygote.rs) as

    python3.X -s -X lambada_host=<bootstrap> lambada_zygote.py <bootstrap> <preload dir> <constants>

with fd 3 a SOCK_SEQPACKET socket to the host and an environment holding nothing of any
function: only what the interpreter reads when it starts (PATH, LANG, TZ,
MALLOC_ARENA_MAX). It imports, once, what every worker needs before the function's own
code: the worker bootstrap, the standard library modules the lambada runtime imports, and
the runtime's compiled code, kept by source text (a worker importing its own
byte-identical copy of a runtime module skips compiling it, see `_source_to_code`).

What a worker inherits from the zygote's memory is therefore the same for every function:
the zygote never imports or runs a function's code, and never receives a function's
environment or credentials. Those go from the host to the worker over the worker's own
pipe, after the worker has isolated itself. What forked workers do share is the zygote's
address-space layout and its str hash seed (the random module reseeds itself after a
fork); that is why a zygote is never shared between tenants.

Protocol (one JSON object per datagram):
  zygote -> host  {"ready": pid}, once everything is imported
  host -> zygote  {"id", "cwd", "comm", "ops"} with descriptors attached (SCM_RIGHTS): the
                  worker's stdin, stdout and stderr, then the Landlock ruleset if any
  zygote -> host  {"id", "pid"} (forked: pid also names the worker's process group), or
                  {"id", "error"}
  zygote -> host  {"exit": pid, "status": wait status}, when a worker it forked has ended
The zygote exits when the host closes the socket, and dies with the host (PDEATHSIG).

A forked worker isolates itself before anything of its function runs: `_worker` executes
the host's plan (`ops`, built by `Jail` in src/host/sandbox.rs: the same steps, in the
same order, that a directly started worker takes between fork and exec), then
`worker_bootstrap.run_forked` reads its environment from its stdin and serves.
"""

import ctypes
import importlib
import importlib.util
import json
import os
import re
import resource
import select
import signal
import socket
import struct
import sys
import types
from importlib import _bootstrap_external

CONTROL_FD = 3
_MAX_FD = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536

# Constants of the host's platform (prctl options, system call numbers, ...), from the
# host: no magic numbers here.
LINUX = {}
_ZYGOTE_PID = os.getpid()
_LIBC = ctypes.CDLL(None, use_errno=True)
_COMPILED = {}
_bootstrap = None


# ---------------------------------------------------------------------------------------
# What the zygote loads once


# `import a.b, c` and `from a.b import c` at the start of a line, at any indentation
# (imports inside functions count: the runtime imports some modules when first needed).
_IMPORT = re.compile(rb"^[ \t]*(?:import[ \t]+([\w. \t,]+)|from[ \t]+(\w[\w.]*)[ \t]+import\b)", re.M)


def _absolute_imports(source):
    """The modules `source` imports absolutely. A scan of the text, not a parse (parsing
    the runtime took a third of the zygote's start): a line of a string that looks like
    an import only makes the zygote import one more module, or fail to and go on."""
    names = set()
    for listed, module in _IMPORT.findall(source):
        if module:
            names.add(module.decode())
        for item in listed.split(b","):
            words = item.split()
            if words:
                names.add(words[0].decode())
    return names


def _preload(preload_dir, bootstrap_path):
    """Compiles the runtime's modules (kept by source) and imports the standard library
    modules that they and the bootstrap import."""
    names = set()
    for root, dirs, files in os.walk(preload_dir):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                source = f.read()
            # As importlib compiles a module from source (dont_inherit, default optimize).
            _COMPILED[source] = compile(source, path, "exec", dont_inherit=True)
            names.update(_absolute_imports(source))
    with open(bootstrap_path, "rb") as f:
        names.update(_absolute_imports(f.read()))
    for name in sorted(names):
        if name.split(".")[0] == "lambada_runtime":
            continue
        try:
            importlib.import_module(name)
        except Exception:  # not on this Python version or platform: the worker will see
            pass


def _renamed(code, filename):
    """`code` (and the code nested in it) as if compiled from `filename`."""
    consts = tuple(_renamed(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


_original_source_to_code = _bootstrap_external.SourceLoader.source_to_code


def _source_to_code(self, data, path, *, _optimize=-1):
    """importlib's compile step, skipped for a source the zygote compiled already: the
    match is on the whole text, so the code is exactly what compiling it would give."""
    if _optimize == -1 and isinstance(data, bytes):
        code = _COMPILED.get(data)
        if code is not None:
            return _renamed(code, path)
    return _original_source_to_code(self, data, path, _optimize=_optimize)


# ---------------------------------------------------------------------------------------
# The plan a forked worker runs to isolate itself (see `Jail` in src/host/sandbox.rs)


class _PathBeneath(ctypes.Structure):
    # struct landlock_path_beneath_attr, which the kernel declares packed.
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _checked(result, what):
    if result == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, "%s: %s" % (what, os.strerror(errno)))
    return result


def _c(text):
    return None if text is None else ctypes.c_char_p(os.fsencode(text))


def _prctl(option, value):
    return _checked(
        _LIBC.prctl(ctypes.c_int(LINUX[option]), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                    ctypes.c_ulong(0)),
        "prctl " + option,
    )


def _op_limit(op, _):
    resource.setrlimit(op["resource"], (op["value"], op["value"]))


def _op_unshare(op, _):
    _checked(_LIBC.unshare(ctypes.c_int(op["flags"])), "unshare")


def _op_write(op, _):
    fd = os.open(op["path"], os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, op["data"].encode())
    finally:
        os.close(fd)


def _op_pid_one(op, _):
    """Only a child enters the new PID namespace: it becomes its PID 1 and goes on as the
    worker; this process stays outside, holding nothing open, waits for it and ends as it
    did, so that the zygote reports the worker's own exit status."""
    pid = os.fork()
    if pid == 0:
        _prctl("PR_SET_PDEATHSIG", signal.SIGKILL)
        return
    os.closerange(0, _MAX_FD)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except OSError:
            os._exit(127)
        if os.WIFEXITED(status):
            os._exit(os.WEXITSTATUS(status))
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:
                signal.signal(number, signal.SIG_DFL)
            except (OSError, ValueError):  # SIGKILL and SIGSTOP keep their default anyway
                pass
            os.kill(os.getpid(), number)
            os._exit(128 + number)


def _op_mkdir(op, _):
    try:
        os.mkdir(op["path"], 0o755)
    except FileExistsError:
        pass


def _op_touch(op, _):
    os.close(os.open(op["path"], os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _op_symlink(op, _):
    os.symlink(op["target"], op["link"])


def _op_mount(op, _):
    result = _LIBC.mount(_c(op["source"]), _c(op["target"]), _c(op["fstype"]), ctypes.c_ulong(op["flags"]),
                         _c(op["data"]))
    _checked(result, "mount %s" % op["target"])


def _op_chdir(op, _):
    os.chdir(op["path"])


def _op_pivot_root(op, _):
    dot = ctypes.c_char_p(b".")
    _checked(_LIBC.syscall(ctypes.c_long(LINUX["SYS_pivot_root"]), dot, dot), "pivot_root")


def _op_unmount(op, _):
    _checked(_LIBC.umount2(_c(op["target"]), ctypes.c_int(LINUX["MNT_DETACH"])), "umount2")


def _op_hostname(op, _):
    socket.sethostname(op["name"])


def _op_drop_to_nobody(op, _):
    os.setgroups([])
    os.setresgid(op["gid"], op["gid"], op["gid"])
    os.setresuid(op["uid"], op["uid"], op["uid"])
    # Changing credentials cleared the parent-death signal, and made /proc/self root's.
    _prctl("PR_SET_PDEATHSIG", signal.SIGKILL)
    _prctl("PR_SET_DUMPABLE", 1)


def _op_drop_capabilities(op, _):
    """What `exec` does for a directly started worker (not root in its user namespace):
    the capabilities the new namespaces granted go, before any function code runs."""
    header = _CapHeader(LINUX["LINUX_CAPABILITY_VERSION_3"], 0)
    data = (_CapData * 2)()
    _checked(_LIBC.capset(ctypes.byref(header), data), "capset")


def _op_landlock(op, ruleset):
    """Adds the rules only this process can open (its new root, its /tmp, its /proc/self)
    to the ruleset the host prepared, and restricts itself with it."""
    if ruleset is None:
        return
    for path, access in op["rules"]:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            attr = _PathBeneath(access, fd)
            _checked(
                _LIBC.syscall(ctypes.c_long(LINUX["SYS_landlock_add_rule"]), ctypes.c_int(ruleset),
                              ctypes.c_int(LINUX["LANDLOCK_RULE_PATH_BENEATH"]), ctypes.byref(attr),
                              ctypes.c_uint(0)),
                "landlock_add_rule %s" % path,
            )
        finally:
            os.close(fd)
    _prctl("PR_SET_NO_NEW_PRIVS", 1)
    _checked(
        _LIBC.syscall(ctypes.c_long(LINUX["SYS_landlock_restrict_self"]), ctypes.c_int(ruleset), ctypes.c_uint(0)),
        "landlock_restrict_self",
    )
    os.close(ruleset)


_OPS = {
    "limit": _op_limit,
    "unshare": _op_unshare,
    "write": _op_write,
    "pid_one": _op_pid_one,
    "mkdir": _op_mkdir,
    "touch": _op_touch,
    "symlink": _op_symlink,
    "mount": _op_mount,
    "chdir": _op_chdir,
    "pivot_root": _op_pivot_root,
    "unmount": _op_unmount,
    "hostname": _op_hostname,
    "drop_to_nobody": _op_drop_to_nobody,
    "drop_capabilities": _op_drop_capabilities,
    "landlock": _op_landlock,
}


def _read_exactly(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError("the host closed the worker's stdin")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _worker(control, request, fds):
    """The forked worker: isolates itself, then becomes the bootstrap. Never returns."""
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        control.detach()  # its descriptor is closed below with the zygote's others
        os.setpgid(0, 0)
        _prctl("PR_SET_PDEATHSIG", signal.SIGKILL)
        if os.getppid() != _ZYGOTE_PID:  # the zygote died before the line above
            os._exit(1)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        ruleset = None
        if len(fds) > 3:
            os.dup2(fds[3], 3)
            ruleset = 3
        os.closerange(3 if ruleset is None else 4, _MAX_FD)
        os.chdir(request["cwd"])
        for op in request["ops"]:
            _OPS[op["op"]](op, ruleset)
        _LIBC.prctl(ctypes.c_int(LINUX["PR_SET_NAME"]), ctypes.c_char_p(request["comm"].encode()[:15]),
                    ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
        (length,) = struct.unpack(">I", _read_exactly(0, 4))
        environment = json.loads(_read_exactly(0, length))
    except BaseException as exc:
        try:
            os.write(2, ("lambada: cannot start the worker: %s\n" % exc).encode())
        finally:
            os._exit(127)
    _bootstrap.run_forked(environment)
    os._exit(0)


def _fork(control, request, fds):
    try:
        pid = os.fork()
    except OSError as exc:
        answer = {"id": request.get("id"), "error": "cannot fork: %s" % exc}
    else:
        if pid == 0:
            _worker(control, request, fds)
        try:
            os.setpgid(pid, pid)  # also done by the child: whichever runs first
        except OSError:
            pass
        answer = {"id": request.get("id"), "pid": pid}
    for fd in fds:
        os.close(fd)
    control.send(json.dumps(answer).encode())


def _reap(control):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        control.send(json.dumps({"exit": pid, "status": status}).encode())


def main():
    global _bootstrap
    if not hasattr(socket, "recv_fds"):
        # Exits before it is ready: the host then starts this interpreter's workers
        # directly, and says so.
        sys.exit("lambada zygote: needs Python 3.9 or later (socket.recv_fds)")
    bootstrap_path, preload_dir, constants = sys.argv[1:4]
    LINUX.update(json.loads(constants))
    # The runtime directory is not a place functions import from.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.util.spec_from_file_location("worker_bootstrap", bootstrap_path)
    _bootstrap = importlib.util.module_from_spec(spec)
    sys.modules["worker_bootstrap"] = _bootstrap
    spec.loader.exec_module(_bootstrap)
    _preload(preload_dir, bootstrap_path)
    _bootstrap_external.SourceLoader.source_to_code = _source_to_code

    control = socket.socket(fileno=CONTROL_FD)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that the wakeup fd fires
    control.send(json.dumps({"ready": os.getpid()}).encode())
    while True:
        ready, _, _ = select.select([control, wake_r], [], [])
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            _reap(control)
        if control in ready:
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, 8)
            if not message:
                return  # the host is gone
            _fork(control, json.loads(message), fds)


if __name__ == "__main__":
    main()
