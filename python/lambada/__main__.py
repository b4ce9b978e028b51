"""``python -m lambada ARGS``: runs the ``lambada`` binary installed with this package,
with the same arguments, and exits with its status."""

import os
import sys

from lambada._find_bin import find_lambada_bin


def main():
    try:
        binary = os.fsdecode(find_lambada_bin())
    except FileNotFoundError as exc:
        sys.stderr.write("lambada: error: %s\n" % exc)
        return 2
    if sys.platform == "win32":  # no exec: run it and pass its status on
        import subprocess

        try:
            return subprocess.run([binary, *sys.argv[1:]]).returncode
        except KeyboardInterrupt:
            return 130
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary, *sys.argv[1:]])
    return 1  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
