"""Errors: the platform's (RemoteError), and the function's own exceptions, which are
raised in the caller as themselves with nothing added. The remote traceback is kept
beside the exception (``remote_traceback(exc)``) and printed by an excepthook, after the
local one, when the exception escapes the program."""

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


def format_remote(exc, skip_file):
    """The traceback of an exception raised by the function, without the runtime's frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(skip_file):
        tb = tb.tb_next
    try:
        text = "".join(traceback.format_exception(type(exc), exc, tb))
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
