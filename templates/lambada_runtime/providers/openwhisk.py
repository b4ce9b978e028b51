"""Apache OpenWhisk (filled in by the openwhisk work: its REST transport).

Function's side: ``respond(handler, args)`` for ``main(args)`` of the action's
``__main__.py``: ``args`` is the lambada request, the result its answer."""

from ..errors import RemoteError


def respond(handler, args):
    return handler(args, None)


class Transport:
    name = "openwhisk"

    def __init__(self, manifest):
        self.manifest = manifest

    def call(self, fn, text):
        raise RemoteError("Lambada.BadTransport", "the openwhisk transport is not available in this build",
                          fn.name)
