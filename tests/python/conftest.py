"""Shared fixtures of the runtime tests.

A "layout" is a directory that looks like what `lambada --local app.py` writes (see
templates/CONTRACT.md): the driver app.py, lambada.json, functions/<key>/ packages with
their handler module and package manifest, and a copy of the runtime package
(templates/lambada_runtime/) next to the driver and in every package. Layouts are made by
faasify.py, a small stand-in for the compiler, from the programs in programs/.
"""

import glob
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNTIME = pathlib.Path(os.environ.get("LAMBADA_TEST_RUNTIME") or ROOT / "templates" / "lambada_runtime")
PROGRAMS = HERE / "programs"
MODULES = PROGRAMS / "modules"  # local modules the programs import, copied beside them

sys.path.insert(0, str(HERE))
from faasify import faasify  # noqa: E402

try:  # Hypothesis keeps what it writes (a constants cache) under target/, not in the sources
    from hypothesis.configuration import set_hypothesis_home_dir
except ImportError:
    pass
else:
    set_hypothesis_home_dir(ROOT / "target" / "hypothesis")


def load_runtime(name="lambada_runtime_under_test"):
    """The runtime package imported from templates/ under a name of its own (so that it
    never meets a layout's `lambada_runtime`)."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(
        name, RUNTIME / "__init__.py", submodule_search_locations=[str(RUNTIME)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def runtime():
    return load_runtime()


def interpreters():
    """This interpreter plus every pyenv CPython 3.9-3.13 found on the machine."""
    found = {"%d.%d" % sys.version_info[:2]: sys.executable}
    home = os.path.expanduser("~/.pyenv/versions")
    for minor in range(9, 14):
        for path in sorted(glob.glob(os.path.join(home, "3.%d*" % minor, "bin", "python"))):
            found["3.%d" % minor] = path
    return found


def clean_env(**extra):
    """The environment of a child Python: nothing of AWS or lambada leaks in from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBADA_", "PYTHON"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env["HOME"] = env.get("HOME", "/nonexistent")
    env.update(extra)
    return env


def program_path(name):
    return PROGRAMS / (name + ".py")


def program_names():
    return sorted(p.stem for p in PROGRAMS.glob("*.py"))


def build_layout(program, dest, moved=None, remote_calls="driver"):
    """faasify.py's layout of programs/<program>.py in ``dest``, with the original beside
    the driver as original.py and the local modules in the driver's and every package's
    directory."""
    source = program_path(program) if isinstance(program, str) and "\n" not in program else program
    text = pathlib.Path(source).read_text() if isinstance(source, pathlib.Path) else source
    dest = pathlib.Path(dest)
    faasify(text, dest, moved=moved, remote_calls=remote_calls)
    (dest / "original.py").write_text(text)
    directories = [dest] + sorted(p for p in (dest / "functions").iterdir() if p.is_dir())
    for module in MODULES.glob("*.py"):
        for directory in directories:
            shutil.copy(module, directory / module.name)
    return dest


def run_python(python, directory, script, env=None, timeout=60, args=()):
    return subprocess.run(
        [python, script, *args],
        cwd=str(directory),
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def normalised(text):
    return re.sub(r"0x[0-9a-f]+", "0x…", text)


@pytest.fixture
def layout(tmp_path):
    """layout(program, moved=None, remote_calls="driver") -> a fresh layout directory."""
    counter = iter(range(1000))

    def make(program, moved=None, remote_calls="driver"):
        name = program if isinstance(program, str) and "\n" not in program else "inline"
        return build_layout(program, tmp_path / ("%s-%d" % (name, next(counter))), moved, remote_calls)

    return make
