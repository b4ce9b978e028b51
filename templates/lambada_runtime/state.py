"""Write-back by identity.

After a call, the function's side compares every object the caller sent (and that can
change in place) with what it was when it arrived, record against record, and sends the
new record of each one that changed. The caller then gives its own objects their new
state in place. A record names other objects by identity, so a slot that now holds a
different object (a swap, relinking, ``self.head = Node(x, self.head)``) is rebound to
that object, the caller's own where it was the caller's; states are never merged.
"""

import base64
import collections

from . import wire

_LEAF_KINDS = wire.LEAF_KINDS


class CannotWriteBack(Exception):
    """The call changed an object in a way that cannot be applied to the caller's object
    in place (its state is in its constructor's arguments)."""


# ---------------------------------------------------------------------------------------
# The function's side: which of the caller's objects changed


def changed_objects(table, sent_records, check, encoder):
    """[k, new record, ...] for the objects ``check`` lists (indexes into ``table``, the
    objects rebuilt from the request) whose record differs from the one that arrived.
    ``encoder`` is the answer's encoder, which refers to the caller's objects as [~k]."""
    updates = []
    ctx = _Context(sent_records, table, encoder)
    for k in check:
        new = encoder.record(table[k])
        if not same_record(sent_records[k], new, ctx):
            updates.append(k)
            updates.append(new)
    return updates


def mutable_indexes(records, roots=None, table=None):
    """Indexes of the records that can change in place; with ``roots`` (the values that
    are not read-only), only those reachable from them, and every iterator in ``table``
    (the objects rebuilt from ``records``): an iterator changes when it is read, and the
    compiler cannot see that a read-only parameter holds one."""
    kinds = wire.MUTABLE_KINDS
    if roots is None:
        return [k for k, record in enumerate(records) if record[0] in kinds]
    seen = set()
    stack = [v[0] for v in roots if type(v) is list and v[0] >= 0]
    while stack:
        k = stack.pop()
        if k in seen:
            continue
        seen.add(k)
        record = records[k]
        for refs in (wire._constructor_refs(record), wire._state_refs(record)):
            for v in refs:
                if type(v) is list and v[0] >= 0 and v[0] not in seen:
                    stack.append(v[0])
    seen.update(k for k, obj in enumerate(table or ()) if hasattr(type(obj), "__next__"))
    return sorted(k for k in seen if records[k][0] in kinds)


class _Context:
    __slots__ = ("old_records", "table", "encoder")

    def __init__(self, old_records, table, encoder):
        self.old_records = old_records
        self.table = table
        self.encoder = encoder


def same_value(old, new, ctx):
    """An old value (refs [j] into the request) against a new one (refs [~j] to the same
    caller objects, [m] to new objects): the same identity, or the same content where
    identity does not matter (strings, numbers, bytes, tuples and frozensets of those,
    and values such as dates, Decimals and paths, whose type hashes by value)."""
    if type(old) is list:
        if type(new) is not list:
            return False
        j = old[0]
        m = new[0]
        if m < 0:
            return ~m == j
        old_record = ctx.old_records[j]
        kind = old_record[0]
        if kind in _LEAF_KINDS or kind == "T" or kind == "Z" or (
                (kind == "R" or kind == "O") and _is_value_type(type(ctx.table[j]))):
            new_record = ctx.encoder.built(m)
            if kind != new_record[0]:
                return False
            if kind in _LEAF_KINDS:
                return old_record == new_record
            return same_record(old_record, new_record, ctx)
        return False
    if type(new) is list:
        return False
    return old == new and type(old) is type(new)


_value_types = {}


def _is_value_type(t):
    """Immutable values: a type that hashes by its value (datetime, Decimal, Fraction,
    timedelta, Path...). Mutable types are unhashable or hash by identity."""
    found = _value_types.get(t)
    if found is None:
        found = _value_types[t] = t.__hash__ is not None and t.__hash__ is not object.__hash__
    return found


def _same_values(olds, news, ctx):
    if olds is None or news is None:
        return olds is None and news is None
    if len(olds) != len(news):
        return False
    if len(news) > 8 and list not in set(map(type, news)):
        # No references among the new values: equal values of equal types (1, 1.0 and
        # True are equal, but not the same value).
        return olds == news and list(map(type, olds)) == list(map(type, news))
    for old, new in zip(olds, news):
        if not same_value(old, new, ctx):
            return False
    return True


def _same_state(old, new, ctx):
    if old is None or new is None:
        return old is None and new is None
    if old[0] != new[0]:
        return False
    if old[0] == "ds":
        return (_same_values(old[1], new[1], ctx)
                and _same_values(old[2], new[2], ctx))
    if old[0] == "d":
        return _same_values(old[1], new[1], ctx)
    return same_value(old[1], new[1], ctx)


def same_record(old, new, ctx):
    kind = old[0]
    if kind != new[0]:
        return False
    if kind in "LTSZD":
        return _same_values(old[1], new[1], ctx)
    if kind == "o":
        return _same_values(old, new, ctx)  # "o" itself compares equal
    if kind == "O" or kind == "R":
        return (same_value(old[1], new[1], ctx)
                and _same_values(old[2], new[2], ctx)
                and _same_state(old[3], new[3], ctx)
                and _same_values(old[4], new[4], ctx)
                and _same_values(old[5], new[5], ctx))
    if kind == "E":
        if len(old) != len(new):
            return False
        return len(old) == 1 or same_value(old[1], new[1], ctx)
    return old == new


# ---------------------------------------------------------------------------------------
# The caller's side: giving its objects their new state, in place


def plan_updates(updates, table, decoder):
    """Checks that every update can be applied, before any is: [(object, record, how)]."""
    planned = []
    for i in range(len(updates) - 2, -1, -2):  # contents (numbered later) before containers
        k = updates[i]
        record = updates[i + 1]
        obj = table[k]
        planned.append((obj, record, _how(obj, record)))
    return planned


def _how(obj, record):
    kind = record[0]
    if kind == "R":
        return "rebuild"  # decided when applied: constructor arguments may have changed
    if kind == "O":
        if record[4] and not isinstance(obj, (list, collections.deque)):
            raise CannotWriteBack("the items of a %s object changed" % type(obj).__name__)
        if record[5] and not isinstance(obj, dict):
            raise CannotWriteBack("the items of a %s object changed" % type(obj).__name__)
    return kind


def apply_updates(planned, decoder):
    for obj, record, how in planned:
        _apply(obj, record, how, decoder)


def _apply(obj, record, how, decoder):
    value = decoder.value
    if how == "L":
        obj[:] = [value(x) for x in record[1]]
    elif how == "D":
        new = decoder.pairs(record[1])
        obj.clear()
        obj.update(new)
    elif how == "S":
        items = [value(x) for x in record[1]]
        obj.clear()
        obj.update(items)
    elif how == "Y":
        obj[:] = base64.b64decode(record[1])
    elif how == "E":
        if len(record) > 1:
            obj.cell_contents = value(record[1])
        else:
            try:
                del obj.cell_contents
            except ValueError:
                pass
    elif how == "o":
        cls = value(record[1])
        if type(obj) is not cls:
            obj.__class__ = cls
        _replace_state(obj, decoder.pairs(record[2:]))
    elif how == "O":
        cls = value(record[1])
        if type(obj) is not cls:
            obj.__class__ = cls  # the method did self.__class__ = Other
        _replace_state(obj, decoder.state(record[3]))
        _replace_items(obj, record[4], record[5], decoder)
    elif how == "rebuild":
        fresh = decoder.fresh(record)
        _transfer(obj, fresh)


def _replace_state(obj, state):
    """The object's state becomes ``state`` (pickle's BUILD on a used object: attributes
    the call deleted are deleted here too)."""
    setstate = getattr(type(obj), "__setstate__", None)
    if state is not None and setstate is not None and setstate is not wire._object_setstate:
        obj.__setstate__(state)
        return
    slots = None
    if type(state) is tuple and len(state) == 2:
        state, slots = state
    attrs = getattr(obj, "__dict__", None)
    if attrs is not None:
        new = dict(state or ())
        attrs.clear()
        attrs.update(new)
    for name in _slot_names(type(obj)):
        if slots and name in slots:
            object.__setattr__(obj, name, slots[name])
        else:
            try:
                object.__delattr__(obj, name)
            except AttributeError:
                pass


def _replace_items(obj, listitems, dictitems, decoder):
    value = decoder.value
    if isinstance(obj, list):
        obj[:] = [value(x) for x in listitems or ()]
    elif isinstance(obj, collections.deque):
        items = [value(x) for x in listitems or ()]
        obj.clear()
        obj.extend(items)
    if isinstance(obj, dict):
        new = decoder.pairs(dictitems or [])
        dict.clear(obj)
        dict.update(obj, new)


_slot_names = wire._slot_names


def _transfer(obj, fresh):
    """Gives ``obj`` the contents of ``fresh``, an object of the same type rebuilt from
    its new record, for the types whose contents can be replaced in place."""
    if type(fresh) is not type(obj):
        raise CannotWriteBack("a %s object became a %s" % (type(obj).__name__, type(fresh).__name__))
    if isinstance(obj, (list, bytearray)) or type(obj).__name__ == "array":
        obj[:] = fresh
    elif isinstance(obj, collections.deque):
        if obj.maxlen != fresh.maxlen:
            raise CannotWriteBack("the maxlen of a deque changed")
        obj.clear()
        obj.extend(fresh)
    elif isinstance(obj, (set, dict)):
        obj.clear()
        obj.update(fresh)
    elif hasattr(obj, "__setstate__") and hasattr(fresh, "__getstate__"):
        obj.__setstate__(fresh.__getstate__())
        return
    else:
        raise CannotWriteBack("a %s object changed inside, where it cannot be updated in place"
                              % type(obj).__name__)
    attrs = getattr(fresh, "__dict__", None)
    if attrs is not None and hasattr(obj, "__dict__"):
        obj.__dict__.clear()
        obj.__dict__.update(attrs)
