"""The function's side: the Lambda handler of a package, ``handler(event, context)``.

It rebuilds the request's object graph in the package's module, binds the caller's
globals, runs the function (or method) with the arguments bound here, then answers with
the result, the globals the call rebound, and the new state of every object of the
caller's that the call changed (see state.py). A request it cannot rebuild is refused
before anything runs, so the caller can run the call locally instead."""

import inspect
import types

from . import aio, cache, capture, errors, interp, split, state, transports, wire

_MISSING = object()
_ModuleType = types.ModuleType
_HERE_PREFIX = __file__.rpartition("/")[0]


def make_handler(target, namespace, key):
    """The handler of the package of cloud function ``key``: ``target`` is the function
    (kind function) or the class (kind class), ``namespace`` the handler module's globals().

    A decorated function is called undecorated: the program's stub keeps the decorators,
    so they already ran once for this call (calls made inside the cloud function go
    through the decorated name, as in the original)."""
    if not isinstance(target, type):
        target = _unwrap(target)
    return Handler(target, namespace, key)


def _unwrap(function):
    seen = {id(function)}
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
        if id(function) in seen:
            raise ValueError("wrapper loop when unwrapping %r" % function)
        seen.add(id(function))
    return function


class Handler:
    def __init__(self, target, namespace, key):
        self.target = target
        self.namespace = namespace
        self.key = key
        self.is_class = isinstance(target, type)
        self._writable = None
        self._line_map = _MISSING
        entry = (transports.manifest().get("functions") or {}).get(key) or {}
        self.readonly = entry.get("readonly") or ()

    def line_map(self):
        """The package's map from handler lines to the program's, read once (None when
        the package has none)."""
        if self._line_map is _MISSING:
            self._line_map = errors.read_line_map(self.namespace.get("__file__"))
        return self._line_map

    def writable(self):
        """Globals that code of this module can rebind (``global x``), found once."""
        if self._writable is None:
            self._writable = tuple(sorted(_names_written(self.target, self.namespace)))
        return self._writable

    def __call__(self, event, context=None):
        namespace = self.namespace
        captured = capture.begin()
        before = {}
        saved_interp = None
        try:
            try:
                if type(event) is not dict:
                    raise TypeError("a lambada request is a JSON object with args, kwargs and "
                                    "globals, not %s" % type(event).__name__)
                records = event.get("objs") or []
                cached = event.get("cached")
                put = event.get("cache_put")
                if cached or put:
                    missing = cache.fill(records, cached, put)
                    if missing:
                        capture.end(captured)
                        captured = None
                        return {"cache_miss": missing}
                fn, readonly = self._target(event)
                positions = _readonly_positions(fn, readonly)
                decoder = wire.Decoder(records, namespace)
                if cached and not self.is_class and "defaults" not in event:
                    _reuse_decoded(event, decoder, positions)
                table = decoder.build_all()
                if "defaults" in event or "kwdefaults" in event:
                    fn = _with_defaults(fn, event, decoder)
                args = [decoder.value(a) for a in event.get("args") or ()]
                kwargs = {k: decoder.value(v) for k, v in (event.get("kwargs") or {}).items()}
                module = _module_argument(args, kwargs, positions, readonly)
                if module is not None:
                    raise _Refused("an argument the function may change is module %s, which is "
                                   "process-wide: a change made to it here would not reach the "
                                   "caller's module" % module.__name__)
                started = self._enter_globals(event.get("globals"), decoder, before)
            except (wire.CannotDecode, _Refused) as exc:
                capture.end(captured)
                captured = None
                return {"fallback": "the cloud function cannot rebuild its request (%s)" % exc}
            sent_interp = event.get("interp")
            saved_interp = interp.enter(sent_interp)
            token = _received_runs(event, records, table, positions) if (cached or put) else None
            try:
                ret = fn(*args, **kwargs)
                if _is_coroutine_function(fn):
                    ret = aio.run_coroutine(ret)  # to completion, in a loop of its own
                exc = None
            except BaseException as raised:
                ret = None
                exc = raised
            finally:
                if token is not None:
                    cache.done(token)
            response = self._answer(event, records, table, positions, readonly, started, ret, exc)
            changed = interp.changes(sent_interp)
            if changed:
                response["interp"] = changed
            if exc is not None and captured.tee and not isinstance(exc, SystemExit):
                captured.err._tee.write(response["error"].get("traceback") or "")
        finally:
            if captured is not None:
                out, err = capture.end(captured)
            interp.leave(saved_interp)
            _restore_globals(namespace, before)
        response["stdout"] = out
        response["stderr"] = err
        return response

    # -- what to call ---------------------------------------------------------------------

    def _target(self, event):
        """(the function to call, undecorated, and the names of its read-only parameters)."""
        method = event.get("method")
        if self.is_class:
            if not method:
                raise _Refused("a call of class %s names no method" % self.key)
            owner_name, name, kind = method
            owner = wire._walk(self.namespace, owner_name)
            if not isinstance(owner, type) or name not in owner.__dict__:
                raise _Refused("no method %s.%s here" % (owner_name, name))
            member = owner.__dict__[name]
            if kind in ("s", "c"):
                raw = member.__func__
            elif kind in ("g", "p", "d"):
                if type(member).__name__ == "cached_property":
                    raw = _unwrap(member.func)
                else:
                    raw = {"g": member.fget, "p": member.fset, "d": member.fdel}[kind]
            else:
                raw = member
            raw = _unwrap(raw)
            readonly = self.readonly.get(name, ()) if isinstance(self.readonly, dict) else ()
        elif method == "resume":  # a function split at its reads continues (split.py)
            target = self.target
            raw = lambda point, frame_locals, outcome: split.resume(  # noqa: E731
                target, point, frame_locals, outcome)
            readonly = ()
        else:
            raw = self.target
            readonly = self.readonly if isinstance(self.readonly, list) else ()
        return raw, readonly

    def _enter_globals(self, wire_globals, decoder, before):
        """Binds the caller's globals in this module; returns the bindings at the start
        of the call (sent globals and the globals the module can rebind)."""
        namespace = self.namespace
        started = {}
        if wire_globals:
            for name, v in wire_globals.items():
                before[name] = namespace.get(name, _MISSING)
                namespace[name] = started[name] = decoder.value(v)
        for name in self.writable():
            if name not in before:
                before[name] = started[name] = namespace.get(name, _MISSING)
        return started

    # -- the answer -----------------------------------------------------------------------

    def _answer(self, event, records, table, positions, readonly, started, ret, exc):
        known = {id(obj): [~k] for k, obj in enumerate(table)} if table else None
        encoder = wire.Encoder(known)
        value = encoder.value
        response = {}
        try:
            if exc is None:
                response["ret"] = value(ret)
            else:
                response["error"] = _error(exc, value, self.line_map())
            encoder.run()
            rebound = self._globals_back(started, value, encoder)
            if rebound:
                response["globals"] = rebound
            check = []
            if records:
                roots = _writable_roots(event, positions, readonly)
                check = state.mutable_indexes(records, roots, table if roots is not None else None)
            updates = state.changed_objects(table, records, check, encoder) if check else None
            encoder.run()
        except (wire.CannotTravel, RecursionError) as problem:
            what = "its result" if exc is None else "the exception it raised"
            return {"fallback": "%s cannot travel back (%s)" % (what, problem)}
        if updates:
            response["updates"] = updates
        if encoder.records:
            response["objs"] = encoder.records
        return response

    def _globals_back(self, started, value, encoder):
        namespace = self.namespace
        rebound = {}
        for name, start in started.items():
            now = namespace.get(name, _MISSING)
            if now is not _MISSING and now is not start:
                rebound[name] = value(now)
        return rebound


def _is_coroutine_function(fn):
    code = getattr(fn, "__code__", None)
    return code is not None and bool(code.co_flags & inspect.CO_COROUTINE)


class _Refused(Exception):
    pass


def _readonly_positions(fn, readonly):
    """Positions of the arguments that bind read-only parameters of ``fn``."""
    code = getattr(fn, "__code__", None)
    if not readonly or code is None:
        return frozenset()
    names = code.co_varnames[:code.co_argcount]
    return frozenset(i for i, name in enumerate(names) if name in readonly)


def _module_argument(args, kwargs, positions, readonly):
    """A module passed for a parameter that is not read-only (``add_logging(math)``
    patching ``math.cos``), or None. Modules travel by name: the cloud function gets its
    own process's module, so its changes would be lost; the call runs in the caller."""
    for index, value in enumerate(args):
        if index not in positions and type(value) is _ModuleType:
            return value
    for name, value in kwargs.items():
        if name not in readonly and type(value) is _ModuleType:
            return value
    return None


def _writable_roots(event, positions, readonly):
    """The request's values that are not read-only parameters, or None when every
    value may change (then every object is compared)."""
    if not positions and not readonly:
        return None
    roots = [v for index, v in enumerate(event.get("args") or ()) if index not in positions]
    roots.extend(v for name, v in (event.get("kwargs") or {}).items() if name not in readonly)
    roots.extend((event.get("globals") or {}).values())
    roots.extend(event.get("defaults") or ())
    roots.extend((event.get("kwdefaults") or {}).values())
    return roots


def _readonly_runs(event, positions):
    """{start: argument index} of the read-only arguments that are runs of records."""
    return {v[0]: index for index, v in enumerate(event.get("args") or ())
            if index in positions and type(v) is list}


def _reuse_decoded(event, decoder, positions):
    """Runs named for read-only parameters that this worker decoded before are used as
    they are: the function only reads them."""
    roots = _readonly_runs(event, positions)
    for start, count, key in event.get("cached") or ():
        objects = cache.decoded(key)
        if start in roots and objects is not None and len(objects) == count:
            decoder.made[start:start + count] = objects
            decoder.done[start:start + count] = b"\x02" * count


def _received_runs(event, records, table, positions):
    """Named runs that arrived for read-only parameters, registered while the call runs:
    passed on to another invocation, they are neither encoded nor sent again."""
    roots = _readonly_runs(event, positions)
    if not roots:
        return None
    segments = []
    for start, count, key in (event.get("cached") or []) + (event.get("cache_put") or []):
        if start in roots and (cache.decoded(key) is not None
                               or cache.self_contained(records, start, start + count)):
            objects = table[start:start + count]
            cache.keep_decoded(key, objects)
            segments.append(cache.Segment(key, start, records[start:start + count], objects))
    return cache.received(segments) if segments else None


def _with_defaults(raw, event, decoder):
    """The function with the caller's default objects (a mutable default is shared
    between the caller's calls, so it is the caller's object that must change)."""
    if not isinstance(raw, types.FunctionType):
        return raw
    defaults = event.get("defaults")
    fn = types.FunctionType(raw.__code__, raw.__globals__, raw.__name__,
                            raw.__defaults__ if defaults is None else tuple(decoder.value(d) for d in defaults),
                            raw.__closure__)
    kwdefaults = event.get("kwdefaults")
    fn.__kwdefaults__ = raw.__kwdefaults__ if kwdefaults is None else {
        k: decoder.value(v) for k, v in kwdefaults.items()}
    fn.__qualname__ = raw.__qualname__
    fn.__dict__.update(raw.__dict__)
    return fn


def _error(exc, value, line_map=None):
    """The exception as the caller will raise it, plus a description in case the caller
    cannot rebuild it."""
    text = errors.format_remote(exc, _HERE_PREFIX, line_map)
    return {
        "exc": value(exc),
        "type": type(exc).__qualname__,
        "module": type(exc).__module__,
        "message": errors.safe_str(exc),
        "traceback": text,
    }


def _names_written(target, namespace):
    """Names stored with STORE_GLOBAL / DELETE_GLOBAL by the module's functions and methods."""
    module_name = namespace.get("__name__")
    names = set()

    def visit(obj):
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            for accessor in (obj.fget, obj.fset, obj.fdel):
                if accessor is not None:
                    visit(accessor)
        elif isinstance(obj, types.FunctionType):
            names.update(wire.code_globals(obj.__code__)[1])
        elif isinstance(obj, type) and obj.__module__ == module_name:
            for member in list(vars(obj).values()):
                visit(member)

    visit(target)
    for value in list(namespace.values()):
        if getattr(value, "__module__", None) == module_name:
            visit(value)
    return names


def _restore_globals(namespace, before):
    """Puts the module back as it was: a nested call of the same package in this process
    (recursion with --remote-calls all) must not leave its bindings to its caller."""
    for name, value in before.items():
        if value is _MISSING:
            namespace.pop(name, None)
        else:
            namespace[name] = value
