"""End to end on the in-process transport: each layout in runtime_fixtures/ is what the
compiler generates for its original.py; both run under every installed Python 3.9-3.13 and
must behave the same (stdout, stderr or the last traceback line, exit status)."""

import re
import sys

import pytest

from conftest import clean_env, interpreters, run_python

PYTHONS = interpreters()
DIFFERENTIAL = [
    "fib_counter",
    "fib_counter_all",
    "mutable_globals",
    "output",
    "exceptions",
    "uncaught_program",
    "uncaught_stdlib",
    "uncaught_builtin",
    "system_exit",
    "classes",
    "values",
    "nested_output",
]


def normalised(text):
    return re.sub(r"0x[0-9a-f]+", "0x…", text)


def python_version(python):
    version = next(v for v, p in PYTHONS.items() if p == python)
    return tuple(int(part) for part in version.split("."))


@pytest.mark.parametrize("python", sorted(PYTHONS.values()), ids=sorted(PYTHONS))
@pytest.mark.parametrize("scenario", DIFFERENTIAL)
def test_faasified_program_behaves_like_the_original(layout, scenario, python):
    root = layout(scenario)
    original = run_python(python, root, "original.py")
    faasified = run_python(python, root, "app.py")
    assert normalised(faasified.stdout) == normalised(original.stdout)
    assert faasified.returncode == original.returncode, faasified.stderr
    if "Traceback" not in original.stderr:
        assert faasified.stderr == original.stderr
        return
    # An uncaught exception: the "Type: message" line ends both outputs.
    assert faasified.stderr.splitlines()[-1] == original.stderr.splitlines()[-1]
    if python_version(python) >= (3, 11):
        assert "Remote traceback (cloud function app-check):" in faasified.stderr
        assert "functions/check/lambada_handler.py" in faasified.stderr


def test_seed_example_counter_survives_recursion(layout):
    result = run_python(sys.executable, layout("fib_counter"), "app.py")
    assert result.stdout.splitlines() == ["144 465", "5 480"]


def test_values_that_cannot_travel_are_refused_before_sending(layout):
    result = run_python(sys.executable, layout("travel_errors"), "app.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        "TypeError: cannot send argument 'f' of consume(): objects of type 'generator' cannot travel "
        "to a cloud function",
        "TypeError: cannot send argument '*more' (item 1) of consume(): objects of type 'lock' cannot "
        "travel to a cloud function",
        "TypeError: cannot send argument 'key' of consume(): objects of type 'TextIOWrapper' cannot "
        "travel to a cloud function",
        # A lambda travels as its code: consume() then fails on it as the original does.
        "TypeError: object of type 'function' has no len()",
        "TypeError: cannot send argument 'f' of consume(): objects of type 'lock' cannot travel to a "
        "cloud function",
        "ValueError: cannot send argument 'f' of consume(): the value contains a reference cycle or is "
        "nested too deeply to travel to a cloud function",
        "PayloadTooLargeError: cannot call cloud function app-consume: the request is 7340080 bytes, "
        "over the 6291456-byte (6 MB) limit of a Lambda invocation; pass less data, e.g. a key of data "
        "stored elsewhere",
        "returned 5",
        lines[8],
        "TypeError: cannot send back the result of give(): objects of type 'lock' cannot travel from a "
        "cloud function",
        lines[10],
    ]
    # Iterators come back materialised, as iterators.
    assert lines[8].startswith("returned <list_iterator object")
    assert lines[10].startswith("returned <list_iterator object")


def test_transport_can_be_forced_by_environment(layout):
    result = run_python(sys.executable, layout("fib_counter"), "app.py", env=clean_env(LAMBADA_TRANSPORT="nope"))
    assert result.returncode == 1
    assert "Lambada.BadTransport" in result.stderr.splitlines()[-1]


def test_missing_package_is_a_remote_error(layout):
    root = layout("fib_counter")
    (root / "functions" / "fib" / "lambada_handler.py").write_text("import no_such_dependency\n")
    result = run_python(sys.executable, root, "app.py")
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("lambada_runtime.RemoteError: cloud function app-fib failed: Runtime.ImportModuleError:")
    assert "No module named 'no_such_dependency'" in last


def test_concurrent_calls_from_threads_keep_their_output_apart(layout):
    result = run_python(sys.executable, layout("threads"), "app.py")
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


@pytest.mark.parametrize("python", sorted(PYTHONS.values()), ids=sorted(PYTHONS))
def test_remote_traceback_is_a_note_or_an_attribute(layout, python):
    result = run_python(python, layout("uncaught_program"), "probe.py")
    assert result.returncode == 0, result.stderr
    has_notes = python_version(python) >= (3, 11)
    assert result.stdout.splitlines() == [
        "AppError ('too big: 5',) %s" % has_notes,
        "AppError: too big: 5",
        "True",
    ]
