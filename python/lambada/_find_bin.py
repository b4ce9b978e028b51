"""Where the ``lambada`` binary that this package came with is installed."""

import os
import shutil
import sys
import sysconfig


def find_lambada_bin():
    """The path of the ``lambada`` executable, looked for as ruff and uv look for theirs:
    ``LAMBADA_BIN`` when set (a development build), the scripts directory of this
    interpreter's environment (where ``pip install`` puts the wheel's binary), the user
    scheme's (``pip install --user``), ``bin`` beside the package (``pip install
    --target``), then ``PATH``."""
    override = os.environ.get("LAMBADA_BIN")
    if override:
        if os.path.isfile(override):
            return override
        raise FileNotFoundError("LAMBADA_BIN=%s: no such file" % override)
    exe = "lambada" + (sysconfig.get_config_var("EXE") or "")
    candidates = [os.path.join(sysconfig.get_path("scripts"), exe)]
    user_scheme = _user_scheme()
    if user_scheme is not None:
        try:
            candidates.append(os.path.join(sysconfig.get_path("scripts", scheme=user_scheme), exe))
        except KeyError:
            pass
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates.append(os.path.join(package_root, "bin", exe))
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    found = shutil.which(exe)
    if found:
        return found
    raise FileNotFoundError(
        "cannot find the lambada binary (looked in %s and on PATH); reinstall it with "
        "`pip install lambada-faas`, or set LAMBADA_BIN to its path" % ", ".join(candidates))


def _user_scheme():
    if sys.version_info >= (3, 10):
        return sysconfig.get_preferred_scheme("user")
    if os.name == "nt":
        return "nt_user"
    if sys.platform == "darwin" and getattr(sys, "_framework", None):
        return "osx_framework_user"
    return "posix_user"
