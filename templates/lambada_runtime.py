"""lambada runtime: the code that lets a FaaSified program call its cloud functions.

lambada rewrites a program so that calls to its moved functions and classes go through
this module (imported as ``import lambada_runtime as _lambada``), and it builds one package
per cloud function whose handler module also uses it. Standard library only; Python 3.9+.
See CONTRACT.md in the lambada sources for what the generated code relies on.

Names the generated code uses
    invoke(key, args, kwargs, namespace)              call a moved function
    invoke_method(self_or_cls, method, args, kwargs, namespace)
                                                      call a method (or classmethod) of a moved class
    invoke_static(key, method, args, kwargs, namespace)  call a staticmethod of a moved class
    make_handler(target, namespace, key)              the Lambda handler of a package
    cloudfunction                                     no-op decorator (bare or with options)
    RemoteError                                       the platform failed (timeout, OOM, import error)
    PayloadTooLargeError(ValueError)                  a request over 6 MB, refused before sending

Envelopes (JSON)
    request   {"args": [...], "kwargs": {...}, "globals": {name: value}}
              "same": [[later, earlier], ...] when an argument is the object given earlier
              classes add "method", "call" ("method" | "class" | "static"), "class", "state"
    response  {"ret": value, "stdout": str, "stderr": str, "globals": {name: value},
               "rebound": [names], "args_back": {"0" | "=name": value},
               "objects": {oid: state}, "ret_arg": index}
                                            objects: the caller's objects the call changed
                                            (see "Object identity" below); ret_arg: the
                                            result is the argument at that position;
                                            args_back: arguments the call changed in place;
                                            classes add "state", and "self": true when the
                                            method returned the object itself; "iter": true
                                            when "ret" is a materialised iterator
    error     {"error": {"type", "module", "args", "message", "traceback", "exit_code",
               "state"}, "stdout": ..., "stderr": ..., "globals": ..., "rebound": ...}

Marshalling
    None, bool, str, finite floats, ints within 64 bits, lists, and dicts whose keys are
    str not starting with "$" travel as plain JSON. Everything else is a one-key object:
        {"$int": "hex"}                  ints beyond 64 bits (hex has no digit limit)
        {"$float": "nan"|"inf"|"-inf"}
        {"$tuple": [...]}  {"$set": [...]}  {"$frozenset": [...]}
        {"$dict": [[key, value], ...]}   dicts with other keys (order kept)
        {"$bytes": "base64"}  {"$bytearray": "base64"}
        {"$complex": [real, imag]}  {"$decimal": "str"}  {"$fraction": [num, den]}
        {"$datetime": "iso"}  {"$date": "iso"}  {"$time": "iso"}  {"$timedelta": [d, s, us]}
        {"$enum": {"class", "module", "name" | "value"}}
        {"$namedtuple": {"class", "module", "fields": [...]}}
        {"$obj": {"class", "module", "state": {...}}}     instances of the program's own
                                    classes and dataclasses; "value" for builtin bases
        {"$exc": {"class", "module", "args", "state"}}    exceptions used as values
        {"$ref": {"module", "name"}}                      the program's functions and classes
                                    (a module-level lambda by the name bound to it)
        {"$code": {"code", "python", "name", "defaults", "kwdefaults", "closure"}}
                                    other lambdas and nested functions: marshalled code,
                                    rebuilt only by the same Python version
        {"$pickle": "base64"}                             last resort (protocol 4)
    Classes named in "$obj", "$enum", "$exc" and "$ref" are looked up by name in the
    receiving module's namespace first, then through their module. Values that cannot
    travel (generators, files, locks, sockets, modules...) raise TypeError in
    the caller before anything is sent. Reference cycles are refused with a ValueError.

Transports
    "inprocess": runs functions/<key>/lambada_handler.py in this interpreter, through the
    full JSON path. "lambda": HTTP POST to the Lambda Invoke API, SigV4-signed with the
    standard library, one keep-alive connection per endpoint and thread. The manifest
    lambada.json next to this file chooses; LAMBADA_TRANSPORT overrides (inside a real
    Lambda the default is "lambda"). Endpoint: AWS_ENDPOINT_URL_LAMBDA, AWS_ENDPOINT_URL,
    the manifest's "endpoint", else https://lambda.<region>.amazonaws.com. Credentials:
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, else the shared credentials
    file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE or
    "default"); with none found and a loopback endpoint (a local lambada host without
    authentication) requests are signed with the placeholder key "lambada"/"lambada".
"""

import base64
import builtins
import codecs
import collections
import datetime
import decimal
import enum
import fractions
import hashlib
import hmac
import importlib
import importlib.util
import io
import json
import marshal
import os
import pickle
import random
import sys
import threading
import time
import traceback
import types
import urllib.parse

__all__ = [
    "invoke",
    "invoke_method",
    "invoke_static",
    "make_handler",
    "cloudfunction",
    "RemoteError",
    "PayloadTooLargeError",
]

# A synchronous Lambda invocation takes at most 6 MB of request (and of response).
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024

_HERE = os.path.dirname(os.path.abspath(__file__))
_IN_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
_MISSING = object()


# ---------------------------------------------------------------------------------------
# Public helpers: errors and the decorator


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


def cloudfunction(func=None, **options):
    """Marks a function for ``lambada --annotations``; does nothing at run time.

    Usable bare (``@cloudfunction``) or with options (``@cloudfunction(memory=256,
    duration=10)``); the compiler reads the options from the source."""
    if func is None:
        return _identity
    return func


def _identity(func):
    return func


# ---------------------------------------------------------------------------------------
# Marshalling: Python values to JSON-able values ("wire" values) and back

_INT_LIMIT = 1 << 63  # ints beyond 64 bits are tagged: not every JSON consumer keeps them
_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes, tuple, frozenset)


class _CannotTravel(TypeError):
    """Raised inside the marshaller; turned into a TypeError that names the value."""

    def __init__(self, type_name, reason=""):
        super().__init__(type_name, reason)
        self.type_name = type_name
        self.reason = reason

    def describe(self, direction="to"):
        text = "objects of type %r cannot travel %s a cloud function" % (self.type_name, direction)
        return text + (" (%s)" % self.reason if self.reason else "")


def _to_wire(value):
    """The wire form of ``value``; plain JSON values are returned as they are."""
    t = type(value)
    if t is str or value is None or t is bool:
        return value
    if t is int:
        return value if -_INT_LIMIT <= value < _INT_LIMIT else {"$int": format(value, "x")}
    if t is float:
        return value if value - value == 0.0 else {"$float": repr(value)}  # nan, inf, -inf
    if t is list:
        return [_to_wire(item) for item in value]
    if t is dict:
        return _dict_to_wire(value)
    encode = _ENCODERS.get(t)
    if encode is not None:
        return encode(value)
    return _other_to_wire(value)


def _dict_to_wire(value):
    for key in value:
        if type(key) is not str or key[:1] == "$":
            return {"$dict": [[_to_wire(k), _to_wire(v)] for k, v in value.items()]}
    return {k: _to_wire(v) for k, v in value.items()}


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _plain_tz(tz):
    """True when ISO format keeps the time zone exactly (naive or a fixed unnamed offset)."""
    if tz is None:
        return True
    if type(tz) is not datetime.timezone:
        return False
    return tz.tzname(None) == datetime.timezone(tz.utcoffset(None)).tzname(None)


def _datetime_to_wire(value):
    if value.fold == 0 and _plain_tz(value.tzinfo):
        return {"$datetime": value.isoformat()}
    return _pickle_to_wire(value)  # zoneinfo zones, fold: pickle keeps them


def _time_to_wire(value):
    if value.fold == 0 and _plain_tz(value.tzinfo):
        return {"$time": value.isoformat()}
    return _pickle_to_wire(value)


_ENCODERS = {
    tuple: lambda v: {"$tuple": [_to_wire(x) for x in v]},
    set: lambda v: {"$set": [_to_wire(x) for x in v]},
    frozenset: lambda v: {"$frozenset": [_to_wire(x) for x in v]},
    bytes: lambda v: {"$bytes": _b64(v)},
    bytearray: lambda v: {"$bytearray": _b64(v)},
    complex: lambda v: {"$complex": [_to_wire(v.real), _to_wire(v.imag)]},
    decimal.Decimal: lambda v: {"$decimal": str(v)},
    fractions.Fraction: lambda v: {"$fraction": [_to_wire(v.numerator), _to_wire(v.denominator)]},
    datetime.datetime: _datetime_to_wire,
    datetime.date: lambda v: {"$date": v.isoformat()},
    datetime.time: _time_to_wire,
    datetime.timedelta: lambda v: {"$timedelta": [v.days, v.seconds, v.microseconds]},
    # A traceback (e.g. the third argument of __exit__) stays behind: the function sees None.
    types.TracebackType: lambda v: None,
}

# Types refused without trying pickle: they hold a running frame, an OS resource or a lock.
_NEVER_TRAVEL = (
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    types.ModuleType,
    types.FrameType,
    io.IOBase,
    type(threading.Lock()),
    type(threading.RLock()),
)


def _other_to_wire(value):
    cls = type(value)
    if isinstance(value, BaseException):
        return {"$exc": _exception_fields(value)}
    if isinstance(value, enum.Enum):
        return {"$enum": _enum_fields(value)}
    if isinstance(value, tuple) and hasattr(cls, "_fields"):
        fields = [_to_wire(x) for x in value]
        return {"$namedtuple": {"class": cls.__qualname__, "module": cls.__module__, "fields": fields}}
    if isinstance(value, (type, types.FunctionType)):
        return _reference_to_wire(value)
    if isinstance(value, _NEVER_TRAVEL):
        raise _CannotTravel(cls.__name__)
    if _is_program_class(cls) or hasattr(cls, "__dataclass_fields__"):  # a dataclass
        return {"$obj": _object_fields(value)}
    return _pickle_to_wire(value)


def _is_program_function(function):
    """A function written in the program: in the driver, a handler module, or a local
    module beside this runtime module (not a library's)."""
    module_name = getattr(function, "__module__", None) or ""
    if _is_program_module_name(module_name):
        return True
    path = getattr(sys.modules.get(module_name), "__file__", None)
    return bool(path) and os.path.abspath(path).startswith(_HERE + os.sep)


def _code_fields(function):
    """A lambda or nested function of the program travels as its compiled code, with its
    defaults and the values of the variables it closes over. Code objects are specific to
    a Python version: the other side must run the same one."""
    closure = function.__closure__ or ()
    try:
        cells = [_to_wire(cell.cell_contents) for cell in closure]
    except ValueError:  # an empty cell: the closed-over variable was never assigned
        raise _CannotTravel("function", "%s closes over a variable with no value" % function.__qualname__)
    return {
        "code": _b64(marshal.dumps(function.__code__)),
        "python": "%d.%d" % sys.version_info[:2],
        "name": function.__name__,
        "defaults": [_to_wire(d) for d in function.__defaults__ or ()],
        "kwdefaults": _to_wire(function.__kwdefaults__ or {}),
        "closure": cells,
    }


def _decode_code(fields, namespace):
    here = "%d.%d" % sys.version_info[:2]
    if fields.get("python") != here:
        raise TypeError(
            "cannot rebuild function %s: it was compiled by Python %s and this is Python %s; "
            "run the program and the cloud functions on the same Python version, or pass a "
            "function defined at module level" % (fields.get("name"), fields.get("python"), here)
        )
    code = marshal.loads(base64.b64decode(fields["code"]))
    closure = tuple(types.CellType(_from_wire(c, namespace)) for c in fields.get("closure") or ())
    function = types.FunctionType(code, namespace, fields.get("name"), None, closure or None)
    function.__defaults__ = tuple(_from_wire(d, namespace) for d in fields.get("defaults") or ()) or None
    function.__kwdefaults__ = _from_wire(fields.get("kwdefaults") or {}, namespace) or None
    return function


def _enum_fields(member):
    cls = type(member)
    fields = {"class": cls.__qualname__, "module": cls.__module__}
    if cls.__members__.get(member.name) is member:
        fields["name"] = member.name
    else:  # a combination of flags has no member name of its own
        fields["value"] = _to_wire(member.value)
    return fields


def _reference_to_wire(value):
    name = value.__qualname__
    if name == "<lambda>":
        # A lambda bound to a module-level name (``square = lambda x: x * x``) travels by
        # that name: the other side has the same assignment.
        module_globals = getattr(value, "__globals__", None) or {}
        for bound, candidate in module_globals.items():
            if candidate is value and _is_program_class(value):
                return {"$ref": {"module": value.__module__, "name": bound}}
    if "<" in name and isinstance(value, types.FunctionType) and _is_program_function(value):
        return {"$code": _code_fields(value)}
    if "<" in name:  # <locals> classes: not reachable by name on the other side
        kind = "function" if isinstance(value, types.FunctionType) else "type"
        raise _CannotTravel(kind, "%s is not defined at module level" % name)
    if not _is_program_class(value):
        return _pickle_to_wire(value)  # pickled by reference to its module
    return {"$ref": {"module": value.__module__, "name": name}}


_BUILTIN_BASES = (list, dict, set, frozenset, tuple, str, bytes, bytearray, int, float, complex)


# ---------------------------------------------------------------------------------------
# Object identity across a call
#
# An object of the program that goes out with a call and comes back (a bank holding the
# account the caller passed in) must come back as the caller's own object, updated in
# place, not as a copy: other references to it must see the change. Each call has an
# identity scope on each side: the caller numbers the objects it sends ("oid"); the
# called side remembers which of its rebuilt objects came with which number and uses
# the number again when they go back; objects it creates get numbers of their own
# ("nid"), so that one object sent twice arrives as one object.


class _IdentityScope:
    __slots__ = ("caller", "sent", "received", "origin", "received_state")

    def __init__(self, caller):
        self.caller = caller
        self.sent = {}  # caller: oid -> the object sent (found again when it comes back)
        self.received = {}  # ("oid" | "nid", number) -> object rebuilt from a message
        self.origin = {}  # called side: id(rebuilt object) -> the caller's oid
        self.received_state = {}  # called side: oid -> the state as it arrived


class _Scopes(threading.local):
    def __init__(self):
        self.stack = []


_scopes = _Scopes()


class _identity_scope:
    """``with _identity_scope(caller=True):`` around one side of one call."""

    def __init__(self, caller):
        self.scope = _IdentityScope(caller)

    def __enter__(self):
        _scopes.stack.append(self.scope)
        return self.scope

    def __exit__(self, *exc):
        _scopes.stack.pop()


def _objects_back(scope, response):
    """The caller's objects that the call changed (an argument's attribute, an account
    inside a bank passed along, the object behind a bound method) go back by number."""
    back = {}
    for (kind, number), obj in list(scope.received.items()):
        if kind != "oid":
            continue
        try:
            wire = _to_wire(_object_state(obj))
        except (_CannotTravel, RecursionError, ValueError):
            continue  # it could travel in; the caller keeps its old state
        if wire != scope.received_state.get(number):
            back[str(number)] = wire
    if back:
        response["objects"] = back


def _apply_objects_back(objects, namespace):
    scope = _current_scope()
    for number, wire in objects.items():
        existing = scope.sent.get(int(number))
        if existing is not None:
            scope.received[("oid", int(number))] = existing
            _replace_state(existing, _from_wire(wire, namespace))


def _current_scope():
    stack = _scopes.stack
    return stack[-1] if stack else None


def _identify(obj, fields):
    scope = _current_scope()
    if scope is None:
        return
    key = id(obj)
    if key in scope.origin:
        fields["oid"] = scope.origin[key]
    elif scope.caller:
        fields["oid"] = key
        scope.sent[key] = obj
    else:
        fields["nid"] = key


def _identified(fields, cls):
    """The object a message names by number, if this side already has it."""
    scope = _current_scope()
    if scope is None:
        return None, None
    if "oid" in fields:
        key = ("oid", fields["oid"])
        if scope.caller:
            existing = scope.sent.get(fields["oid"])
            if existing is not None and type(existing).__qualname__ == cls.__qualname__:
                return existing, key
        return scope.received.get(key), key
    if "nid" in fields:
        key = ("nid", fields["nid"])
        return scope.received.get(key), key
    return None, None


def _object_fields(obj):
    cls = type(obj)
    fields = {"class": cls.__qualname__, "module": cls.__module__}
    _identify(obj, fields)
    fields["state"] = _to_wire(_object_state(obj))
    base = _builtin_base(cls)
    if base is not None:  # e.g. class Stack(list): the list's items travel as "value"
        fields["value"] = _to_wire(base(obj))
    return fields


def _builtin_base(cls):
    for base in _BUILTIN_BASES:
        if issubclass(cls, base):
            return base
    return None


_slot_names_cache = {}


def _slot_names(cls):
    names = _slot_names_cache.get(cls)
    if names is None:
        names = []
        for klass in cls.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__") and name not in names:
                    names.append(name)
        _slot_names_cache[cls] = names = tuple(names)
    return names


def _object_state(obj):
    """The state of an object: its __dict__ plus the values of its __slots__."""
    state = getattr(obj, "__dict__", None)
    state = dict(state) if state is not None else {}
    for name in _slot_names(type(obj)):
        value = getattr(obj, name, _MISSING)
        if value is not _MISSING:
            state[name] = value
    return state


_program_class_cache = {}


def _is_program_class(cls):
    """True for classes (and functions) of the program itself: defined in the driver, in a
    handler module, or in a local module that sits beside this runtime module."""
    found = _program_class_cache.get(cls)
    if found is None:
        module_name = getattr(cls, "__module__", None) or ""
        if module_name in ("__main__", "lambada_handler") or module_name.startswith("lambada_pkg_"):
            found = True
        else:
            module = sys.modules.get(module_name)
            path = getattr(module, "__file__", None)
            found = bool(path) and os.path.abspath(path).startswith(_HERE + os.sep)
            # A package's own copy of a local module, run in-process, is not the module
            # that import finds: it cannot be pickled by reference either.
            found = found or (bool(path) and _walk(module, getattr(cls, "__qualname__", "")) is not cls)
        try:
            _program_class_cache[cls] = found
        except TypeError:
            pass
    return found


class _Pickler(pickle.Pickler):
    """Pickles everything except the program's own objects, which go as wire values: on the
    other side they are rebuilt from that side's classes, found by name."""

    def persistent_id(self, obj):
        if isinstance(obj, (type, types.FunctionType)):
            if _is_program_class(obj) and "<" not in obj.__qualname__:
                return _to_wire(obj)
        elif _is_program_class(type(obj)) and not isinstance(obj, (type, types.ModuleType)):
            return _to_wire(obj)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, data, namespace):
        super().__init__(io.BytesIO(data))
        self._namespace = namespace

    def persistent_load(self, pid):
        return _from_wire(pid, self._namespace)


def _pickle_to_wire(value):
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, protocol=4).dump(value)
    except RecursionError:
        raise
    except Exception as exc:
        raise _CannotTravel(type(value).__name__, "pickle: %s" % exc) from None
    return {"$pickle": _b64(buffer.getvalue())}


def _from_wire(wire, namespace):
    """The Python value of a wire value; classes are looked up in ``namespace``."""
    t = type(wire)
    if t is list:
        return [_from_wire(item, namespace) for item in wire]
    if t is dict:
        if len(wire) == 1:
            for tag in wire:
                if tag[:1] == "$":
                    return _decode_tagged(tag, wire[tag], namespace)
        return {k: _from_wire(v, namespace) for k, v in wire.items()}
    return wire


def _decode_tagged(tag, payload, namespace):
    decode = _DECODERS.get(tag)
    if decode is None:
        raise ValueError("unknown lambada wire tag %r" % tag)
    return decode(payload, namespace)


def _decode_list(payload, namespace):
    return [_from_wire(item, namespace) for item in payload]


def _decode_enum(fields, namespace):
    cls = _find_class(fields["class"], fields.get("module"), namespace)
    if "name" in fields:
        return cls[fields["name"]]
    return cls(_from_wire(fields["value"], namespace))


def _decode_namedtuple(fields, namespace):
    cls = _find_class(fields["class"], fields.get("module"), namespace)
    return tuple.__new__(cls, _decode_list(fields["fields"], namespace))


def _decode_object(fields, namespace):
    cls = _find_class(fields["class"], fields.get("module"), namespace)
    known, key = _identified(fields, cls)
    if known is not None:
        if key not in _current_scope().received:
            # The caller's own object, back from the call: it takes the new state.
            _current_scope().received[key] = known
            if "value" not in fields:
                _replace_state(known, _from_wire(fields["state"], namespace))
        return known
    if "value" in fields:
        obj = _blank_with_value(cls, _from_wire(fields["value"], namespace))
    else:
        obj = _blank(cls)
    if key is not None:
        scope = _current_scope()
        scope.received[key] = obj
        if key[0] == "oid" and not scope.caller:
            scope.origin[id(obj)] = key[1]
            scope.received_state[key[1]] = fields["state"]
    _set_state(obj, _from_wire(fields["state"], namespace))
    return obj


def _decode_reference(fields, namespace):
    return _find_class(fields["name"], fields.get("module"), namespace, kind="name")


def _decode_pickle(data, namespace):
    return _Unpickler(base64.b64decode(data), namespace).load()


_DECODERS = {
    "$int": lambda p, ns: int(p, 16),
    "$float": lambda p, ns: float(p),
    "$tuple": lambda p, ns: tuple(_decode_list(p, ns)),
    "$set": lambda p, ns: set(_decode_list(p, ns)),
    "$frozenset": lambda p, ns: frozenset(_decode_list(p, ns)),
    "$dict": lambda p, ns: {_from_wire(k, ns): _from_wire(v, ns) for k, v in p},
    "$bytes": lambda p, ns: base64.b64decode(p),
    "$bytearray": lambda p, ns: bytearray(base64.b64decode(p)),
    "$complex": lambda p, ns: complex(_from_wire(p[0], ns), _from_wire(p[1], ns)),
    "$decimal": lambda p, ns: decimal.Decimal(p),
    "$fraction": lambda p, ns: fractions.Fraction(_from_wire(p[0], ns), _from_wire(p[1], ns)),
    "$datetime": lambda p, ns: datetime.datetime.fromisoformat(p),
    "$date": lambda p, ns: datetime.date.fromisoformat(p),
    "$time": lambda p, ns: datetime.time.fromisoformat(p),
    "$timedelta": lambda p, ns: datetime.timedelta(p[0], p[1], p[2]),
    "$enum": _decode_enum,
    "$namedtuple": _decode_namedtuple,
    "$obj": _decode_object,
    "$exc": lambda p, ns: _rebuild_exception(p, ns),
    "$ref": _decode_reference,
    "$pickle": _decode_pickle,
    "$code": _decode_code,
}


def _walk(root, qualname):
    """``root`` (a namespace dict or an object) followed along a dotted qualified name."""
    head, _, rest = qualname.partition(".")
    obj = root.get(head, _MISSING) if isinstance(root, dict) else getattr(root, head, _MISSING)
    for part in rest.split(".") if rest else ():
        if obj is _MISSING:
            break
        obj = getattr(obj, part, _MISSING)
    return obj


def _is_program_module_name(name):
    return name in ("__main__", "lambada_handler") or name.startswith("lambada_pkg_")


def _find_class(qualname, module_name, namespace, kind="class"):
    """The class (or function) called ``qualname`` as the receiving module knows it: by
    name in its namespace (the program's own classes, and in the driver their proxies),
    then through a module the namespace imported, then by importing ``module_name``."""
    def usable(obj):
        return obj is not _MISSING and (kind != "class" or isinstance(obj, type))

    obj = _walk(namespace, qualname)
    if usable(obj):
        return obj
    if module_name:
        for value in list(namespace.values()):
            if isinstance(value, types.ModuleType) and value.__name__ == module_name:
                obj = _walk(value, qualname)
                if usable(obj):
                    return obj
        if module_name == "builtins":
            obj = _walk(vars(builtins), qualname)
        elif not _is_program_module_name(module_name):
            try:
                obj = _walk(importlib.import_module(module_name), qualname)
            except ImportError:
                obj = _MISSING
        if usable(obj):
            return obj
    where = namespace.get("__name__", "?")
    raise TypeError(
        "cannot rebuild a value of %s %r (module %r): no such %s in module %r"
        % (kind, qualname, module_name, kind, where)
    )


def _blank(cls):
    """A new instance without running __init__ (like pickle does)."""
    try:
        return cls.__new__(cls)
    except TypeError:  # a __new__ that wants arguments
        return object.__new__(cls)


def _blank_with_value(cls, value):
    base = _builtin_base(cls)
    if base in (list, dict, set, bytearray):
        obj = _blank(cls)
        base.__init__(obj, value)
        return obj
    return base.__new__(cls, value)


def _set_state(obj, state):
    slots = _slot_names(type(obj))
    holder = getattr(obj, "__dict__", None)
    for name, value in state.items():
        if holder is not None and name not in slots:
            holder[name] = value  # bypasses __setattr__ and frozen dataclasses, like pickle
        else:
            object.__setattr__(obj, name, value)


def _update_in_place(current, new):
    """Makes ``current`` hold what ``new`` holds when they are the same kind of mutable
    container or program object, so that other references to ``current`` see the change.
    Returns False when it cannot, and the caller rebinds instead."""
    t = type(current)
    if t is not type(new):
        return False
    if t is list:
        # Element by element, so that objects held in the list keep their identity
        # (other references to them see the change too).
        if len(current) == len(new):
            for index, item in enumerate(new):
                if not _update_in_place(current[index], item):
                    current[index] = item
        else:
            current[:] = new
        return True
    if t is bytearray:
        current[:] = new
        return True
    if isinstance(current, random.Random):
        current.setstate(new.getstate())  # a generator passed along keeps its sequence
        return True
    if t is collections.deque:
        current.clear()
        current.extend(new)
        return True
    if t is dict or t in _DICT_TYPES:
        for key in [k for k in current if k not in new]:
            del current[key]
        for key, value in new.items():
            old = current.get(key, _MISSING)
            if old is _MISSING or not _update_in_place(old, value):
                current[key] = value
        return True
    if t is set:
        current.clear()
        current.update(new)
        return True
    if t is tuple:
        if len(current) != len(new):
            return False
        for mine, theirs in zip(current, new):
            if mine is not theirs:
                _update_in_place(mine, theirs)
        return True
    if _is_program_class(t) and not isinstance(current, (type, types.FunctionType, BaseException)):
        if getattr(current, "__dict__", None) is None:
            return False
        _replace_state(current, _object_state(new))
        return True
    return False


def _replace_state(obj, state):
    """Gives a proxy (or any program object) the state that came back, updating mutable
    attribute values in place."""
    holder = getattr(obj, "__dict__", None)
    if holder is not None:
        for name in [n for n in holder if n not in state]:
            del holder[name]
    for name, value in state.items():
        current = holder.get(name, _MISSING) if holder is not None else _MISSING
        if current is not _MISSING and _update_in_place(current, value):
            continue
        _set_state(obj, {name: value})


# ---------------------------------------------------------------------------------------
# Exceptions: described on the function's side, rebuilt and raised on the caller's side

_MAX_TRACEBACK_CHARS = 64 * 1024  # nested remote calls nest their tracebacks; keep it bounded
_EXTRA_EXCEPTION_ATTRS = {
    ImportError: ("name", "path"),  # keyword-only, not in args
    OSError: ("errno", "strerror", "filename", "filename2"),  # not in __dict__
}


def _best_effort(value):
    try:
        return _to_wire(value)
    except (TypeError, ValueError, RecursionError):
        return _to_wire(repr(value))


def _exception_fields(exc):
    cls = type(exc)
    state = {}
    for name, value in getattr(exc, "__dict__", {}).items():
        state[name] = value
    for base, names in _EXTRA_EXCEPTION_ATTRS.items():
        if isinstance(exc, base):
            for name in names:
                value = getattr(exc, name, None)
                if value is not None:  # OSError prints a filename2 of None as " -> None"
                    state[name] = value
    wire_state = {}
    for name, value in state.items():
        try:
            wire_state[name] = _to_wire(value)
        except (TypeError, ValueError, RecursionError):
            pass  # an attribute that cannot travel stays behind; args and message still do
    return {
        "class": cls.__qualname__,
        "module": cls.__module__,
        "args": [_best_effort(a) for a in exc.args],
        "state": wire_state,
    }


def _safe_str(exc):
    try:
        return str(exc)
    except Exception:
        return "<%s; str() failed>" % type(exc).__name__


def _remote_traceback(exc):
    """The traceback of an exception raised by the function, without this module's frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    # The program's classes print as the original program's (__main__) classes do, so the
    # last line reads "AppError: ..." and not "lambada_handler.AppError: ...".
    renamed = _program_exception_classes(exc)
    try:
        for cls in renamed:
            cls.__module__ = "__main__"
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:
        text = "%s: %s\n" % (type(exc).__name__, _safe_str(exc))
    finally:
        for cls, module_name in renamed.items():
            cls.__module__ = module_name
    if len(text) > _MAX_TRACEBACK_CHARS:
        half = _MAX_TRACEBACK_CHARS // 2
        left_out = len(text) - 2 * half
        text = "%s\n  ... (%d characters left out) ...\n%s" % (text[:half], left_out, text[-half:])
    return text


def _program_exception_classes(exc):
    """{class: module name} of the exceptions in the chain of ``exc`` that are classes of
    the program's handler module."""
    found = {}
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        cls = type(exc)
        if _is_program_module_name(cls.__module__) and cls.__module__ != "__main__":
            found[cls] = cls.__module__
        exc = exc.__cause__ or exc.__context__
    return found


def _error_to_wire(exc):
    fields = _exception_fields(exc)
    wire = {
        "type": fields["class"],
        "module": fields["module"],
        "args": fields["args"],
        "message": _safe_str(exc),
        "traceback": _remote_traceback(exc),
        "exit_code": _best_effort(exc.code) if isinstance(exc, SystemExit) else None,
        "state": fields["state"],
    }
    causes = _cause_chain(exc)
    if causes:
        wire["causes"] = causes
    return wire


_MAX_CAUSES = 8


def _cause_chain(exc):
    """The explicit causes (``raise ... from err``) of ``exc``, outermost first: the caller
    rebuilds them so that ``e.__cause__`` reads as it did remotely."""
    chain = []
    seen = {id(exc)}
    cause = exc.__cause__
    while cause is not None and id(cause) not in seen and len(chain) < _MAX_CAUSES:
        seen.add(id(cause))
        chain.append(_exception_fields(cause))
        cause = cause.__cause__
    return chain


_stand_in_classes = {}


def _exception_class(qualname, module_name, namespace):
    try:
        cls = _find_class(qualname, module_name, namespace)
    except TypeError:
        cls = None
    if isinstance(cls, type) and issubclass(cls, BaseException):
        return cls
    # The caller has no such class (e.g. a library only installed remotely): a stand-in of
    # the same name and module keeps the printed "module.Name: message" line.
    key = (module_name, qualname)
    if key not in _stand_in_classes:
        name = qualname.rpartition(".")[2]
        attributes = {"__module__": module_name, "__qualname__": qualname}
        _stand_in_classes[key] = type(name, (Exception,), attributes)
    return _stand_in_classes[key]


def _rebuild_exception(fields, namespace):
    """An exception equal to the remote one: same class, args and attributes."""
    cls = _exception_class(fields["class"], fields.get("module"), namespace)
    args = tuple(_from_wire(a, namespace) for a in fields.get("args", ()))
    exc = None
    if cls.__module__ == "builtins":
        try:  # builtins keep C-level fields (errno, filename, code...) that only __init__ sets
            exc = cls(*args)
        except Exception:
            exc = None
    if exc is None:
        # Program classes: no __init__, which may take other parameters or have effects.
        try:
            exc = cls.__new__(cls, *args)
        except TypeError:  # a __new__ with parameters of its own
            exc = BaseException.__new__(cls)
        exc.args = args
    for name, value in (fields.get("state") or {}).items():
        try:
            setattr(exc, name, _from_wire(value, namespace))
        except Exception:
            pass
    return exc


def _remote_exception(error, fn, namespace):
    fields = {"class": error.get("type", "Exception"), "module": error.get("module"),
              "args": error.get("args", []), "state": error.get("state")}
    exc = _rebuild_exception(fields, namespace)
    inner = exc
    for cause_fields in error.get("causes") or ():
        cause = _rebuild_exception(cause_fields, namespace)
        inner.__cause__ = cause
        inner = cause
    if isinstance(exc, SystemExit) and "exit_code" in error:
        exc.code = _from_wire(error["exit_code"], namespace)
    text = error.get("traceback")
    if text and not isinstance(exc, (SystemExit, KeyboardInterrupt)):
        note = "Remote traceback (cloud function %s):\n%s" % (fn.name, text.rstrip("\n"))
        if hasattr(exc, "add_note"):  # 3.11+: printed under the exception, ending with the
            exc.add_note(note)  # remote "Type: message" line
        else:
            try:
                exc.__lambada_traceback__ = text
            except Exception:
                pass
    return exc


# ---------------------------------------------------------------------------------------
# The manifest and the cloud functions it lists


class _Function:
    """One cloud function as the caller sees it, read once from the manifest."""

    def __init__(self, key, entry):
        self.key = key
        self.name = entry.get("function_name") or key
        self.kind = entry.get("kind", "function")
        self.handler = entry.get("handler") or "lambada_handler._lambada_handler"
        self.memory = int(entry.get("memory") or 128)
        self.timeout = float(entry.get("timeout") or 30)
        self.globals_read = tuple(entry.get("globals_read") or ())
        written = entry.get("globals_written") or ()
        # Written globals travel too (when bound): the function then starts from the
        # caller's value, so an unchanged binding is recognised as unchanged.
        self.globals_written_only = tuple(n for n in written if n not in self.globals_read)
        self.transport = _transport()


_manifest_cache = None
_functions = {}
_class_functions = {}
_setup_lock = threading.RLock()


def _manifest():
    """lambada.json beside this file, read once (in a package: the package manifest)."""
    global _manifest_cache
    if _manifest_cache is None:
        path = os.path.join(_HERE, "lambada.json")
        try:
            with open(path, encoding="utf-8") as f:
                _manifest_cache = json.load(f)
        except FileNotFoundError:
            _manifest_cache = {}
    return _manifest_cache


def _function(key):
    fn = _functions.get(key)
    if fn is None:
        with _setup_lock:
            entry = (_manifest().get("functions") or {}).get(key)
            if entry is None:
                path = os.path.join(_HERE, "lambada.json")
                raise RemoteError("Lambada.UnknownFunction", "no cloud function %r in %s" % (key, path), key)
            fn = _functions[key] = _Function(key, entry)
    return fn


def _class_function(cls):
    """The cloud function of a moved class: the nearest class in its MRO the manifest has."""
    fn = _class_functions.get(cls)
    if fn is None:
        functions = _manifest().get("functions") or {}
        for klass in cls.__mro__:
            if (functions.get(klass.__name__) or {}).get("kind") == "class":
                fn = _function(klass.__name__)
                break
        else:
            fn = _function(cls.__name__)  # raises: not in the manifest
        _class_functions[cls] = fn
    return fn


_transports = {}


def _transport():
    """The transport object, chosen once per process."""
    name = os.environ.get("LAMBADA_TRANSPORT")
    if not name:
        # Inside Lambda a package has no sibling packages to run in-process.
        name = "lambda" if _IN_LAMBDA else (_manifest().get("transport") or "inprocess")
    if name not in _transports:
        if name == "inprocess":
            _transports[name] = _InProcessTransport()
        elif name == "lambda":
            _transports[name] = _LambdaTransport(_manifest())
        else:
            raise RemoteError("Lambada.BadTransport", "unknown transport %r (inprocess or lambda)" % name)
    return _transports[name]


# ---------------------------------------------------------------------------------------
# The caller's side


def invoke(key, args, kwargs, namespace):
    """Calls cloud function ``key`` like ``key(*args, **kwargs)`` and returns its result."""
    with _identity_scope(caller=True):
        return _invoke(key, args, kwargs, namespace)


def _invoke(key, args, kwargs, namespace):
    fn = _functions.get(key) or _function(key)
    try:
        request = {"args": [_to_wire(a) for a in args], "kwargs": _dict_to_wire(kwargs),
                   "globals": _globals_to_wire(fn, namespace)}
        if len(args) > 1:
            same = _aliases(args)
            if same:
                request["same"] = same
    except (_CannotTravel, RecursionError) as exc:
        what = _culprit(fn, args, kwargs, namespace, sys._getframe(2), key, 0)
        raise _sending_error(exc, what, "%s()" % key) from None
    return _finish(fn, _send(fn, request), namespace, None, args, kwargs)


def invoke_method(self_or_cls, method, args, kwargs, namespace):
    """Calls ``method`` of a moved class on a proxy instance (or on the proxy class, for a
    classmethod): the instance's state travels with the call and comes back."""
    with _identity_scope(caller=True):
        return _invoke_method(self_or_cls, method, args, kwargs, namespace)


def _invoke_method(self_or_cls, method, args, kwargs, namespace):
    if isinstance(self_or_cls, type):
        obj, cls, call = None, self_or_cls, "class"
    else:
        obj, cls, call = self_or_cls, type(self_or_cls), "method"
    fn = _class_functions.get(cls) or _class_function(cls)
    display = "%s.%s()" % (cls.__name__, method)
    request = {"method": method, "call": call, "class": cls.__name__}
    if obj is not None:
        try:
            request["state"] = _dict_to_wire(_object_state(obj))
        except (_CannotTravel, RecursionError) as exc:
            raise _sending_error(exc, _state_culprit(obj), display) from None
    try:
        request["args"] = [_to_wire(a) for a in args]
        request["kwargs"] = _dict_to_wire(kwargs)
        request["globals"] = _globals_to_wire(fn, namespace)
    except (_CannotTravel, RecursionError) as exc:
        # The stub's first parameter is self (or cls), which is not in args.
        what = _culprit(fn, args, kwargs, namespace, sys._getframe(2), method, 1)
        raise _sending_error(exc, what, display) from None
    return _finish(fn, _send(fn, request), namespace, obj, args, kwargs)


def invoke_static(key, method, args, kwargs, namespace):
    """Calls staticmethod ``method`` of moved class ``key``."""
    with _identity_scope(caller=True):
        return _invoke_static(key, method, args, kwargs, namespace)


def _invoke_static(key, method, args, kwargs, namespace):
    fn = _functions.get(key) or _function(key)
    try:
        request = {"method": method, "call": "static", "class": key, "args": [_to_wire(a) for a in args],
                   "kwargs": _dict_to_wire(kwargs), "globals": _globals_to_wire(fn, namespace)}
    except (_CannotTravel, RecursionError) as exc:
        what = _culprit(fn, args, kwargs, namespace, sys._getframe(2), method, 0)
        raise _sending_error(exc, what, "%s.%s()" % (key, method)) from None
    return _finish(fn, _send(fn, request), namespace, None, args, kwargs)


def _globals_to_wire(fn, namespace):
    wire = {}
    for name in fn.globals_read:
        value = namespace.get(name, _MISSING)
        if value is not _MISSING:
            wire[name] = _to_wire(value)
    for name in fn.globals_written_only:
        value = namespace.get(name, _MISSING)
        if value is not _MISSING:
            try:
                wire[name] = _to_wire(value)
            except (_CannotTravel, RecursionError):
                pass  # only written: the function does not need the old value
    return wire


def _send(fn, request):
    text = _dumps(request)
    size = _utf8_size(text)
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            "cannot call cloud function %s: the request is %d bytes, over the %d-byte "
            "(6 MB) limit of a Lambda invocation; pass less data, e.g. a key of data "
            "stored elsewhere" % (fn.name, size, MAX_PAYLOAD_BYTES)
        )
    response = fn.transport.call(fn, text)
    if type(response) is not dict or ("ret" not in response and "error" not in response):
        raise RemoteError("Lambada.InvalidResponse",
                          "not a lambada response: %.200r" % (response,), fn.name)
    return response


_replay_lock = threading.Lock()


def _finish(fn, response, namespace, obj, args, kwargs):
    """Replays output, writes back globals, state and arguments changed in place, then
    raises or returns the result."""
    out = response.get("stdout")
    err = response.get("stderr")
    if out or err:
        # One replay at a time: concurrent writes to one TextIOWrapper can garble output
        # (CPython 3.11 with PYTHONIOENCODING=utf-8), and a call's output stays together.
        with _replay_lock:
            if out:
                sys.stdout.write(out)
            if err:
                sys.stderr.write(err)
    wire_globals = response.get("globals")
    if wire_globals:
        _apply_globals(namespace, wire_globals, response.get("rebound") or ())
    if obj is not None and "state" in response:
        _replace_state(obj, _from_wire(response["state"], namespace))
    objects = response.get("objects")
    if objects:
        _apply_objects_back(objects, namespace)
    args_back = response.get("args_back")
    if args_back:
        _apply_args_back(args_back, args, kwargs, namespace)
    error = response.get("error")
    if error is not None:
        raise _remote_exception(error, fn, namespace)
    if response.get("self"):
        return obj
    ret_arg = response.get("ret_arg")
    if ret_arg is not None and ret_arg < len(args):
        return args[ret_arg]  # the function returned its argument: the caller's own object
    ret = response.get("ret")
    if ret is None or type(ret) is str or type(ret) is int:
        return ret
    ret = _from_wire(ret, namespace)
    return iter(ret) if response.get("iter") else ret


def _apply_args_back(args_back, args, kwargs, namespace):
    """The function changed these arguments in place (``items.append(x)``, a mutable
    default, ``node.visits += 1``): the caller's own objects get the new contents."""
    for where, wire in args_back.items():
        if where.startswith("="):
            current = kwargs.get(where[1:], _MISSING)
        else:
            index = int(where)
            current = args[index] if index < len(args) else _MISSING
        if current is not _MISSING:
            _update_in_place(current, _from_wire(wire, namespace))


def _apply_globals(namespace, wire_globals, rebound):
    for name, wire in wire_globals.items():
        value = _from_wire(wire, namespace)
        current = namespace.get(name, _MISSING)
        if name not in rebound and current is not _MISSING and _update_in_place(current, value):
            continue
        namespace[name] = value


def _sending_error(exc, what, display):
    """The TypeError (a ValueError for cycles) that says which value cannot travel."""
    if isinstance(exc, RecursionError):
        return ValueError(
            "cannot send %s of %s: the value contains a reference cycle or is nested too "
            "deeply to travel to a cloud function" % (what, display)
        )
    return TypeError("cannot send %s of %s: %s" % (what, display, exc.describe("to")))


def _travels(value):
    try:
        _to_wire(value)
        return True
    except (_CannotTravel, RecursionError):
        return False


def _culprit(fn, args, kwargs, namespace, frame, stub_name, first_param):
    """Names the first value that cannot travel, by the stub's parameter names."""
    code = frame.f_code
    known = code.co_name == stub_name  # called from a generated stub
    positional = code.co_argcount
    for index, value in enumerate(args):
        if _travels(value):
            continue
        slot = index + first_param
        if known and slot < positional:
            return "argument %r" % code.co_varnames[slot]
        if known and code.co_flags & _CO_VARARGS:
            star = code.co_varnames[positional + code.co_kwonlyargcount]
            return "argument '*%s' (item %d)" % (star, slot - positional)
        return "argument %d" % (index + 1)
    for name, value in kwargs.items():
        if not _travels(value):
            return "argument %r" % name
    for name in fn.globals_read:
        if not _travels(namespace.get(name)):
            return "global %r" % name
    return "a value"


def _state_culprit(obj):
    for name, value in _object_state(obj).items():
        if not _travels(value):
            return "attribute %r of the %s object" % (name, type(obj).__name__)
    return "the state of the %s object" % type(obj).__name__


# ---------------------------------------------------------------------------------------
# JSON text

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":"))


def _dumps(obj):
    return _ENCODER.encode(obj)


def _utf8_size(text):
    """The size of ``text`` in UTF-8 when it may be near the limit, else its length (a
    character takes at most 4 bytes: short texts are not encoded just to be measured)."""
    if len(text) * 4 <= MAX_PAYLOAD_BYTES:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _encode_body(text):
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (e.g. undecodable file names): escape them
        return json.dumps(json.loads(text), separators=(",", ":")).encode("ascii")


# ---------------------------------------------------------------------------------------
# The function's side: make_handler and what it needs


class _Handler:
    """The Lambda handler of a package: ``handler(event, context)``."""

    def __init__(self, target, namespace, key):
        self.target = target
        self.namespace = namespace
        self.key = key
        self.is_class = isinstance(target, type)
        self._writable = None

    def writable(self):
        """Globals that code of this module can rebind (``global x``), found once in its
        bytecode: they come back when the call rebinds them."""
        if self._writable is None:
            self._writable = tuple(sorted(_names_written(self.target, self.namespace)))
        return self._writable

    def __call__(self, event, context=None):
        namespace = self.namespace
        response = {}
        before = {}
        started = {}
        sent = ()
        captured = _begin_capture()
        args = kwargs = None
        scope = _identity_scope(caller=False)
        scope.__enter__()
        try:
            try:
                if type(event) is not dict:
                    raise TypeError("a lambada request is a JSON object with args, kwargs and "
                                    "globals, not %s" % type(event).__name__)
                started, sent = _enter_globals(self, event.get("globals"), before)
                args = [_from_wire(a, namespace) for a in event.get("args") or ()]
                for later, earlier in event.get("same") or ():
                    args[later] = args[earlier]
                kwargs = _from_wire(event.get("kwargs") or {}, namespace)
                if self.is_class:
                    _run_class_call(self, event, args, kwargs, response)
                    _args_back(args, kwargs, event, response)
                else:
                    ret = self.target(*args, **kwargs)
                    _result_to_wire(ret, "%s()" % self.key, response)
                    _args_back(args, kwargs, event, response, ret)
                _objects_back(scope.scope, response)
            except BaseException as exc:
                state = response.get("state", _MISSING)  # a method may change self, then raise
                response = {"error": _error_to_wire(exc)}
                if state is not _MISSING:
                    response["state"] = state
                if args is not None:
                    try:
                        _args_back(args, kwargs, event, response)  # changed, then raised
                        _objects_back(scope.scope, response)
                    except BaseException:
                        pass
                if captured.tee and not isinstance(exc, SystemExit):  # the function's log in Lambda
                    captured.err._tee.write(response["error"]["traceback"])
            try:
                _globals_back(namespace, started, sent, response)
            except BaseException as exc:
                response = {"error": _error_to_wire(exc)}
        finally:
            scope.__exit__(None, None, None)
            out, err = _end_capture(captured)
            _restore_globals(namespace, before)
        response["stdout"] = out
        response["stderr"] = err
        return response


_DICT_TYPES = (collections.OrderedDict, collections.Counter, collections.defaultdict)


def _may_change_in_place(value):
    t = type(value)
    if t is list or t is dict or t is set or t is bytearray:
        return True
    if t in _DICT_TYPES or t is collections.deque or isinstance(value, random.Random):
        return True
    if t is tuple:  # a tuple cannot change, but the lists in it can
        return any(_may_change_in_place(item) for item in value)
    return _is_program_class(t) and not isinstance(value, (type, types.FunctionType, BaseException))


def _aliases(args):
    """[[later, earlier], ...]: positions of arguments that are the very object given at
    an earlier position (``extend_twice(items, items)``), so the function sees one object."""
    same = []
    for later, value in enumerate(args):
        if _may_change_in_place(value) and type(value) is not tuple:
            for earlier in range(later):
                if args[earlier] is value:
                    same.append([later, earlier])
                    break
    return same


def _args_back(args, kwargs, event, response, ret=_MISSING):
    """Arguments that the call changed in place go back with the response, and a
    result that is one of the arguments (``acc.append(x); return acc``) says so."""
    if ret is not _MISSING and _may_change_in_place(ret):
        for index, value in enumerate(args):
            if value is ret:
                response["ret_arg"] = index
                break
    back = {}
    wire_args = event.get("args") or ()
    for index, value in enumerate(args):
        if index < len(wire_args) and _may_change_in_place(value):
            _note_change(back, str(index), value, wire_args[index])
    wire_kwargs = event.get("kwargs") or {}
    if type(wire_kwargs) is dict and "$dict" not in wire_kwargs:
        for name, value in kwargs.items():
            if name in wire_kwargs and _may_change_in_place(value):
                _note_change(back, "=" + name, value, wire_kwargs[name])
    if back:
        response["args_back"] = back


def _note_change(back, where, value, sent):
    try:
        wire = _to_wire(value)
    except (_CannotTravel, RecursionError):
        return  # it could travel in, so this is rare; the caller keeps its old value
    if wire != sent:
        back[where] = wire


_CO_VARARGS = 0x04  # inspect.CO_VARARGS; this module avoids importing inspect at start


def _unwrap(function):
    """The function under its decorators (those that set ``__wrapped__``), as
    inspect.unwrap finds it."""
    seen = {id(function)}
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
        if id(function) in seen:
            raise ValueError("wrapper loop when unwrapping %r" % function)
        seen.add(id(function))
    return function


def make_handler(target, namespace, key):
    """The handler of the package of cloud function ``key``: ``target`` is the function
    (kind function) or the class (kind class), ``namespace`` the handler module's globals().

    A decorated function is called undecorated: the rewritten program keeps the
    decorators on its stub, so they already ran once for this call (calls made inside
    the cloud function go through the decorated name, as in the original)."""
    if not isinstance(target, type):
        target = _unwrap(target)
    return _Handler(target, namespace, key)


def _names_written(target, namespace):
    """Names stored with STORE_GLOBAL / DELETE_GLOBAL by the module's functions and methods."""
    import dis

    module_name = namespace.get("__name__")
    names = set()
    seen = set()

    def scan(code):
        if id(code) in seen:
            return
        seen.add(id(code))
        for instruction in dis.get_instructions(code):
            if instruction.opname in ("STORE_GLOBAL", "DELETE_GLOBAL"):
                names.add(instruction.argval)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                scan(const)

    def visit(obj):
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            for accessor in (obj.fget, obj.fset, obj.fdel):
                if accessor is not None:
                    visit(accessor)
        elif isinstance(obj, types.FunctionType):
            scan(obj.__code__)
        elif isinstance(obj, type) and obj.__module__ == module_name:
            for member in list(vars(obj).values()):
                visit(member)

    visit(target)
    for value in list(namespace.values()):
        if getattr(value, "__module__", None) == module_name:
            visit(value)
    return names


def _enter_globals(handler, wire_globals, before):
    """Binds the caller's globals in the handler's module. Remembers the previous bindings
    in ``before`` (restored after the call); returns the bindings at the start of the call
    (sent globals and the globals the module can rebind) and the names sent."""
    namespace = handler.namespace
    started = {}
    sent = ()
    if wire_globals:
        sent = wire_globals.keys()
        for name, wire in wire_globals.items():
            before[name] = namespace.get(name, _MISSING)
            namespace[name] = started[name] = _from_wire(wire, namespace)
    for name in handler.writable():
        if name not in before:
            before[name] = started[name] = namespace.get(name, _MISSING)
    return started, sent


def _globals_back(namespace, started, sent, response):
    """Adds to the response the globals the call rebound, and the globals it received
    whose value may have been changed in place (anything but immutable values)."""
    wire = {}
    rebound = []
    for name, start in started.items():
        value = namespace.get(name, _MISSING)
        if value is _MISSING:
            continue
        if value is not start:
            rebound.append(name)
        elif name not in sent or isinstance(value, _IMMUTABLE):
            continue  # unchanged
        try:
            wire[name] = _to_wire(value)
        except (_CannotTravel, RecursionError) as exc:
            raise _returning_error(exc, "global %r" % name) from None
    if wire:
        response["globals"] = wire
    if rebound:
        response["rebound"] = rebound


def _restore_globals(namespace, before):
    """Puts the module back as it was: a nested call of the same package in this process
    (recursion with --remote-calls all) must not leave its bindings to its caller."""
    for name, value in before.items():
        if value is _MISSING:
            namespace.pop(name, None)
        else:
            namespace[name] = value


def _returning_error(exc, what):
    if isinstance(exc, RecursionError):
        return ValueError("cannot send back %s: the value contains a reference cycle or is nested "
                          "too deeply to travel from a cloud function" % what)
    return TypeError("cannot send back %s: %s" % (what, exc.describe("from")))


_MAX_ITERATOR_ITEMS = 10_000_000


def _is_lazy_iterator(value):
    """Generators and the iterators of builtins/itertools; not files, not program objects."""
    if isinstance(value, types.GeneratorType):
        return True
    module = getattr(type(value), "__module__", "")
    return module in ("builtins", "itertools") and hasattr(value, "__next__") and iter(value) is value


def _result_to_wire(ret, display, response):
    t = type(ret)
    if ret is None or t is str or t is bool or (t is int and -_INT_LIMIT <= ret < _INT_LIMIT):
        response["ret"] = ret
        return
    try:
        if _is_lazy_iterator(ret):
            items = []
            for item in ret:
                items.append(item)
                if len(items) > _MAX_ITERATOR_ITEMS:
                    raise ValueError("the iterator returned by %s yields more than %d items"
                                     % (display, _MAX_ITERATOR_ITEMS))
            response["ret"] = _to_wire(items)
            response["iter"] = True
        else:
            response["ret"] = _to_wire(ret)
    except (_CannotTravel, RecursionError) as exc:
        raise _returning_error(exc, "the result of %s" % display) from None


def _run_class_call(handler, event, args, kwargs, response):
    namespace = handler.namespace
    method = event.get("method")
    call = event.get("call", "method")
    cls = handler.target
    named = event.get("class")
    if named and named != cls.__name__:
        found = namespace.get(named)
        if isinstance(found, type) and issubclass(found, cls):
            cls = found  # a subclass moved with it
    display = "%s.%s()" % (cls.__name__, method)
    if call in ("class", "static"):
        _result_to_wire(getattr(cls, method)(*args, **kwargs), display, response)
        return
    obj = _blank(cls)
    _set_state(obj, _from_wire(event.get("state") or {}, namespace))
    try:
        name, _, accessor = method.partition(".")
        if accessor == "setter":
            setattr(obj, name, *args)
            ret = None
        elif accessor == "deleter":
            delattr(obj, name)
            ret = None
        elif _is_attribute(cls, method):
            ret = getattr(obj, method)
        else:
            ret = getattr(obj, method)(*args, **kwargs)
        if ret is obj:
            response["ret"] = None
            response["self"] = True
        else:
            _result_to_wire(ret, display, response)
    finally:
        # The state comes back even when the method raised: it may have changed first.
        try:
            response["state"] = _dict_to_wire(_object_state(obj))
        except (_CannotTravel, RecursionError) as exc:
            raise _returning_error(exc, "the state of the %s object" % cls.__name__) from None


_attribute_cache = {}


def _is_attribute(cls, name):
    """True when ``name`` is a property of ``cls``: called by attribute access."""
    found = _attribute_cache.get((cls, name))
    if found is None:
        # Looked up without running descriptors, as inspect.getattr_static does.
        attr = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
        found = isinstance(attr, property) or type(attr).__name__ == "cached_property"
        _attribute_cache[(cls, name)] = found
    return found


# ---------------------------------------------------------------------------------------
# Capturing what a function prints


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


def _begin_capture():
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
    captured.tee = tee = _IN_LAMBDA and not stack and not _is_capturing(real_out)
    captured.out = _Capture(real_out if tee else None)
    captured.err = _Capture(real_err if tee else None)
    stack.append((captured.out, captured.err))
    return captured


def _is_capturing(stream):
    return getattr(stream, "_lambada_capture", False) or getattr(stream, "_lambada_router", False)


def _end_capture(captured):
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


# ---------------------------------------------------------------------------------------
# Transport "inprocess": the packages run in this interpreter


class _Context:
    """The context object a Lambda handler receives."""

    function_version = "$LATEST"
    identity = None
    client_context = None

    def __init__(self, fn, region):
        self.function_name = fn.name
        self.memory_limit_in_mb = str(fn.memory)
        self.invoked_function_arn = "arn:aws:lambda:%s:000000000000:function:%s" % (region, fn.name)
        self.log_group_name = "/aws/lambda/" + fn.name
        self._deadline = time.monotonic() + fn.timeout
        self._request_id = None

    @property
    def aws_request_id(self):
        if self._request_id is None:  # made on demand: os.urandom costs more than the call
            h = os.urandom(16).hex()
            self._request_id = "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:])
        return self._request_id

    @property
    def log_stream_name(self):
        return time.strftime("%Y/%m/%d") + "/[$LATEST]lambada-inprocess"

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _InProcessTransport:
    """Runs functions/<key>/lambada_handler.py in this interpreter, through JSON text both
    ways as on the network. The function's timeout and memory are not enforced."""

    def __init__(self):
        self._handlers = {}
        self._region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    def call(self, fn, text):
        handler = self._handlers.get(fn.key) or self._load(fn)
        event = json.loads(text)
        try:
            result = handler(event, _Context(fn, self._region))
        except Exception as exc:  # what Lambda reports for an exception out of the handler
            raise RemoteError(type(exc).__name__, _safe_str(exc), fn.name) from exc
        answer = _dumps(result)
        if _utf8_size(answer) > MAX_PAYLOAD_BYTES:
            raise RemoteError("Function.ResponseSizeTooLarge",
                              "Response payload size exceeded maximum allowed payload size (%d bytes)."
                              % MAX_PAYLOAD_BYTES, fn.name)
        return json.loads(answer)

    def _load(self, fn):
        with _setup_lock:
            directory = _package_directory(fn)
            module_name, _, attribute = fn.handler.rpartition(".")
            path = os.path.join(directory, *module_name.split(".")) + ".py"
            module = _load_package_module(fn, path, directory, module_name)
            handler = getattr(module, attribute, None)
            if handler is None:
                raise RemoteError("Runtime.HandlerNotFound",
                                  "Handler '%s' missing on module '%s'" % (attribute, module_name), fn.name)
            self._handlers[fn.key] = handler
            return handler


def _package_directory(fn):
    """functions/<key> beside the manifest; from inside a package (whose manifest sits in
    functions/<its key>), the sibling package."""
    candidates = [os.path.join(_HERE, "functions", fn.key)]
    parent = os.path.dirname(_HERE)
    if os.path.basename(parent) == "functions":
        candidates.append(os.path.join(parent, fn.key))
    for directory in candidates:
        if os.path.isdir(directory):
            return os.path.realpath(directory)
    raise RemoteError("ResourceNotFoundException",
                      "Function not found: %s (no package directory %s)" % (fn.name, candidates[0]), fn.name)


def _load_package_module(fn, path, directory, module_name):
    """Imports a package's handler module once per process, under a name of its own, with
    the package's own copies of its local modules (and of this runtime module)."""
    unique = "lambada_pkg_%s_%s" % (
        "".join(c if c.isalnum() else "_" for c in fn.key),
        hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:10],
    )
    module = sys.modules.get(unique)
    if module is not None:
        return module
    if not os.path.isfile(path):
        raise RemoteError("Runtime.ImportModuleError",
                          "Unable to import module '%s': No module named '%s'" % (module_name, module_name),
                          fn.name)
    spec = importlib.util.spec_from_file_location(unique, path)
    module = importlib.util.module_from_spec(spec)
    local = _local_module_names(directory)
    shadowed = _take_modules(local)
    sys.modules[unique] = module
    sys.path.insert(0, directory)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(unique, None)
        message = "Syntax error in module '%s': %s" % (module_name, exc)
        raise RemoteError("Runtime.UserCodeSyntaxError", message, fn.name) from exc
    except Exception as exc:
        sys.modules.pop(unique, None)
        message = "Unable to import module '%s': %s" % (module_name, exc)
        raise RemoteError("Runtime.ImportModuleError", message, fn.name) from exc
    finally:
        try:
            sys.path.remove(directory)
        except ValueError:
            pass
        _take_modules(local)  # the package's copies stay reachable through its handler module
        sys.modules.update(shadowed)
    return module


def _local_module_names(directory):
    names = set()
    for entry in os.listdir(directory):
        if entry.endswith(".py"):
            names.add(entry[:-3])
        elif entry.isidentifier() and os.path.isdir(os.path.join(directory, entry)):
            names.add(entry)
    return names


def _take_modules(top_names):
    """Removes and returns the entries of sys.modules of the given top-level names."""
    taken = {}
    for name in list(sys.modules):
        if name.partition(".")[0] in top_names:
            taken[name] = sys.modules.pop(name)
    return taken


# ---------------------------------------------------------------------------------------
# Transport "lambda": the Invoke API over HTTP, signed with SigV4

_UNSIGNED_HEADERS = frozenset(
    ["connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id", "authorization"]
)
_signing_keys = {}


def _sigv4_headers(method, path, query, headers, body, credentials, region, service, now=None):
    """The headers that sign a request with AWS Signature Version 4: X-Amz-Date,
    X-Amz-Security-Token (with a session token) and Authorization.

    ``path`` and ``query`` are as sent (already percent-encoded); ``headers`` must include
    Host; ``credentials`` is (access key, secret key, session token or None); ``now`` a
    UTC time.struct_time (default: the current time)."""
    access_key, secret_key, token = credentials
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", now or time.gmtime())
    datestamp = amz_date[:8]
    signed = {name.lower(): str(value) for name, value in headers.items()}
    signed = {name: value for name, value in signed.items() if name not in _UNSIGNED_HEADERS}
    signed["x-amz-date"] = amz_date
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    canonical_headers = "".join("%s:%s\n" % (name, " ".join(signed[name].split())) for name in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join([
        method.upper(),
        # AWS services other than S3 sign the path encoded once more.
        urllib.parse.quote(path or "/", safe="/~"),
        _canonical_query(query),
        canonical_headers,
        signed_headers,
        hashlib.sha256(body).hexdigest(),
    ])
    scope = "%s/%s/%s/aws4_request" % (datestamp, region, service)
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    ])
    key = _signing_key(secret_key, datestamp, region, service)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    result = {"X-Amz-Date": amz_date}
    if token:
        result["X-Amz-Security-Token"] = token
    result["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        access_key, scope, signed_headers, signature)
    return result


def _canonical_query(query):
    if not query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join("%s=%s" % pair for pair in pairs)


def _signing_key(secret_key, datestamp, region, service):
    cache_key = (secret_key, datestamp, region, service)
    key = _signing_keys.get(cache_key)
    if key is None:
        key = ("AWS4" + secret_key).encode("utf-8")
        for part in (datestamp, region, service, "aws4_request"):
            key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
        _signing_keys[cache_key] = key
    return key


def _aws_profile():
    return os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"


def _read_ini(path, section):
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read(os.path.expanduser(path), encoding="utf-8")
    except (OSError, configparser.Error):
        return {}
    return dict(parser.items(section)) if parser.has_section(section) else {}


def _config_file_section():
    profile = _aws_profile()
    path = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    return _read_ini(path, profile if profile == "default" else "profile " + profile)


def _find_credentials():
    """(access key, secret key, session token) from the environment or the shared files."""
    key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return key, secret, os.environ.get("AWS_SESSION_TOKEN") or None
    path = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    for section in (_read_ini(path, _aws_profile()), _config_file_section()):
        if section.get("aws_access_key_id") and section.get("aws_secret_access_key"):
            token = section.get("aws_session_token")
            return section["aws_access_key_id"], section["aws_secret_access_key"], token
    return None


def _find_region(manifest):
    return (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or _config_file_section().get("region") or manifest.get("region") or "us-east-1")


def _find_endpoint(manifest, region):
    return (os.environ.get("AWS_ENDPOINT_URL_LAMBDA") or os.environ.get("AWS_ENDPOINT_URL")
            or manifest.get("endpoint") or "https://lambda.%s.amazonaws.com" % region)


def _is_loopback(host):
    import ipaddress

    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Signs requests to a loopback endpoint when no credentials are configured: a local
# lambada host without authentication accepts any signature.
_PLACEHOLDER_CREDENTIALS = ("lambada", "lambada", None)


class _LambdaTransport:
    """POSTs the request to {endpoint}/2015-03-31/functions/{name}/invocations."""

    def __init__(self, manifest):
        self.region = _find_region(manifest)
        self.endpoint = _find_endpoint(manifest, self.region).rstrip("/")
        parts = urllib.parse.urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError("Lambada.BadEndpoint", "endpoint %r is not an http(s) URL" % self.endpoint)
        self.scheme = parts.scheme
        self.hostname = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        default_port = 443 if parts.scheme == "https" else 80
        host = "[%s]" % self.hostname if ":" in self.hostname else self.hostname
        self.host_header = host if self.port == default_port else "%s:%d" % (host, self.port)
        self.base_path = parts.path
        self._credentials = None

    def credentials(self):
        if self._credentials is None:
            found = _find_credentials()
            if found is None:
                if not _is_loopback(self.hostname):
                    raise RemoteError("Lambada.NoCredentials",
                                      "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                                      "or configure ~/.aws/credentials")
                found = _PLACEHOLDER_CREDENTIALS
            self._credentials = found
        return self._credentials

    def call(self, fn, text):
        body = _encode_body(text)
        name = urllib.parse.quote(fn.name, safe="")  # ARNs and qualifiers have ":"
        path = "%s/2015-03-31/functions/%s/invocations" % (self.base_path, name)
        headers = {
            "Host": self.host_header,
            "Content-Type": "application/json",
            "X-Amz-Invocation-Type": "RequestResponse",
        }
        signature = _sigv4_headers("POST", path, "", headers, body, self.credentials(), self.region, "lambda")
        headers.update(signature)
        headers["User-Agent"] = "lambada-runtime/1"
        status, reply_headers, data = self._post(fn, path, body, headers)
        return _invoke_answer(fn, status, reply_headers, data)

    def _connection(self, timeout):
        import http.client

        if self.scheme == "https":
            import ssl

            return http.client.HTTPSConnection(self.hostname, self.port, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self.hostname, self.port, timeout=timeout)

    def _post(self, fn, path, body, headers):
        import http.client

        connections = getattr(_local, "connections", None)
        if connections is None:
            connections = _local.connections = {}
        key = (self.scheme, self.hostname, self.port)
        timeout = fn.timeout + 30
        for attempt in (1, 2):
            conn = connections.get(key)
            reused = conn is not None
            if conn is None:
                conn = connections[key] = self._connection(timeout)
            elif conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request("POST", path, body, headers)
                reply = conn.getresponse()
                data = reply.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    ConnectionAbortedError) as exc:
                conn.close()
                connections.pop(key, None)
                if reused and attempt == 1:
                    continue  # the server closed the kept-alive connection: reconnect once
                message = "%s: %s" % (self.endpoint, exc)
                raise RemoteError("Lambada.ConnectionError", message, fn.name) from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                connections.pop(key, None)
                message = "%s: %s" % (self.endpoint, exc)
                raise RemoteError("Lambada.ConnectionError", message, fn.name) from exc
            if reply.will_close:
                conn.close()
                connections.pop(key, None)
            return reply.status, reply.headers, data
        raise AssertionError("unreachable")


def _invoke_answer(fn, status, headers, data):
    """The lambada response in an Invoke answer, or the RemoteError it amounts to."""
    try:
        body = json.loads(data) if data else None
    except ValueError:
        body = None
    function_error = headers.get("X-Amz-Function-Error")
    if status == 200 and not function_error:
        if isinstance(body, dict) and ("ret" in body or "error" in body):
            return body
        excerpt = data[:300].decode("utf-8", "replace")
        raise RemoteError("Lambada.InvalidResponse", "not a lambada response: %s" % excerpt, fn.name)
    if isinstance(body, dict):
        error_type = body.get("errorType") or body.get("Type") or body.get("__type")
        message = body.get("errorMessage") or body.get("message") or body.get("Message")
    else:
        error_type = message = None
    error_type = (headers.get("x-amzn-ErrorType") or "").partition(":")[0] or error_type or function_error
    if not message:
        message = data[:300].decode("utf-8", "replace") or "HTTP %d" % status
    raise RemoteError(error_type or "HTTP %d" % status, message, fn.name)
