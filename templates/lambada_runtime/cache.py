"""Content-addressed caching of large arguments, per warm worker.

A large argument travels as a contiguous run of records (see wire.py). When the run is
self-contained (nothing outside it refers into it, and it refers to nothing outside), the
caller names it by the SHA-256 of its records; a worker that has seen the run keeps it
(bounded, least recently used first), so the next call sends only the name. A worker
that does not have it (a new one) answers ``cache_miss`` and the caller sends the
records again: a cache is never needed for a correct answer.

Inside a cloud function, an argument that arrived this way for a read-only parameter is
known by its name: passed on unchanged to another invocation (recursion under
``--remote-calls all``), it is neither encoded nor sent again.
"""

import collections
import hashlib
import json
import threading

from . import wire

# Below this many items in a run's records, caching costs more than it saves.
MIN_ITEMS = 2048
# A worker keeps at most this many records (a cloud function may have 128 MB).
MAX_CACHED_RECORDS = 100_000

_store = collections.OrderedDict()  # key -> records of the run
# key -> objects decoded from a self-contained run received for a read-only parameter:
# the next call with the same run for a read-only parameter uses them as they are.
_decoded = {}
_store_size = 0
_store_lock = threading.Lock()
_local = threading.local()


class Segment:
    """A run of records ``records`` at ``start``, named ``key``; ``objects`` are the
    objects decoded from it on this side (for a run received for a read-only parameter)."""

    __slots__ = ("key", "start", "records", "objects", "kept")

    def __init__(self, key, start, records, objects=None):
        self.key = key
        self.start = start
        self.records = records
        self.objects = objects
        self.kept = False


def _size(records):
    n = 0
    for record in records:
        n += len(record)
        if len(record) > 1 and type(record[1]) is list:
            n += len(record[1])
    return n


def key_of(start, records):
    text = json.dumps([start, records], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def self_contained(records, start, end):
    """True when records[start:end] refer to nothing before ``start`` and nothing else
    refers into them (records before ``start`` cannot: they were made earlier)."""
    for n in range(start, end):
        for refs in (wire._constructor_refs(records[n]), wire._state_refs(records[n])):
            for v in refs:
                if type(v) is list and 0 <= v[0] < start:
                    return False
    for n in range(end, len(records)):
        for refs in (wire._constructor_refs(records[n]), wire._state_refs(records[n])):
            for v in refs:
                if type(v) is list and start <= v[0] < end:
                    return False
    return True


def large_runs(records, runs):
    """The runs (start, end) worth naming. A run the caller has just encoded need not be
    self-contained: its references are to positions in this very request, which the
    name covers (it hashes the position too)."""
    found = []
    for start, end in runs:
        if end - start and _size(records[start:end]) >= MIN_ITEMS:
            found.append(Segment(key_of(start, records[start:end]), start, records[start:end]))
    return found


# -- the caller's side: what a function's workers were sent ------------------------------


# Per cloud function: key -> 1 (sent once, in full, not kept), 2 (sent to be kept).
# A run is only offered for keeping the second time it is sent: one-off arguments (a list
# growing call after call) would only fill the workers' memory.


def known_to(fn, key):
    keys = getattr(fn, "cache_keys", None)
    return keys is not None and keys.get(key) == 2


def worth_keeping(fn, key):
    keys = getattr(fn, "cache_keys", None)
    return keys is not None and key in keys


def remember_sent(fn, key, kept):
    keys = getattr(fn, "cache_keys", None)
    if keys is None:
        keys = fn.cache_keys = collections.OrderedDict()
    keys[key] = 2 if kept else 1
    keys.move_to_end(key)
    while len(keys) > 256:
        keys.popitem(last=False)


# -- the worker's side --------------------------------------------------------------------


def fill(records, cached, put):
    """Puts the named runs in place in ``records``; returns the names it does not have."""
    global _store_size
    missing = []
    with _store_lock:
        for start, count, key in cached or ():
            run = _store.get(key)
            if run is None or len(run) != count:
                missing.append(key)
                continue
            _store.move_to_end(key)
            records[start:start + count] = run
        if missing:
            return missing
        for start, count, key in put or ():
            if key not in _store:
                _store[key] = records[start:start + count]
                _store_size += count
        while _store_size > MAX_CACHED_RECORDS and _store:
            old, run = _store.popitem(last=False)
            _decoded.pop(old, None)
            _store_size -= len(run)
    return missing


def decoded(key):
    return _decoded.get(key)


def keep_decoded(key, objects):
    with _store_lock:
        if key in _store:
            _decoded[key] = objects


def received(segments):
    """Registers, for this thread, runs received for read-only parameters (a list of
    Segment with objects), while the call runs; returns a token for ``done``."""
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    table = {id(s.objects[0]): s for s in segments}
    stack.append(table)
    return table


def done(token):
    _local.stack.remove(token)


def segment_of(obj):
    """The received run whose first object is ``obj``, or None."""
    stack = getattr(_local, "stack", None)
    if not stack:
        return None
    key = id(obj)
    for table in reversed(stack):
        segment = table.get(key)
        if segment is not None and segment.objects[0] is obj:
            return segment
    return None
