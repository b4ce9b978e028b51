"""Per-call overhead of FaaSified calls on the in-process transport.

Run through bench/runtime_overhead.sh, which compiles the programs this needs with the
release binary. Two measurements:

1. A trivial function (``def inc(x): return x + 1``): the driver lambada generated is
   imported as a module and its stub ``inc`` is called N times (default 10,000), against
   N direct calls of the same function defined here. Best of 5; microseconds per call.
2. The seed example fixtures/fib_counter.py with ``level = 20``: wall time of whole
   processes, ``python3 fib_counter.py`` against the FaaSified copies compiled with
   ``--remote-calls driver`` and ``--remote-calls all``. With ``all`` every call of fib
   is an invocation; a separate run counts them by wrapping ``lambada_runtime.invoke``
   in every copy of the runtime module the process loads.
3. Optionally the same program without its ``math.sin`` loop (which takes nearly all of
   the original's time at level 20): plain recursion, original against ``all``.

    python3 bench/runtime_overhead.py --tiny DIR --original FILE --driver FILE --all FILE \
        [--plain-original FILE --plain-all FILE]
    python3 bench/runtime_overhead.py count-invocations DRIVER   (used by the above)
"""

import argparse
import importlib.abc
import importlib.machinery
import os
import runpy
import statistics
import subprocess
import sys
import time


def inc(x):
    return x + 1


def per_call_us(function, calls, repeats=5):
    """Best of ``repeats`` loops of ``calls`` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for i in range(calls):
            function(i)
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


def trivial_function(tiny_dir, module, calls):
    sys.path.insert(0, tiny_dir)
    driver = __import__(module)
    stub = driver.inc
    assert stub(41) == 42, "the stub does not return what the function returns"
    direct = per_call_us(inc, calls)
    faasified = per_call_us(stub, calls)
    print("trivial function, in-process transport, %d calls, best of 5:" % calls)
    print("  direct call      %9.3f us/call" % direct)
    print("  FaaSified stub   %9.3f us/call   (%.0fx the direct call; overhead %.1f us/call)"
          % (faasified, faasified / direct, faasified - direct))


def wall_times(command, runs, env):
    """Wall times in seconds of ``runs`` runs of ``command``, and the output of the last."""
    times = []
    out = None
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - started)
        out = done.stdout
    return times, out


def fib_processes(title, python, variants, runs, expected):
    """Wall times of the original (first variant) and its FaaSified copies; with the
    last one (--remote-calls all) the invocations are counted and must be ``expected``."""
    env = dict(os.environ, LAMBADA_TRANSPORT="inprocess")
    rows = []
    outputs = {}
    for label, path in variants:
        times, out = wall_times([python, path], runs, env)
        outputs[label] = out
        rows.append((label, path, min(times), statistics.median(times)))
    original = variants[0][1]
    for label, _ in variants[1:]:
        assert outputs[label] == outputs["original"], (
            "%s prints %r, the original %r" % (label, outputs[label], outputs["original"]))
    all_calls = variants[-1][1]
    counted = subprocess.run([python, os.path.abspath(__file__), "count-invocations", all_calls],
                             env=env, capture_output=True, text=True, check=True)
    invocations = int(counted.stderr.strip().splitlines()[-1])
    if expected is not None:
        assert invocations == expected, "%d invocations, expected %d" % (invocations, expected)

    base = rows[0][2]
    print("%s (prints %s), whole processes, best and median of %d runs:"
          % (title, " ".join(outputs["original"].split()), runs))
    for label, path, best, median in rows:
        print("  %-9s best %7.3f s  median %7.3f s  %6.2fx   %s"
              % (label, best, median, best / base, os.path.relpath(path, os.path.dirname(original))))
    extra = rows[-1][2] - base
    print("  --remote-calls all: %d invocations, %.1f us per invocation over the original "
          "(%.3f s more)" % (invocations, extra / invocations * 1e6, extra))


class _CountingFinder(importlib.abc.MetaPathFinder):
    """Wraps ``caller.remote`` (one invocation) in every copy of the lambada_runtime
    package imported from now on (the driver's and each package's own)."""

    calls = 0

    def find_spec(self, name, path, target=None):
        if name != "lambada_runtime":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        exec_module = spec.loader.exec_module

        def counting_exec(module):
            exec_module(module)
            caller = module.caller
            remote = caller.remote

            def counted(*args, **kwargs):
                _CountingFinder.calls += 1
                return remote(*args, **kwargs)

            caller.remote = counted

        spec.loader.exec_module = counting_exec
        return spec


def count_invocations(driver):
    sys.meta_path.insert(0, _CountingFinder())
    sys.path.insert(0, os.path.dirname(os.path.abspath(driver)))
    try:
        runpy.run_path(driver, run_name="__main__")
    finally:
        sys.stdout.flush()
        print(_CountingFinder.calls, file=sys.stderr)


def main():
    if sys.argv[1:2] == ["count-invocations"]:
        count_invocations(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", required=True, help="output directory of the trivial program")
    parser.add_argument("--tiny-module", default="inc_program", help="its module name")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--original", required=True, help="fib_counter.py with level = 20")
    parser.add_argument("--driver", required=True, help="its driver, --remote-calls driver")
    parser.add_argument("--all", required=True, help="its driver, --remote-calls all")
    parser.add_argument("--plain-original", help="the same without the math.sin loop")
    parser.add_argument("--plain-all", help="its driver, --remote-calls all")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--expected-invocations", type=int, default=None)
    args = parser.parse_args()
    print("Python %s" % sys.version.split()[0])
    trivial_function(args.tiny, args.tiny_module, args.calls)
    fib_processes("fib_counter.py with level = 20", sys.executable,
                  [("original", args.original), ("driver", args.driver), ("all", args.all)],
                  args.runs, args.expected_invocations)
    if args.plain_original and args.plain_all:
        fib_processes("the same without the math.sin loop", sys.executable,
                      [("original", args.plain_original), ("all", args.plain_all)],
                      args.runs, args.expected_invocations)


if __name__ == "__main__":
    main()
