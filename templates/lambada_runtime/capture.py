"""Capturing what a cloud function prints, so that the caller writes it to its own
streams at the point of the call, in order."""

import codecs
import io
import os
import sys
import threading

IN_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))

class _Capture(io.TextIOBase):
    """What one cloud function writes to one stream. Inside a real Lambda it also goes on
    to the real stream (the function's log)."""

    _lambada_capture = True
    encoding = "utf-8"
    errors = "strict"

    def __init__(self, tee=None):
        self._parts = []
        self._tee = tee
        self._buffer = None

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        self._parts.append(text)
        if self._tee is not None:
            self._tee.write(text)
        return len(text)

    def flush(self):
        if self._tee is not None:
            self._tee.flush()

    def getvalue(self):
        return "".join(self._parts)

    @property
    def buffer(self):
        if self._buffer is None:
            self._buffer = _CaptureBuffer(self)
        return self._buffer


class _CaptureBuffer(io.RawIOBase):
    """``sys.stdout.buffer`` of a capture: bytes written are decoded as UTF-8."""

    def __init__(self, capture):
        self._capture = capture
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self):
        return True

    def write(self, data):
        self._capture.write(self._decoder.decode(bytes(data)))
        return len(data)


class _Router:
    """Stands in for sys.stdout / sys.stderr while a handler runs in this process: writes
    of a thread running a handler go to that handler's capture, others to the real stream."""

    _lambada_router = True

    def __init__(self, real, slot):
        self._real = real
        self._slot = slot

    def _target(self):
        stack = getattr(_local, "captures", None)
        return stack[-1][self._slot] if stack else self._real

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        return self._target().flush()

    def __getattr__(self, name):
        return getattr(self._target(), name)


_local = threading.local()
_capture_lock = threading.Lock()
_active_captures = 0
_routers = None


class _Captured:
    __slots__ = ("out", "err", "tee")


def begin():
    global _active_captures, _routers
    with _capture_lock:
        routers = _routers
        if routers is None or sys.stdout is not routers[0] or sys.stderr is not routers[1]:
            routers = _routers = (_Router(sys.stdout, 0), _Router(sys.stderr, 1))
            sys.stdout, sys.stderr = routers
        _active_captures += 1
    stack = getattr(_local, "captures", None)
    if stack is None:
        stack = _local.captures = []
    real_out, real_err = routers[0]._real, routers[1]._real
    # Tee only from the outermost capture, to a stream that is not itself capturing:
    # output of nested calls reaches it when their caller replays it.
    captured = _Captured()
    captured.tee = tee = IN_LAMBDA and not stack and not is_capturing(real_out)
    captured.out = _Capture(real_out if tee else None)
    captured.err = _Capture(real_err if tee else None)
    stack.append((captured.out, captured.err))
    return captured


def is_capturing(stream):
    return getattr(stream, "_lambada_capture", False) or getattr(stream, "_lambada_router", False)


def end(captured):
    global _active_captures, _routers
    stack = _local.captures
    stack.pop()
    with _capture_lock:
        _active_captures -= 1
        if _active_captures == 0 and _routers is not None:
            if sys.stdout is _routers[0]:
                sys.stdout = _routers[0]._real
            if sys.stderr is _routers[1]:
                sys.stderr = _routers[1]._real
            _routers = None
    return captured.out.getvalue(), captured.err.getvalue()


