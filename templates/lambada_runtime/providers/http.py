"""What the HTTP platforms (gcf, azure, fission) share.

The function's side: the request body is the lambada request (JSON); ``handle`` runs it
through the package's handler and gives the status and the body of the answer (the
lambada answer, JSON). A request that is not JSON is a 400, an exception out of the
handler a 500, both with the body ``{"errorType": ..., "errorMessage": ...}`` that
the caller's side turns into a ``RemoteError`` (as Lambda's function errors).

The caller's side: ``HttpTransport`` POSTs the request to the function's URL, which is
the function's ``url`` in the manifest, else the endpoint (``LAMBADA_ENDPOINT``, else
the manifest's) with ``{name}`` replaced by the function's name, or with the name
appended as a path segment when it has no ``{name}``."""

import json
import os
import sys
import time
import urllib.parse

from .. import transports
from ..errors import RemoteError, safe_str

CONTENT_TYPE = "application/json"


def error_body(error_type, message):
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode("utf-8")


def handle(handler, body):
    """(status, body bytes) of the answer to one request body."""
    # A cloud function has no command line of the program's. The platform's server has
    # one of its own (functions-framework's --target/--port, the Azure worker's
    # --host/--port...), parsed long before; a moved function that parses sys.argv
    # (argparse with no arguments) must see none of it, as on Lambda, whose bootstrap
    # has no arguments. (Here, not at import: the caller's side imports this module too,
    # in the program's process, whose sys.argv is the program's.)
    del sys.argv[1:]
    try:
        event = json.loads(body)
    except ValueError as exc:
        return 400, error_body("Lambada.InvalidRequest", "the request body is not JSON: %s" % exc)
    try:
        result = handler(event, None)
    except Exception as exc:  # what Lambda reports for an exception out of the handler
        return 500, error_body(type(exc).__name__, safe_str(exc))
    try:
        text = transports.dumps(result)
    except (TypeError, ValueError) as exc:
        return 500, error_body("Lambada.InvalidResponse", safe_str(exc))
    return 200, transports.encode_body(text)


def function_url(endpoint, name):
    """The URL of function ``name`` under ``endpoint`` (as ``providers::function_url``)."""
    if "{name}" in endpoint:
        return endpoint.replace("{name}", name)
    return endpoint.rstrip("/") + "/" + name


class HttpTransport:
    """POSTs the request to the function's URL; subclasses add the platform's
    authentication (``auth_headers``)."""

    name = "http"

    def __init__(self, manifest):
        self.manifest = manifest
        self.endpoint = os.environ.get("LAMBADA_ENDPOINT") or manifest.get("endpoint")
        self._urls = {}

    def url(self, fn):
        url = self._urls.get(fn.key)
        if url is None:
            entry = (self.manifest.get("functions") or {}).get(fn.key) or {}
            url = entry.get("url")
            if not url:
                if not self.endpoint:
                    raise RemoteError(
                        "Lambada.NoEndpoint",
                        "no URL for cloud function %s: set LAMBADA_ENDPOINT to the base URL of the "
                        "deployed functions (transport %s), or deploy with --endpoint URL"
                        % (fn.name, self.name), fn.name)
                url = function_url(self.endpoint, fn.name)
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise RemoteError("Lambada.BadEndpoint", "URL %r of %s is not an http(s) URL" % (url, fn.name),
                                  fn.name)
            self._urls[fn.key] = url
        return url

    def auth_headers(self, fn, url, hostname):
        return {}

    def call(self, fn, text):
        url = self.url(fn)
        parts = urllib.parse.urlsplit(url)
        hostname = parts.hostname
        default_port = 443 if parts.scheme == "https" else 80
        port = parts.port or default_port
        host = "[%s]" % hostname if ":" in hostname else hostname
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        body = transports.encode_body(text)
        # A throttled call (429, or 503 with Retry-After, as the platforms' front ends
        # answer when out of instances) did not run: it is sent again, as for Lambda.
        deadline = time.monotonic() + max(fn.timeout, transports.THROTTLE_PATIENCE)
        pause = 0.05
        while True:
            headers = {
                "Host": host if port == default_port else "%s:%d" % (host, port),
                "Content-Type": CONTENT_TYPE,
                "User-Agent": "lambada-runtime/1",
            }
            headers.update(self.auth_headers(fn, url, hostname))
            status, reply_headers, data = transports.http_post(
                fn, parts.scheme, hostname, port, path, body, headers, url)
            throttled = status == 429 or (status == 503 and reply_headers.get("Retry-After"))
            if not throttled or time.monotonic() + pause > deadline:
                return transports._invoke_answer(fn, status, reply_headers, data)
            time.sleep(transports._throttle_pause(reply_headers, pause))
            pause = min(pause * 2, 2.0)
