#!/usr/bin/env python3
"""Runs the differential corpus built by build.py against a lambada binary.

For every program in target/corpus/manifest.json: runs the original with Python (cwd =
its directory, stdin empty, 20 s limit), compiles it with
`lambada --local -q -o <tmp> --remote-calls <mode> prog.py` for each call mode
(driver and all), runs the FaaSified copy the same way (cwd = its directory) and
compares stdout, stderr and the exit status.  In stderr, the directory of each program
reads <dir>, a traceback is compared by its final line, and the block the runtime adds
after an uncaught exception's traceback ("The exception above was raised in cloud
function ...") is dropped.  A compile failure counts as a failure, with its message.

Writes target/corpus/report.json and prints the pass rate per mode and per source, and
for each failure a one-line cause and the first differing lines.  With --known FILE,
failures listed there are expected; with --check the exit status is 1 if a program
outside that list fails or a listed failure now passes.  Standard library only.

    python3 tests/corpus/run.py --lambada target/debug/lambada [--known FILE] [--check]
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODES = ("driver", "all")
REMOTE_BLOCK = "The exception above was raised in cloud function"
TRACEBACK = "Traceback (most recent call last):"


def source_matches(prog, patterns):
    """Whether the program's source matches one of the regexes (--containing)."""
    with open(prog["file"], encoding="utf-8", errors="replace") as f:
        text = f.read()
    return any(re.search(pattern, text) for pattern in patterns)


def run_cmd(argv, cwd, timeout, env):
    """(exit status or None on timeout, stdout, stderr, seconds); the whole process group
    is killed on timeout."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = proc.communicate()
        code = None
    return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - start


def norm_stderr(text, dirs):
    """stderr as compared: program directories replaced, the runtime's remote-traceback
    block dropped, every traceback reduced to its final line."""
    for d in dirs:
        text = text.replace(d + os.sep, "<dir>/").replace(d, "<dir>")
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(REMOTE_BLOCK):
            # The block runs to the end of its own traceback: skip to the next line that
            # is not part of it (a blank line ends it, else the rest of stderr).
            j = i + 1
            while j < len(lines) and lines[j].strip():
                j += 1
            i = j
            continue
        if line.startswith(TRACEBACK):
            # The traceback's final line: the first unindented line after the frames.
            j = i + 1
            while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
                j += 1
            final = lines[j] if j < len(lines) else ""
            # Chained exceptions ("During handling ...", "The above exception ...") are
            # collapsed too: only the last traceback's final line is kept.
            while j + 1 < len(lines) and (
                lines[j + 1].startswith("During handling")
                or lines[j + 1].startswith("The above exception")
                or (not lines[j + 1].strip() and j + 2 < len(lines) and lines[j + 2].startswith(("During handling", "The above exception")))
            ):
                k = j + 1
                while k < len(lines) and not lines[k].startswith(TRACEBACK):
                    k += 1
                if k >= len(lines):
                    break
                j = k + 1
                while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
                    j += 1
                final = lines[j] if j < len(lines) else ""
            out.append("<traceback> " + final)
            i = j + 1
            continue
        out.append(line)
        i += 1
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def first_difference(a, b):
    """The first differing line of a and b, as (line number, a's line, b's line)."""
    la, lb = a.splitlines(), b.splitlines()
    for n in range(max(len(la), len(lb))):
        x = la[n] if n < len(la) else "<end>"
        y = lb[n] if n < len(lb) else "<end>"
        if x != y:
            return n + 1, x[:160], y[:160]
    return None


def doctest_failure(text):
    """The first failed doctest example in a `-v` or failure report, in one line:
    the example, then what was expected and what came (or the exception's final line)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != "Failed example:":
            continue
        j = i + 1
        example = []
        while j < len(lines) and lines[j].startswith("    "):
            example.append(lines[j].strip())
            j += 1
        def block(j):
            body = []
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()) and not lines[j].startswith("*"):
                if lines[j].strip():
                    body.append(lines[j].strip())
                j += 1
            return body, j

        head = lines[j].strip() if j < len(lines) else ""
        body, j = block(j + 1)
        if head == "Exception raised:":
            what = "raised " + (body[-1] if body else "?")
        elif head == "Expected:":
            got = []
            if j < len(lines) and lines[j].strip() == "Got:":
                got, j = block(j + 1)
            elif j < len(lines) and lines[j].strip() == "Got nothing":
                got = ["nothing"]
            def short(b):
                return b[-1] if b and b[0].startswith(TRACEBACK) else " / ".join(b)

            what = "expected %s, got %s" % (short(body)[:100], short(got)[:100])
        else:
            what = (head + " " + " / ".join(body))[:160]
        return ("doctest: %s -> %s" % (" ".join(example)[:80], what))[:300]
    return None


def last_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1].strip()[:200] if lines else ""


def env_for_programs():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("LAMBADA_") or k in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONWARNINGS"):
            del env[k]
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env["LC_ALL"] = "C.UTF-8"
    return env


def check_program(prog, opts):
    env = env_for_programs()
    path = prog["file"]
    pdir, fname = os.path.split(path)
    stem = fname[:-3]
    py = opts.python
    orig = run_cmd([py, fname] + prog["args"], pdir, opts.timeout, env)
    result = {"id": prog["id"], "source": prog["source"], "origin": prog["origin"], "original": {
        "exit": orig[0], "seconds": round(orig[3], 3)}, "modes": {}}
    for mode in opts.modes:
        r = {"mode": mode}
        tmp = tempfile.mkdtemp(prefix="lambada-corpus-")
        try:
            comp = run_cmd(
                [opts.lambada, "--local", "-q", "-o", tmp, "--remote-calls", mode, fname],
                pdir, opts.timeout, env,
            )
            r["compile_seconds"] = round(comp[3], 3)
            if comp[0] != 0:
                msg = last_line(comp[2]) or last_line(comp[1]) or "no message"
                r.update(ok=False, cause="compile error (exit %s): %s" % (comp[0], msg))
                result["modes"][mode] = r
                continue
            cdir = os.path.join(tmp, stem)
            if not os.path.isfile(os.path.join(cdir, fname)):
                r.update(ok=False, cause="compile error: no %s/%s written" % (stem, fname))
                result["modes"][mode] = r
                continue
            new = run_cmd([py, fname] + prog["args"], cdir, opts.timeout, env)
            r["seconds"] = round(new[3], 3)
            r["exit"] = new[0]
            dirs = [pdir, cdir, os.path.realpath(pdir), os.path.realpath(cdir)]
            err_a, err_b = norm_stderr(orig[2], dirs), norm_stderr(new[2], dirs)
            cause, diff = None, None
            if orig[0] is None:
                cause = "the original timed out (%d s)" % opts.timeout
            elif new[0] is None:
                cause = "timeout: the FaaSified copy ran over %d s" % opts.timeout
                diff = first_difference(orig[1], new[1])
            elif orig[0] != new[0]:
                cause = "exit status %s, the original's %s: %s" % (new[0], orig[0], last_line(err_b) or "(no stderr)")
                diff = first_difference(orig[1], new[1]) or first_difference(err_a, err_b)
            elif orig[1] != new[1]:
                cause = "stdout differs (exit status the same: silent)"
                diff = first_difference(orig[1], new[1])
                if diff is None:
                    diff = (0, repr(orig[1][-80:]), repr(new[1][-80:]))
            elif err_a != err_b:
                cause = "stderr differs"
                diff = first_difference(err_a, err_b)
            dt = doctest_failure(new[1]) if cause and not doctest_failure(orig[1]) else None
            if dt:
                r["doctest"] = dt
            r["ok"] = cause is None
            if cause:
                r["cause"] = cause
            if diff:
                r["first_difference"] = {"line": diff[0], "original": diff[1], "faasified": diff[2]}
            if cause and not diff and err_b:
                r["stderr_tail"] = last_line(err_b)
        finally:
            if opts.keep:
                r["output_dir"] = tmp
            else:
                shutil.rmtree(tmp, ignore_errors=True)
        result["modes"][mode] = r
    return result


def read_known(path):
    """{(id, mode): (cause, tolerated)} from a known-failures file, one entry a line:
    `[~]source/name[:mode]  cause`. Without a mode the entry covers both modes; a
    leading `~` marks a result that depends on the machine's load (a run near the time
    limit): it may pass or fail without being reported."""
    known = {}
    if not path or not os.path.exists(path):
        return known
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            key = parts[0]
            cause = parts[1].strip() if len(parts) > 1 else ""
            if not cause:
                raise SystemExit("%s:%d: a known failure needs a cause" % (path, n))
            tolerated = key.startswith("~")
            pid, _, mode = key.lstrip("~").partition(":")
            modes = [mode] if mode else list(MODES)
            for m in modes:
                if m not in MODES:
                    raise SystemExit("%s:%d: unknown mode %r" % (path, n, m))
                known[(pid, m)] = (cause, tolerated)
    return known


def git_head():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", "src", "templates"],
                               capture_output=True, text=True).stdout.strip()
        return head + (" (src/templates modified)" if dirty else "")
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lambada", required=True)
    ap.add_argument("--manifest", default=os.path.join(ROOT, "target", "corpus", "manifest.json"))
    ap.add_argument("--report", default=None, help="default: report.json beside the manifest")
    ap.add_argument("--known", default=None, help="known failures file")
    ap.add_argument("--check", action="store_true", help="exit 1 on an unexpected failure or a known failure that passes")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=20)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--only", action="append", help="run only programs whose id contains this")
    ap.add_argument("--containing", action="append", metavar="REGEX",
                    help="run only programs whose source (or a sibling's) matches this regex, e.g. '\\byield\\b'")
    ap.add_argument("--keep", action="store_true", help="keep the FaaSified copies")
    ap.add_argument("--label", default=None, help="what the report says was tested (default: git HEAD)")
    opts = ap.parse_args()
    opts.modes = [m for m in opts.modes.split(",") if m]
    opts.lambada = os.path.abspath(opts.lambada)
    with open(opts.manifest, encoding="utf-8") as f:
        manifest = json.load(f)
    programs = manifest["programs"]
    if opts.only:
        programs = [p for p in programs if any(o in p["id"] for o in opts.only)]
    if opts.containing:
        programs = [p for p in programs if source_matches(p, opts.containing)]
    known = read_known(opts.known)
    if not programs:
        print("corpus: no program to run in %s: run build.py first" % opts.manifest, file=sys.stderr)
        return 2

    start = time.monotonic()
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as ex:
        for res in ex.map(lambda p: check_program(p, opts), programs):
            results.append(res)
    elapsed = time.monotonic() - start

    # Summary.
    sources = sorted({r["source"] for r in results})
    summary = {"modes": {}, "sources": {}}
    for mode in opts.modes:
        rs = [r["modes"][mode] for r in results]
        summary["modes"][mode] = {"passed": sum(x["ok"] for x in rs), "total": len(rs)}
        for s in sources:
            rs = [r["modes"][mode] for r in results if r["source"] == s]
            summary["sources"].setdefault(s, {})[mode] = {"passed": sum(x["ok"] for x in rs), "total": len(rs)}
    unexpected, fixed = [], []
    for r in results:
        for mode, m in r["modes"].items():
            k = known.get((r["id"], mode))
            m["known"] = k[0] if k else None
            if not m["ok"] and k is None:
                unexpected.append((r["id"], mode))
            if m["ok"] and k is not None and not k[1]:
                fixed.append((r["id"], mode))
    report = {
        "tested": opts.label or git_head(),
        "lambada": opts.lambada,
        "python": subprocess.run([opts.python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True).stdout.strip(),
        "seconds": round(elapsed, 1),
        "missing_sources": manifest.get("missing", []),
        "summary": summary,
        "unexpected_failures": ["%s:%s" % u for u in unexpected],
        "known_failures_now_passing": ["%s:%s" % f for f in fixed],
        "results": results,
    }
    report_path = opts.report or os.path.join(os.path.dirname(opts.manifest), "report.json")
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)

    def rate(d):
        return "%d/%d (%.1f %%)" % (d["passed"], d["total"], 100.0 * d["passed"] / d["total"] if d["total"] else 0.0)

    print("corpus: %d programs, tested %s, Python %s, %.0f s" % (len(results), report["tested"], report["python"], elapsed))
    for m in manifest.get("missing", []):
        print("corpus: source %s missing: %s" % (m["name"], m["why"]))
    print("failures:")
    for r in results:
        for mode, m in r["modes"].items():
            if m["ok"]:
                continue
            tag = "known" if m["known"] else "NEW  "
            print("  %s %-6s %s: %s" % (tag, mode, r["id"], m["cause"]))
            if m.get("doctest"):
                print("      %s" % m["doctest"])
            d = m.get("first_difference")
            if d:
                print("      line %s: original  %s" % (d["line"], d["original"]))
                print("      line %s: faasified %s" % (d["line"], d["faasified"]))
            elif m.get("stderr_tail"):
                print("      stderr: %s" % m["stderr_tail"])
    print("per source:")
    for s in sources:
        print("  %-16s " % s + "   ".join("%s %s" % (mode, rate(summary["sources"][s][mode])) for mode in opts.modes))
    print("pass rate: " + "   ".join("%s %s" % (mode, rate(summary["modes"][mode])) for mode in opts.modes))
    if known:
        print("known failures: %d listed; unexpected failures: %d; listed but now passing: %d"
              % (len(known), len(unexpected), len(fixed)))
        for u in unexpected:
            print("  UNEXPECTED failure %s:%s (not in the known-failures list)" % u)
        for f in fixed:
            print("  NOW PASSING %s:%s: remove it from the known-failures list" % f)
    print("report: %s" % report_path)
    if opts.check and (unexpected or fixed):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
