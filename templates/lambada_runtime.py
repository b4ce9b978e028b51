"""Placeholder runtime (replaced by the full runtime module): in-process transport, JSON envelope."""
import contextlib
import importlib.util
import io
import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_manifest = None
_handlers = {}


def _load_manifest():
    global _manifest
    if _manifest is None:
        with open(os.path.join(_HERE, "lambada.json")) as f:
            _manifest = json.load(f)
    return _manifest


def cloudfunction(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda func: func


def _handler_for(key):
    if key not in _handlers:
        pkg = os.path.join(_HERE, "functions", key)
        spec = importlib.util.spec_from_file_location("lambada_pkg_" + key, os.path.join(pkg, "lambada_handler.py"))
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, pkg)
        spec.loader.exec_module(module)
        _handlers[key] = module.handler
    return _handlers[key]


def invoke(key, args, kwargs, namespace):
    entry = _load_manifest()["functions"][key]
    request = {"args": list(args), "kwargs": kwargs,
               "globals": {n: namespace[n] for n in entry["globals_read"] if n in namespace}}
    response = json.loads(json.dumps(_handler_for(key)(json.loads(json.dumps(request)), None)))
    sys.stdout.write(response.get("stdout", ""))
    sys.stderr.write(response.get("stderr", ""))
    namespace.update(response.get("globals", {}))
    if "error" in response:
        raise RuntimeError(response["error"]["message"])
    return response["ret"]


def make_handler(target, namespace, key):
    entry = _load_manifest()["functions"].get(key, {})

    def handler(event, context):
        namespace.update(event.get("globals", {}))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            ret = target(*event["args"], **event["kwargs"])
        written = {n: namespace[n] for n in entry.get("globals_written", []) if n in namespace}
        return {"ret": ret, "stdout": out.getvalue(), "stderr": err.getvalue(), "globals": written}

    return handler
