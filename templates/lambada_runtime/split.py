"""Stateful splitting (issue 13): a moved function that reads stdin runs in the cloud in
segments, and each read runs here, in the driver, where the user is.

The compiler makes the package's copy of the function resumable (see src/rewrite/split.rs
in the lambada sources): at its N-th read it returns ``Suspend(N, kind, args, locals)``
instead of reading. The driver's stub (``cloud_split``) then does the read itself (an
``input(prompt)`` prints the prompt here, after the output the segment printed, which the
caller already replayed), and invokes the function again with ``method: "resume"`` and
the arguments ``[N, locals, outcome]``: the function restores its locals, re-enters its
loops and branches down to point N without running again what ran before, and
continues with the value read (or raises what the read raised, EOFError at the end of
input, at the read). Until it returns.

The locals travel as the result of one invocation and the argument of the next, through
the same object-graph protocol as arguments: shared objects, the caller's objects
(written back in place) and cycles keep their identity; a local that cannot travel (an
open file, a generator) fails loudly at that read, never silently.

A moved generator is the exception to that last rule: the driver keeps a copy of its
resumable version (``resumable_here``), and a segment whose state cannot travel back (a
set whose iteration order comes from its history), or whose outcome cannot travel there
(a value sent in that cannot), runs here instead, from the last state that travelled,
and the generator goes on here. That is exact: the cloud's run of that segment is
dropped whole (its output is not replayed, nothing is written back), and the state it
starts from is the one the cloud would have started from. A first segment that cannot
travel falls back to the original generator, as any call does."""

import atexit
import copy
import inspect
import sys
import threading
import weakref

from . import caller, transports

_pending = threading.local()

# The names the resumable function uses for itself, never carried.
_CONTROL = frozenset(("_lambada_pt", "_lambada_l", "_lambada_v", "_lambada_sus"))


class Suspend:
    """What a segment returns at a suspension point: the point, what to read there
    (``kind`` and the read's arguments, such as the prompt) and the live locals."""

    _lambada_suspend = True

    def __init__(self, point, kind, args, frame_locals):
        self.point = point
        self.kind = kind
        self.args = args
        self.locals = frame_locals

    def __repr__(self):
        return "Suspend(%d, %s%r)" % (self.point, self.kind, self.args)


# ---------------------------------------------------------------------------------------
# The function's side (used by the resumable function and the handler)


def suspend(point, kind, args, frame_locals):
    return Suspend(point, kind, args,
                   {k: v for k, v in frame_locals.items() if k not in _CONTROL})


class Held:
    """The context manager of a ``with`` around a suspension point (one of the
    compiler's ``CARRIED_MANAGERS``, whose enter and exit touch nothing but the manager):
    entered once, when the ``with`` is first reached; exited once, when the block is
    really left, never when the function returns a suspension. It travels with the
    locals (``_lambada_cm_N``), the manager inside it. As ``with`` does, it looks up
    ``__exit__`` and ``__enter__`` on the manager's type."""

    def __init__(self, manager):
        kind = type(manager)
        if not (hasattr(kind, "__enter__") and hasattr(kind, "__exit__")):
            raise TypeError("'%s' object does not support the context manager protocol"
                            % kind.__name__)
        self.manager = manager
        self.entered = False
        self.value = None

    def __enter__(self):
        if not self.entered:
            self.value = type(self.manager).__enter__(self.manager)
            self.entered = True
        return self.value

    def __exit__(self, exc_type, exc, tb):
        # Called from the resumable function's own frame: it is returning a suspension
        # when its ``_lambada_sus`` holds one (``return _lambada_sus``).
        if exc_type is None and sys._getframe(1).f_locals.get("_lambada_sus") is not None:
            return False
        return type(self.manager).__exit__(self.manager, exc_type, exc, tb)


def call_args(name):
    """At a call of another function that reads stdin: a function taking the call's
    arguments, which gives (name, args, kwargs) for the driver to make the call with."""
    def arguments(*args, **kwargs):
        return (name, args, kwargs)
    return arguments


def take():
    """(point, locals, outcome) when this call resumes a suspended one, else (0, None,
    None). Taken once: a call the function makes of itself starts from the beginning."""
    state = getattr(_pending, "state", None)
    if state is None:
        return 0, None, None
    _pending.state = None
    return state


def received(outcome):
    """The value the driver read, or the exception the read raised, raised here."""
    kind, value = outcome
    if kind == "raise":
        raise value
    return value  # None for "stop": the end of a `for` over sys.stdin


def loop(iterator, current, skip):
    """The iterable of a ``for`` loop holding points. Resuming inside its body, the item
    being processed is ``current[0]`` (already bound, given again so the loop enters its
    body without taking the next one); resuming in its ``else``, the loop is over."""
    if skip:
        return
    if current is not None:
        yield current[0]
    for item in iterator:  # not ``yield from``: a break must not close the iterator
        yield item


def resume(fn, point, frame_locals, outcome):
    """Calls the resumable function ``fn`` so that it continues at ``point``."""
    # The iterators of the function's own loops (``_lambada_it_N``) are private: it
    # continues with copies (over the very same sequences), so the driver's copies,
    # which cannot change state in place, are not written back to; the next Suspend
    # carries the advanced ones.
    frame_locals = dict(frame_locals)
    for name, value in frame_locals.items():
        if name.startswith("_lambada_it_"):
            frame_locals[name] = copy.copy(value)
    return _continue(fn, point, frame_locals, outcome)


def _continue(fn, point, frame_locals, outcome):
    """Calls the resumable function ``fn`` so that it continues at ``point`` with the
    very objects of ``frame_locals``."""
    _pending.state = (point, frame_locals, outcome)
    try:
        return _call_with(fn, frame_locals)
    finally:
        _pending.state = None


def _call_with(fn, frame_locals):
    """Calls ``fn`` with its parameters bound to their values in ``frame_locals`` (the
    function then restores every local, parameters included, by identity)."""
    code = fn.__code__
    names = code.co_varnames
    positional = code.co_argcount
    keyword = code.co_kwonlyargcount
    args = [frame_locals.get(name) for name in names[:positional]]
    kwargs = {name: frame_locals.get(name) for name in names[positional:positional + keyword]}
    index = positional + keyword
    if code.co_flags & 0x04:  # CO_VARARGS
        args.extend(frame_locals.get(names[index]) or ())
        index += 1
    if code.co_flags & 0x08:  # CO_VARKEYWORDS
        kwargs.update(frame_locals.get(names[index]) or {})
    return fn(*args, **kwargs)


# ---------------------------------------------------------------------------------------
# The driver's side


def cloud_split(key, namespace):
    """``@_lambada.cloud_split("f", globals())`` above a moved function that reads stdin:
    calls run its segments in cloud function ``key`` and its reads here. The function
    stays as the local twin, which runs a call whose first segment cannot travel (after
    that, a segment that cannot travel is an error: the earlier ones have run)."""
    def decorate(twin):
        def stub(*args, **kwargs):
            fn = transports._functions.get(key) or transports.function(key)
            result = caller.remote(fn, twin, args, kwargs, namespace)
            while _is_suspend(result):
                result = _resume(fn, namespace, result, _read(result, namespace))
            return result

        def generator_stub(*args, **kwargs):
            generator = _generator(key, twin, args, kwargs, namespace)
            _live.add(generator)
            return generator

        if inspect.isgeneratorfunction(twin):
            caller._wraps(generator_stub, twin)
            return generator_stub
        caller._wraps(stub, twin)
        return stub

    return decorate


# The driver's generators still open: the program's exit closes them while the runtime
# can still invoke (a generator left open is closed when it is collected, and at the
# interpreter's shutdown that would be too late to resume it in the cloud).
_live = weakref.WeakSet()


@atexit.register
def _close_live():
    for generator in list(_live):
        try:
            generator.close()
        except Exception:  # as at the interpreter's shutdown, where it would be ignored
            pass


def _is_suspend(result):
    return getattr(type(result), "_lambada_suspend", False)


def _resume(fn, namespace, suspended, outcome):
    return caller.remote(fn, None, (suspended.point, suspended.locals, outcome), {},
                         namespace, "resume")


# The resumable versions of the moved generators, as the driver defines them (below
# each generator's own definition): the segments that cannot travel run them here.
_here = {}


def resumable_here(key, namespace):
    """``@_lambada.split.resumable_here("gen", globals())`` above the driver's copy of
    the resumable version of moved generator ``gen``: kept for the segments that cannot
    travel. It binds nothing new: the name keeps what it held (the stub, or what the
    program's decorators made of it)."""
    def decorate(resumable):
        _here[key] = resumable
        return namespace[key]

    return decorate


def _generator(key, twin, args, kwargs, namespace):
    """The driver's side of a moved generator: a generator here whose every step resumes
    the function in the cloud. ``next()`` and ``send(v)`` resume it with the value of the
    ``yield`` it stopped at; ``throw(exc)`` and ``close()`` (GeneratorExit) resume it with
    the exception raised there, so its ``except`` and ``finally`` blocks run in the cloud as
    they would have run here. Like any generator, nothing runs before the first ``next()``."""
    fn = transports._functions.get(key) or transports.function(key)
    result = caller.remote(fn, twin, args, kwargs, namespace)
    if inspect.isgenerator(result):  # the call ran through the local twin
        return (yield from result)
    running_here = False

    def segment_here(point, frame_locals, outcome):
        # The cloud could not take this segment (its state or outcome cannot travel):
        # it runs here, from the state it would have started from, and so do the next
        # (with the very objects of its locals: nothing else holds them).
        nonlocal running_here
        running_here = True
        return _continue(_here[key], point, frame_locals, outcome)

    while _is_suspend(result):
        if result.kind != "yield":
            outcome = _read(result, namespace)
        else:
            try:
                outcome = ("value", (yield result.args[0]))
            except BaseException as exc:  # throw() and close(): raised at the yield there
                outcome = ("raise", exc)
        if running_here:
            result = _continue(_here[key], result.point, result.locals, outcome)
        else:
            fallback = segment_here if key in _here else None
            result = caller.remote(fn, fallback, (result.point, result.locals, outcome), {},
                                   namespace, "resume")
    return result


def _read(suspended, namespace):
    """Does the read the segment stopped at, here: ("value", what was read) or
    ("raise", the exception the read raised). A "call" calls the program's function
    of that name here (its stub, which does its own reads here), with the arguments the
    segment evaluated: its value, or the exception it raised, goes back to the caller's
    segment at the call."""
    args = suspended.args
    kind = suspended.kind
    try:
        if kind == "call":
            name, positional, keywords = args
            value = namespace[name](*positional, **keywords)
        elif kind == "input":
            value = input(*args)
        elif kind == "readline":
            value = sys.stdin.readline(*args)
        elif kind == "read":
            value = sys.stdin.read(*args)
        elif kind == "readlines":
            value = sys.stdin.readlines(*args)
        elif kind == "line":  # a step of `for line in sys.stdin`
            value = next(sys.stdin, None)
            if value is None:
                return ("stop", None)
        else:
            raise RuntimeError("lambada: unknown read %r" % kind)
    except (Exception, KeyboardInterrupt) as exc:
        return ("raise", exc)
    return ("value", value)
