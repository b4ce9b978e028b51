"""Process-wide interpreter state a cloud function depends on, carried with each call:

- the ``decimal`` context of the calling thread (precision, rounding, exponent limits,
  capitals, clamp, traps and flags), when the caller has imported decimal; changes the
  function makes to it come back;
- the recursion limit, when the caller raised or lowered it.

The global ``random`` generator is not carried: functions that use it stay local (see
the compiler's plan), since a cloud function would draw other numbers.
"""

import re
import sys

_DEFAULT_LIMIT = 1000
# A context's repr names every field (the C and the Python implementation agree): it is
# both the cheapest snapshot and the wire form. Parsed only when it differs.
_CONTEXT = re.compile(
    r"Context\(prec=(\d+), rounding=(\w+), Emin=(-?\d+), Emax=(\d+), capitals=(\d), "
    r"clamp=(\d), flags=\[([\w, ]*)\], traps=\[([\w, ]*)\]\)")


def snapshot():
    """What the caller's interpreter says now, or None when all is at its defaults."""
    state = None
    decimal = sys.modules.get("decimal")
    if decimal is not None:
        state = {"decimal": repr(decimal.getcontext())}
    limit = sys.getrecursionlimit()
    if limit != _DEFAULT_LIMIT:
        state = state or {}
        state["recursionlimit"] = limit
    return state


def _set_decimal(decimal, text):
    ctx = decimal.getcontext()
    if repr(ctx) == text:
        return
    found = _CONTEXT.fullmatch(text)
    if found is None:
        return
    prec, rounding, emin, emax, capitals, clamp, flags, traps = found.groups()
    ctx.prec, ctx.rounding, ctx.Emin, ctx.Emax = int(prec), rounding, int(emin), int(emax)
    ctx.capitals, ctx.clamp = int(capitals), int(clamp)
    flags = set(flags.replace(" ", "").split(",")) - {""}
    traps = set(traps.replace(" ", "").split(",")) - {""}
    for signal in list(ctx.traps):
        ctx.traps[signal] = signal.__name__ in traps
        ctx.flags[signal] = signal.__name__ in flags


def enter(state):
    """Takes on the caller's state for one call; returns what to restore afterwards."""
    if not state:
        return None
    saved = {}
    text = state.get("decimal")
    if text is not None:
        import decimal

        current = repr(decimal.getcontext())
        if current != text:  # in-process, the caller's context is this thread's already
            saved["decimal"] = current
            _set_decimal(decimal, text)
    limit = state.get("recursionlimit")
    if limit:
        saved["recursionlimit"] = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 64))
    return saved


def changes(state):
    """What the call changed in the state the caller sent (to be applied by the caller)."""
    if not state or "decimal" not in state:
        return None
    now = repr(sys.modules["decimal"].getcontext())
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
    text = (changed or {}).get("decimal")
    if text is not None:
        _set_decimal(sys.modules["decimal"], text)
