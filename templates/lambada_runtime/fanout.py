"""Parallel fan-out: the calls of one cloud function over the items of an iterable,
invoked concurrently with a bound, and delivered exactly as the sequential calls
would have been.

The compiler rewrites ``map(f, xs)``, ``list(map(f, xs))``, ``sum(...)`` of them and
``[f(x) for x in xs]`` into ``fanout(f, xs[, eager])`` when ``f`` is a moved function
whose calls are independent: it writes no global and no module object, and only reads
its arguments. Programs may also call ``lambada_runtime.map(f, xs)`` themselves.

What stays exactly as in the original:

- results come back in the order of the items;
- each call's output (and that of the iterable, when it is a generator whose items are
  taken ahead) is replayed in call order, when the call's result is taken;
- the first exception in program order is raised when its result would have been taken,
  and no output of a later call is shown;
- laziness: a lazy ``map`` (one not consumed at once by ``list``, ``sum``...) takes
  items ahead only from lists, tuples, ranges and other containers, whose iteration does
  nothing, and only for functions that read no global the loop could change meanwhile;
  otherwise it is the plain sequential ``map``.

Requests are built and results finished in the calling thread, in order; only the
network exchange runs in worker threads. The in-process transport runs calls one after
another (the functions share this interpreter's output streams).
"""

import builtins
import collections
import io
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from . import caller, stats, transports, wire

DEFAULT_FANOUT = 64

# Containers whose iteration runs no code of the program's.
_QUIET = (list, tuple, range, str, bytes, bytearray, dict, set, frozenset,
          type({}.keys()), type({}.values()), type({}.items()))


def bound():
    """Concurrent invocations at most: LAMBADA_FANOUT, else the manifest's ``fanout``."""
    value = os.environ.get("LAMBADA_FANOUT") or transports.manifest().get("fanout") or DEFAULT_FANOUT
    try:
        return max(1, int(value))
    except ValueError:
        return DEFAULT_FANOUT


def fanout(f, iterable, eager=False):
    """``map(f, iterable)``, its calls of cloud function ``f`` invoked concurrently when
    that cannot be told apart from the sequential calls (see the module docstring)."""
    key = getattr(f, "_lambada_key", None)
    if key is None or caller.VERIFY:
        return builtins.map(f, iterable)
    fn = transports._functions.get(key) or transports.function(key)
    width = bound()
    quiet = type(iterable) in _QUIET
    if width < 2 or isinstance(fn.transport, transports.InProcessTransport):
        return builtins.map(f, iterable)
    if not eager and (not quiet or fn.globals_read):
        return builtins.map(f, iterable)
    return _Calls(fn, f, iter(iterable), width, capture_items=not quiet)


def map(f, *iterables):  # noqa: A001 - the public name is the point
    """``map`` whose calls of a cloud function run concurrently; the plain ``map`` for
    anything else. Consumes its input ahead, like ``list(map(...))``: use it where the
    whole result is wanted."""
    if len(iterables) != 1:
        return builtins.map(f, *iterables)
    return fanout(f, iterables[0], eager=True)


class _Calls:
    """The iterator of a fan-out: a window of at most ``width`` calls in flight."""

    def __init__(self, fn, stub, items, width, capture_items):
        self._fn = fn
        self._stub = stub
        self._twin = getattr(stub, "_lambada_twin", None)
        self._namespace = getattr(stub, "_lambada_namespace", None) or {}
        self._items = items
        self._width = width
        self._capture = capture_items
        self._window = collections.deque()
        self._pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="lambada-fanout")
        self._done = False

    def __iter__(self):
        return self

    def __next__(self):
        self._fill()
        if not self._window:
            self._close()
            raise StopIteration
        job = self._window.popleft()
        try:
            return job.finish()
        except BaseException:
            self._close()
            raise

    def _fill(self):
        while not self._done and len(self._window) < self._width:
            job = _Job(self)
            if not job.take_item():
                self._done = True
                if job.raised is not None or job.printed:
                    # The iterable's own end or error, in its place: what it printed
                    # meanwhile is shown after the calls before it.
                    job.end = True
                    self._window.append(job)
                return
            self._window.append(job)

    def _close(self):
        self._done = True
        for job in self._window:
            if job.future is not None:
                job.future.cancel()
        self._window.clear()
        self._pool.shutdown(wait=False)


class _Job:
    """One call: its item, what taking the item printed, the request in flight."""

    __slots__ = ("calls", "item", "printed", "raised", "future", "encoder", "named", "local", "end")

    def __init__(self, calls):
        self.calls = calls
        self.item = None
        self.printed = None
        self.raised = None
        self.future = None
        self.encoder = None
        self.named = ()
        self.local = None
        self.end = False

    def take_item(self):
        """Takes the next item (capturing what a generator prints meanwhile) and sends
        its call. False when the iterable is exhausted or raised."""
        calls = self.calls
        try:
            if calls._capture:
                self.item, self.printed = _captured(calls._items)
            else:
                self.item = next(calls._items)
        except StopIteration as stop:
            self.printed = getattr(stop, "lambada_printed", None)
            return False
        except BaseException as exc:
            self.raised = exc
            self.printed = getattr(exc, "lambada_printed", None)
            return False
        fn = calls._fn
        stats.count_call(fn.key)
        try:
            text, self.encoder, self.named = caller.request(
                fn, calls._twin, (self.item,), {}, calls._namespace, None)
        except wire.CannotTravel as exc:
            self.local = exc.reason  # runs through the twin, in its turn
            return True
        self.future = calls._pool.submit(caller.send, fn, text)
        return True

    def finish(self):
        """The call's result, in program order: output replayed, state written back."""
        if self.printed:
            _replay_text(self.printed)
        if self.raised is not None:
            raise self.raised
        if self.end:
            raise StopIteration
        calls = self.calls
        fn, twin, namespace = calls._fn, calls._twin, calls._namespace
        if self.local is not None:
            return caller._fallback(fn, twin, (self.item,), {}, self.local)
        response = self.future.result()
        if "cache_miss" in response:  # a new worker: send the named runs in full
            text, self.encoder, self.named = caller.request(
                fn, twin, (self.item,), {}, namespace, None, resend=True)
            response = caller.send(fn, text)
        for segment in self.named:
            caller.cache.remember_sent(fn, segment.key, segment.kept)
        reason = response.get("fallback")
        if reason is not None:
            return caller._fallback(fn, twin, (self.item,), {}, reason)
        try:
            return caller.finish(fn, response, self.encoder, namespace)
        except caller._Fallback as exc:
            return caller._fallback(fn, twin, (self.item,), {}, exc.reason)


def _captured(items):
    """next(items), with what it wrote to stdout and stderr kept, in order, to be shown
    when its call's result is taken."""
    out, err = sys.stdout, sys.stderr
    buffer = _Recorder()
    sys.stdout, sys.stderr = buffer.stream("stdout"), buffer.stream("stderr")
    try:
        item = next(items)
    except BaseException as exc:
        exc.lambada_printed = buffer.parts
        raise
    finally:
        sys.stdout, sys.stderr = out, err
    return item, buffer.parts


class _Recorder:
    def __init__(self):
        self.parts = []

    def stream(self, name):
        recorder = self

        class _Stream(io.TextIOBase):
            def write(self, text):
                recorder.parts.append((name, text))
                return len(text)

        return _Stream()


def _replay_text(parts):
    with caller._replay_lock:
        for name, text in parts:
            getattr(sys, name).write(text)
