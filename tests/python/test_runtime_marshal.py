"""Type-preserving marshalling: every value goes through JSON text and comes back equal,
of the same type; values that cannot travel are refused with a TypeError."""

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import json
import http
import math
import re
import threading
import zoneinfo

import pytest

# Classes of "the program": defined in a module namespace called __main__, which is how the
# runtime recognises the program's own classes.
PROGRAM = '''
import dataclasses, enum


class Account:
    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)


class Slotted:
    __slots__ = ("a", "b")

    def __eq__(self, other):
        return type(other) is type(self) and (self.a, self.b) == (other.a, other.b)


class Bag(dict):
    pass


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int = 0


class AppError(Exception):
    def __init__(self, code):
        super().__init__("code %d" % code)
        self.code = code


def helper():
    return 1
'''


@pytest.fixture(scope="module")
def program():
    namespace = {"__name__": "__main__"}
    exec(PROGRAM, namespace)
    return namespace


def round_trip(runtime, value, namespace=None):
    text = json.dumps(runtime._to_wire(value), allow_nan=False)
    return runtime._from_wire(json.loads(text), namespace or {"__name__": "__main__"})


PLAIN = [None, True, False, 0, -7, 2**63 - 1, -(2**63), 1.5, -0.0, "", "ü☃😀", [], {}, [1, [2, {"a": None}]]]
TAGGED = [
    (1, (2, "x")), (), {1, 2}, set(), frozenset({"a"}), b"\x00\xff", bytearray(b"ab"), 1 + 2j,
    2**64, -(2**200), 10**5000, math.inf, -math.inf, {1: "a", (1, 2): "b", None: "c"}, {"$tuple": 1},
    {"a": 1, "$b": 2}, decimal.Decimal("1.10"), decimal.Decimal("-0"), decimal.Decimal("NaN").is_nan(),
    fractions.Fraction(-5, 3), datetime.datetime(2024, 2, 29, 1, 2, 3, 4), datetime.date(2000, 1, 1),
    datetime.time(1, 2, 3, 4), datetime.timedelta(days=-3, microseconds=1),
    datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-3), "BRT")),
    datetime.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    datetime.time(5, tzinfo=datetime.timezone(datetime.timedelta(minutes=90))),
    collections.OrderedDict(b=1, a=2), collections.deque([1, (2,)]), collections.Counter("abca"),
    collections.defaultdict(list, {"k": [1]}), range(1, 10, 2), re.IGNORECASE | re.MULTILINE, http.HTTPStatus.OK,
    ValueError("bad", 1), KeyError("k"), len, math.sqrt, json.JSONDecodeError,
]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_json_values_travel_as_themselves(runtime, value):
    assert runtime._to_wire(value) is value or runtime._to_wire(value) == value
    got = round_trip(runtime, value)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("value", TAGGED, ids=lambda v: type(v).__name__)
def test_other_values_keep_their_type(runtime, value):
    got = round_trip(runtime, value)
    assert type(got) is type(value)
    if isinstance(value, BaseException):
        assert got.args == value.args
    else:
        assert got == value
        if type(value) is not int:
            assert repr(got) == repr(value)
    if isinstance(value, datetime.datetime):
        assert got.fold == value.fold and got.tzname() == value.tzname()


def test_nan_and_negative_zero_survive(runtime):
    got = round_trip(runtime, [math.nan, -0.0, complex(math.nan, -0.0)])
    assert math.isnan(got[0]) and math.copysign(1, got[1]) == -1
    assert math.isnan(got[2].real) and math.copysign(1, got[2].imag) == -1


def test_big_ints_use_hex_beyond_64_bits(runtime):
    assert runtime._to_wire(2**63) == {"$int": "8000000000000000"}
    assert runtime._to_wire(2**63 - 1) == 2**63 - 1
    huge = 7**20000  # more digits than int("...") accepts by default on 3.11+
    assert round_trip(runtime, huge) == huge


def test_program_objects_travel_by_name(runtime, program):
    account = program["Account"]("ann", [1, 2])
    wire = runtime._to_wire(account)
    assert wire == {"$obj": {"class": "Account", "module": "__main__", "state": {"owner": "ann", "balance": [1, 2]}}}
    assert round_trip(runtime, account, program) == account

    slotted = program["Slotted"]()
    slotted.a, slotted.b = 1, (2,)
    assert round_trip(runtime, slotted, program) == slotted

    bag = program["Bag"](x=1)
    bag.note = "n"
    got = round_trip(runtime, bag, program)
    assert type(got) is program["Bag"] and got == {"x": 1} and got.note == "n"

    point = program["Point"](1, 2)
    assert round_trip(runtime, point, program) == point
    assert round_trip(runtime, program["Color"].RED, program) is program["Color"].RED
    assert round_trip(runtime, program["helper"], program) is program["helper"]
    assert round_trip(runtime, program["Account"], program) is program["Account"]


def test_the_receivers_class_of_the_same_name_is_used(runtime, program):
    other = {"__name__": "__main__"}
    exec("class Account:\n    pass\n", other)
    got = round_trip(runtime, program["Account"]("bob", 3), other)
    assert type(got) is other["Account"] and vars(got) == {"owner": "bob", "balance": 3}


def test_program_objects_inside_pickled_values_travel_by_name(runtime, program):
    other = {"__name__": "__main__"}
    exec(PROGRAM, other)
    value = collections.deque([program["Account"]("a", 1)])
    got = round_trip(runtime, value, other)
    assert type(got) is collections.deque and type(got[0]) is other["Account"]


def test_program_exceptions_keep_args_and_attributes(runtime, program):
    got = round_trip(runtime, program["AppError"](7), program)
    assert type(got) is program["AppError"] and got.args == ("code 7",) and got.code == 7


def test_unknown_class_is_a_clear_error(runtime, program):
    wire = json.loads(json.dumps(runtime._to_wire(program["Account"]("a", 1))))
    with pytest.raises(TypeError, match="no such class in module 'elsewhere'"):
        runtime._from_wire(wire, {"__name__": "elsewhere"})


def lock_holder():
    return {"ok": [1, threading.Lock()]}


@pytest.mark.parametrize(
    "value, type_name",
    [
        ((x for x in ()), "generator"),
        (threading.Lock(), "lock"),
        (open(__file__), "TextIOWrapper"),
        (json, "module"),
        (lambda: 0, "function"),
        (lock_holder(), "lock"),
    ],
)
def test_values_that_cannot_travel(runtime, value, type_name):
    with pytest.raises(TypeError) as info:
        runtime._to_wire(value)
    assert info.value.describe().startswith(
        "objects of type %r cannot travel to a cloud function" % type_name)


def test_cycles_do_not_hang(runtime):
    cycle = {"me": None}
    cycle["me"] = [cycle]
    with pytest.raises(RecursionError):
        runtime._to_wire(cycle)


def test_shared_values_are_copied_not_refused(runtime):
    shared = [1]
    got = round_trip(runtime, [shared, shared])
    assert got == [[1], [1]]


@dataclasses.dataclass
class LibraryPoint:  # a dataclass that is not the program's: rebuilt through its module
    x: int


def test_dataclasses_of_importable_modules(runtime):
    got = round_trip(runtime, LibraryPoint(3), {"__name__": "elsewhere"})
    assert type(got) is LibraryPoint and got.x == 3


def test_request_over_6_mb_is_refused_before_sending(runtime, monkeypatch):
    fn = runtime._Function.__new__(runtime._Function)
    fn.name = "app-big"

    class Refuse:
        def call(self, fn, text):
            raise AssertionError("sent")

    fn.transport = Refuse()
    with pytest.raises(runtime.PayloadTooLargeError, match="over the 6291456-byte") as info:
        runtime._send(fn, {"args": ["€" * (2 * 1024 * 1024 + 1)]})
    assert isinstance(info.value, ValueError)
    # 3 bytes a euro sign plus the 13 of {"args":[""]}
    assert "the request is 6291472 bytes" in str(info.value)


def test_cloudfunction_is_a_no_op_decorator(runtime):
    def f():
        return 1

    assert runtime.cloudfunction(f) is f
    assert runtime.cloudfunction(memory=256, duration=10)(f) is f
    assert runtime.cloudfunction()(f) is f


def test_remote_error_carries_its_fields(runtime):
    error = runtime.RemoteError("Sandbox.Timedout", "Task timed out after 3.00 seconds", "app-fib")
    assert (error.error_type, error.message, error.function) == ("Sandbox.Timedout", "Task timed out after 3.00 seconds", "app-fib")
    assert str(error) == "cloud function app-fib failed: Sandbox.Timedout: Task timed out after 3.00 seconds"


def test_handler_answers_a_foreign_event_with_an_error_envelope(runtime):
    def double(x):
        return 2 * x

    handler = runtime.make_handler(double, {"__name__": "lambada_handler", "double": double}, "double")
    assert handler({"args": [{"$tuple": [1]}], "kwargs": {}, "globals": {}}, None)["ret"] == {"$tuple": [1, 1]}
    answer = handler([1, 2], None)
    assert answer["error"]["type"] == "TypeError"
    assert answer["error"]["message"] == "a lambada request is a JSON object with args, kwargs and globals, not list"
    assert answer["stdout"] == "" and answer["stderr"] == ""


def test_in_process_context_looks_like_lambdas(runtime):
    fn = runtime._Function.__new__(runtime._Function)
    fn.name, fn.memory, fn.timeout = "app-fib", 256, 30.0
    context = runtime._Context(fn, "eu-west-1")
    assert context.function_name == "app-fib" and context.function_version == "$LATEST"
    assert context.invoked_function_arn == "arn:aws:lambda:eu-west-1:000000000000:function:app-fib"
    assert context.memory_limit_in_mb == "256"
    assert context.log_group_name == "/aws/lambda/app-fib" and context.log_stream_name
    assert len(context.aws_request_id) == 36 and context.aws_request_id == context.aws_request_id
    assert 29000 < context.get_remaining_time_in_millis() <= 30000
