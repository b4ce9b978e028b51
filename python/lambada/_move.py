"""``lambada.move(globals())``: FaaSifies the running program in place.

The binary compiles the calling module's source file exactly as ``lambada --local``
does (``lambada move-plan``), into a scratch directory, deploys its cloud functions and
prints a plan: which names move, and where the runtime package and the manifest are.
This module then imports that runtime package and rebinds each moved function to the
stub the rewritten driver would have had (``@_lambada.cloud``), and turns each moved
class's methods into stubs (``@_lambada.cloud_class``), in the caller's globals. The rest
of the program runs FaaSified.

By default the functions are deployed to an embedded Lambda-compatible host that the
binary starts for the occasion (as ``lambada run`` does) and serves until this process
exits: its standard input is a pipe from here, which closes when this process ends,
however it ends; an ``atexit`` handler closes it first and waits for the host to stop.
"""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import types

from ._find_bin import find_lambada_bin

# The version of the plan `lambada move-plan` prints that this module reads.
_PLAN_VERSION = 1
# Seconds the host may take to stop once the program is done.
_STOP_TIMEOUT = 15

_lock = threading.Lock()
_moved = {}  # id(namespace) -> Moved


class MoveError(RuntimeError):
    """The program cannot be moved: no source file, a compile error (the message is the
    compiler's, ``app.py:LINE:COL: error: ...``), or a failed deployment."""


class Moved:
    """What ``move()`` did: ``moved`` (the names now running as cloud functions),
    ``kept_local`` (name -> the reason), ``transport`` (``inprocess`` or ``lambda``),
    ``endpoint`` (where the functions run over HTTP), ``directory`` (the compiled copy)."""

    def __init__(self, plan=None, process=None, scratch=None):
        plan = plan or {}
        self.moved = []
        self.kept_local = {unit["name"]: unit["reason"] for unit in plan.get("kept_local", ())}
        self.transport = plan.get("transport")
        self.endpoint = plan.get("endpoint")
        self.directory = plan.get("dir")
        self._process = process
        self._scratch = scratch
        self._namespace = None

    def close(self):
        """Stops the embedded host (if one was started) and removes the compiled copy.
        Runs at exit; cloud functions cannot be called after it."""
        process, self._process = self._process, None
        if process is not None:
            _stop(process)
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    def __repr__(self):
        return "<lambada.Moved %s via %s%s>" % (
            ", ".join(self.moved) or "nothing", self.transport,
            " at %s" % self.endpoint if self.endpoint else "")


# Shown as lambada.MoveError, lambada.Moved: the names the package exports.
MoveError.__module__ = Moved.__module__ = "lambada"


def move(namespace, *, endpoint=None, local=False, region=None, role=None, prefix="",
         remote_calls="driver", annotations=False, verbose=False):
    """FaaSifies the module whose ``globals()`` is given: call it at the top level of a
    program, after its definitions and before its work::

        import lambada
        lambada.move(globals())

    Its functions and classes that can move are deployed and rebound in place to stubs
    that invoke them; the rest of the program then runs FaaSified, with the same output,
    results and exceptions as the compiled program of ``lambada run``.

    - default: an embedded Lambda-compatible host started for the occasion, stopped
      when the program exits;
    - ``endpoint="http://127.0.0.1:10000"``: deploy to that Lambda endpoint instead
      (``lambada serve``, AWS with ``role=`` and ``region=``);
    - ``local=True``: deploy nothing; the in-process transport runs each cloud
      function's package in this interpreter, through the full marshalling path.

    ``prefix``, ``remote_calls`` (``"driver"`` or ``"all"``) and ``annotations`` mean
    what lambada's ``--prefix``, ``--remote-calls`` and ``--annotations`` mean.
    ``verbose=True`` shows the compiler's warnings and what moved, on stderr.
    Returns a ``Moved``. Raises ``MoveError`` when the module has no source file (the
    interactive interpreter, ``python -c``) or does not compile.
    """
    if not isinstance(namespace, dict):
        raise TypeError("lambada.move() takes the module's globals: lambada.move(globals())")
    if local and endpoint:
        raise ValueError("lambada.move(): local=True runs the functions in this process; "
                         "it cannot go with endpoint=")
    if remote_calls not in ("driver", "all"):
        raise ValueError("lambada.move(): remote_calls is 'driver' or 'all', not %r" % (remote_calls,))
    with _lock:
        done = _moved.get(id(namespace))
        if done is not None and done._namespace is namespace:
            return done
        if "_lambada" in namespace:
            # The rewritten driver of `lambada --local` or `lambada run`: FaaSified already.
            return Moved()
        source = _source_file(namespace)
        if "lambada_runtime" in sys.modules:
            raise MoveError("lambada.move(): lambada_runtime is already loaded (%s); move() "
                            "FaaSifies one module per process"
                            % getattr(sys.modules["lambada_runtime"], "__file__", "?"))
        command = _command(source, endpoint, local, region, role, prefix, remote_calls, annotations)
        scratch = tempfile.mkdtemp(prefix="lambada-move.")
        command += ["--out", scratch]
        try:
            plan, process = _plan(command, verbose, stays=not (local or endpoint))
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        moved = Moved(plan, process, scratch)
        moved._namespace = namespace
        atexit.register(moved.close)
        _moved[id(namespace)] = moved
        runtime = _import_runtime(plan["dir"])
        namespace["_lambada"] = runtime  # as in the rewritten driver; also marks it moved
        runtime.transports.pin(plan["transport"], plan.get("endpoint"), plan.get("region"),
                               os.path.dirname(os.path.abspath(source)))
        for unit in plan["moved"]:
            why_not = _rebind(runtime, namespace, unit, source)
            if why_not is None:
                moved.moved.append(unit["name"])
            else:
                moved.kept_local[unit["name"]] = why_not
        if verbose:
            _tell(source, plan, moved)
        return moved


def _source_file(namespace):
    path = namespace.get("__file__")
    name = namespace.get("__name__", "?")
    if not isinstance(path, str) or not path:
        raise MoveError(
            "lambada.move(globals()): module %s has no source file to compile (no __file__: "
            "the interactive interpreter, python -c or a notebook); put the program in a "
            ".py file and run it with python FILE.py" % name)
    if not path.endswith(".py") or not os.path.isfile(path):
        raise MoveError(
            "lambada.move(globals()): module %s was not loaded from a .py source file (%s); "
            "move() compiles the module's source" % (name, path))
    return path


def _command(source, endpoint, local, region, role, prefix, remote_calls, annotations):
    command = [find_lambada_bin(), "move-plan", os.path.abspath(source),
               "--python", sys.executable, "--remote-calls", remote_calls]
    if prefix:
        command += ["--prefix", prefix]
    if annotations:
        command.append("--annotations")
    if local:
        command.append("--local")
    elif endpoint:
        command += ["--endpoint", endpoint]
    if region:
        command += ["--region", region]
    if role:
        command += ["--role", role]
    return command


def _plan(command, verbose, stays):
    """Runs ``lambada move-plan`` and reads its plan; ``stays``: the process goes on
    serving the embedded host (returned with the plan, else ``None``)."""
    errors = None if verbose else tempfile.TemporaryFile()
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=errors)
    except OSError as exc:
        raise MoveError("lambada.move(): cannot start %s: %s" % (command[0], exc)) from None
    line = process.stdout.readline()
    process.stdout.close()
    if not line or not stays:
        process.stdin.close()
        status = process.wait()
    else:
        status = None
    if not line:
        said = ""
        if errors is not None:
            errors.seek(0)
            said = errors.read().decode("utf-8", "replace").strip()
        raise MoveError(said or "lambada move-plan exited with status %d" % status)
    plan = json.loads(line)
    if plan.get("lambada_move") != _PLAN_VERSION:
        _stop(process)
        raise MoveError("the lambada binary (%s) speaks plan version %r, this package %d: "
                        "install matching versions" % (command[0], plan.get("lambada_move"), _PLAN_VERSION))
    return plan, (process if stays else None)


def _stop(process):
    """Closes the host's standard input (it stops and cleans up), then waits; a host
    that does not stop in time is terminated, then killed."""
    try:
        process.stdin.close()
    except OSError:
        pass
    try:
        process.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _import_runtime(directory):
    """The runtime package of the compiled copy, as ``lambada_runtime`` (the name the
    packages' handler modules import it by); it finds the manifest beside itself."""
    sys.path.insert(0, directory)
    try:
        import lambada_runtime
    finally:
        sys.path.remove(directory)
    return lambada_runtime


def _rebind(runtime, namespace, unit, source):
    """Turns one moved unit into its cloud function's stub, in place; the reason when it
    cannot (the name no longer holds what was defined at its line), and the unit then
    runs locally, as written."""
    name = unit["name"]
    current = namespace.get(name)
    if unit["kind"] == "class":
        if not (isinstance(current, type) and current.__qualname__ == name
                and current.__module__ == namespace.get("__name__")):
            return "the name %s does not hold the class defined at line %d" % (name, unit["line"])
        runtime.cloud_class(name, namespace, frozenset(unit["methods"]))(current)
        return None
    original = _definition(current, name, source)
    if original is None:
        return "the name %s does not hold the function defined at line %d" % (name, unit["line"])
    _forward(runtime, namespace, name, original, unit.get("stub", "cloud"))
    return None


def _forward(runtime, namespace, key, original, kind="cloud"):
    """Makes the function object the program holds forward its calls to the stub of
    cloud function ``key``, whose local twin is a copy of the original. The object
    itself stays, so whatever already holds it calls the cloud function: the name, the
    decorators that wrapped it (``functools.lru_cache``...), a table built before
    move(); just as the rewritten driver's decorators and tables hold its stub."""
    twin = types.FunctionType(original.__code__, original.__globals__, original.__name__,
                              original.__defaults__, original.__closure__)
    twin.__kwdefaults__ = original.__kwdefaults__  # the very default objects
    twin.__qualname__ = original.__qualname__
    twin.__module__ = original.__module__
    twin.__doc__ = original.__doc__
    twin.__annotations__ = original.__annotations__
    twin.__dict__.update(original.__dict__)
    # A function split at its reads of stdin gets the stub that does the reads here; an
    # async def gets a coroutine stub (the rewritten driver decorates them the same way).
    decorator = {"split": runtime.cloud_split, "coroutine": runtime.cloud_coroutine}.get(kind, runtime.cloud)
    stub = decorator(key, namespace)(twin)
    namespace.setdefault("_lambada_stubs", {})[key] = stub
    if original.__closure__:  # not a plain top-level function: only the name can move
        namespace[key] = stub
        return
    original.__code__ = _trampoline(key, coroutine=kind == "coroutine")
    # What makes the stub one for the runtime: it travels as its twin (wire.py), a
    # fan-out finds the cloud function by key, and inspect.signature follows __wrapped__.
    original._lambada_twin = twin
    original._lambada_key = key
    original._lambada_namespace = namespace
    original.__wrapped__ = twin


def _trampoline(key, coroutine=False):
    """The code of ``def key(*args, **kwargs)`` that calls the stub of ``key``, found in
    the module's ``_lambada_stubs`` (a name reserved for lambada, as ``_lambada`` is);
    for a coroutine function, ``async def`` awaiting it."""
    if coroutine:
        text = ("async def %s(*args, **kwargs):\n    return await _lambada_stubs[%r](*args, **kwargs)\n"
                % (key, key))
    else:
        text = "def %s(*args, **kwargs):\n    return _lambada_stubs[%r](*args, **kwargs)\n" % (key, key)
    module = compile(text, "<lambada.move>", "exec")
    return next(c for c in module.co_consts if isinstance(c, types.CodeType))


def _definition(value, name, source):
    """The function defined in ``source`` under ``name``: ``value`` itself, or what its
    decorators wrapped (``__wrapped__``)."""
    for _ in range(100):
        if isinstance(value, types.FunctionType) and value.__code__.co_name == name and \
                _same_file(value.__code__.co_filename, source):
            return value
        value = getattr(value, "__wrapped__", None)
        if value is None:
            return None
    return None


def _same_file(a, b):
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _tell(source, plan, moved):
    for warning in plan.get("warnings", ()):
        sys.stderr.write(warning + "\n")
    where = "in this process" if moved.transport == "inprocess" else "at %s" % moved.endpoint
    sys.stderr.write("lambada.move: %s: %d moved (%s), %d kept local; functions run %s\n" % (
        source, len(moved.moved), ", ".join(moved.moved) or "-", len(moved.kept_local), where))
    for name, reason in sorted(moved.kept_local.items()):
        sys.stderr.write("  %s: kept local: %s\n" % (name, reason))
