"""Verify mode (``lambada run --verify``, or LAMBADA_VERIFY=1): every invocation also runs
through the local twin, on a deep copy of its arguments and globals, and the two are
compared: the result, the state written back to the arguments and globals, and the
output. The first difference is reported on stderr with the function, the call number
and a path such as ``args[0].cells[3].board``."""

import sys
import threading
import types

from . import capture, stats, wire
from .caller import _shadow, remote

_MISSING = object()
_ATOMS = (type(None), bool, int, float, complex, str, bytes)
_calls = {}
_lock = threading.Lock()
_MAX_REPORTS = 20
_reported = 0


def call(fn, twin, args, kwargs, namespace, method):
    with _lock:
        number = _calls[fn.key] = _calls.get(fn.key, 0) + 1
    names = [n for n in fn.globals_read + fn.globals_written_only if n in namespace]
    try:
        copies = wire.copy_graph([list(args), dict(kwargs), [namespace[n] for n in names],
                                  twin.__defaults__, twin.__kwdefaults__], namespace)
    except (wire.CannotTravel, wire.CannotDecode, RecursionError):
        return remote(fn, twin, args, kwargs, namespace, method)  # it will run locally anyway
    local = _run_twin(twin, copies, names, namespace)
    answer = {}
    try:
        ret = remote(fn, twin, args, kwargs, namespace, method, answer)
        outcome = ("return", ret)
    except BaseException as exc:
        outcome = ("raise", exc)
    response = answer.get("response") or {}
    if "response" in answer and not response.get("fallback"):
        remote_side = (outcome, list(args), dict(kwargs), [namespace.get(n, _MISSING) for n in names],
                       response.get("stdout") or "", response.get("stderr") or "")
        difference = _compare(remote_side, local, names)
        stats.count_verified(difference)
        if difference:
            _report(fn, number, difference)
    if outcome[0] == "raise":
        raise outcome[1]
    return outcome[1]


def _run_twin(twin, copies, names, namespace):
    args, kwargs, values, defaults, kwdefaults = copies
    shadow = dict(namespace)
    for name, value in zip(names, values):
        shadow[name] = value
    for name, value in list(shadow.items()):
        inner = getattr(value, "_lambada_twin", None) if isinstance(value, types.FunctionType) else None
        if inner is not None:
            shadow[name] = _rebind(inner, shadow, inner.__defaults__, inner.__kwdefaults__)
    local_fn = _rebind(twin, shadow, defaults, kwdefaults)
    captured = capture.begin()
    _shadow.active = True
    try:
        try:
            outcome = ("return", local_fn(*args, **kwargs))
        except BaseException as exc:
            outcome = ("raise", exc)
    finally:
        _shadow.active = False
        out, err = capture.end(captured)
    return (outcome, args, kwargs, [shadow.get(n, _MISSING) for n in names], out, err)


def _rebind(fn, scope, defaults, kwdefaults):
    if not isinstance(fn, types.FunctionType):
        return fn
    copy = types.FunctionType(fn.__code__, scope, fn.__name__, defaults, fn.__closure__)
    copy.__kwdefaults__ = kwdefaults
    copy.__qualname__ = fn.__qualname__
    return copy


def _compare(remote_side, local, names):
    (r_outcome, r_args, r_kwargs, r_globals, r_out, r_err) = remote_side
    (l_outcome, l_args, l_kwargs, l_globals, l_out, l_err) = local
    if r_outcome[0] != l_outcome[0]:
        return "result", ("raised %s" % _show(r_outcome[1]) if r_outcome[0] == "raise" else
                          "returned %s" % _show(r_outcome[1])), (
            "raised %s" % _show(l_outcome[1]) if l_outcome[0] == "raise" else
            "returned %s" % _show(l_outcome[1]))
    pairs = [(r_outcome[1], l_outcome[1], "result" if r_outcome[0] == "return" else "exception")]
    pairs += [(a, b, "args[%d]" % i) for i, (a, b) in enumerate(zip(r_args, l_args))]
    pairs += [(r_kwargs[k], l_kwargs[k], "kwargs[%r]" % k) for k in r_kwargs if k in l_kwargs]
    pairs += [(a, b, "global %s" % n) for n, a, b in zip(names, r_globals, l_globals)]
    found = first_difference(pairs)
    if found:
        return found
    if r_out != l_out:
        return "stdout", repr(r_out[-200:]), repr(l_out[-200:])
    if r_err != l_err:
        return "stderr", repr(r_err[-200:]), repr(l_err[-200:])
    return None


def _show(value):
    try:
        text = repr(value)
    except Exception:
        text = "<%s>" % type(value).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def first_difference(pairs):
    """Walks object graphs side by side (iteratively); returns (path, one, other) of the
    first difference in value, type or sharing, or None."""
    paired = {}
    stack = list(reversed(pairs))
    while stack:
        a, b, path = stack.pop()
        if a is b:
            continue
        ta = type(a)
        if ta is not type(b):
            return path, _show(a), _show(b)
        if ta in _ATOMS or isinstance(a, (int, float, str, bytes)):
            if a != b and not (a != a and b != b):
                return path, _show(a), _show(b)
            continue
        seen = paired.get(id(a))
        if seen is not None:
            if seen is not b:
                return path, "an object shared with an earlier path", "a different object"
            continue
        paired[id(a)] = b
        children = _children(a, b, path)
        if isinstance(children, tuple) and len(children) == 3 and isinstance(children[0], str):
            return children
        stack.extend(reversed(children))
    return None


def _children(a, b, path):
    if isinstance(a, (list, tuple)) or type(a).__name__ in ("deque", "array"):
        if len(a) != len(b):
            return path, "%d items" % len(a), "%d items" % len(b)
        return [(x, y, "%s[%d]" % (path, i)) for i, (x, y) in enumerate(zip(a, b))]
    if isinstance(a, dict):
        ka, kb = list(a), list(b)
        if len(ka) != len(kb) or any(not _same_key(x, y) for x, y in zip(ka, kb)):
            return path, "keys %s" % _show(ka), "keys %s" % _show(kb)
        children = [(a[x], b[y], "%s[%r]" % (path, x)) for x, y in zip(ka, kb)]
        return children + _attributes(a, b, path)
    if isinstance(a, (set, frozenset)):
        if a != b:
            return path, _show(a), _show(b)
        return []
    if isinstance(a, BaseException):
        return [(list(a.args), list(b.args), path + ".args")] + _attributes(a, b, path)
    if isinstance(a, (types.FunctionType, type, types.ModuleType)):
        return []  # kept by identity in the copy; a rebound function is not a difference
    attrs = _attributes(a, b, path)
    if attrs or hasattr(a, "__dict__") or hasattr(type(a), "__slots__"):
        return attrs
    if type(a).__eq__ is object.__eq__:
        # Compared by identity (an iterator, a deque's iterator...): compare what pickle's
        # protocol says they are made of instead (without advancing them).
        try:
            ra, rb = a.__reduce_ex__(4), b.__reduce_ex__(4)
        except Exception:
            return []
        if isinstance(ra, tuple) and isinstance(rb, tuple):
            return [(list(ra[1:3]), list(rb[1:3]), path)]
        return []
    try:
        if a != b:
            return path, _show(a), _show(b)
    except Exception:
        pass
    return []


def _same_key(x, y):
    try:
        return x == y
    except Exception:
        return False


def _attributes(a, b, path):
    da = getattr(a, "__dict__", None)
    db = getattr(b, "__dict__", None)
    children = []
    if da is not None and db is not None:
        if list(da) != list(db):
            return [(sorted(da), sorted(db), path + ".__dict__ keys")]
        children = [(da[k], db[k], "%s.%s" % (path, k)) for k in da]
    for name in _slots(type(a)):
        va = getattr(a, name, _MISSING)
        vb = getattr(b, name, _MISSING)
        if va is _MISSING or vb is _MISSING:
            if (va is _MISSING) != (vb is _MISSING):
                return [("set" if va is not _MISSING else "unset", "set" if vb is not _MISSING else "unset",
                         "%s.%s" % (path, name))]
            continue
        children.append((va, vb, "%s.%s" % (path, name)))
    return children


def _slots(cls):
    names = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and name not in names:
                names.append(name)
    return names


def _report(fn, number, difference):
    global _reported
    path, remote_value, local_value = difference
    with _lock:
        _reported += 1
        if _reported > _MAX_REPORTS:
            return
    sys.stderr.write(
        "lambada verify: %s() call %d differs at %s: the cloud function gives %s, the local "
        "run gives %s\n" % (fn.key, number, path, remote_value, local_value))
    sys.stderr.flush()
