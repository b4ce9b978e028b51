"""Errors: the platform's (RemoteError), and the function's own exceptions, which are
raised in the caller as themselves with nothing added. The remote traceback is kept
beside the exception (``remote_traceback(exc)``) and printed by an excepthook, after the
local one, when the exception escapes the program."""

import json
import os
import sys
import threading
import traceback


class RemoteError(Exception):
    """The platform could not run a cloud function: timeout (Sandbox.Timedout), out of
    memory (Runtime.OutOfMemory), import error (Runtime.ImportModuleError), an HTTP error
    of the Invoke API, an unreachable endpoint, or an answer that is not a lambada
    response. Exceptions raised by the function's own code are re-raised as themselves."""

    def __init__(self, error_type, message, function=None):
        super().__init__(error_type, message, function)
        self.error_type = error_type
        self.message = message
        self.function = function

    def __str__(self):
        where = "cloud function %s" % self.function if self.function else "cloud function"
        return "%s failed: %s: %s" % (where, self.error_type, self.message)


class PayloadTooLargeError(ValueError):
    """A request over the 6 MB limit of a synchronous invocation; nothing was sent."""


MAX_TRACEBACK_CHARS = 64 * 1024  # nested remote calls nest their tracebacks; keep it bounded


def safe_str(exc):
    try:
        return str(exc)
    except Exception:
        return "<%s; str() failed>" % type(exc).__name__


def read_line_map(handler_file):
    """The line map beside a package's handler module (lambada_lines.json, written by the
    compiler): (handler file, program file name, [[handler line, program line, count]])."""
    if not handler_file:
        return None
    path = os.path.join(os.path.dirname(handler_file), "lambada_lines.json")
    try:
        with open(path, encoding="utf-8") as f:
            found = json.load(f)
        return handler_file, found["file"], [tuple(run) for run in found["lines"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _map_frames(stack, line_map):
    """Frames of the handler module renamed to the program's file and line: the code there
    is the program's, copied verbatim."""
    handler_file, program_file, runs = line_map
    for i, frame in enumerate(stack):
        if frame.filename != handler_file:
            continue
        for first, program_line, count in runs:
            if first <= frame.lineno < first + count:
                stack[i] = traceback.FrameSummary(program_file, program_line + frame.lineno - first,
                                                  frame.name, lookup_line=False, line=frame.line)
                break


def _map_exception(te, line_map):
    seen = set()
    pending = [te]
    while pending:
        te = pending.pop()
        if te is None or id(te) in seen:
            continue
        seen.add(id(te))
        _map_frames(te.stack, line_map)
        pending.extend([te.__cause__, te.__context__] + list(getattr(te, "exceptions", None) or ()))


def format_remote(exc, skip_file, line_map=None):
    """The traceback of an exception raised by the function, without the runtime's frames,
    with the handler module's lines named as the program's (``line_map``)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(skip_file):
        tb = tb.tb_next
    try:
        described = traceback.TracebackException(type(exc), exc, tb)
        if line_map is not None:
            _map_exception(described, line_map)
        text = "".join(described.format())
    except Exception:
        text = "%s: %s\n" % (type(exc).__name__, safe_str(exc))
    if len(text) > MAX_TRACEBACK_CHARS:
        half = MAX_TRACEBACK_CHARS // 2
        left_out = len(text) - 2 * half
        text = "%s\n  ... (%d characters left out) ...\n%s" % (text[:half], left_out, text[-half:])
    return text


# -- the remote traceback of exceptions raised here ----------------------------------------
# Kept by identity (exceptions take no weak references), for the last exceptions only.

_KEEP = 256
_remote = {}
_remote_lock = threading.Lock()
_hook_installed = False


def remember(exc, function, text):
    global _hook_installed
    with _remote_lock:
        _remote[id(exc)] = (exc, function, text)
        while len(_remote) > _KEEP:
            del _remote[next(iter(_remote))]
        if not _hook_installed:
            _install_hook()
            _hook_installed = True


def remote_traceback(exc):
    """The traceback the exception had in the cloud function that raised it, or None."""
    found = _remote.get(id(exc))
    if found is not None and found[0] is exc:
        return found[2]
    return None


def _remote_of_chain(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        found = _remote.get(id(exc))
        if found is not None and found[0] is exc:
            return found
        exc = exc.__cause__ or exc.__context__
    return None


def _install_hook():
    previous = sys.excepthook

    def excepthook(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        found = _remote_of_chain(exc)
        if found is not None and not isinstance(exc, (SystemExit, KeyboardInterrupt)):
            _, function, text = found
            try:
                sys.stderr.write("\nThe exception above was raised in cloud function %s; its "
                                 "traceback there:\n%s" % (function, text))
                if not text.endswith("\n"):
                    sys.stderr.write("\n")
                sys.stderr.flush()
            except Exception:
                pass

    excepthook._lambada_previous = previous
    sys.excepthook = excepthook


_stand_in_classes = {}


def stand_in(module_name, qualname):
    """A class for an exception whose class this side does not have (a library installed
    only remotely): the same name and module keep the printed "module.Name: message"."""
    key = (module_name, qualname)
    cls = _stand_in_classes.get(key)
    if cls is None:
        name = qualname.rpartition(".")[2]
        cls = _stand_in_classes[key] = type(name, (Exception,), {"__module__": module_name,
                                                                  "__qualname__": qualname})
    return cls
