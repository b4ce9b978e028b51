"""`lambada call`: calls one function of a FaaSified program with arguments given as
Python literals, through the rewritten program's own stub (the same marshalling, state
write-back and exceptions as the program's calls). Run by lambada as
``python3 call.py OUT_DIR MODULE FUNCTION FORMAT [ARG...]``; with no ARG and ``--batch``
(FORMAT ending in ``+batch``), one call per line of stdin.

The program is imported as a module (``import app``): its definitions and module-level
code run, the ``if __name__ == "__main__":`` block does not. What the function prints
goes to stderr, so that stdout holds only results: one line per call."""

import ast
import contextlib
import importlib
import json
import sys
import traceback


def parse_call(items):
    """``["1", "x=[2, 3]"]`` -> ``((1,), {"x": [2, 3]})``: each item a literal, or
    ``name=literal`` for a keyword argument."""
    args, kwargs = [], {}
    for item in items:
        name, sep, value = item.partition("=")
        if sep and name.isidentifier() and not name.startswith(("'", '"')):
            kwargs[name] = literal(value)
        else:
            args.append(literal(item))
    return tuple(args), kwargs


def parse_line(line):
    """A batch line: a tuple of arguments (``(1, 2)``), or one literal (``5``)."""
    value = literal(line)
    if isinstance(value, tuple):
        return value, {}
    return (value,), {}


def literal(text):
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError) as exc:
        raise ArgumentError(
            f"{text!r} is not a Python literal ({exc.__class__.__name__}); quote strings "
            f"for the shell too: '\"text\"'"
        ) from None


class ArgumentError(Exception):
    pass


def jsonable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return None


def run_one(func, args, kwargs, fmt):
    """Calls and prints one result line; returns False on an exception."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = func(*args, **kwargs)
    except Exception as exc:  # the function's exception is the answer
        if fmt == "json":
            print(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}))
        else:
            traceback.print_exc(file=sys.stderr)
            print(f"{type(exc).__name__}: {exc}")
        return False
    if fmt == "json":
        print(json.dumps({"result": repr(result), "value": jsonable(result)}))
    else:
        print(repr(result))
    sys.stdout.flush()
    return True


def main():
    out_dir, module, name, fmt = sys.argv[1:5]
    items = sys.argv[5:]
    batch = fmt.endswith("+batch")
    fmt = fmt.split("+")[0]
    sys.path.insert(0, out_dir)
    sys.argv = [module + ".py"]
    program = importlib.import_module(module)
    func = getattr(program, name, None)
    if not callable(func):
        print(f"lambada call: error: {module} has no function {name!r}", file=sys.stderr)
        return 2
    ok = True
    try:
        if not batch:
            args, kwargs = parse_call(items)
            return 0 if run_one(func, args, kwargs, fmt) else 1
        for number, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            try:
                args, kwargs = parse_line(line)
            except ArgumentError as exc:
                print(f"lambada call: error: stdin line {number}: {exc}", file=sys.stderr)
                return 2
            ok = run_one(func, args, kwargs, fmt) and ok
    except ArgumentError as exc:
        print(f"lambada call: error: {exc}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
