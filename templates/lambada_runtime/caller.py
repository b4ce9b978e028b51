"""The caller's side: the stubs the rewritten program calls through, and what happens
around each call (send, replay output, write back state, raise or return)."""

import functools
import os
import sys
import threading

from . import cache, errors, interp, stats, transports, wire
from .errors import PayloadTooLargeError, RemoteError
from .state import CannotWriteBack, apply_updates, plan_updates

_MISSING = object()
_ATOMS = (type(None), bool, int, float, str, bytes, complex)
VERIFY = os.environ.get("LAMBADA_VERIFY", "") not in ("", "0")

# Names the stubs of a moved class never take over: they run when the class is made,
# when its objects are encoded (pickle's protocol) or collected, or they decide how
# attributes are found.
_LOCAL_METHODS = frozenset((
    "__new__", "__init_subclass__", "__class_getitem__", "__set_name__", "__del__",
    "__getstate__", "__setstate__", "__reduce__", "__reduce_ex__", "__getnewargs__",
    "__getnewargs_ex__", "__copy__", "__deepcopy__", "__getattr__", "__getattribute__",
    "__setattr__", "__delattr__", "__dir__", "__sizeof__", "__instancecheck__",
    "__subclasscheck__", "__subclasshook__", "__mro_entries__",
))


# ---------------------------------------------------------------------------------------
# The decorators the rewritten program uses


def cloud(key, namespace):
    """``@_lambada.cloud("fib", globals())`` above a moved function: calls become
    invocations of cloud function ``key``; the function itself stays as the local twin,
    which runs a call that cannot travel (an open file as argument, for example)."""
    def decorate(twin):
        def stub(*args, **kwargs):
            return call(key, twin, args, kwargs, namespace)

        _wraps(stub, twin)
        # What a fan-out needs to send this function's calls itself (see fanout.py).
        stub._lambada_key = key
        stub._lambada_namespace = namespace
        return stub

    return decorate


def cloud_class(key, namespace, methods=None):
    """``@_lambada.cloud_class("Account", globals())`` above a moved class: its methods
    run in cloud function ``key`` (the object's state travels with each call and comes
    back); the class and its objects stay ordinary ones here. ``methods``: only these
    names (``lambada.move()``, which finds the class already decorated: what its
    decorators added stays local, as when this decorator runs first)."""
    def decorate(cls):
        for name, member in list(vars(cls).items()):
            if methods is not None and name not in methods:
                continue
            stub = _method_stub(key, cls, name, member, namespace)
            if stub is not None:
                setattr(cls, name, stub)
        return cls

    return decorate


def _method_stub(key, cls, name, member, namespace):
    if name in _LOCAL_METHODS:
        return None
    owner = cls.__qualname__
    if isinstance(member, staticmethod):
        return staticmethod(_stub(key, member.__func__, namespace, (owner, name, "s")))
    if isinstance(member, classmethod):
        return classmethod(_stub(key, member.__func__, namespace, (owner, name, "c")))
    if isinstance(member, property):
        accessors = [None if f is None else _stub(key, f, namespace, (owner, name, kind))
                     for f, kind in ((member.fget, "g"), (member.fset, "p"), (member.fdel, "d"))]
        return property(*accessors, doc=member.__doc__)
    if type(member).__name__ == "cached_property" and hasattr(member, "func"):
        member.func = _stub(key, member.func, namespace, (owner, name, "g"))
        return None
    if isinstance(member, type(_method_stub)):
        return _stub(key, member, namespace, (owner, name, "m"))
    return None


def _stub(key, twin, namespace, method):
    def stub(*args, **kwargs):
        return call(key, twin, args, kwargs, namespace, method)

    _wraps(stub, twin)
    return stub


def _wraps(stub, twin):
    """The stub looks like the function: name, docstring, signature (through
    __wrapped__), attributes, and the very default objects (``f.__defaults__``)."""
    functools.update_wrapper(stub, twin)
    stub._lambada_twin = twin
    if getattr(twin, "__defaults__", None) is not None:
        stub.__defaults__ = twin.__defaults__
    if getattr(twin, "__kwdefaults__", None) is not None:
        stub.__kwdefaults__ = twin.__kwdefaults__


def invoke(key, args, kwargs, namespace, twin=None):
    """Calls cloud function ``key`` like ``key(*args, **kwargs)`` (the stubs of
    ``--remote-calls all`` inside packages use this, with the original as ``twin``)."""
    return call(key, twin, args, kwargs, namespace)


# ---------------------------------------------------------------------------------------
# One call

_shadow = threading.local()  # verify mode: the twin's run calls nothing remote


def call(key, twin, args, kwargs, namespace, method=None):
    fn = transports._functions.get(key) or transports.function(key)
    if VERIFY and twin is not None:
        if getattr(_shadow, "active", False):
            return twin(*args, **kwargs)
        from . import verify

        return verify.call(fn, twin, args, kwargs, namespace, method)
    return remote(fn, twin, args, kwargs, namespace, method)


def remote(fn, twin, args, kwargs, namespace, method=None, answer=None):
    """Runs the call in the cloud function; falls back to the twin when it cannot.
    ``answer``, a dict, receives the raw response (for verify mode)."""
    stats.count_call(fn.key)
    try:
        text, encoder, named = request(fn, twin, args, kwargs, namespace, method)
    except wire.CannotTravel as exc:
        return _fallback(fn, twin, args, kwargs, exc.reason)
    response = send(fn, text)
    if "cache_miss" in response:  # a new worker: send the named runs in full
        text, encoder, named = request(fn, twin, args, kwargs, namespace, method, resend=True)
        response = send(fn, text)
    for segment in named:
        cache.remember_sent(fn, segment.key, segment.kept)
    if answer is not None:
        answer["response"] = response
    reason = response.get("fallback")
    if reason is not None:
        return _fallback(fn, twin, args, kwargs, reason)
    try:
        return finish(fn, response, encoder, namespace)
    except _Fallback as exc:
        return _fallback(fn, twin, args, kwargs, exc.reason)


class _Fallback(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _fallback(fn, twin, args, kwargs, reason):
    if twin is None:
        raise TypeError("cannot call cloud function %s: %s" % (fn.name, reason)) from None
    stats.count_fallback(fn.key, reason)
    return twin(*args, **kwargs)


def request(fn, twin, args, kwargs, namespace, method, resend=False):
    """The request's JSON text, the encoder (whose objects the answer refers to), and the
    large runs of records it names instead of sending (see cache.py)."""
    encoder = wire.Encoder()
    value = encoder.value
    records = encoder.records
    body = {}
    wire_args = []
    runs = []
    reused = []
    for index, arg in enumerate(args):
        start = len(records)
        segment = cache.segment_of(arg)
        if segment is not None and segment.start == start and id(arg) not in encoder.memo:
            _reuse(encoder, segment)  # received for a read-only parameter: not encoded again
            reused.append(segment)
            wire_args.append([start])
            continue
        ref = value(arg)
        wire_args.append(ref)
        if encoder.pending:
            _run(encoder, lambda: _argument_name(twin, index, method))
            if ref[0] == start:
                runs.append((start, len(records)))
    body["args"] = wire_args
    if kwargs:
        wire_kwargs = {}
        for name, arg in kwargs.items():
            wire_kwargs[name] = value(arg)
            if encoder.pending:
                _run(encoder, lambda: "argument %r" % name)
        body["kwargs"] = wire_kwargs
    wire_globals = None
    for name in fn.globals_read:
        item = namespace.get(name, _MISSING)
        if item is not _MISSING:
            if wire_globals is None:
                wire_globals = {}
            wire_globals[name] = value(item)
            if encoder.pending:
                _run(encoder, lambda: "global %r" % name)
    for name in fn.globals_written_only:
        item = namespace.get(name, _MISSING)
        if item is not _MISSING:
            encoded = _optional(encoder, item)  # only written: the old value is not needed
            if encoded is not _MISSING:
                if wire_globals is None:
                    wire_globals = {}
                wire_globals[name] = encoded
    if wire_globals:
        body["globals"] = wire_globals
    if twin is not None:
        _defaults(encoder, twin, body)
    if method is not None:
        body["method"] = method
    state = interp.snapshot()
    if state is not None:
        body["interp"] = state
    named = []
    if records:
        objs = records
        if runs or reused:
            named = reused + cache.large_runs(records, runs)
            objs = _name_runs(fn, body, records, named, resend)
        body["objs"] = objs
    text = transports.dumps(body)
    size = transports.utf8_size(text)
    if size > transports.MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            "cannot call cloud function %s: the request is %d bytes, over the %d-byte "
            "(6 MB) limit of a Lambda invocation; pass less data, e.g. a key of data "
            "stored elsewhere" % (fn.name, size, transports.MAX_PAYLOAD_BYTES)
        )
    return text, encoder, named


def _reuse(encoder, segment):
    start = segment.start
    memo = encoder.memo
    for offset, obj in enumerate(segment.objects):
        memo[id(obj)] = [start + offset]
    encoder.objects.extend(segment.objects)
    encoder.records.extend(segment.records)


def _name_runs(fn, body, records, named, resend):
    """The records to send: runs the function's workers have are left out (null) and
    named in "cached"; the others go in full, named in "cache_put"."""
    objs = list(records)
    cached = []
    put = []
    for segment in named:
        entry = [segment.start, len(segment.records), segment.key]
        segment.kept = True
        if not resend and cache.known_to(fn, segment.key):
            objs[segment.start:segment.start + len(segment.records)] = [None] * len(segment.records)
            cached.append(entry)
        elif segment.objects is not None or cache.worth_keeping(fn, segment.key):
            put.append(entry)
        else:
            segment.kept = False  # the first time: sent in full, not kept
    if cached:
        body["cached"] = cached
    if put:
        body["cache_put"] = put
    return objs


def _run(encoder, where):
    try:
        encoder.run()
    except wire.CannotTravel as exc:
        exc.reason = "%s is a %s object, which cannot travel: %s" % (where(), exc.type_name, exc.why)
        raise
    except RecursionError:  # a __reduce__ of the program's that recurses
        exc = wire.CannotTravel("value", "encoding it recursed too deeply")
        exc.reason = "%s cannot travel (it recursed too deeply)" % where()
        raise exc from None


def _optional(encoder, item):
    """Encodes ``item`` if it can travel, else leaves the encoder as it was."""
    mark = len(encoder.records)
    try:
        ref = encoder.value(item)
        encoder.run()
        return ref
    except (wire.CannotTravel, RecursionError):
        for obj in encoder.objects[mark:]:
            encoder.memo.pop(id(obj), None)
        del encoder.records[mark:]
        del encoder.objects[mark:]
        encoder.pending.clear()
        return _MISSING


def _defaults(encoder, twin, body):
    """Arguments are bound on the function's side; defaults that can change (a mutable
    default) are the caller's own objects, sent along so that they stay shared."""
    defaults = getattr(twin, "__defaults__", None)
    if defaults and not all(type(d) in _ATOMS for d in defaults):
        body["defaults"] = [encoder.value(d) for d in defaults]
        _run(encoder, lambda: "a default value")
    kwdefaults = getattr(twin, "__kwdefaults__", None)
    if kwdefaults and not all(type(d) in _ATOMS for d in kwdefaults.values()):
        body["kwdefaults"] = {k: encoder.value(d) for k, d in kwdefaults.items()}
        _run(encoder, lambda: "a default value")


def _argument_name(twin, index, method):
    code = getattr(twin, "__code__", None)
    if code is not None and index < code.co_argcount:
        return "argument %r" % code.co_varnames[index]
    return "argument %d" % (index + 1)


def send(fn, text):
    response = fn.transport.call(fn, text)
    if type(response) is not dict or not ("ret" in response or "error" in response
                                          or "fallback" in response or "cache_miss" in response):
        raise RemoteError("Lambada.InvalidResponse", "not a lambada response: %.200r" % (response,), fn.name)
    return response


_replay_lock = threading.Lock()


def finish(fn, response, encoder, namespace):
    """Rebuilds what came back, checks the write-back can be applied, replays output,
    writes back, and raises or returns the result."""
    records = response.get("objs")
    updates = response.get("updates")
    decoder = None
    planned = ()
    if records or updates or response.get("globals") or "error" in response or type(response.get("ret")) is list:
        decoder = wire.Decoder(records or [], namespace, encoder.objects)
        try:
            decoder.build_all()
            if updates:
                planned = plan_updates(updates, encoder.objects, decoder)
        except wire.CannotDecode as exc:
            if "error" in response:
                decoder = None  # the exception is rebuilt from its description below
            else:
                raise _Fallback("its result cannot be rebuilt here (%s)" % exc) from None
        except CannotWriteBack as exc:
            raise _Fallback(str(exc)) from None
    replay(response)
    if decoder is not None:
        try:
            apply_updates(planned, decoder)
        except CannotWriteBack as exc:  # found late: state is half applied, say so loudly
            raise RemoteError("Lambada.WriteBack", str(exc), fn.name) from None
        wire_globals = response.get("globals")
        if wire_globals:
            for name, v in wire_globals.items():
                namespace[name] = decoder.value(v)
    changed = response.get("interp")
    if changed:
        interp.apply(changed)
    error = response.get("error")
    if error is not None:
        raise rebuild_error(fn, error, decoder)
    ret = response.get("ret")
    if type(ret) is list:
        return decoder.value(ret)
    return ret


def replay(response):
    out = response.get("stdout")
    err = response.get("stderr")
    if out or err:
        # One replay at a time: concurrent writes to one TextIOWrapper can garble output,
        # and a call's output stays together.
        with _replay_lock:
            if out:
                sys.stdout.write(out)
            if err:
                sys.stderr.write(err)


def rebuild_error(fn, error, decoder):
    exc = None
    if decoder is not None and "exc" in error:
        try:
            exc = decoder.value(error["exc"])
        except wire.CannotDecode:
            exc = None
    if not isinstance(exc, BaseException):
        exc = errors.stand_in(error.get("module") or "builtins", error.get("type") or "Exception")(
            error.get("message") or "")
    text = error.get("traceback")
    if text and not isinstance(exc, (SystemExit, KeyboardInterrupt)):
        errors.remember(exc, fn.name, text)
    return exc
