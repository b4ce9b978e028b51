"""Where a call goes: the manifest's cloud functions, and the transports that carry a
request to them: "inprocess" (the packages' handlers in this interpreter, through JSON
text both ways as on the network) and "lambda" (the Invoke API over HTTP, SigV4-signed,
one keep-alive connection per endpoint and thread)."""

import hashlib
import importlib.util
import json
import os
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.parse
import zipfile

from . import sigv4
from .capture import IN_LAMBDA
from .errors import RemoteError, safe_str

# A synchronous Lambda invocation takes at most 6 MB of request (and of response).
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024

# The directory of the program (the driver, or a package): lambada.json sits there.
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False,
                            separators=(",", ":"))


def dumps(obj):
    return _ENCODER.encode(obj)


def utf8_size(text):
    """The size of ``text`` in UTF-8 when it may be near the limit, else its length (a
    character takes at most 4 bytes: short texts are not encoded just to be measured)."""
    if len(text) * 4 <= MAX_PAYLOAD_BYTES:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def encode_body(text):
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (e.g. undecodable file names): escape them
        return json.dumps(json.loads(text), separators=(",", ":")).encode("ascii")


# ---------------------------------------------------------------------------------------
# The manifest and the cloud functions it lists


class Function:
    """One cloud function as the caller sees it, read once from the manifest."""

    def __init__(self, key, entry):
        self.key = key
        self.name = entry.get("function_name") or key
        self.kind = entry.get("kind", "function")
        self.handler = entry.get("handler") or "lambada_handler._lambada_handler"
        self.memory = int(entry.get("memory") or 128)
        self.timeout = float(entry.get("timeout") or 30)
        self.globals_read = tuple(entry.get("globals_read") or ())
        written = entry.get("globals_written") or ()
        # Written globals travel too (when bound): the function then starts from the
        # caller's value, so an unchanged binding is recognised as unchanged.
        self.globals_written_only = tuple(n for n in written if n not in self.globals_read)
        self.layers = tuple(entry.get("layers") or ())
        self.data_files = tuple(entry.get("data_files") or ())
        self.transport = transport()


_manifest_cache = None
_functions = {}
setup_lock = threading.RLock()
_local = threading.local()


def manifest():
    """lambada.json beside the runtime package (in a package: the package manifest)."""
    global _manifest_cache
    if _manifest_cache is None:
        path = os.path.join(HERE, "lambada.json")
        try:
            with open(path, encoding="utf-8") as f:
                _manifest_cache = json.load(f)
        except FileNotFoundError:
            _manifest_cache = {}
    return _manifest_cache


def function(key):
    fn = _functions.get(key)
    if fn is None:
        with setup_lock:
            entry = (manifest().get("functions") or {}).get(key)
            if entry is None:
                path = os.path.join(HERE, "lambada.json")
                raise RemoteError("Lambada.UnknownFunction", "no cloud function %r in %s" % (key, path), key)
            fn = _functions[key] = Function(key, entry)
    return fn


_transports = {}

# What ``lambada.move(globals())`` chose itself (transport, endpoint, region, the
# program's directory): it wins over LAMBADA_TRANSPORT and AWS_ENDPOINT_URL*, which
# belong to the program's environment, not to the functions move() deployed.
_pinned = {}


def pin(transport, endpoint=None, region=None, program_dir=None):
    """Sets the transport (and for ``lambda`` the endpoint and region) of every call;
    ``program_dir``: the running program's directory, which a package's own view of
    ``sys.path`` leaves out, as it leaves out the driver's."""
    _pinned.update(transport=transport, endpoint=endpoint, region=region, program_dir=program_dir)


def transport():
    """The transport object, chosen once per process."""
    name = _pinned.get("transport") or os.environ.get("LAMBADA_TRANSPORT")
    if not name:
        # Inside Lambda a package has no sibling packages to run in-process.
        name = "lambda" if IN_LAMBDA else (manifest().get("transport") or "inprocess")
    if name not in _transports:
        if name == "inprocess":
            _transports[name] = InProcessTransport()
        elif name == "lambda":
            _transports[name] = LambdaTransport(manifest())
        else:
            _transports[name] = _provider_transport(name)
    return _transports[name]


def _provider_transport(name):
    """The transport of another platform: class ``Transport`` of the runtime's module
    ``providers/<name>.py`` (``gcf``, ``azure``, ``fission``, ``openwhisk``)."""
    import importlib

    known = ("inprocess", "lambda") + PROVIDER_TRANSPORTS
    if name not in PROVIDER_TRANSPORTS:
        raise RemoteError("Lambada.BadTransport", "unknown transport %r (%s)" % (name, ", ".join(known)))
    module = importlib.import_module("%s.providers.%s" % (__package__, name))
    return module.Transport(manifest())


# The transports of the providers other than aws, each in providers/<name>.py.
PROVIDER_TRANSPORTS = ("openwhisk", "gcf", "azure", "fission")


# ---------------------------------------------------------------------------------------
# Transport "inprocess": the packages run in this interpreter


class _Context:
    """The context object a Lambda handler receives."""

    function_version = "$LATEST"
    identity = None
    client_context = None

    def __init__(self, fn, region):
        self.function_name = fn.name
        self.memory_limit_in_mb = str(fn.memory)
        self.invoked_function_arn = "arn:aws:lambda:%s:000000000000:function:%s" % (region, fn.name)
        self.log_group_name = "/aws/lambda/" + fn.name
        self._deadline = time.monotonic() + fn.timeout
        self._request_id = None

    @property
    def aws_request_id(self):
        if self._request_id is None:  # made on demand: os.urandom costs more than the call
            h = os.urandom(16).hex()
            self._request_id = "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:])
        return self._request_id

    @property
    def log_stream_name(self):
        return time.strftime("%Y/%m/%d") + "/[$LATEST]lambada-inprocess"

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _CallLock:
    """One in-process call at a time: calls share sys.path, the working directory and
    the packages' modules, and the moved coroutines' calls come from several threads (the
    event loop's executor). A call made inside a call (same thread, or the thread a call
    started to run a coroutine in, see aio.run_coroutine) goes through."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held = threading.local()

    def held(self):
        return getattr(self._held, "depth", 0) > 0

    def inherit(self):
        """Marks this thread as running inside the call that started it."""
        self._held.depth = 1

    def __enter__(self):
        depth = getattr(self._held, "depth", 0)
        if depth == 0:
            self._lock.acquire()
        self._held.depth = depth + 1

    def __exit__(self, *exc):
        self._held.depth -= 1
        if self._held.depth == 0:
            self._lock.release()


inprocess_lock = _CallLock()


class InProcessTransport:
    """Runs functions/<key>/lambada_handler.py in this interpreter, through JSON text both
    ways as on the network. The function's timeout and memory are not enforced."""

    def __init__(self):
        self._handlers = {}
        self._paths = {}
        self._region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    def call(self, fn, text):
        with inprocess_lock:
            return self._call(fn, text)

    def _call(self, fn, text):
        handler = self._handlers.get(fn.key) or self._load(fn)
        event = json.loads(text)
        # A function with data files finds them where Lambda's working directory is:
        # its package directory.
        previous = None
        if fn.data_files and not manifest().get("host_env"):
            previous = os.getcwd()
            os.chdir(_package_directory(fn))
        # Imports inside the function body run now, not when the package was loaded:
        # they see the package's path too (with --host-env, only functions with
        # dependencies need their layers added). While a call runs, another thread of
        # the program that imports sees that path as well.
        saved_path = None
        if fn.layers or not manifest().get("host_env"):
            saved_path = sys.path[:]
            sys.path[:] = self._paths[fn.key]
        try:
            result = handler(event, _Context(fn, self._region))
        except Exception as exc:  # what Lambda reports for an exception out of the handler
            raise RemoteError(type(exc).__name__, safe_str(exc), fn.name) from exc
        finally:
            if previous is not None:
                os.chdir(previous)
            if saved_path is not None:
                sys.path[:] = saved_path
        answer = dumps(result)
        if utf8_size(answer) > MAX_PAYLOAD_BYTES:
            raise RemoteError("Function.ResponseSizeTooLarge",
                              "Response payload size exceeded maximum allowed payload size (%d bytes)."
                              % MAX_PAYLOAD_BYTES, fn.name)
        return json.loads(answer)

    def _load(self, fn):
        with setup_lock:
            directory = _package_directory(fn)
            module_name, _, attribute = fn.handler.rpartition(".")
            path = os.path.join(directory, *module_name.split(".")) + ".py"
            module = _load_package_module(fn, path, directory, module_name)
            self._paths[fn.key] = _package_path(fn, directory, list(sys.path))
            handler = getattr(module, attribute, None)
            if handler is None:
                raise RemoteError("Runtime.HandlerNotFound",
                                  "Handler '%s' missing on module '%s'" % (attribute, module_name), fn.name)
            self._handlers[fn.key] = handler
            return handler


def _package_directory(fn):
    """functions/<key> beside the manifest; from inside a package (whose manifest sits in
    functions/<its key>), the sibling package."""
    candidates = [os.path.join(HERE, "functions", fn.key)]
    parent = os.path.dirname(HERE)
    if os.path.basename(parent) == "functions":
        candidates.append(os.path.join(parent, fn.key))
    for directory in candidates:
        if os.path.isdir(directory):
            return os.path.realpath(directory)
    raise RemoteError("ResourceNotFoundException",
                      "Function not found: %s (no package directory %s)" % (fn.name, candidates[0]), fn.name)


def _load_package_module(fn, path, directory, module_name):
    """Imports a package's handler module once per process, under a name of its own, with
    the package's own copies of its local modules (and of this runtime module)."""
    unique = "lambada_pkg_%s_%s" % (
        "".join(c if c.isalnum() else "_" for c in fn.key),
        hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:10],
    )
    module = sys.modules.get(unique)
    if module is not None:
        return module
    if not os.path.isfile(path):
        raise RemoteError("Runtime.ImportModuleError",
                          "Unable to import module '%s': No module named '%s'" % (module_name, module_name),
                          fn.name)
    spec = importlib.util.spec_from_file_location(unique, path)
    module = importlib.util.module_from_spec(spec)
    local = _local_module_names(directory)
    shadowed = _take_modules(local)
    sys.modules[unique] = module
    saved_path = list(sys.path)
    sys.path[:] = _package_path(fn, directory, saved_path)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(unique, None)
        message = "Syntax error in module '%s': %s" % (module_name, exc)
        raise RemoteError("Runtime.UserCodeSyntaxError", message, fn.name) from exc
    except Exception as exc:
        sys.modules.pop(unique, None)
        message = "Unable to import module '%s': %s" % (module_name, exc)
        raise RemoteError("Runtime.ImportModuleError", message, fn.name) from exc
    finally:
        sys.path[:] = saved_path
        _take_modules(local)  # the package's copies stay reachable through its handler module
        sys.modules.update(shadowed)
    return module


def _package_path(fn, directory, host_path):
    """The sys.path a package's module is imported with. In the package's own view (the
    default), as in Lambda: the package, then its dependency layers, then the standard
    library, without this environment's site-packages, so an import that would fail
    deployed fails here first. With --host-env, the package and its layers come first
    and this environment's path follows; when the layers were built for another Python
    version (whose extension modules cannot load here), this environment's path comes
    before them."""
    layers = [_layer_directory(fn, h) for h in fn.layers]
    if not _layers_fit_this_python(fn):
        # This environment's packages first: the layers' extension modules cannot load.
        return [directory] + host_path + layers
    own = [directory] + layers
    if manifest().get("host_env"):
        return own + host_path
    return own + _standard_path(host_path)


def _standard_path(host_path):
    """The entries of sys.path that hold the standard library (not site-packages)."""
    site = set()
    program_dir = os.path.realpath(_pinned.get("program_dir") or HERE)
    for key in ("purelib", "platlib"):
        try:
            site.add(os.path.realpath(sysconfig.get_paths()[key]))
        except KeyError:
            pass
    kept = []
    for entry in host_path:
        real = os.path.realpath(entry) if entry else entry
        if not entry or real in site or "site-packages" in entry or "dist-packages" in entry:
            continue
        if real in (os.path.realpath(os.getcwd()), os.path.realpath(HERE), program_dir):
            continue  # the program's directory: its modules travel in the package
        kept.append(entry)
    return kept


_warned_python = set()


def _layers_fit_this_python(fn):
    """Whether the layers were built for this interpreter's version; says once if not."""
    for layer in fn.layers:
        entry = (manifest().get("layers") or {}).get(layer) or {}
        python = entry.get("python")
        if python and python != "%d.%d" % sys.version_info[:2]:
            if layer not in _warned_python:
                _warned_python.add(layer)
                sys.stderr.write(
                    "lambada: the dependencies of %s were built for Python %s and this is Python "
                    "%d.%d, so it runs with this environment's packages here; run the program "
                    "with python%s to see what deployment sees\n"
                    % (fn.name, python, sys.version_info[0], sys.version_info[1], python))
            return False
    return True


def _layer_directory(fn, layer):
    """The unzipped layer `layers/<hash>/python`, unzipped beside its zip on first use
    (into a scratch directory renamed into place, so a half-written layer is never
    used)."""
    entry = (manifest().get("layers") or {}).get(layer)
    roots = [HERE, os.path.dirname(os.path.dirname(HERE))]
    for root in roots:
        zip_path = os.path.join(root, entry["zip"]) if entry else os.path.join(root, "layers", layer + ".zip")
        if not os.path.isfile(zip_path):
            continue
        target = zip_path[:-len(".zip")]
        if not os.path.isdir(target):
            scratch = tempfile.mkdtemp(prefix=".unzip.", dir=os.path.dirname(target))
            with zipfile.ZipFile(zip_path) as archive:
                archive.extractall(scratch)
            try:
                os.rename(scratch, target)
            except OSError:  # another process unzipped it first
                import shutil
                shutil.rmtree(scratch, ignore_errors=True)
        return os.path.join(target, "python")
    raise RemoteError("Runtime.ImportModuleError",
                      "dependency layer %s of %s not found beside %s" % (layer, fn.name, HERE), fn.name)


def _local_module_names(directory):
    names = set()
    for entry in os.listdir(directory):
        if entry.endswith(".py"):
            names.add(entry[:-3])
        elif entry.isidentifier() and os.path.isdir(os.path.join(directory, entry)):
            names.add(entry)
    return names


def _take_modules(top_names):
    """Removes and returns the entries of sys.modules of the given top-level names."""
    taken = {}
    for name in list(sys.modules):
        if name.partition(".")[0] in top_names:
            taken[name] = sys.modules.pop(name)
    return taken




class LambdaTransport:
    """POSTs the request to {endpoint}/2015-03-31/functions/{name}/invocations."""

    def __init__(self, manifest):
        # The AWS profile the functions were deployed with (`--aws-profile`): the
        # program signs with the same credentials unless AWS_PROFILE says otherwise.
        sigv4.use_profile(manifest.get("profile"))
        self.region = _pinned.get("region") or sigv4.find_region(manifest)
        self.endpoint = (_pinned.get("endpoint") or sigv4.find_endpoint(manifest, self.region)).rstrip("/")
        parts = urllib.parse.urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError("Lambada.BadEndpoint", "endpoint %r is not an http(s) URL" % self.endpoint)
        self.scheme = parts.scheme
        self.hostname = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        default_port = 443 if parts.scheme == "https" else 80
        host = "[%s]" % self.hostname if ":" in self.hostname else self.hostname
        self.host_header = host if self.port == default_port else "%s:%d" % (host, self.port)
        self.base_path = parts.path
        self._credentials = None

    def credentials(self, fn):
        if self._credentials is None:
            found = sigv4.find_credentials()
            if found is None:
                if not sigv4.is_loopback(self.hostname):
                    raise RemoteError("Lambada.NoCredentials",
                                      "no AWS credentials%s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                                      "or configure ~/.aws/credentials" % sigv4.profile_note(), fn.name)
                found = sigv4.PLACEHOLDER_CREDENTIALS
            self._credentials = found
        return self._credentials

    def call(self, fn, text):
        body = encode_body(text)
        name = urllib.parse.quote(fn.name, safe="")  # ARNs and qualifiers have ":"
        path = "%s/2015-03-31/functions/%s/invocations" % (self.base_path, name)
        # A throttled invocation (429: the function's or the account's concurrency is
        # used up, as a wide fan-out can do) did not run: it is sent again after
        # Retry-After (or a growing pause), for as long as the function's own timeout.
        deadline = time.monotonic() + max(fn.timeout, THROTTLE_PATIENCE)
        pause = 0.05
        while True:
            headers = {
                "Host": self.host_header,
                "Content-Type": "application/json",
                "X-Amz-Invocation-Type": "RequestResponse",
            }
            signature = sigv4.sign_headers("POST", path, "", headers, body, self.credentials(fn), self.region,
                                           "lambda")
            headers.update(signature)
            headers["User-Agent"] = "lambada-runtime/1"
            status, reply_headers, data = self._post(fn, path, body, headers)
            if status != 429 or time.monotonic() + pause > deadline:
                return _invoke_answer(fn, status, reply_headers, data)
            time.sleep(_throttle_pause(reply_headers, pause))
            pause = min(pause * 2, 2.0)

    def _post(self, fn, path, body, headers):
        return http_post(fn, self.scheme, self.hostname, self.port, path, body, headers, self.endpoint)


def http_post(fn, scheme, hostname, port, path, body, headers, label):
    """POSTs ``body`` on this thread's kept-alive connection to (scheme, hostname, port);
    returns (status, headers, data). ``label`` names the endpoint in errors."""
    import http.client

    connections = getattr(_local, "connections", None)
    if connections is None:
        connections = _local.connections = {}
    key = (scheme, hostname, port)
    timeout = fn.timeout + 30
    for attempt in (1, 2):
        conn = connections.get(key)
        reused = conn is not None
        try:
            if conn is None:
                conn = connections[key] = _connection(scheme, hostname, port, timeout)
            else:
                conn.settimeout(timeout)
            status, reply_headers, data, will_close = conn.post(path, headers, body)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                ConnectionAbortedError) as exc:
            if conn is not None:
                conn.close()
            connections.pop(key, None)
            if reused and attempt == 1:
                continue  # the server closed the kept-alive connection: reconnect once
            message = "%s: %s" % (label, exc)
            raise RemoteError("Lambada.ConnectionError", message, fn.name) from exc
        except (OSError, http.client.HTTPException) as exc:
            if conn is not None:
                conn.close()
            connections.pop(key, None)
            message = "%s: %s" % (label, exc)
            raise RemoteError("Lambada.ConnectionError", message, fn.name) from exc
        if will_close:
            conn.close()
            connections.pop(key, None)
        return status, reply_headers, data
    raise AssertionError("unreachable")


def _connection(scheme, hostname, port, timeout):
    if scheme == "https":
        import http.client
        import ssl

        return _HTTPClientConnection(http.client.HTTPSConnection(
            hostname, port, timeout=timeout, context=ssl.create_default_context()))
    return _PlainConnection(hostname, port, timeout)


class _HTTPClientConnection:
    """An https endpoint (AWS): http.client, which does TLS and all of HTTP."""

    def __init__(self, conn):
        self.conn = conn

    def settimeout(self, timeout):
        if self.conn.sock is not None:
            self.conn.sock.settimeout(timeout)

    def post(self, path, headers, body):
        self.conn.request("POST", path, body, headers)
        reply = self.conn.getresponse()
        data = reply.read()
        return reply.status, reply.headers, data, reply.will_close

    def close(self):
        self.conn.close()


class _Headers(dict):
    """Response headers by lower-case name; `get` ignores case, as http.client's does."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)


class _PlainConnection:
    """A plain-http endpoint (a local host such as `lambada serve`), kept alive. Each
    request goes out in one write: http.client writes the headers and the body
    separately, which costs a second system call and, without TCP_NODELAY, a round trip
    (Nagle). With every call of a recursion remote (`--remote-calls all`) this is most
    of the cost of a call. The response is read as HTTP/1.1 says: Content-Length,
    chunked, or up to the end of the connection."""

    _LINE = 65536

    def __init__(self, hostname, port, timeout):
        import socket

        self.sock = socket.create_connection((hostname, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def post(self, path, headers, body):
        head = "".join("%s: %s\r\n" % item for item in headers.items())
        request = "POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (path, head, len(body))
        self.sock.sendall(request.encode("latin-1") + body)
        line = self.reader.readline(self._LINE)
        if not line:
            raise ConnectionResetError("the server closed the connection without answering")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise ConnectionError("not an HTTP response: %r" % line[:100])
        version, status = parts[0], int(parts[1])
        reply_headers = _Headers()
        while True:
            line = self.reader.readline(self._LINE)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            reply_headers[name.strip().lower()] = value.strip()
        connection = reply_headers.get("connection", "").lower()
        will_close = connection == "close" or (version == b"HTTP/1.0" and connection != "keep-alive")
        if "chunked" in reply_headers.get("transfer-encoding", "").lower():
            data = self._read_chunks()
        elif reply_headers.get("content-length", "").isdigit():
            data = self._read_exactly(int(reply_headers["content-length"]))
        else:
            data = self.reader.read()
            will_close = True
        return status, reply_headers, data, will_close

    def _read_exactly(self, n):
        data = self.reader.read(n)
        if len(data) != n:
            raise ConnectionResetError("the server closed the connection mid-response")
        return data

    def _read_chunks(self):
        chunks = []
        while True:
            size = self.reader.readline(self._LINE).split(b";", 1)[0].strip()
            try:
                n = int(size, 16)
            except ValueError:
                raise ConnectionError("bad chunk size %r" % size[:40]) from None
            if n == 0:
                while self.reader.readline(self._LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self._read_exactly(n))
            self._read_exactly(2)

    def close(self):
        try:
            self.reader.close()
        finally:
            self.sock.close()


# Seconds a throttled call keeps trying at least (longer for functions with a longer
# timeout).
THROTTLE_PATIENCE = 60


def _throttle_pause(headers, pause):
    """Retry-After when the answer gives one (seconds), else ``pause`` with jitter."""
    import random

    try:
        after = float(headers.get("Retry-After") or headers.get("retry-after") or "")
        return min(max(after, 0.0), 5.0) * (0.5 + random.random() / 2)
    except ValueError:
        return pause * (0.5 + random.random())


def _invoke_answer(fn, status, headers, data):
    """The lambada response in an Invoke answer, or the RemoteError it amounts to."""
    try:
        body = json.loads(data) if data else None
    except ValueError:
        body = None
    function_error = headers.get("X-Amz-Function-Error")
    if status == 200 and not function_error:
        if isinstance(body, dict) and ("ret" in body or "error" in body or "fallback" in body
                                       or "cache_miss" in body):
            return body
        excerpt = data[:300].decode("utf-8", "replace")
        raise RemoteError("Lambada.InvalidResponse", "not a lambada response: %s" % excerpt, fn.name)
    if isinstance(body, dict):
        error_type = body.get("errorType") or body.get("Type") or body.get("__type")
        message = body.get("errorMessage") or body.get("message") or body.get("Message")
    else:
        error_type = message = None
    error_type = (headers.get("x-amzn-ErrorType") or "").partition(":")[0] or error_type or function_error
    if not message:
        message = data[:300].decode("utf-8", "replace") or "HTTP %d" % status
    raise RemoteError(error_type or "HTTP %d" % status, message, fn.name)
