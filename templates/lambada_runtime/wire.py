"""The object-graph codec: Python values to JSON-ready records and back.

One call is one identity scope. Every object reachable from what is sent gets a number,
the index of its *record*; a value that refers to an object is a one-item list ``[n]``.
Shared objects, aliasing between arguments and globals, and cycles are references to
one record, so they arrive as one object. An answer refers to the objects the caller
sent as ``[~k]`` (negative numbers): those are the caller's own objects.

Encoding and decoding are iterative (a work list, not recursion), so a linked list of a
million nodes travels as well as a short one. How an object is taken apart and rebuilt
follows pickle's own protocol (``copyreg`` and ``__reduce_ex__``), so every type pickle
supports travels with pickle's meaning; pickle itself is not used because it recurses
(a deep graph raises RecursionError) and numbers nothing the two sides could share.

Inline values: None, bool, str up to 256 characters, ints within 64 bits, finite floats.
Records (the first item names the kind):
    ["L", [v...]] list      ["T", [v...]] tuple     ["D", [k, v, ...]] dict
    ["S", [v...]] set       ["Z", [v...]] frozenset
    ["B", b64] bytes        ["Y", b64] bytearray    ["s", text] a longer str
    ["i", hex] a big int    ["F", "nan"] a non-finite float   ["C", re, im] complex
    ["G", module, qualname] a class or function by reference   ["M", name] a module
    ["W", ...] a function of the program by value: code, defaults, closure, and the
               current values of the globals its code reads (see _function_record)
    ["E", v] / ["E"] a closure cell, full or empty
    ["X", cls, [args], [attrs], cause, context, suppress] an exception
    ["o", cls, name, v, name, v...] an instance with only a __dict__ (copyreg.__newobj__)
    ["O", cls, newargs, state, listitems, dictitems] any other instance (__newobj__)
    ["R", func, [args], state, listitems, dictitems] anything else __reduce_ex__ gives
    state: null, ["d", [k, v, ...]] (a __dict__), ["ds", [k, v...] | null, [k, v, ...]]
           (__dict__ and __slots__), or ["v", v] (for __setstate__)
"""

import base64
import builtins
import copyreg
import io
import marshal
from math import isfinite as _isfinite
import sys
import types

INT_LIMIT = 1 << 63
LONG_STR = 256  # longer strings get a record: sent once however often they are referenced
PYTHON = "%d.%d" % sys.version_info[:2]

_FunctionType = types.FunctionType
_CellType = types.CellType
_ModuleType = types.ModuleType
_INF = float("inf")

# Kinds whose objects can change in place: only these are compared after a call.
MUTABLE_KINDS = frozenset("LDSYoORE")
# Kinds without references to other objects: compared by content, never by identity.
LEAF_KINDS = frozenset(("B", "s", "i", "F", "C"))


class CannotTravel(TypeError):
    """A value that cannot leave this process (an open file, a lock, a generator...)."""

    def __init__(self, type_name, why):
        super().__init__("%s object: %s" % (type_name, why))
        self.type_name = type_name
        self.why = why


class CannotDecode(Exception):
    """A record the receiving side cannot rebuild (a class it does not have, code of
    another Python version). Nothing has run yet when the request is refused for this."""


# ---------------------------------------------------------------------------------------
# What never travels: objects tied to this process. Their state would split in two, so a
# call that needs one runs locally through the twin instead.

_GENERATOR_TYPES = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)


def _process_bound_type(t):
    """Why objects of type ``t`` cannot travel, or None. Checked before __reduce_ex__,
    which would accept some of them and lose what matters (a logger's handlers, what the
    caller reads from a StringIO afterwards)."""
    if issubclass(t, io.IOBase):
        return "an open file or stream belongs to this process"
    if issubclass(t, _GENERATOR_TYPES):
        return "a running generator or coroutine cannot be moved"
    module = t.__module__
    if any(_is_asyncio(c.__module__) for c in t.__mro__):
        return "asyncio objects (queues, events, locks, futures, tasks) belong to this process's event loop"
    if module == "logging" or module.startswith("logging."):
        return "a logger or handler writes to this process's streams and files"
    if module in ("socket", "_socket", "ssl", "select", "selectors", "_thread", "threading",
                  "multiprocessing.synchronize", "queue", "subprocess", "sqlite3", "mmap"):
        return "%s objects belong to this process" % module
    return None


def _set_history(obj, order):
    """Why a copy of set ``obj`` (rebuilt by adding ``order``, its items as it iterates
    them) would not behave as ``obj`` does, or None.

    A set's iteration order depends on the slots its items took, and a removed item
    leaves a marker in its slot that later additions probe past or reuse: a set that
    lost items carries its history, which changes where items it gains go, hence the
    order the program sees (the permutations of a backtracking search, say). A copy has
    no history: only a set without removal markers, whose copy takes the same slots in a
    table of the same size, travels."""
    global _set_fill
    if _set_fill is _UNREAD:  # ctypes is imported when a set first travels, not at start
        _set_fill = _cpython_set_fill()
    if _set_fill is not None and _set_fill(obj) != len(order):
        return "it lost items, which left marks in its table that decide where new items go and so the order it iterates in; a copy cannot reproduce them"
    if len(order) > 1:
        copy = set()
        copy.update(order)
        if list(copy) != order or sys.getsizeof(copy) != sys.getsizeof(obj):
            return "its iteration order comes from how its table grew, which a copy cannot reproduce"
    return None


def _cpython_set_fill():
    """The slots in use of a CPython set, removal markers included (``fill``, the field
    after the object header in PySetObject), or None elsewhere."""
    if sys.implementation.name != "cpython":
        return None
    import ctypes

    offset = object.__basicsize__  # refcount and type
    read = ctypes.c_ssize_t.from_address

    def fill(s):
        return read(id(s) + offset).value

    probe = {1, 2, 3}
    if fill(probe) != 3:
        return None
    probe.discard(2)
    if fill(probe) != 3:  # a marker took 2's place: the layout is the one described
        return None
    return fill


_UNREAD = object()
_set_fill = _UNREAD
def _is_asyncio(module):
    return module in ("asyncio", "_asyncio") or module.startswith("asyncio.")


# ---------------------------------------------------------------------------------------
# Encoding


class Encoder:
    """Numbers objects as it meets them and builds their records from a work list.

    ``known`` maps id(object) to the reference the other side already has for it (an
    answer's references to the caller's objects)."""

    __slots__ = ("records", "objects", "memo", "known", "pending", "passthrough")

    def __init__(self, known=None, passthrough=False):
        self.records = []
        self.objects = []  # keeps every numbered object alive: ids stay unique
        self.memo = {}
        self.known = known
        self.pending = []
        # Copies within this process (verify mode): functions, classes and modules are
        # the same objects on both sides and are kept by identity.
        self.passthrough = passthrough

    def value(self, obj):
        """The inline value of ``obj``: itself, or a reference to its record."""
        t = type(obj)
        if t is str:
            if len(obj) <= LONG_STR:
                return obj
        elif t is int:
            if -INT_LIMIT <= obj < INT_LIMIT:
                return obj
        elif t is float:
            if obj == obj and obj != _INF and obj != -_INF:
                return obj
        elif obj is None or t is bool:
            return obj
        key = id(obj)
        ref = self.memo.get(key)
        if ref is not None:
            return ref
        known = self.known
        if known is not None:
            ref = known.get(key)
            if ref is not None:
                return ref
        n = len(self.records)
        ref = self.memo[key] = [n]
        self.objects.append(obj)
        leaf = _leaf_record(obj, t)
        self.records.append(leaf)
        if leaf is None:
            self.pending.append(n)
        return ref

    def run(self):
        """Builds every record still pending (each may add more)."""
        pending = self.pending
        records = self.records
        objects = self.objects
        while pending:
            n = pending.pop()
            if records[n] is None:  # not built early (see built)
                records[n] = self.record(objects[n])

    def built(self, n):
        """Record ``n``, built now if it is still pending."""
        record = self.records[n]
        if record is None:
            record = self.records[n] = self.record(self.objects[n])
        return record

    def record(self, obj):
        t = type(obj)
        build = _BUILDERS.get(t)
        if build is not None:
            return build(self, obj)
        plan = _plans.get(t)
        if plan is None:
            plan = _plans[t] = _plan_for(t)
        if plan is _PLAIN:
            v = self.value
            record = ["o", v(t)]
            append = record.append
            for key, item in obj.__dict__.items():
                append(v(key))
                append(v(item))
            return record
        if plan is _SLOTTED:
            v = self.value
            attrs = getattr(obj, "__dict__", None)
            slots = []
            for name in _slot_names(t):
                item = getattr(obj, name, _UNSET)
                if item is not _UNSET:
                    slots.append(name)
                    slots.append(v(item))
            return ["O", v(t), None, ["ds", _flat(attrs, v) if attrs else None, slots], None, None]
        if plan is _REDUCE:
            return self._reduced(obj, t)
        if plan is _BY_REFERENCE:
            return self._by_reference(obj)
        if plan is _EXCEPTION:
            return self._exception(obj)
        if plan is _BUILTIN_FUNCTION:
            if obj.__self__ is None or type(obj.__self__) is _ModuleType:
                return self._by_reference(obj)  # len, math.sqrt; not [].append
            return self._reduced(obj, t)
        raise CannotTravel(t.__name__, plan)  # the plan is why it cannot

    def _list(self, obj):
        if _inline_items(obj):
            return ["L", list(obj)]
        v = self.value
        return ["L", [v(x) for x in obj]]

    def _dict(self, obj):
        v = self.value
        flat = []
        append = flat.append
        for key, item in obj.items():
            append(v(key))
            append(v(item))
        return ["D", flat]

    def _tuple(self, obj):
        if _inline_items(obj):
            return ["T", list(obj)]
        v = self.value
        return ["T", [v(x) for x in obj]]

    def _set(self, obj):
        order = list(obj)
        why = _set_history(obj, order)
        if why is not None:
            raise CannotTravel("set", why)
        v = self.value
        return ["S", [v(x) for x in order]]

    def _frozenset(self, obj):
        v = self.value
        return ["Z", [v(x) for x in obj]]

    def _cell(self, obj):
        try:
            return ["E", self.value(obj.cell_contents)]
        except ValueError:
            return ["E"]

    def _bytearray(self, obj):
        return ["Y", base64.b64encode(obj).decode("ascii")]

    def _module(self, obj):
        if self.passthrough:
            return ["P", obj]
        return ["M", obj.__name__]

    # -- functions, classes -------------------------------------------------------------

    def _by_reference(self, obj):
        if self.passthrough:
            return ["P", obj]
        module = getattr(obj, "__module__", None) or "builtins"
        qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
        if "<" in qualname:
            kind = "class" if isinstance(obj, type) else "function"
            raise CannotTravel(kind, "%s is defined inside a function, so the other side "
                                     "cannot find it by name" % qualname)
        return ["G", module, qualname]

    def _function(self, fn):
        twin = fn.__dict__.get("_lambada_twin")
        if twin is not None:  # a cloud function's stub: what it stands for is its twin
            fn = twin
        if self.passthrough:
            return ["P", fn]
        module = fn.__module__ or ""
        qualname = fn.__qualname__
        if not is_program_module(module) and "<" not in qualname:
            found = _lookup_module_attr(module, qualname)
            if found is fn:
                return ["G", module, qualname]
        return self._function_record(fn)

    def _function_record(self, fn):
        """A function of the program travels as its code with the *current* values of the
        globals it reads (so it sees the caller's state, as a local call would)."""
        code = fn.__code__
        names, writes = code_globals(code)
        if writes:
            raise CannotTravel("function", "%s assigns the global %r, which lives in this "
                                           "process" % (fn.__qualname__, writes[0]))
        v = self.value
        scope = fn.__globals__
        captured = []
        for name in names:
            if name in scope:
                captured.append(name)
                captured.append(v(scope[name]))
        closure = fn.__closure__
        defaults = fn.__defaults__
        kwdefaults = fn.__kwdefaults__
        attrs = fn.__dict__
        return [
            "W", _marshalled(code), PYTHON,
            fn.__name__, fn.__qualname__, fn.__module__,
            None if defaults is None else [v(d) for d in defaults],
            None if not kwdefaults else _flat(kwdefaults, v),
            None if closure is None else [v(cell) for cell in closure],
            captured,
            None if not attrs else _flat(attrs, v),
        ]

    # -- exceptions ---------------------------------------------------------------------

    def _exception(self, exc):
        v = self.value
        cls = type(exc)
        attrs = []
        for name, value in getattr(exc, "__dict__", {}).items():
            attrs.append(name)
            attrs.append(v(value))
        for base, names in _EXTRA_EXCEPTION_ATTRS:
            if isinstance(exc, base):
                for name in names:
                    value = getattr(exc, name, None)
                    if value is not None:
                        attrs.append(name)
                        attrs.append(v(value))
        cause = exc.__cause__
        context = exc.__context__
        return ["X", v(cls), [v(a) for a in exc.args], attrs,
                None if cause is None else v(cause),
                None if context is None else v(context),
                exc.__suppress_context__]

    # -- everything else: pickle's protocol ----------------------------------------------

    def _reduced(self, obj, t):
        v = self.value
        reducer = copyreg.dispatch_table.get(t)
        try:
            if isinstance(obj, _counter_type()):
                # Counter reduces to a copy of itself as a dict: its items go as dictitems,
                # so that an unchanged Counter encodes the same after a call.
                state = getattr(obj, "__dict__", None) or None
                rv = (t, (), state, None, iter(obj.items()))
            elif reducer is not None:
                rv = reducer(obj)
            else:
                rv = obj.__reduce_ex__(4)
        except CannotTravel:
            raise
        except Exception as exc:
            raise CannotTravel(t.__name__, "it cannot be pickled (%s)" % exc) from None
        if isinstance(rv, str):  # a singleton, by name
            module = getattr(obj, "__module__", None) or t.__module__
            return ["G", module, rv]
        rv = tuple(rv) + (None,) * (6 - len(rv))
        func, args, state, listitems, dictitems = rv[:5]
        items = None if listitems is None else [v(x) for x in listitems]
        pairs = None
        if dictitems is not None:
            pairs = []
            for key, value in dictitems:
                pairs.append(v(key))
                pairs.append(v(value))
        encoded_state = self._state(state)
        if func is copyreg.__newobj__ and args:
            if (len(args) == 1 and items is None and pairs is None
                    and (encoded_state is None or encoded_state[0] == "d")):
                # The usual instance: ["o", class, name, value, name, value...]
                record = ["o", v(args[0])]
                if encoded_state is not None:
                    record.extend(encoded_state[1])
                return record
            newargs = [v(a) for a in args[1:]] if len(args) > 1 else None
            return ["O", v(args[0]), newargs, encoded_state, items, pairs]
        return ["R", v(func), [v(a) for a in args or ()], encoded_state, items, pairs]

    def _state(self, state):
        if state is None:
            return None
        v = self.value
        if type(state) is dict:
            return ["d", _flat(state, v)]
        if (type(state) is tuple and len(state) == 2 and type(state[1]) is dict
                and (state[0] is None or type(state[0]) is dict)):
            return ["ds", None if state[0] is None else _flat(state[0], v), _flat(state[1], v)]
        return ["v", v(state)]


def _counter_type():
    collections = sys.modules.get("collections")
    return collections.Counter if collections is not None else ()


_NoneType = type(None)


def _inline_items(items):
    """True when every item travels inline as it is (checked at C speed: a long list of
    numbers or short strings is copied, not walked item by item)."""
    if len(items) < 16:
        return False
    kinds = set(map(type, items))
    if kinds <= _INLINE_NUMBERS:
        if int in kinds and not (-INT_LIMIT <= min(x for x in items if type(x) is int) and
                                 max(x for x in items if type(x) is int) < INT_LIMIT):
            return False
        if float in kinds and not all(map(_isfinite, [x for x in items if type(x) is float])):
            return False
        return True
    if kinds <= _INLINE_TEXT:
        return max(map(len, [x for x in items if type(x) is str]), default=0) <= LONG_STR
    return False


_INLINE_NUMBERS = frozenset((int, float, bool, _NoneType))
_INLINE_TEXT = frozenset((str, _NoneType, bool))


def _flat(mapping, v):
    flat = []
    for key, value in mapping.items():
        flat.append(v(key))
        flat.append(v(value))
    return flat


def _leaf_record(obj, t):
    """The record of a value without references to others, or None."""
    if t is str:
        return ["s", obj]
    if t is int:
        return ["i", format(obj, "x")]
    if t is float:
        return ["F", repr(obj)]
    if t is bytes:
        return ["B", base64.b64encode(obj).decode("ascii")]
    if t is complex:
        return ["C", repr(obj.real), repr(obj.imag)]
    return None


_EXTRA_EXCEPTION_ATTRS = (
    (ImportError, ("name", "path")),  # keyword-only, not in args
    (OSError, ("errno", "strerror", "filename", "filename2")),  # not in __dict__
)

_marshalled_cache = {}
_unmarshalled_cache = {}


def _marshalled(code):
    text = _marshalled_cache.get(code)
    if text is None:
        text = _marshalled_cache[code] = base64.b64encode(marshal.dumps(code)).decode("ascii")
    return text


def _unmarshalled(text):
    code = _unmarshalled_cache.get(text)
    if code is None:
        if len(_unmarshalled_cache) > 4096:
            _unmarshalled_cache.clear()
        code = _unmarshalled_cache[text] = marshal.loads(base64.b64decode(text))
    return code


_code_globals_cache = {}
_STORE_OPS = None


def code_globals(code):
    """(names the code and its nested code may read as globals, names it assigns as
    globals), cached per code object."""
    found = _code_globals_cache.get(code)
    if found is None:
        global _STORE_OPS
        import dis

        if _STORE_OPS is None:
            _STORE_OPS = {dis.opmap[name] for name in ("STORE_GLOBAL", "DELETE_GLOBAL")}
        names = []
        writes = []
        seen = set()
        stack = [code]
        while stack:
            c = stack.pop()
            for name in c.co_names:
                if name not in seen:
                    seen.add(name)
                    names.append(name)
            for instruction in dis.get_instructions(c):
                if instruction.opcode in _STORE_OPS and instruction.argval not in writes:
                    writes.append(instruction.argval)
            for const in c.co_consts:
                if isinstance(const, types.CodeType):
                    stack.append(const)
        found = _code_globals_cache[code] = (tuple(names), tuple(writes))
    return found


def is_program_module(name):
    """The program's own module: the driver and the handler modules run as __main__."""
    return name == "__main__" or name == "lambada_handler" or name.startswith("lambada_pkg_")


def _lookup_module_attr(module_name, qualname):
    module = sys.modules.get(module_name)
    if module is None:
        return None
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


_BUILDERS = {
    list: Encoder._list,
    dict: Encoder._dict,
    tuple: Encoder._tuple,
    set: Encoder._set,
    frozenset: Encoder._frozenset,
    _FunctionType: Encoder._function,
    _CellType: Encoder._cell,
    bytearray: Encoder._bytearray,
    _ModuleType: Encoder._module,
}

# How objects of a type are encoded, decided once per type.
_PLAIN = "plain"  # an instance with only a __dict__: ["o", class, name, value...]
_SLOTTED = "slotted"  # an instance with __slots__ (and maybe a __dict__): an "O" record
_REDUCE = "reduce"  # pickle's protocol
_BY_REFERENCE = "reference"  # classes: by module and name
_EXCEPTION = "exception"
_BUILTIN_FUNCTION = "builtin"
_plans = {}
_object_reduce_ex = object.__reduce_ex__
_object_reduce = object.__reduce__
_object_getstate = getattr(object, "__getstate__", None)


def _plan_for(t):
    """How to encode objects of type ``t`` (or why they cannot travel)."""
    if issubclass(t, type):
        return _BY_REFERENCE
    if issubclass(t, BaseException):
        return _EXCEPTION
    if t is types.BuiltinFunctionType:
        return _BUILTIN_FUNCTION
    why = _process_bound_type(t)
    if why is not None:
        return why
    # Classes of Python code that pickle takes apart the default way: encoded as
    # object.__reduce_ex__(4) would, without calling it.
    if (t.__flags__ & _HEAPTYPE and t.__reduce_ex__ is _object_reduce_ex
            and t.__reduce__ is _object_reduce
            and getattr(t, "__getstate__", _object_getstate) is _object_getstate
            and getattr(t, "__setstate__", None) is None
            and not hasattr(t, "__getnewargs_ex__") and not hasattr(t, "__getnewargs__")
            and t not in copyreg.dispatch_table and _builtin_base(t) is object):
        if not _has_slots(t):
            if "__dict__" in _dict_of_mro(t):
                return _PLAIN
        else:
            return _SLOTTED
    return _REDUCE


def _builtin_base(t):
    """The first class in the MRO that is not a class of Python code."""
    for klass in t.__mro__:
        if not klass.__flags__ & _HEAPTYPE:
            return klass
    return object


def _slot_names(t):
    names = _slot_names_cache.get(t)
    if names is None:
        names = []
        for klass in t.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__") and name not in names:
                    # A private slot is stored under its mangled name.
                    if name.startswith("__") and not name.endswith("__"):
                        name = "_%s%s" % (klass.__name__.lstrip("_"), name)
                    names.append(name)
        names = _slot_names_cache[t] = tuple(names)
    return names


_slot_names_cache = {}


_HEAPTYPE = 1 << 9


def _dict_of_mro(t):
    names = set()
    for klass in t.__mro__:
        names.update(klass.__dict__)
    return names


def _has_slots(t):
    for klass in t.__mro__:
        slots = klass.__dict__.get("__slots__")
        if slots is not None:
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__"):
                    return True
    return False


# ---------------------------------------------------------------------------------------
# Decoding


_UNSET = object()


class Decoder:
    """Rebuilds records as objects, with pickle's order: what a constructor needs is
    complete before the object is made, and what an object's state refers to is complete
    before the state is set, except along a cycle, where the object already exists.

    ``namespace`` is the receiving module's globals(): classes and functions of the
    program are found there by name. ``theirs`` is the table of objects a negative
    reference ``[~k]`` names (the caller's own objects, in an answer)."""

    def __init__(self, records, namespace, theirs=None):
        self.records = records
        self.namespace = namespace
        self.theirs = theirs
        self.made = [_UNSET] * len(records)
        self.done = bytearray(len(records))  # 0 not made, 1 made (not filled), 2 complete

    def value(self, v):
        if type(v) is list:
            n = v[0]
            if n < 0:
                return self.theirs[~n]
            obj = self.made[n]
            if obj is _UNSET:
                self.build(n)
                obj = self.made[n]
            return obj
        return v

    def build_all(self):
        """Makes every record. First the objects made empty and filled later (lists,
        dicts, sets, instances, cells), then, from the last record to the first, the
        rest is made and everything is filled: a record's new objects have higher numbers
        than it has, so they are complete before it is, as pickle would have them."""
        records = self.records
        made = self.made
        done = self.done
        make_empty = _EMPTY_MAKERS
        value = self.value
        for n, record in enumerate(records):
            maker = make_empty.get(record[0])
            if maker is not None and done[n] == 0 and (record[0] != "O" or record[2] is None):
                made[n] = maker(self, record)
                done[n] = 1
        for n in range(len(records) - 1, -1, -1):
            if done[n] == 2:
                continue
            record = records[n]
            kind = record[0]
            if done[n] == 1 and (kind == "L" or (kind == "o" and _plain_class(made[n]))):
                # Filled without looking at what the items are: no need to wait for them.
                # (Making the items may fill this object on the way, along a cycle: then
                # it is not filled again.)
                if kind == "L":
                    items = record[1]
                    if list in set(map(type, items)):
                        items = [value(x) for x in items]
                    if done[n] != 2:
                        made[n].extend(items)
                elif len(record) > 2:
                    state = self.pairs(record[2:])
                    if done[n] != 2:
                        made[n].__dict__.update(state)
                done[n] = 2
            else:
                self.build(n)
        return made

    def build(self, root):
        """Completes record ``root`` and what it needs, depth first, without recursion:
        what a constructor takes is complete before the object is made, and what its
        state refers to is complete before it is filled, except along a cycle."""
        records = self.records
        made = self.made
        done = self.done
        progress = {}  # n -> 1 (its constructor's inputs are under way) or 2 (its state's)
        constructing = 0  # how many are at 1
        stack = [root]
        while stack:
            n = stack[-1]
            if done[n] == 2:
                progress.pop(n, None)
                stack.pop()
                continue
            record = records[n]
            step = progress.get(n)
            if done[n] == 0:
                if step is None:
                    progress[n] = 1
                    constructing += 1
                    waiting = self._push(stack, _constructor_refs(record), progress, True)
                    if waiting is not None:
                        constructing -= self._unwind(stack, progress, waiting)
                    continue
                made[n] = self._make(record)
                done[n] = 1
                constructing -= 1
            if step != 2:
                refs = _state_refs(record)
                if constructing and n != root and self._waited_for(refs, progress):
                    # Its state refers to an object whose constructor is waiting for this
                    # one (t = ([],); t[0].append(t)): that object is made with this one as
                    # it is now, and this one is filled afterwards, as pickle does.
                    progress.pop(n, None)
                    stack.pop()
                    continue
                progress[n] = 2
                self._push(stack, refs, progress, False)
                continue
            self._fill(made[n], record)
            done[n] = 2
            del progress[n]
            stack.pop()

    def _waited_for(self, refs, progress):
        """Whether ``refs`` name an object whose constructor's inputs are under way."""
        done = self.done
        for v in refs:
            if type(v) is list:
                m = v[0]
                if m >= 0 and done[m] == 0 and progress.get(m) == 1:
                    return True
        return False

    def _push(self, stack, refs, progress, constructing):
        """Pushes what ``refs`` name and is not complete; returns the object a constructor
        needs whose own constructor is under way (a cycle, see _unwind), or None."""
        done = self.done
        for v in reversed(refs):
            if type(v) is list:
                m = v[0]
                if m >= 0 and done[m] != 2:
                    if m not in progress:
                        stack.append(m)
                    elif constructing and done[m] == 0:
                        return m
                    # else a cycle: the object exists (state that refers to a tuple still
                    # being made waits for it: see _waited_for)
        return None

    def _unwind(self, stack, progress, waiting):
        """A constructor waits, through the state of an object that already exists, for
        itself (a frozenset holding a tuple holding an object whose attribute is the
        frozenset). Pickle makes the constructor's object with that object as it is and
        fills the object afterwards: the work above the object is dropped, to be done
        again later. Returns how many entries at step 1 were dropped."""
        done = self.done
        bottom = len(stack) - 1 - stack[::-1].index(waiting)
        for depth in range(len(stack) - 1, bottom, -1):
            q = stack[depth]
            if done[q] == 1 and progress.get(q) == 2:
                break
        else:  # only constructors on the way: no object exists to break the cycle
            raise CannotDecode("a reference cycle through constructor arguments")
        dropped = 0
        while len(stack) > depth:
            x = stack.pop()
            if progress.pop(x, None) == 1 and done[x] == 0:
                dropped += 1
        return dropped

    # -- making an object (its constructor's inputs are complete) ------------------------

    def _make(self, record):
        kind = record[0]
        value = self.value
        if kind == "L":
            return []
        if kind == "D":
            return {}
        if kind == "S":
            return set()
        if kind == "T":
            return tuple([value(x) for x in record[1]])
        if kind == "Z":
            return frozenset([value(x) for x in record[1]])
        if kind == "s":
            return record[1]
        if kind == "i":
            return int(record[1], 16)
        if kind == "F":
            return float(record[1])
        if kind == "C":
            return complex(float(record[1]), float(record[2]))
        if kind == "B":
            return base64.b64decode(record[1])
        if kind == "Y":
            return bytearray(base64.b64decode(record[1]))
        if kind == "G":
            return find_global(record[1], record[2], self.namespace)
        if kind == "M":
            return _import(record[1], self.namespace)
        if kind == "P":
            return record[1]
        if kind == "E":
            return _CellType()
        if kind == "o":
            cls = value(record[1])
            return cls.__new__(cls)
        if kind == "O":
            cls = value(record[1])
            newargs = record[2]
            if newargs:
                return cls.__new__(cls, *[value(a) for a in newargs])
            return cls.__new__(cls)
        if kind == "R":
            func = value(record[1])
            try:
                return func(*[value(a) for a in record[2]])
            except CannotDecode:
                raise
            except Exception as exc:
                raise CannotDecode("cannot rebuild a value with %r: %s" % (func, exc)) from None
        if kind == "W":
            return self._make_function(record)
        if kind == "X":
            return _make_exception(value(record[1]), [value(a) for a in record[2]])
        raise CannotDecode("unknown record kind %r" % (kind,))

    def _make_function(self, record):
        _, code, python, name, qualname, module, _, _, closure, _, _ = record
        if python != PYTHON:
            raise CannotDecode(
                "function %s was compiled by Python %s and this is Python %s; run the program "
                "and its cloud functions on the same Python version" % (qualname, python, PYTHON))
        scope = {"__builtins__": builtins, "__name__": module}
        cells = None if closure is None else tuple(self.value(c) for c in closure)
        fn = _FunctionType(_unmarshalled(code), scope, name, None, cells)
        fn.__qualname__ = qualname
        fn.__module__ = module
        return fn

    # -- filling its state (what the state refers to is complete, or on a cycle) ---------

    def _fill(self, obj, record):
        kind = record[0]
        value = self.value
        if kind == "L":
            obj.extend([value(x) for x in record[1]])
        elif kind == "D":
            flat = record[1]
            for i in range(0, len(flat), 2):
                obj[value(flat[i])] = value(flat[i + 1])
        elif kind == "S":
            obj.update([value(x) for x in record[1]])
        elif kind == "E":
            if len(record) > 1:
                obj.cell_contents = value(record[1])
        elif kind == "o":
            if len(record) > 2:
                apply_state(obj, self.pairs(record[2:]), None, None, value)
        elif kind == "O" or kind == "R":
            apply_state(obj, self.state(record[3]), record[4], record[5], value)
        elif kind == "W":
            _, _, _, _, _, _, defaults, kwdefaults, _, captured, attrs = record
            scope = obj.__globals__
            for i in range(0, len(captured), 2):
                scope[captured[i]] = value(captured[i + 1])
            if defaults is not None:
                obj.__defaults__ = tuple(value(d) for d in defaults)
            if kwdefaults:
                obj.__kwdefaults__ = self.pairs(kwdefaults)
            if attrs:
                obj.__dict__.update(self.pairs(attrs))
        elif kind == "X":
            _, _, _, attrs, cause, context, suppress = record
            for i in range(0, len(attrs), 2):
                try:
                    setattr(obj, attrs[i], value(attrs[i + 1]))
                except Exception:
                    pass
            if cause is not None:
                obj.__cause__ = value(cause)
            if context is not None:
                obj.__context__ = value(context)
            obj.__suppress_context__ = suppress

    def fresh(self, record):
        """A new object rebuilt from ``record`` (an update whose constructor changed)."""
        n = len(self.records)
        self.records = list(self.records) + [record]
        self.made.append(_UNSET)
        self.done.append(0)
        self.build(n)
        return self.made[n]

    def pairs(self, flat):
        value = self.value
        return {value(flat[i]): value(flat[i + 1]) for i in range(0, len(flat), 2)}

    def state(self, encoded):
        if encoded is None:
            return None
        form = encoded[0]
        if form == "d":
            return self.pairs(encoded[1])
        if form == "ds":
            return (None if encoded[1] is None else self.pairs(encoded[1]), self.pairs(encoded[2]))
        return self.value(encoded[1])


def _plain_class(obj):
    t = type(obj)
    plan = _plans.get(t)
    if plan is None:
        plan = _plans[t] = _plan_for(t)
    return plan is _PLAIN


def _make_instance(decoder, record):
    cls = decoder.value(record[1])
    return cls.__new__(cls)


_EMPTY_MAKERS = {
    "L": lambda decoder, record: [],
    "D": lambda decoder, record: {},
    "S": lambda decoder, record: set(),
    "E": lambda decoder, record: _CellType(),
    "o": _make_instance,
    "O": _make_instance,  # when it has no arguments for __new__
}


def _constructor_refs(record):
    """The values a record's object cannot be made without."""
    kind = record[0]
    if kind == "T" or kind == "Z":
        return record[1]
    if kind == "o":
        return (record[1],)
    if kind == "O":
        return [record[1]] + (record[2] or [])
    if kind == "R":
        return [record[1]] + record[2]
    if kind == "X":
        return [record[1]] + record[2]
    if kind == "W":
        return record[8] or []
    return ()


def _state_refs(record):
    """The values a record's state refers to, set once the object exists."""
    kind = record[0]
    if kind == "L" or kind == "D" or kind == "S":
        return record[1]
    if kind == "E" or kind == "o":
        return record[2:] if kind == "o" else record[1:]
    if kind == "O" or kind == "R":
        refs = []
        state = record[3]
        if state is not None:
            if state[0] == "d":
                refs.extend(state[1])
            elif state[0] == "ds":
                refs.extend(state[1] or ())
                refs.extend(state[2])
            else:
                refs.append(state[1])
        refs.extend(record[4] or ())
        refs.extend(record[5] or ())
        return refs
    if kind == "W":
        return (record[6] or []) + (record[7] or []) + record[9] + (record[10] or [])
    if kind == "X":
        refs = list(record[3])
        if record[4] is not None:
            refs.append(record[4])
        if record[5] is not None:
            refs.append(record[5])
        return refs
    return ()


def apply_state(obj, state, listitems, dictitems, value):
    """pickle's BUILD, APPENDS and SETITEMS on an object that already exists."""
    if state is not None:
        setstate = getattr(type(obj), "__setstate__", None)
        if setstate is not None and setstate is not _object_setstate:
            obj.__setstate__(state)
        else:
            slots = None
            if type(state) is tuple and len(state) == 2:
                state, slots = state
            if state:
                obj.__dict__.update(state)
            if slots:
                for name, item in slots.items():
                    setattr(obj, name, item)
    if listitems:
        items = [value(x) for x in listitems]
        extend = getattr(obj, "extend", None)
        if extend is not None:
            extend(items)
        else:
            for item in items:
                obj.append(item)
    if dictitems:
        for i in range(0, len(dictitems), 2):
            obj[value(dictitems[i])] = value(dictitems[i + 1])


_object_setstate = getattr(object, "__setstate__", None)


def _make_exception(cls, args):
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise CannotDecode("%r is not an exception class" % (cls,))
    exc = None
    if cls.__module__ == "builtins":
        try:  # builtins keep C-level fields (errno, filename, code...) that only __init__ sets
            exc = cls(*args)
        except Exception:
            exc = None
    if exc is None:
        # The program's classes: no __init__, which may take other parameters or have effects.
        try:
            exc = cls.__new__(cls, *args)
        except TypeError:
            exc = BaseException.__new__(cls)
        exc.args = tuple(args)
    return exc


def _walk(root, qualname):
    head, _, rest = qualname.partition(".")
    obj = root.get(head, _UNSET) if isinstance(root, dict) else getattr(root, head, _UNSET)
    for part in rest.split(".") if rest else ():
        if obj is _UNSET:
            break
        obj = getattr(obj, part, _UNSET)
    return obj


_BUILTIN_TYPES_WITHOUT_NAMES = {t.__name__: t for t in (type(None), type(Ellipsis), type(NotImplemented))}


def find_global(module_name, qualname, namespace):
    """A class or function by name, as the receiving module knows it: the program's own
    in its namespace; a local module's through the module object the namespace imported
    (in-process, a package has copies of its own); anything else by importing it."""
    if is_program_module(module_name):
        obj = _walk(namespace, qualname)
        if obj is not _UNSET:
            return obj
        where = namespace.get("__name__", "?")
        raise CannotDecode("no %s in the program's module here (%s): the cloud function's "
                           "package does not define it" % (qualname, where))
    if module_name == "builtins":
        obj = _walk(vars(builtins), qualname)
        if obj is not _UNSET:
            return obj
        obj = _BUILTIN_TYPES_WITHOUT_NAMES.get(qualname)  # pickle special-cases these too
        if obj is not None:
            return obj
    for candidate in list(namespace.values()):
        if type(candidate) is _ModuleType and candidate.__name__ == module_name:
            obj = _walk(candidate, qualname)
            if obj is not _UNSET:
                return obj
    module = _load(module_name)
    obj = _walk(module, qualname)
    if obj is _UNSET:
        raise CannotDecode("module %s has no attribute %s" % (module_name, qualname))
    return obj


def _import(name, namespace):
    """The module the namespace imported under that name (in-process, a package's own
    copy of a local module), else the process's."""
    for candidate in list(namespace.values()):
        if type(candidate) is _ModuleType and candidate.__name__ == name:
            return candidate
    return _load(name)


def _load(name):
    module = sys.modules.get(name)
    if module is not None:
        return module
    import importlib

    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise CannotDecode("cannot import module %s: %s" % (name, exc)) from None


# ---------------------------------------------------------------------------------------
# Whole messages


def encode(roots, known=None):
    """(records, encoded roots) for a list of values in one identity scope."""
    encoder = Encoder(known)
    encoded = [encoder.value(r) for r in roots]
    encoder.run()
    return encoder, encoded


def copy_graph(values, namespace):
    """A deep copy of ``values`` (a list) that keeps sharing and cycles: the same path the
    values take to a cloud function, within this process. Functions, classes and modules
    are kept as they are."""
    encoder = Encoder(passthrough=True)
    encoded = [encoder.value(v) for v in values]
    encoder.run()
    decoder = Decoder(encoder.records, namespace)  # "P" records hold the objects themselves
    return [decoder.value(v) for v in encoded]
