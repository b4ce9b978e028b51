"""Runtime behaviour end to end on the in-process transport, on layouts faasify.py makes:
the seed example's counter, values that cannot travel (the call runs through the local
twin, and LAMBADA_STATS_FILE counts it), the transport forced by LAMBADA_TRANSPORT, a
missing package, threads' output kept apart, and the remote traceback of an exception."""

import json
import re
import sys

import pytest

from conftest import clean_env, interpreters, run_python

PYTHONS = interpreters()


def test_seed_example_counter_survives_recursion(layout):
    result = run_python(sys.executable, layout("fib_counter"), "app.py")
    assert result.stdout.splitlines() == ["144 465", "5 480"], result.stderr


def test_seed_example_with_remote_calls_all(layout):
    result = run_python(sys.executable, layout("fib_counter", remote_calls="all"), "app.py")
    assert result.stdout.splitlines() == ["144 465", "5 480"], result.stderr


def test_values_that_cannot_travel_run_the_call_locally(layout, tmp_path):
    root = layout("cannot_travel", moved={"consume", "give"})
    original = run_python(sys.executable, root, "original.py")
    stats_file = tmp_path / "stats.json"
    result = run_python(sys.executable, root, "app.py", env=clean_env(LAMBADA_STATS_FILE=str(stats_file)))
    assert result.stderr == ""
    assert result.stdout == original.stdout
    # What the local runs did is visible: the generator advanced, the StringIO written, the
    # logger's handler wrote to stdout.
    assert "left in the generator [1, 2]" in result.stdout
    assert "buffer holds 'written by consume'" in result.stdout
    assert "log: logged by consume" in result.stdout
    stats = json.loads(stats_file.read_text())
    assert stats["calls"] == {"consume": 9, "give": 4}
    consume = stats["fallbacks"]["consume"]
    assert consume["count"] == 6
    reasons = "\n".join(consume["reasons"])
    for type_name in ("generator", "lock", "TextIOWrapper", "StringIO", "Logger"):
        assert "is a %s object, which cannot travel" % type_name in reasons
    assert "argument 'key' is a TextIOWrapper object, which cannot travel" in reasons
    give = stats["fallbacks"]["give"]
    assert give["count"] == 2
    assert all(reason.startswith("its result cannot travel back") for reason in give["reasons"])


def test_fallbacks_are_reported_with_lambada_verbose(layout):
    root = layout("issue8_08_stringio_argument")
    result = run_python(sys.executable, root, "app.py", env=clean_env(LAMBADA_VERBOSE="1"))
    assert result.stdout == "row 1\nrow 2\n"
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0] == lines[1], result.stderr
    assert lines[0].startswith("lambada: write_row() ran locally: argument 'out'"), lines
    assert "StringIO" in lines[0] and "cannot travel" in lines[0]


def test_request_over_6_mb_is_refused_before_sending(layout):
    program = "def size(s):\n    return len(s)\n\n\nprint(size('x' * (7 * 1024 * 1024)))\n"
    result = run_python(sys.executable, layout(program), "app.py")
    assert result.returncode == 1
    assert re.fullmatch(
        r"lambada_runtime\.errors\.PayloadTooLargeError: cannot call cloud function app-size: the request "
        r"is 734\d{4} bytes, over the 6291456-byte \(6 MB\) limit of a Lambda invocation; pass less data, "
        r"e\.g\. a key of data stored elsewhere", result.stderr.splitlines()[-1]), result.stderr[-500:]


def test_transport_can_be_forced_by_environment(layout):
    result = run_python(sys.executable, layout("fib_counter"), "app.py", env=clean_env(LAMBADA_TRANSPORT="nope"))
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert "RemoteError" in last and "Lambada.BadTransport" in last and "'nope'" in last


def test_missing_package_is_a_remote_error(layout):
    root = layout("fib_counter")
    (root / "functions" / "fib" / "lambada_handler.py").write_text("import no_such_dependency\n")
    result = run_python(sys.executable, root, "app.py")
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("lambada_runtime.errors.RemoteError: cloud function app-fib failed: "
                           "Runtime.ImportModuleError:"), last
    assert "No module named 'no_such_dependency'" in last


THREADS = '''
import concurrent.futures
import sys


def square(n):
    for part in range(3):
        print("square", n, "part", part)
    return n * n


if __name__ == "__main__":
    stdout = sys.stdout
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(square, range(200)))
    print(results == [n * n for n in range(200)], sys.stdout is stdout)
'''


def test_concurrent_calls_from_threads_keep_their_output_apart(layout):
    result = run_python(sys.executable, layout(THREADS), "app.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "True True"
    # Each call's output arrives whole (replayed at once), none lost, none doubled.
    calls = [lines[i:i + 3] for i in range(0, len(lines) - 1, 3)]
    assert len(calls) == 200
    for call in calls:
        n = call[0].split()[1]
        assert call == ["square %s part %d" % (n, part) for part in range(3)]
    assert sorted(int(call[0].split()[1]) for call in calls) == list(range(200))


PROBE = '''
import sys
import traceback

import lambada_runtime


class AppError(Exception):
    pass


@lambada_runtime.cloud("check", globals())
def check(n):
    if n > 2:
        raise AppError("too big: %d" % n)
    return n


try:
    check(5)
except AppError as exc:
    text = lambada_runtime.remote_traceback(exc)
    print(type(exc).__name__, exc.args, hasattr(exc, "__notes__"))
    print(text.splitlines()[0])
    print(text.splitlines()[-1])
    print("raise AppError" in text, "functions/check/lambada_handler.py" in text)
    print(traceback.format_exception_only(type(exc), exc))
print(lambada_runtime.remote_traceback(ValueError("never raised remotely")))
'''


@pytest.mark.parametrize("python", sorted(PYTHONS.values()), ids=sorted(PYTHONS))
def test_remote_traceback_is_kept_beside_the_exception_with_no_notes(layout, tmp_path, python):
    root = layout(THREADS.replace("def square", "class AppError(Exception):\n    pass\n\n\ndef check(n):\n    "
                                  "if n > 2:\n        raise AppError('too big: %d' % n)\n    return n\n\n\ndef square"),
                  moved={"check"})
    (root / "probe.py").write_text(PROBE)
    result = run_python(python, root, "probe.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "AppError ('too big: 5',) False",
        "Traceback (most recent call last):",
        "AppError: too big: 5",
        "True True",
        "['AppError: too big: 5\\n']",
        "None",
    ]


def test_uncaught_exception_prints_the_remote_traceback_after_the_local_one(layout):
    root = layout("uncaught_program", moved={"check"})
    result = run_python(sys.executable, root, "app.py")
    assert result.returncode == 1
    local, marker, remote = result.stderr.partition(
        "\nThe exception above was raised in cloud function app-check; its traceback there:\n")
    assert marker, result.stderr
    assert local.startswith("Traceback (most recent call last):\n")
    assert local.splitlines()[-1].endswith("AppError: too big: 5")  # __main__.AppError on 3.9, 3.10
    assert "lambada_runtime" not in remote
    assert remote.startswith("Traceback (most recent call last):\n")
    assert 'raise AppError("too big: %d" % n)' in remote
    assert remote.splitlines()[-1] == "AppError: too big: 5"


def test_system_exit_code_and_no_remote_traceback(layout):
    result = run_python(sys.executable, layout("system_exit"), "app.py")
    assert (result.returncode, result.stdout, result.stderr) == (3, "start\nleaving with 3\n", "")
