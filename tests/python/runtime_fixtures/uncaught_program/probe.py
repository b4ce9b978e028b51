"""Catches the re-raised exception of check(5) and shows where its remote traceback is."""
import sys

import lambada_runtime as _lambada


class AppError(Exception):
    pass


def check(n):
    return _lambada.invoke("check", (n,), {}, globals())


try:
    check(5)
except AppError as exc:
    notes = getattr(exc, "__notes__", [])
    text = notes[-1] if notes else exc.__lambada_traceback__
    print(type(exc).__name__, exc.args, sys.version_info >= (3, 11) and bool(notes))
    print(text.splitlines()[-1])
    print("raise AppError" in text)
