"""lambada runtime: the code that lets a FaaSified program call its cloud functions.

lambada rewrites a program so that its moved functions and classes are decorated with
``cloud``/``cloud_class`` (imported as ``import lambada_runtime as _lambada``), and builds
one package per cloud function whose handler module uses ``make_handler``. Standard
library only; Python 3.9+. See CONTRACT.md in the lambada sources for what the generated
code relies on, and the modules of this package for each concern:

    wire        the object-graph codec (identity, sharing, cycles; iterative)
    state       write-back by identity after a call
    caller      the stubs and one call from the caller's side
    handler     the function's side: the Lambda handler of a package
    errors      RemoteError, the remote traceback and its excepthook
    capture     what a function prints, replayed by the caller
    interp      process-wide state carried with a call (decimal context, recursion limit)
    transports  the manifest, and the in-process and Lambda (HTTP) transports
    sigv4       request signing, credentials, region and endpoint
    verify      LAMBADA_VERIFY=1: every call also runs locally and the results are compared
    stats       counts of calls and local fallbacks (LAMBADA_STATS_FILE)
    fanout      independent calls of one function invoked concurrently, in order
    split       functions split at their reads of stdin: the segments and the reads
    aio         moved coroutines: awaited without blocking (asyncio streams), in order
"""

from . import split
from . import stats as _stats
from . import transports as _transports
from .aio import cloud_coroutine, invoke_async
from .caller import cloud, cloud_class, invoke
from .errors import PayloadTooLargeError, RemoteError, remote_traceback
from .fanout import fanout, map  # noqa: A004 - lambada_runtime.map is the public name
from .handler import make_handler
from .split import cloud_split

__all__ = [
    "cloud",
    "cloud_class",
    "cloud_split",
    "invoke",
    "cloud_coroutine",
    "invoke_async",
    "fanout",
    "map",
    "make_handler",
    "cloudfunction",
    "remote_traceback",
    "RemoteError",
    "PayloadTooLargeError",
]

MAX_PAYLOAD_BYTES = _transports.MAX_PAYLOAD_BYTES


def cloudfunction(func=None, **options):
    """Marks a function for ``lambada --annotations``; does nothing at run time.

    Usable bare (``@cloudfunction``) or with options (``@cloudfunction(memory=256,
    duration=10)``); the compiler reads the options from the source."""
    if func is None:
        return _identity
    return func


def _identity(func):
    return func


def _is_driver():
    import os

    return os.path.basename(os.path.dirname(_transports.HERE)) != "functions"


_stats.register(_is_driver())
