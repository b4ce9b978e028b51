"""Fission.

Function's side: ``respond(handler, request)`` for ``main()`` of ``main.py``, which
Fission's Python environment calls for each request with the request in
``flask.request``.

Caller's side: ``Transport`` POSTs to the router: the endpoint is the router's URL
(``http://ROUTER``), and each function's HTTP trigger has the URL ``/NAME``."""

from . import http


def respond(handler, request):
    status, body = http.handle(handler, request.get_data())
    return body, status, {"Content-Type": http.CONTENT_TYPE}


class Transport(http.HttpTransport):
    name = "fission"
