import io
import logging
import sys
import threading

cycle = []
cycle.append(cycle)
log = logging.getLogger("cannot_travel")
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(logging.Formatter("log: %(message)s"))
log.addHandler(handler)
log.setLevel(logging.INFO)


def consume(f, *more, key=None):
    if isinstance(f, io.StringIO):
        f.write("written by consume")
    elif isinstance(f, logging.Logger):
        f.info("logged by consume")
    elif hasattr(f, "__next__"):
        print("first item", next(f))
    return type(f).__name__, len(more), type(key).__name__


def give(kind):
    if kind == "generator":
        return (x for x in range(3))
    if kind == "map":
        return map(str, range(3))
    if kind == "lock":
        return threading.Lock()
    return kind


def attempt(call, *args, **kwargs):
    try:
        print("returned", call(*args, **kwargs))
    except Exception as exc:
        print(type(exc).__name__ + ":", exc)


generator = (x for x in range(3))
attempt(consume, generator)
print("left in the generator", list(generator))
attempt(consume, 1, 2, threading.Lock())
with open(__file__) as f:
    attempt(consume, 1, key=f)
buffer = io.StringIO()
attempt(consume, buffer)
print("buffer holds", repr(buffer.getvalue()))
attempt(consume, log)
attempt(consume, lambda: 1)
attempt(consume, [1, {"deep": [threading.Lock()]}])
attempt(consume, cycle)
attempt(consume, "small")
g = give("generator")
print(type(g).__name__, list(g))
m = give("map")
print(type(m).__name__, list(m))
print(type(give("lock")).__name__)
attempt(give, "plain")
