"""Apache OpenWhisk.

Function's side: ``respond(handler, args)`` for ``main(args)`` of the action's
``__main__.py``: ``args`` is the lambada request, the result its answer (a dictionary,
as OpenWhisk wants). An exception out of the shared handler (not one of the program's:
those are in the answer) becomes ``{"error": "...", "errorType": ...}``, which OpenWhisk
reports as an application error and the caller's side turns into a ``RemoteError``.

Caller's side: ``Transport`` POSTs the request to
``{apihost}/api/v1/namespaces/{ns}/actions/{name}?blocking=true&result=true`` with basic
auth (the API key ``uuid:key``). The API host and key come from ``__OW_API_HOST`` and
``__OW_API_KEY`` (what OpenWhisk gives an action, and what ``wsk`` users export), else
from the manifest (``endpoint``, ``openwhisk_api_key``, ``openwhisk_namespace``). A
result with a lambada answer is the answer, also when OpenWhisk says 502 because it
holds ``error`` (an exception of the program's, which the caller raises); a 502 whose
``error`` is a message is a platform failure (timeout, out of memory, no dictionary),
raised as ``RemoteError``, as are the API's own errors (401, 404, ...)."""

import base64
import json
import os
import time
import urllib.parse

from .. import transports
from ..errors import RemoteError, safe_str


def respond(handler, args):
    try:
        return handler(args, None)
    except Exception as exc:
        return {"error": "%s: %s" % (type(exc).__name__, safe_str(exc)), "errorType": type(exc).__name__}


# OpenWhisk's messages for failures of the platform, and the error types Lambda's
# runtime gives the same failures (the caller's code handles both alike).
_PLATFORM_ERRORS = (
    ("exceeded its time limits", "Sandbox.Timedout"),
    ("exhausted its memory", "Runtime.OutOfMemory"),
    ("did not return a dictionary", "Runtime.MarshalError"),
    ("failed during initialization", "Runtime.ImportModuleError"),
)


def _platform_error(message):
    for needle, error_type in _PLATFORM_ERRORS:
        if needle in message:
            return error_type
    return "OpenWhisk.ActionError"


def answer(fn, status, data):
    """The lambada answer in an OpenWhisk reply, or the RemoteError it amounts to."""
    try:
        body = json.loads(data) if data else None
    except ValueError:
        body = None
    if isinstance(body, dict) and status in (200, 502):
        error = body.get("error")
        if "ret" in body or "fallback" in body or "cache_miss" in body or isinstance(error, dict):
            return body
        if isinstance(error, str):
            raise RemoteError(body.get("errorType") or _platform_error(error), error, fn.name)
    if status == 202 and isinstance(body, dict) and body.get("activationId"):
        raise RemoteError("OpenWhisk.StillRunning",
                          "%s is still running (activation %s): OpenWhisk answers a blocking invocation "
                          "after at most a minute" % (fn.name, body["activationId"]), fn.name)
    message = body.get("error") if isinstance(body, dict) else None
    if not message:
        message = (data or b"")[:300].decode("utf-8", "replace")
    raise RemoteError("OpenWhisk.HTTP%d" % status, "%s (HTTP %d)" % (message, status), fn.name)


class Transport:
    name = "openwhisk"

    def __init__(self, manifest):
        apihost = os.environ.get("__OW_API_HOST") or manifest.get("endpoint") or ""
        if apihost and "://" not in apihost:
            apihost = "https://" + apihost  # as wsk: a bare host is https
        parts = urllib.parse.urlsplit(apihost)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError("Lambada.BadEndpoint",
                              "no OpenWhisk API host: set __OW_API_HOST (as `wsk property get --apihost`) "
                              "or deploy with lambada deploy --provider openwhisk")
        key = os.environ.get("__OW_API_KEY") or manifest.get("openwhisk_api_key") or ""
        if ":" not in key:
            raise RemoteError("Lambada.NoCredentials",
                              "no OpenWhisk API key: set __OW_API_KEY to uuid:key (as `wsk property get --auth`)")
        self.scheme = parts.scheme
        self.hostname = parts.hostname
        self.default_port = 443 if parts.scheme == "https" else 80
        self.port = parts.port or self.default_port
        self.base_path = parts.path.rstrip("/")
        self.namespace = os.environ.get("__OW_NAMESPACE") or manifest.get("openwhisk_namespace") or "_"
        self.authorization = "Basic " + base64.b64encode(key.encode("utf-8")).decode("ascii")
        self.label = apihost

    def call(self, fn, text):
        body = transports.encode_body(text)
        path = "%s/api/v1/namespaces/%s/actions/%s?blocking=true&result=true" % (
            self.base_path, urllib.parse.quote(self.namespace, safe=""), urllib.parse.quote(fn.name, safe=""))
        host = "[%s]" % self.hostname if ":" in self.hostname else self.hostname
        headers = {
            "Host": host if self.port == self.default_port else "%s:%d" % (host, self.port),
            "Content-Type": "application/json",
            "Authorization": self.authorization,
            "User-Agent": "lambada-runtime/1",
        }
        # A throttled invocation (429) did not run: sent again, as for Lambda.
        deadline = time.monotonic() + max(fn.timeout, transports.THROTTLE_PATIENCE)
        pause = 0.05
        while True:
            status, reply_headers, data = transports.http_post(
                fn, self.scheme, self.hostname, self.port, path, body, headers, self.label)
            if status != 429 or time.monotonic() + pause > deadline:
                return answer(fn, status, data)
            time.sleep(transports._throttle_pause(reply_headers, pause))
            pause = min(pause * 2, 2.0)
