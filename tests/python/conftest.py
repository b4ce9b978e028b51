"""Shared fixtures of the runtime-module tests.

A "layout" is a directory that looks exactly like what `lambada --local app.py` writes
(see templates/CONTRACT.md): the driver app.py, lambada.json, functions/<key>/ packages with
their handler module and package manifest, and a copy of the runtime module next to the
driver and in every package. The hand-written layouts live in runtime_fixtures/<name>/,
each with the original program (original.py) it was "compiled" from.
"""

import glob
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "templates" / "lambada_runtime.py"
FIXTURES = pathlib.Path(__file__).resolve().parent / "runtime_fixtures"


def load_runtime(name="lambada_runtime_under_test"):
    """The runtime module imported from templates/, under a name of its own."""
    spec = importlib.util.spec_from_file_location(name, RUNTIME)
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


def build_layout(name, dest):
    """Copies runtime_fixtures/<name> to ``dest`` and puts the runtime module in place."""
    shutil.copytree(FIXTURES / name, dest)
    shutil.copy(RUNTIME, dest / "lambada_runtime.py")
    for package in (dest / "functions").iterdir() if (dest / "functions").is_dir() else ():
        if package.is_dir():
            shutil.copy(RUNTIME, package / "lambada_runtime.py")
    return dest


def run_python(python, directory, script, env=None, timeout=60):
    return subprocess.run(
        [python, script],
        cwd=str(directory),
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def layout(tmp_path):
    """layout(name) -> path of a fresh copy of runtime_fixtures/<name>."""
    counter = iter(range(1000))

    def make(name):
        return build_layout(name, tmp_path / ("%s-%d" % (name, next(counter))))

    return make
