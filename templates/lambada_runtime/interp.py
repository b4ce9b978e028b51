"""Process-wide interpreter state a cloud function depends on, carried with each call:

- the ``decimal`` context of the calling thread (precision, rounding, exponent limits,
  capitals, clamp, traps and flags), when the caller has imported decimal; changes the
  function makes to it come back;
- the recursion limit, when the caller raised or lowered it.

The global ``random`` generator is not carried: functions that use it stay local (see
the compiler's plan), since a cloud function would draw other numbers.
"""

import sys

_DEFAULT_LIMIT = 1000


def _decimal_state(decimal):
    ctx = decimal.getcontext()
    return [ctx.prec, ctx.rounding, ctx.Emin, ctx.Emax, ctx.capitals, ctx.clamp,
            sorted(s.__name__ for s, on in ctx.traps.items() if on),
            sorted(s.__name__ for s, on in ctx.flags.items() if on)]


def snapshot():
    """What the caller's interpreter says now, or None when all is at its defaults."""
    state = None
    decimal = sys.modules.get("decimal")
    if decimal is not None:
        state = {"decimal": _decimal_state(decimal)}
    limit = sys.getrecursionlimit()
    if limit != _DEFAULT_LIMIT:
        state = state or {}
        state["recursionlimit"] = limit
    return state


def _set_decimal(decimal, fields):
    ctx = decimal.getcontext()
    prec, rounding, emin, emax, capitals, clamp, traps, flags = fields
    ctx.prec, ctx.rounding, ctx.Emin, ctx.Emax = prec, rounding, emin, emax
    ctx.capitals, ctx.clamp = capitals, clamp
    signals = {s.__name__: s for s in ctx.traps}
    for name, signal in signals.items():
        ctx.traps[signal] = name in traps
        ctx.flags[signal] = name in flags


def enter(state):
    """Takes on the caller's state for one call; returns what to restore afterwards."""
    if not state:
        return None
    saved = {}
    fields = state.get("decimal")
    if fields is not None:
        import decimal

        saved["decimal"] = _decimal_state(decimal)
        _set_decimal(decimal, fields)
    limit = state.get("recursionlimit")
    if limit:
        saved["recursionlimit"] = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 64))
    return saved


def changes(state):
    """What the call changed in the state the caller sent (to be applied by the caller)."""
    if not state or "decimal" not in state:
        return None
    now = _decimal_state(sys.modules["decimal"])
    if now != state["decimal"]:
        return {"decimal": now}
    return None


def leave(saved):
    if not saved:
        return
    if "decimal" in saved:
        _set_decimal(sys.modules["decimal"], saved["decimal"])
    if "recursionlimit" in saved:
        sys.setrecursionlimit(saved["recursionlimit"])


def apply(changed):
    """The caller takes the changes the call made."""
    fields = (changed or {}).get("decimal")
    if fields is not None:
        _set_decimal(sys.modules["decimal"], fields)
