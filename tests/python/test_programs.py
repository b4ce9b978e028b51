"""Differential tests: every program in programs/ runs as it is and FaaSified by
faasify.py (the stand-in compiler), in both call modes, on the in-process transport, and
stdout, the final line of stderr (or all of it when nothing was raised) and the exit status
must match. A representative subset also runs on every installed Python 3.9-3.13."""

import sys

import pytest

from conftest import build_layout, interpreters, normalised, program_names, program_path, run_python

PYTHONS = interpreters()
HERE_PYTHON = "%d.%d" % sys.version_info[:2]

# What faasify.py moves (default: every top-level function and class). The same choices
# the compiler makes where moving everything would change the program's meaning or make it
# crawl: a moved __init__ turns every construction into an invocation.
MOVED = {
    "exceptions": {"fail"},
    "output": {"talk"},
    "uncaught_builtin": {"check"},
    "uncaught_program": {"check"},
    "uncaught_stdlib": {"check"},
    "values": {"area", "describe", "echo"},
    "issue8_linked_list_100k": {"total", "bump"},
}

# Programs whose uncaught exception comes out of a cloud function (named by its key).
UNCAUGHT = {"uncaught_builtin": "check", "uncaught_program": "check", "uncaught_stdlib": "check"}

# Run on every installed Python 3.9-3.13 too (driver mode).
REPRESENTATIVE = [
    "classes", "exceptions", "values", "uncaught_program", "issue8_09_lazy_iterators",
    "issue8_13_doctest", "issue8_14_mirror_tree",
]
SLOW = {"issue8_linked_list_100k": 120}
# Where --remote-calls all makes exactly the calls driver mode makes (no moved function calls
# another), and the run is too slow to make twice.
DRIVER_ONLY = {"issue8_linked_list_100k": "total() and bump() call no moved function: the same calls as "
                                          "in driver mode"}

_originals = {}
MARKER = "\nThe exception above was raised in cloud function "


def original_run(python, name, tmp_path_factory):
    key = (python, name)
    if key not in _originals:
        directory = tmp_path_factory.mktemp("original-" + name)
        (directory / "original.py").write_text(program_path(name).read_text())
        from conftest import MODULES
        for module in MODULES.glob("*.py"):
            (directory / module.name).write_text(module.read_text())
        _originals[key] = run_python(python, directory, "original.py", timeout=SLOW.get(name, 60))
    return _originals[key]


def check_same(name, original, faasified, python_version):
    assert normalised(faasified.stdout) == normalised(original.stdout), faasified.stderr
    assert faasified.returncode == original.returncode, faasified.stderr
    if "Traceback" not in original.stderr:
        assert faasified.stderr == original.stderr
        return
    # An uncaught exception: the local traceback ends with the same "Type: message" line;
    # the remote traceback follows it, printed by the runtime's excepthook.
    local, marker, remote = faasified.stderr.partition(MARKER)
    assert local.splitlines()[-1] == original.stderr.splitlines()[-1], faasified.stderr
    key = UNCAUGHT.get(name)
    if key is not None:
        assert marker, faasified.stderr
        assert remote.startswith("app-%s; its traceback there:\n" % key), remote
        assert "functions/%s/lambada_handler.py" % key in remote
        # (Python 3.9 and 3.10 print the original's as "__main__.AppError: ...")
        assert original.stderr.splitlines()[-1].endswith(remote.splitlines()[-1])


@pytest.mark.parametrize("mode", ["driver", "all"])
@pytest.mark.parametrize("name", program_names())
def test_faasified_program_behaves_like_the_original(name, mode, tmp_path, tmp_path_factory):
    if name in DRIVER_ONLY and mode == "all":
        pytest.skip(DRIVER_ONLY[name])
    python = sys.executable
    original = original_run(python, name, tmp_path_factory)
    root = build_layout(name, tmp_path / name, moved=MOVED.get(name), remote_calls=mode)
    faasified = run_python(python, root, "app.py", timeout=SLOW.get(name, 60))
    check_same(name, original, faasified, sys.version_info[:2])


@pytest.mark.parametrize("version", sorted(v for v in PYTHONS if v != HERE_PYTHON))
@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_on_every_python(name, version, tmp_path, tmp_path_factory):
    python = PYTHONS[version]
    original = original_run(python, name, tmp_path_factory)
    root = build_layout(name, tmp_path / name, moved=MOVED.get(name))
    faasified = run_python(python, root, "app.py")
    check_same(name, original, faasified, tuple(int(p) for p in version.split(".")))


VERIFIED = [
    "classes",
    "mutable_globals", "issue8_03_aliased_arguments", "issue8_05_stack_push",
            "issue8_14_mirror_tree", "issue8_real_cycle"]


@pytest.mark.parametrize("name", VERIFIED)
def test_verify_mode_finds_no_difference(name, tmp_path, tmp_path_factory):
    """LAMBADA_VERIFY=1: every call also runs through the twin on a copy, and the two agree."""
    import json

    from conftest import clean_env

    original = original_run(sys.executable, name, tmp_path_factory)
    root = build_layout(name, tmp_path / name, moved=MOVED.get(name))
    stats = tmp_path / "stats.json"
    faasified = run_python(sys.executable, root, "app.py",
                           env=clean_env(LAMBADA_VERIFY="1", LAMBADA_STATS_FILE=str(stats)))
    assert "lambada verify:" not in faasified.stderr, faasified.stderr
    check_same(name, original, faasified, sys.version_info[:2])
    counts = json.loads(stats.read_text())
    assert counts["verified"] >= 1 and counts["differences"] == 0, counts
