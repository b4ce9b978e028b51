"""Azure Functions (Python v2 programming model).

Function's side: ``respond(handler, req)`` for the HTTP-triggered function of
``function_app.py`` (``req`` is an ``azure.functions.HttpRequest``; the answer an
``azure.functions.HttpResponse``).

Caller's side: ``Transport`` POSTs to the function URL
(``https://APP.azurewebsites.net/api/NAME``: the endpoint
``https://{name}.azurewebsites.net/api/{name}`` when each function is its own app),
with the function key in ``x-functions-key`` when ``LAMBADA_AZURE_FUNCTION_KEY`` is
set (``LAMBADA_AZURE_FUNCTION_KEY_<NAME>``, the name upper-cased with ``-`` as ``_``,
for one function)."""

import os

from . import http


def respond(handler, req):
    import azure.functions as func

    status, body = http.handle(handler, req.get_body())
    return func.HttpResponse(body=body, status_code=status, mimetype=http.CONTENT_TYPE)


class Transport(http.HttpTransport):
    name = "azure"

    def auth_headers(self, fn, url, hostname):
        own = "LAMBADA_AZURE_FUNCTION_KEY_" + "".join(c.upper() if c.isalnum() else "_" for c in fn.name)
        key = os.environ.get(own) or os.environ.get("LAMBADA_AZURE_FUNCTION_KEY")
        return {"x-functions-key": key} if key else {}
