"""lambada: FaaSify Python programs.

This package comes with the ``lambada`` command (a compiled binary; ``python -m lambada``
runs it too) and gives running programs one function::

    import lambada
    lambada.move(globals())   # after the definitions, before the work

which compiles the calling module as ``lambada --local`` would, deploys its cloud
functions (to an embedded Lambda-compatible host by default, ``endpoint=`` for
another, ``local=True`` for none), and rebinds its moved functions and classes to stubs
in place, so that the rest of the program runs FaaSified.
"""

from ._find_bin import find_lambada_bin
from ._move import MoveError, Moved, move

__all__ = ["move", "Moved", "MoveError", "find_lambada_bin"]
