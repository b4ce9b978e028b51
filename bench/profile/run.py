"""Profile-guided benchmark: each program here under plain Python, `lambada run` (the
static plan) and `lambada run --profile` (first run: profile, then run; second run: the
profile reused). Prints a Markdown table. Run through run.sh."""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAMBADA = sys.argv[1]
PYTHON = sys.argv[2]
RUNS = int(os.environ.get("RUNS", "3"))


def timed(cmd, cwd):
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), done.stderr))
    return elapsed, done


def median_of(cmd, cwd, before=None):
    times, last = [], None
    for _ in range(RUNS):
        if before:
            before()
        t, last = timed(cmd, cwd)
        times.append(t)
    return statistics.median(times), last


def invocations(stderr):
    found = re.search(r"(\d+) invocations", stderr)
    return int(found.group(1)) if found else 0


def main():
    work = tempfile.mkdtemp(prefix="lambada-bench-profile.")
    out = os.path.join(work, "out")
    # The host's start-up: starting it, deploying one function and its first (cold)
    # invocation, which every program below pays once.
    empty = os.path.join(work, "startup.py")
    with open(empty, "w") as f:
        f.write("def one():\n    return 1\n\n\nassert one() == 1\n")
    run = [LAMBADA, "run", "-q", "--python", PYTHON, "-o", out]
    startup, _ = median_of(run + [empty], work)
    programs = sorted(p for p in os.listdir(HERE) if p.endswith(".py") and p not in ("run.py", "payload_cost.py"))
    print("Python: %s; host start-up (`lambada run` of a program making one call to one function): %.2f s; median of %d runs"
          % (PYTHON, startup, RUNS))
    print()
    print("| program | python3 | `lambada run` | invocations | `run --profile`, first (profiles, then runs) | `run --profile`, profile reused | invocations | limit 2 x python3 + start-up | within |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in programs:
        path = os.path.join(HERE, name)
        expected = subprocess.run([PYTHON, path], capture_output=True, text=True).stdout
        plain, _ = median_of([PYTHON, path], work)
        static, done = median_of(run + ["--stats", path], work)
        assert done.stdout == expected, name
        static_invocations = invocations(done.stderr)
        profile_file = os.path.join(out, name[:-3] + ".profile.json")

        def forget():
            if os.path.exists(profile_file):
                os.remove(profile_file)

        first, done = median_of(run + ["--stats", "--profile", path], work, before=forget)
        assert done.stdout == expected, name
        reused, done = median_of(run + ["--stats", "--profile", path], work)
        assert done.stdout == expected, name
        guided_invocations = invocations(done.stderr)
        limit = 2 * plain + startup
        print("| `%s` | %.2f s | %.2f s | %d | %.2f s | %.2f s | %d | %.2f s | %s |" % (
            name, plain, static, static_invocations, first, reused, guided_invocations, limit,
            "yes" if reused <= limit else "**no**"))


if __name__ == "__main__":
    main()
