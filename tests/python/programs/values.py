import helper

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import typing


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


class Perm(enum.Flag):
    R = 4
    W = 2


Pair = collections.namedtuple("Pair", "left right")


class Span(typing.NamedTuple):
    start: int
    end: int = 0


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0
    tags: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Frozen:
    key: str


class Stack(list):
    def __init__(self, *items):
        super().__init__(items)
        self.label = "stack"


def area(a, b=2, /, c=3, *rest, scale, **opts):
    return helper.total([a, b, c, *rest]) * scale, sorted(opts.items())


def echo(*values, **named):
    return values, named


def describe(values):
    return [type(v).__name__ for v in values]


print(area(1, scale=2))
print(area(1, 2, 3, 4, 5, scale=1, unit="m", when="now"))
values = [
    (1, 2), {1, 2}, frozenset({3}), b"\x00\xff", bytearray(b"ab"), 3 + 4j, complex(float("inf"), -0.0),
    float("nan"), float("inf"), float("-inf"), -0.0, 2 ** 100, -(2 ** 64), 2 ** 62,
    {1: "int key", (1, 2): "tuple key", "$dollar": 1, None: 2}, {"plain": [1, {"nested": (3,)}]},
    decimal.Decimal("1.10"), decimal.Decimal("-Infinity"), fractions.Fraction(1, 3),
    datetime.datetime(2024, 2, 29, 12, 30, 15, 123456), datetime.date(1999, 12, 31),
    datetime.time(23, 59, 1, 5), datetime.timedelta(days=-1, seconds=5, microseconds=7),
    datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
    datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=1), "CET")),
    Color.RED, Color.GREEN, Perm.R | Perm.W, Pair(1, [2]), Span(3), Point(1.5, tags=["a"]), Frozen("k"),
    Stack(1, 2), helper.Thing("t"), collections.OrderedDict(a=1), collections.deque([1, 2]),
    collections.Counter("aab"), range(3), slice(1, 2), None, True, "text ü \u2603 \U0001f600",
    ValueError("inner", 1), len, Point, describe, [helper.Thing("in a list"), (Point(2),)],
]
returned, named = echo(*values, key=Color.RED, other={2: 3})
print(len(returned) == len(values), named)
for sent, got in zip(values, returned):
    same = sent == got or (sent != sent and got != got) or repr(sent) == repr(got)
    print(type(got).__name__, repr(got), same, type(sent) is type(got))
print(describe(values) == [type(v).__name__ for v in values])
