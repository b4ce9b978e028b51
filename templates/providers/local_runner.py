"""The local runner of the HTTP providers (gcf, azure, fission): one front door on
127.0.0.1 that routes ``POST /NAME`` to cloud function NAME, each function served by a
process of its own, as on the platform:

- gcf: Google's ``functions-framework`` serving the package's ``main.py``
  (``--target lambada``);
- azure: this file as a small host (``--azure-app DIR``) that imports the package's
  ``function_app.py``, turns each HTTP request into an ``azure.functions.HttpRequest``
  and calls the function its route names;
- fission: this file as Fission's Python environment server (``--fission-env``):
  ``POST /v2/specialize`` loads the entry point (``main.main``), then every request to
  ``/`` calls it with the request in ``flask.request``.

Usage: ``python local_runner.py --provider gcf`` prints its URL (the endpoint of the
program's manifest) as its first line. ``POST /_lambada/register`` with
``{"name": ..., "dir": ...}`` names a function's package directory; its process starts
on its first call (``POST /_lambada/unregister`` with ``{"name": ...}`` stops it). Every process ends with the runner: when its stdin closes, on
SIGTERM, or after ``--max-seconds``."""

import argparse
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, process, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the function's server exited with status %s" % process.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the function's server did not listen within %d s" % seconds)


class Backend:
    """One function's server process."""

    def __init__(self, provider, name, directory, endpoint):
        self.provider = provider
        self.name = name
        self.directory = directory
        self.port = free_port()
        env = dict(os.environ, LAMBADA_TRANSPORT=provider, LAMBADA_ENDPOINT=endpoint,
                   PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTHONPATH", None)
        here = os.path.abspath(__file__)
        if provider == "gcf":
            command = [sys.executable, "-m", "functions_framework", "--target", "lambada", "--source", "main.py",
                       "--host", "127.0.0.1", "--port", str(self.port)]
            self.path = "/"
        elif provider == "azure":
            command = [sys.executable, here, "--azure-app", directory, "--port", str(self.port)]
            self.path = "/api/" + name
        elif provider == "fission":
            command = [sys.executable, here, "--fission-env", "--port", str(self.port)]
            self.path = "/"
        else:
            raise ValueError("no local runner for provider %r" % provider)
        self.process = subprocess.Popen(command, cwd=directory, env=env, stdin=subprocess.DEVNULL)
        try:
            wait_listening(self.port, self.process)
            if provider == "fission":
                self._specialize()
        except Exception:
            self.stop()
            raise

    def _specialize(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        body = json.dumps({"filepath": self.directory, "functionName": "main.main"})
        conn.request("POST", "/v2/specialize", body, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        data = reply.read()
        conn.close()
        if reply.status != 200:
            raise RuntimeError("specialize failed: %d %s" % (reply.status, data[:300]))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Router(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, provider):
        http.server.ThreadingHTTPServer.__init__(self, ("127.0.0.1", 0), RouterHandler)
        self.provider = provider
        self.endpoint = "http://127.0.0.1:%d" % self.server_address[1]
        self.directories = {}
        self.backends = {}
        self.lock = threading.Lock()
        self.starting = {}
        self.local = threading.local()

    def backend(self, name):
        with self.lock:
            backend = self.backends.get(name)
            if backend is not None:
                return backend
            gate = self.starting.setdefault(name, threading.Lock())
        with gate:
            with self.lock:
                backend = self.backends.get(name)
                directory = self.directories.get(name)
            if backend is None:
                if directory is None:
                    return None
                backend = Backend(self.provider, name, directory, self.endpoint)
                with self.lock:
                    self.backends[name] = backend
            return backend

    def stop_all(self):
        with self.lock:
            backends = list(self.backends.values())
            self.backends.clear()
        for backend in backends:
            backend.stop()


class RouterHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server = self.server
        if self.path == "/_lambada/register":
            entry = json.loads(body)
            with server.lock:
                server.directories[entry["name"]] = os.path.realpath(entry["dir"])
            return self._answer(200, b"{}", [("Content-Type", "application/json")])
        if self.path == "/_lambada/unregister":
            name = json.loads(body)["name"]
            with server.lock:
                server.directories.pop(name, None)
                backend = server.backends.pop(name, None)
            if backend is not None:
                backend.stop()
            return self._answer(200, b"{}", [("Content-Type", "application/json")])
        name = self.path.strip("/").split("?")[0]
        try:
            backend = server.backend(name)
        except Exception as exc:
            error = {"errorType": "Lambada.RunnerError", "errorMessage": "%s: %s" % (name, exc)}
            return self._answer(502, json.dumps(error).encode(), [("Content-Type", "application/json")])
        if backend is None:
            error = {"errorType": "ResourceNotFoundException", "errorMessage": "no function %s" % name}
            return self._answer(404, json.dumps(error).encode(), [("Content-Type", "application/json")])
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        status, reply_headers, data = self._forward(backend, body, headers)
        kept = [(k, v) for k, v in reply_headers if k.lower() not in HOP_HEADERS]
        self._answer(status, data, kept)

    def _forward(self, backend, body, headers):
        """On this thread's kept-alive connection to the backend (one retry after the
        backend closed an idle one)."""
        connections = getattr(self.server.local, "connections", None)
        if connections is None:
            connections = self.server.local.connections = {}
        for attempt in (1, 2):
            conn = connections.get(backend.port)
            if conn is None:
                conn = connections[backend.port] = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=900)
            try:
                conn.request("POST", backend.path, body, headers)
                reply = conn.getresponse()
                data = reply.read()
                if reply.will_close:
                    conn.close()
                    connections.pop(backend.port, None)
                return reply.status, reply.getheaders(), data
            except (http.client.HTTPException, OSError):
                conn.close()
                connections.pop(backend.port, None)
                if attempt == 2:
                    raise


def serve_router(provider, max_seconds):
    router = Router(provider)
    stop = threading.Event()

    def finish(*_):
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    threading.Thread(target=router.serve_forever, daemon=True).start()
    sys.stdout.write(router.endpoint + "\n")
    sys.stdout.flush()

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        stop.wait(max_seconds)
    except KeyboardInterrupt:
        pass
    router.stop_all()
    sys.stdout.flush()
    # Not a normal exit: the thread reading stdin would hold its lock at shutdown.
    os._exit(0)


# -- azure: a function app behind plain HTTP ------------------------------------------


def serve_azure(directory, port):
    import importlib.util

    import azure.functions as func

    sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location("function_app", os.path.join(directory, "function_app.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    spec.loader.exec_module(module)
    routes = {}
    for function in module.app.get_functions():
        trigger = function.get_trigger()
        routes["/api/" + trigger.route] = (function.get_user_function(), [getattr(m, "value", m).upper() for m in trigger.methods or ()])

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?")[0]
            found = routes.get(path)
            if found is None or (found[1] and "POST" not in found[1]):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            request = func.HttpRequest("POST", "http://127.0.0.1:%d%s" % (port, self.path),
                                       headers=dict(self.headers.items()), params={}, route_params={}, body=body)
            response = found[0](request)
            data = response.get_body()
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in HOP_HEADERS:
                    self.send_header(name, value)
            if response.mimetype and "content-type" not in {k.lower() for k in response.headers}:
                self.send_header("Content-Type", response.mimetype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


# -- fission: the Python environment's server contract ---------------------------------


def serve_fission(port):
    import importlib

    from flask import Flask, request

    app = Flask(__name__)
    state = {"function": None}

    @app.route("/specialize", methods=["POST"])
    def specialize():
        # v1: the code is at /userfunc/user, a module with main().
        directory = os.environ.get("USERFUNC_DIR", "/userfunc")
        sys.path.insert(0, directory)
        state["function"] = importlib.import_module("user").main
        return ""

    @app.route("/v2/specialize", methods=["POST"])
    def specialize_v2():
        body = request.get_json()
        module_name, _, function_name = body["functionName"].rpartition(".")
        sys.path.insert(0, body["filepath"])
        state["function"] = getattr(importlib.import_module(module_name or "main"), function_name)
        return ""

    @app.route("/", methods=["GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE"])
    def call():
        if state["function"] is None:
            return "the function is not specialized", 500
        return state["function"]()

    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", choices=["gcf", "azure", "fission"])
    parser.add_argument("--max-seconds", type=float, default=3600)
    parser.add_argument("--azure-app", metavar="DIR")
    parser.add_argument("--fission-env", action="store_true")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.azure_app:
        serve_azure(args.azure_app, args.port)
    elif args.fission_env:
        serve_fission(args.port)
    elif args.provider:
        serve_router(args.provider, args.max_seconds)
    else:
        parser.error("pass --provider")


if __name__ == "__main__":
    main()
