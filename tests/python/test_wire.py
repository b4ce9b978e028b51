"""The object-graph codec (wire.py): values go out as records, through JSON text, and come
back equal, of the same type, with their sharing and cycles; deep graphs travel without
recursion; values tied to the process are refused with CannotTravel."""

import array
import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import io
import itertools
import json
import logging
import math
import operator
import random
import re
import sys
import threading
import zoneinfo

import pytest

# Classes and functions of "the program": defined in a namespace called __main__, which is
# how the runtime recognises the program's own (found by name in the receiving namespace).
PROGRAM = '''
import collections, dataclasses, enum, sys, typing

K = 3


class Account:
    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance

    def deposit(self, n):
        self.balance += n
        return self.balance

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)


class Slotted:
    __slots__ = ("a", "b")

    def __eq__(self, other):
        return type(other) is type(self) and (self.a, self.b) == (other.a, other.b)


class Node:
    def __init__(self, v, nxt=None):
        self.v, self.nxt = v, nxt


class Bag(dict):
    pass


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


class Perm(enum.Flag):
    R = 4
    W = 2
    X = 1


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0
    tags: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Frozen:
    key: str
    n: int = 0


if sys.version_info >= (3, 10):
    @dataclasses.dataclass(slots=True)
    class SlotPoint:
        x: int
        y: int = 0


Pair = collections.namedtuple("Pair", "left right")


class Span(typing.NamedTuple):
    start: int
    end: int = 0


class AppError(Exception):
    def __init__(self, code):
        super().__init__("code %d" % code)
        self.code = code


def triple(x):
    return x * K


def apply_all(f, xs):
    return [f(x) for x in xs]


def make_adder(n):
    def add(x):
        return x + n
    return add
'''


@pytest.fixture(scope="module")
def wire(runtime):
    return runtime.wire


@pytest.fixture
def program():
    namespace = {"__name__": "__main__"}
    exec(PROGRAM, namespace)
    return namespace


def round_trip(wire, values, namespace=None):
    """Encodes ``values`` (a list: one identity scope), through JSON text, and decodes them."""
    encoder, encoded = wire.encode(list(values))
    text = json.dumps({"objs": encoder.records, "roots": encoded}, allow_nan=False)
    message = json.loads(text)
    decoder = wire.Decoder(message["objs"], namespace if namespace is not None else {"__name__": "__main__"})
    decoder.build_all()
    return [decoder.value(v) for v in message["roots"]]


def one(wire, value, namespace=None):
    return round_trip(wire, [value], namespace)[0]


PLAIN = [None, True, False, 0, -7, 2**63 - 1, -(2**63), 1.5, -0.0, "", "ü☃😀", "x" * 1000, [], {},
         [1, [2, {"a": None}]]]
TYPED = [
    (1, (2, "x")), (), {1, 2}, set(), frozenset({"a"}), frozenset(), b"\x00\xff", b"", bytearray(b"ab"),
    bytearray(), 1 + 2j, complex(math.inf, -0.0), 2**64, -(2**200), 10**5000, math.inf, -math.inf,
    {1: "a", (1, 2): "b", None: "c", frozenset({1}): "d", 2.5: "e", b"k": "f"}, {"$tuple": 1},
    decimal.Decimal("1.10"), decimal.Decimal("-0"), decimal.Decimal("-Infinity"), decimal.Decimal("1E+999"),
    fractions.Fraction(-5, 3), datetime.datetime(2024, 2, 29, 1, 2, 3, 4), datetime.date(2000, 1, 1),
    datetime.time(1, 2, 3, 4), datetime.timedelta(days=-3, microseconds=1),
    datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-3), "BRT")),
    datetime.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    datetime.time(5, tzinfo=datetime.timezone(datetime.timedelta(minutes=90))),
    collections.OrderedDict(b=1, a=2), collections.deque([1, (2,)]), collections.deque([1, 2, 3], maxlen=3),
    collections.Counter("abca"), collections.defaultdict(list, {"k": [1]}), range(1, 10, 2), slice(1, None, 2),
    array.array("i", [1, -2, 3]), array.array("d", [0.5]), array.array("u", "hé"), array.array("B"),
    re.IGNORECASE | re.MULTILINE, ValueError("bad", 1), KeyError("k"), len, math.sqrt, json.JSONDecodeError,
    operator.itemgetter(1), Ellipsis, NotImplemented, int,
]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_json_values_travel_as_themselves(wire, value):
    got = one(wire, value)
    assert got == value and type(got) is type(value)
    if type(value) is float:
        assert math.copysign(1, got) == math.copysign(1, value)


@pytest.mark.parametrize("value", TYPED, ids=lambda v: type(v).__name__)
def test_other_values_keep_their_type(wire, value):
    got = one(wire, value)
    assert type(got) is type(value)
    if isinstance(value, BaseException):
        assert got.args == value.args
    elif isinstance(value, operator.itemgetter):
        assert got([5, 6]) == 6
    else:
        assert got == value
        if type(value) is not int:
            assert repr(got) == repr(value)
    if isinstance(value, datetime.datetime):
        assert got.fold == value.fold and got.tzname() == value.tzname()
    if isinstance(value, collections.deque):
        assert got.maxlen == value.maxlen
    if isinstance(value, collections.defaultdict):
        assert got.default_factory is list


def test_nan_and_negative_zero_survive(wire):
    got = one(wire, [math.nan, -0.0, complex(math.nan, -0.0), decimal.Decimal("NaN")])
    assert math.isnan(got[0]) and math.copysign(1, got[1]) == -1
    assert math.isnan(got[2].real) and math.copysign(1, got[2].imag) == -1
    assert got[3].is_nan()


def test_big_ints(wire):
    assert wire.encode([2**63 - 1])[1] == [2**63 - 1]
    encoder, roots = wire.encode([2**63, -(2**63) - 1])
    assert [encoder.records[r[0]] for r in roots] == [["i", "8000000000000000"], ["i", "-8000000000000001"]]
    huge = 7**20000  # more digits than int("...") accepts by default on 3.11+
    assert one(wire, huge) == huge


def test_enums_and_flags_are_the_receivers_members(wire, program):
    Color, Perm, Level = program["Color"], program["Perm"], program["Level"]
    got = one(wire, [Color.RED, Color.GREEN, Perm.R | Perm.W, Perm(0), Level.LOW, logging.INFO], program)
    assert got[0] is Color.RED and got[1] is Color.GREEN
    assert got[2] == Perm.R | Perm.W and type(got[2]) is Perm
    assert got[3] == Perm(0) and got[4] is Level.LOW


def test_program_objects(wire, program):
    account = program["Account"]("ann", [1, 2])
    slotted = program["Slotted"]()
    slotted.a, slotted.b = 1, (2,)
    half = program["Slotted"]()
    half.b = "only b"
    bag = program["Bag"](x=1)
    bag.note = "n"
    got = one(wire, [account, slotted, half, bag], program)
    assert got[0] == account and got[0] is not account and got[0].balance is not account.balance
    assert got[1] == slotted
    assert not hasattr(got[2], "a") and got[2].b == "only b"
    assert type(got[3]) is program["Bag"] and got[3] == {"x": 1} and got[3].note == "n"


def test_dataclasses_and_named_tuples(wire, program):
    values = [program["Point"](1, tags=["a"]), program["Frozen"]("k", 2), program["Pair"](1, [2]),
              program["Span"](3)]
    if sys.version_info >= (3, 10):
        values.append(program["SlotPoint"](4, 5))
    got = one(wire, values, program)
    assert got == values
    assert [type(g) for g in got] == [type(v) for v in values]
    with pytest.raises(dataclasses.FrozenInstanceError):
        got[1].n = 3


def test_the_receivers_class_of_the_same_name_is_used(wire, program):
    other = {"__name__": "__main__"}
    exec(PROGRAM, other)
    got = one(wire, [program["Account"]("bob", 3), program["Account"], program["Color"].RED,
                     collections.deque([program["Point"](1)])], other)
    assert type(got[0]) is other["Account"] and vars(got[0]) == {"owner": "bob", "balance": 3}
    assert got[1] is other["Account"]
    assert got[2] is other["Color"].RED
    assert type(got[3][0]) is other["Point"]


def test_classes_and_modules_by_reference(wire, program):
    got = one(wire, [program["Account"], collections.OrderedDict, json, zoneinfo, int], program)
    assert got == [program["Account"], collections.OrderedDict, json, zoneinfo, int]
    assert got[0] is program["Account"] and got[2] is json


def test_exceptions_keep_class_args_attributes_and_cause(wire, program):
    error = program["AppError"](7)
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise error from inner
    except program["AppError"]:
        pass
    got = one(wire, error, program)
    assert type(got) is program["AppError"] and got.args == ("code 7",) and got.code == 7
    assert type(got.__cause__) is KeyError and got.__cause__.args == ("inner",)
    assert got.__suppress_context__ and not hasattr(got, "__notes__")
    os_error = one(wire, FileNotFoundError(2, "No such file", "/x"))
    assert (os_error.errno, os_error.strerror, os_error.filename) == (2, "No such file", "/x")


def test_random_state_travels(wire):
    generator = random.Random(42)
    generator.random()
    got = one(wire, generator)
    assert type(got) is random.Random and got is not generator
    assert [got.random() for _ in range(5)] == [generator.random() for _ in range(5)]


def test_partials_and_bound_methods(wire, program):
    account = program["Account"]("ann", 10)
    items = [1]
    got_partial, got_method, got_account, got_append, got_items = one(
        wire, [functools.partial(operator.add, 2), account.deposit, account, items.append, items], program)
    assert type(got_partial) is functools.partial and got_partial(3) == 5
    assert got_method.__self__ is got_account  # the same object, not a copy of it
    assert got_method(5) == 15 and got_account.balance == 15 and account.balance == 10
    got_append(2)
    assert got_items == [1, 2] and items == [1]


def test_functions_travel_by_value_and_see_the_current_globals(wire, program):
    program["K"] = 4  # the caller's value now, not the one at definition (or deploy) time
    triple, apply_all = one(wire, [program["triple"], program["apply_all"]], program)
    assert triple is not program["triple"]
    assert triple(2) == 8 and apply_all(triple, [1, 2]) == [4, 8]


def test_lambdas_and_closures(wire, program):
    scale = 10
    counter = [0]

    def bump():
        counter[0] += scale
        return counter[0]

    adder = program["make_adder"](5)
    got_lambda, got_adder, got_bump, got_counter = one(wire, [lambda x: x * scale, adder, bump, counter])
    assert got_lambda(2) == 20 and got_adder(1) == 6
    assert got_bump() == 10 and got_counter == [10]  # the closure's cell holds the same list
    assert counter == [0]


def test_shared_objects_arrive_as_one(wire, program):
    shared = [1]
    account = program["Account"]("a", shared)
    a, b, c, d = round_trip(wire, [[shared, shared], shared, {"x": account}, account], program)
    assert a[0] is a[1] is b
    assert c["x"] is d and d.balance is b


def test_cycles(wire, program):
    cyclic = []
    cyclic.append(cyclic)
    t = ([],)
    t[0].append(t)
    d = {}
    d["self"] = d
    a, b = program["Node"]("a"), program["Node"]("b")
    a.nxt, b.nxt = b, a
    fs = frozenset([1])
    holder = [fs, (fs, [fs])]
    got = one(wire, [cyclic, t, d, a, holder], program)
    assert got[0][0] is got[0]
    assert type(got[1]) is tuple and got[1][0][0] is got[1]
    assert got[2]["self"] is got[2]
    assert got[3].nxt.nxt is got[3] and got[3].nxt.v == "b"
    assert got[4][0] is got[4][1][0] is got[4][1][1][0]


def test_a_tuple_in_a_cycle_through_an_instance(wire, program):
    node = program["Node"]("n")
    node.nxt = (node, [node])
    got = one(wire, node, program)
    assert got.nxt[0] is got and got.nxt[1][0] is got


def test_the_types_of_singletons_by_reference(wire):
    assert one(wire, [type(None), type(Ellipsis), type(NotImplemented)]) == [
        type(None), type(Ellipsis), type(NotImplemented)]


@pytest.mark.parametrize("root", ["tuple", "instance"])
def test_cycles_through_tuples_and_slots_in_either_order(wire, program, root):
    s = program["Slotted"]()
    t = (s, [s])
    s.a, s.b = t, None
    got = one(wire, t if root == "tuple" else s, program)
    got_t = got if root == "tuple" else got.a
    assert got_t[0].a is got_t and got_t[1][0] is got_t[0]


@pytest.mark.parametrize("root", [
    "instance",
    "frozenset",
])
def test_a_cycle_through_a_frozenset_and_a_tuple(wire, program, root):
    node = program["Node"]("fs")
    fs = frozenset([(node, 1)])
    node.nxt = fs
    got = one(wire, node if root == "instance" else fs, program)
    got_fs = got.nxt if root == "instance" else got
    (got_node, one_), = got_fs
    assert got_node.nxt is got_fs and one_ == 1


def test_a_list_reached_again_while_its_items_are_made_is_filled_once(wire, program):
    """Found by the property tests: root = [s], s.a = inner, inner = [s] (s with __slots__)."""
    s = program["Slotted"]()
    inner = [s]
    s.a = inner
    got = one(wire, [s], program)
    assert len(got[0].a) == 1 and got[0].a[0] is got[0]
    box = program["Node"]("box")
    box.nxt = [box, s]
    got = one(wire, [[s, box], box], program)
    assert len(got[1].nxt) == 2 and got[1].nxt[0] is got[1] and len(got[0][0].a) == 1


def test_a_100000_node_linked_list_both_ways(wire, program):
    head = None
    for i in range(100000):
        head = program["Node"](i, head)
    deep = []
    for _ in range(100000):
        deep = [deep]
    got_head, got_deep = one(wire, [head, deep], program)
    total, node, length = 0, got_head, 0
    while node is not None:
        total, node, length = total + node.v, node.nxt, length + 1
    assert (length, total) == (100000, sum(range(100000)))
    depth = 0
    while got_deep:
        got_deep, depth = got_deep[0], depth + 1
    assert depth == 100000
    # And back from the other side, referring to the objects that were sent.
    encoder, roots = wire.encode([head])
    answer_encoder = wire.Encoder({id(head): [~0]})
    assert answer_encoder.value(head) == [-1]


def test_map_and_filter_objects_keep_their_type(wire):
    got_map, got_filter, got_zip = one(wire, [map(str, [1, 2]), filter(None, [0, 1, 2]), zip("ab", [1, 2])])
    assert type(got_map) is map and list(got_map) == ["1", "2"]
    assert type(got_filter) is filter and list(got_filter) == [1, 2]
    assert type(got_zip) is zip and list(got_zip) == [("a", 1), ("b", 2)]


def test_a_partly_used_iterator_goes_on_where_it_was(wire):
    it = iter([1, 2, 3, 4])
    next(it)
    got = one(wire, it)
    assert list(got) == [2, 3, 4]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: pickling itertools is deprecated
def test_an_infinite_iterator_is_never_materialised(wire):
    squares = map(lambda k: k * k, itertools.count(1))
    got = one(wire, squares)
    assert type(got) is map
    assert list(itertools.islice(got, 5)) == [1, 4, 9, 16, 25]


def test_the_json_text_is_flat(wire):
    """References are record numbers: the JSON nesting does not grow with the graph's depth."""
    deep = []
    for _ in range(5000):
        deep = [deep]
    encoder, roots = wire.encode([deep])
    text = json.dumps(encoder.records)
    assert text.count("[[[[") == 0


def _generator():
    yield 1


@pytest.mark.parametrize("make, type_name", [
    (lambda: _generator(), "generator"),
    (lambda: threading.Lock(), "lock"),
    (lambda: threading.RLock(), "RLock"),
    (lambda: open(__file__), "TextIOWrapper"),
    (lambda: open(__file__, "rb"), "BufferedReader"),
    (lambda: io.StringIO("x"), "StringIO"),
    (lambda: io.BytesIO(b"x"), "BytesIO"),
    (lambda: logging.getLogger("lambada.test"), "Logger"),
    (lambda: logging.StreamHandler(), "StreamHandler"),
    (lambda: {"ok": [1, threading.Lock()]}, "lock"),
    (lambda: [1, (2, io.StringIO())], "StringIO"),
])
def test_process_bound_values_cannot_travel(wire, make, type_name):
    value = make()
    try:
        with pytest.raises(wire.CannotTravel) as info:
            wire.encode([value])
        assert info.value.type_name == type_name
        assert isinstance(info.value, TypeError)
    finally:
        if hasattr(value, "close"):
            value.close()


def test_a_function_defined_inside_a_function_travels_by_value_but_a_class_cannot(wire):
    class Local:
        pass

    with pytest.raises(wire.CannotTravel, match="defined inside a function"):
        wire.encode([Local])


def test_copy_graph_keeps_sharing_and_functions(wire, program):
    shared = {"k": [1]}
    values = [shared, [shared], program["triple"], program["Account"]("a", shared)]
    copy = wire.copy_graph(values, program)
    assert copy[0] is copy[1][0] is copy[3].balance and copy[0] is not shared
    assert copy[2] is program["triple"]
    assert copy[0] == shared


@dataclasses.dataclass
class LibraryPoint:  # a dataclass that is not the program's: found again through its module
    x: int
    tags: list = dataclasses.field(default_factory=list)


def test_classes_of_importable_modules_travel_by_reference(wire):
    point = LibraryPoint(3, ["a"])
    got = one(wire, [point, LibraryPoint], {"__name__": "elsewhere"})
    assert type(got[0]) is LibraryPoint and got[0] == point and got[1] is LibraryPoint


def test_a_cycle_through_two_tuples_and_a_list(wire):
    """Found by the codec property test: l = []; l.append(((l,),))."""
    inner = []
    inner.append(((inner,),))
    got = one(wire, inner)
    assert got[0][0][0] is got
    got = one(wire, inner[0])
    assert got[0][0][0] is got
