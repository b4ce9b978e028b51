"""lambada's profiler: runs a program once, as `python3 app.py ARGS` would, and records
what the planner's cost model needs about each *unit* (a top-level function, or a
top-level class with its methods) of the program's own module:

  calls       entries into the unit from outside it (from module code or another
              unit): each would be one invocation if the unit moved. Calls between a
              class's own methods and recursion stay inside one invocation.
  frames      every call of the unit's code, recursion and internal calls included
  inclusive   time from each entry to its exit, nanoseconds
  self        inclusive time minus the time spent in other units it called
  sizes       encoded sizes of the arguments (with the receiver's state for a method)
              and of the result, sampled, measured with lambada's own codec
              (lambada_runtime/wire.py) as the JSON the call would send
  edges       caller unit -> callee unit entry counts ("<module>" is module code)

Python 3.12+ uses sys.monitoring (PEP 669): PY_START and PY_RETURN are disabled per
code object for everything that is not a unit, so library code costs one callback per
code object, not per call; PY_UNWIND (which cannot be disabled) closes frames left by an
exception. Older Pythons use sys.setprofile, which sees every call.

Usage (lambada runs it): python3 profiler.py RAW_OUT WIRE_PY PROGRAM [ARGS...]
The program's stdin, stdout, stderr and exit status are its own.
"""

import ast
import builtins
import importlib.util
import json
import os
import sys
import threading
import time
import traceback

_now = time.perf_counter_ns

# Sizes: every call of the first FIRST_SAMPLES entries of a unit, then one in
# SAMPLE_EVERY; encoding is far slower than a call and must not dominate the run.
FIRST_SAMPLES = 4
SAMPLE_EVERY = 64
MODULE = "<module>"


def _units_by_code(tree):
    """(first line, name) of each unit function's code object -> (unit, method, kind)."""
    units = {}

    def first_line(node):
        return min([node.lineno] + [d.lineno for d in node.decorator_list])

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            units[(first_line(node), node.name)] = (node.name, None, "function")
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    units[(first_line(item), item.name)] = (node.name, item.name, "class")
    # async defs and generators are never moved: their time stays with their caller.
    return units


class _Stats:
    __slots__ = ("kind", "calls", "frames", "inclusive", "self_time", "methods",
                 "arg_sizes", "result_sizes", "cannot_travel")

    def __init__(self, kind):
        self.kind = kind
        self.calls = 0
        self.frames = 0
        self.inclusive = 0
        self.self_time = 0
        self.methods = {}
        self.arg_sizes = []
        self.result_sizes = []
        self.cannot_travel = 0


class Profiler:
    def __init__(self, path, source, wire):
        self.path = path
        self.wire = wire
        self.by_location = _units_by_code(ast.parse(source, path))
        self.code_units = {}  # code object -> (unit, method) or None
        self.stats = {}
        self.edges = {}
        self.stacks = {}  # thread id -> [frame records]
        self.paused = 0  # nanoseconds spent measuring sizes, excluded from all timings

    # -- which code is a unit -------------------------------------------------------

    def unit_of(self, code):
        try:
            return self.code_units[code]
        except KeyError:
            pass
        found = None
        if code.co_filename == self.path and not code.co_flags & 0x2A0:  # generator, coroutine, async generator
            found = self.by_location.get((code.co_firstlineno, code.co_name))
        self.code_units[code] = found
        return found

    def stack(self):
        ident = threading.get_ident()
        stack = self.stacks.get(ident)
        if stack is None:
            stack = self.stacks[ident] = []
        return stack

    # -- events -----------------------------------------------------------------------

    def start(self, code, frame):
        """A unit's code starts; ``frame`` is its frame, or None under sys.monitoring."""
        unit, method, kind = self.code_units[code]
        stack = self.stack()
        stats = self.stats.get(unit)
        if stats is None:
            stats = self.stats[unit] = _Stats(kind)
        stats.frames += 1
        if method is not None:
            counts = stats.methods.get(method)
            if counts is None:
                counts = stats.methods[method] = [0, 0, 0, 0]  # frames, calls, inclusive, self
            counts[0] += 1
        caller = stack[-1] if stack else None
        entry = caller is None or caller[1] != unit
        sampled = False
        if entry:
            stats.calls += 1
            if method is not None:
                counts[1] += 1
            edge = (caller[1] if caller else MODULE, unit)
            self.edges[edge] = self.edges.get(edge, 0) + 1
            n = stats.calls
            if n <= FIRST_SAMPLES or n % SAMPLE_EVERY == 0:
                sampled = True
                # sys.monitoring gives no frame: the program's is the caller of on_start.
                frame = frame or sys._getframe(2)
                self.sample(stats, stats.arg_sizes, lambda: list(frame.f_locals.values()))
        # [code, unit, is entry, entry index, start, paused at start, time in other units, sampled]
        index = len(stack) if entry else caller[3]
        stack.append([code, unit, entry, index, _now(), self.paused, 0, sampled])

    def finish(self, code, value, unwinding):
        stack = self.stack()
        if not stack or stack[-1][0] is not code:
            return  # a frame that started before profiling began
        record = stack.pop()
        if not record[2]:
            return
        stats = self.stats[record[1]]
        if record[7] and not unwinding:
            self.sample(stats, stats.result_sizes, lambda: [value])
        elapsed = _now() - record[4] - (self.paused - record[5])
        stats.inclusive += elapsed
        stats.self_time += elapsed - record[6]
        method = self.code_units[code][1]
        if method is not None:
            counts = stats.methods[method]
            counts[2] += elapsed
            counts[3] += elapsed - record[6]
        if stack:
            stack[stack[-1][3]][6] += elapsed

    def sample(self, stats, into, values):
        started = _now()
        try:
            encoder, roots = self.wire.encode(values())
            into.append(len(json.dumps([encoder.records, roots], separators=(",", ":"), default=str)))
        except Exception:
            stats.cannot_travel += 1
        self.paused += _now() - started

    # -- installing -------------------------------------------------------------------

    def install(self):
        tool = _free_tool_id() if sys.version_info >= (3, 12) else None
        if tool is not None:
            self._install_monitoring(tool)
        else:
            self._install_setprofile()

    def _install_monitoring(self, tool):
        mon = sys.monitoring
        mon.use_tool_id(tool, "lambada profile")
        disable = mon.DISABLE
        unit_of = self.unit_of
        start, finish = self.start, self.finish

        def on_start(code, offset):
            if unit_of(code) is None:
                return disable
            start(code, None)

        def on_return(code, offset, value):
            if unit_of(code) is None:
                return disable
            finish(code, value, False)

        def on_unwind(code, offset, exc):
            if unit_of(code) is not None:
                finish(code, None, True)

        events = mon.events
        mon.register_callback(tool, events.PY_START, on_start)
        mon.register_callback(tool, events.PY_RETURN, on_return)
        mon.register_callback(tool, events.PY_UNWIND, on_unwind)
        mon.set_events(tool, events.PY_START | events.PY_RETURN | events.PY_UNWIND)
        self.mechanism = "sys.monitoring"

        def uninstall():
            mon.set_events(tool, 0)
            mon.free_tool_id(tool)

        self.uninstall = uninstall

    def _install_setprofile(self):
        unit_of = self.unit_of
        start, finish = self.start, self.finish

        def on_event(frame, event, arg):
            if event == "call":
                code = frame.f_code
                if unit_of(code) is not None:
                    start(code, frame)
            elif event == "return":
                code = frame.f_code
                if unit_of(code) is not None:
                    # An exception leaves with arg None and f_lasti not at a return;
                    # both end the frame, which is all the timing needs.
                    finish(code, arg, False)

        sys.setprofile(on_event)
        threading.setprofile(on_event)
        self.mechanism = "sys.setprofile"

        def uninstall():
            sys.setprofile(None)
            threading.setprofile(None)

        self.uninstall = uninstall

    # -- the result -------------------------------------------------------------------

    def result(self, program, wall_ns, exit_code):
        units = {}
        for name, s in self.stats.items():
            units[name] = {
                "kind": s.kind,
                "calls": s.calls,
                "frames": s.frames,
                "inclusive_ns": s.inclusive,
                "self_ns": s.self_time,
                "methods": {
                    name: {"frames": c[0], "calls": c[1], "inclusive_ns": c[2], "self_ns": c[3]}
                    for name, c in s.methods.items()
                },
                "arg_bytes": _sizes(s.arg_sizes),
                "result_bytes": _sizes(s.result_sizes),
                "cannot_travel": s.cannot_travel,
            }
        return {
            "version": 1,
            "program": program,
            "python": "%d.%d.%d" % sys.version_info[:3],
            "mechanism": self.mechanism,
            "size_encoder": "lambada_runtime.wire (JSON bytes)",
            "wall_ns": wall_ns,
            "exit_code": exit_code,
            "units": units,
            "edges": [
                {"caller": caller, "callee": callee, "calls": n}
                for (caller, callee), n in self.edges.items()
            ],
        }


def _free_tool_id():
    """A free sys.monitoring slot: first the two that no standard tool claims (3 and 4),
    so that a program using the profiler, coverage or debugger ids itself still can;
    None when all are taken (then sys.setprofile is used)."""
    mon = sys.monitoring
    for tool in (4, 3, mon.PROFILER_ID, mon.COVERAGE_ID, mon.DEBUGGER_ID, mon.OPTIMIZER_ID):
        if mon.get_tool(tool) is None:
            return tool
    return None


def _sizes(samples):
    if not samples:
        return {"samples": 0, "mean": 0, "max": 0}
    return {"samples": len(samples), "mean": sum(samples) // len(samples), "max": max(samples)}


def _load_wire(path):
    spec = importlib.util.spec_from_file_location("_lambada_profile_wire", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main():
    raw_out, wire_path, program = sys.argv[1:4]
    path = os.path.abspath(program)
    with open(path, "rb") as f:
        source = f.read()
    wire = _load_wire(wire_path)
    profiler = Profiler(path, source, wire)
    code = compile(source, path, "exec", dont_inherit=True)
    # The program runs as a script, as `python3 app.py` would run it.
    sys.argv = [program] + sys.argv[4:]
    sys.path[0] = os.path.dirname(path)
    main_module = type(sys)("__main__")
    main_module.__dict__.update({"__file__": path, "__builtins__": builtins, "__cached__": None})
    sys.modules["__main__"] = main_module
    exit_code = 0
    started = _now()
    profiler.install()
    try:
        exec(code, main_module.__dict__)
    except SystemExit as exc:
        exit_code = _exit_code(exc)
    except BaseException as exc:
        # The traceback the program itself would print, without this script's frame.
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        exit_code = 130 if isinstance(exc, KeyboardInterrupt) else 1
    finally:
        profiler.uninstall()
        wall = _now() - started
    try:
        sys.stdout.flush()
    except Exception:
        pass
    with open(raw_out, "w") as f:
        json.dump(profiler.result(program, wall, exit_code), f)
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
