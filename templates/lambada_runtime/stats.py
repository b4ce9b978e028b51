"""Counts of what the rewritten program did: invocations per cloud function, calls that
ran locally through the twin (and why), verified calls and differences found.
``lambada run --stats`` reads them from the file named by LAMBADA_STATS_FILE, which the
driver's runtime writes when the program exits."""

import atexit
import json
import os
import threading

_lock = threading.Lock()
calls = {}
fallbacks = {}
verified = 0
differences = 0
_registered = False


def count_call(key):
    calls[key] = calls.get(key, 0) + 1


def count_fallback(key, reason):
    with _lock:
        entry = fallbacks.get(key)
        if entry is None:
            entry = fallbacks[key] = {"count": 0, "reasons": {}}
        entry["count"] += 1
        entry["reasons"][reason] = entry["reasons"].get(reason, 0) + 1
    if os.environ.get("LAMBADA_VERBOSE"):
        import sys

        sys.stderr.write("lambada: %s() ran locally: %s\n" % (key, reason))


def count_verified(difference):
    global verified, differences
    with _lock:
        verified += 1
        if difference:
            differences += 1


def register(is_driver):
    """Writes the counts at exit, from the driver's runtime only."""
    global _registered
    path = os.environ.get("LAMBADA_STATS_FILE")
    if path and is_driver and not _registered:
        _registered = True
        atexit.register(_write, path)


def _write(path):
    data = {"calls": calls, "fallbacks": fallbacks, "verified": verified, "differences": differences}
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass
