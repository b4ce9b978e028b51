"""Google Cloud Functions.

Function's side: ``respond(handler, request)`` for the ``@functions_framework.http``
entry point of ``main.py`` (``request`` is a ``flask.Request``).

Caller's side: ``Transport`` POSTs to the function's HTTPS URL
(``https://REGION-PROJECT.cloudfunctions.net/NAME`` as the endpoint
``https://REGION-PROJECT.cloudfunctions.net``) with ``Authorization: Bearer`` and an
identity token for that URL: ``LAMBADA_GCF_ID_TOKEN`` when set, else from the metadata
server (inside Google Cloud), else from ``gcloud auth print-identity-token``. A
loopback URL (functions-framework on this machine) gets no token."""

import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from .. import sigv4
from ..errors import RemoteError
from . import http

METADATA_IDENTITY = ("http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/"
                     "default/identity?audience=%s")
# Identity tokens last an hour: one is fetched again after this many seconds.
TOKEN_LIFETIME = 45 * 60


def respond(handler, request):
    status, body = http.handle(handler, request.get_data())
    return body, status, {"Content-Type": http.CONTENT_TYPE}


class Transport(http.HttpTransport):
    name = "gcf"

    def __init__(self, manifest):
        http.HttpTransport.__init__(self, manifest)
        self._tokens = {}
        self._lock = threading.Lock()

    def auth_headers(self, fn, url, hostname):
        if sigv4.is_loopback(hostname):
            return {}
        return {"Authorization": "Bearer " + self.token(fn, url)}

    def token(self, fn, url):
        given = os.environ.get("LAMBADA_GCF_ID_TOKEN")
        if given:
            return given
        parts = urllib.parse.urlsplit(url)
        audience = "%s://%s%s" % (parts.scheme, parts.netloc, parts.path)
        with self._lock:
            cached = self._tokens.get(audience)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            token = _metadata_token(audience) or _gcloud_token(fn)
            self._tokens[audience] = (token, time.monotonic() + TOKEN_LIFETIME)
            return token


def _metadata_token(audience):
    """An identity token from the metadata server, or None outside Google Cloud."""
    request = urllib.request.Request(METADATA_IDENTITY % urllib.parse.quote(audience, safe=""),
                                     headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(request, timeout=2) as reply:
            return reply.read().decode("ascii").strip() or None
    except (OSError, ValueError):
        return None


def _gcloud_token(fn):
    try:
        done = subprocess.run(["gcloud", "auth", "print-identity-token"], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RemoteError("Lambada.NoCredentials",
                          "no identity token to call %s: not in Google Cloud and gcloud cannot be run (%s); "
                          "set LAMBADA_GCF_ID_TOKEN or run `gcloud auth login`" % (fn.name, exc), fn.name)
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        raise RemoteError("Lambada.NoCredentials",
                          "`gcloud auth print-identity-token` failed: %s; run `gcloud auth login` or set "
                          "LAMBADA_GCF_ID_TOKEN" % (done.stderr.strip() or done.returncode), fn.name)
    return token



