"""lambada worker: one warm Python process that runs a Lambda function's handler.

Started by `lambada serve` with the function's code as its working directory, a clean
environment (the Lambda variables, the function's own variables) and fd 2 open on the
worker's log file. It imports the handler once and then serves invocations one at a
time until its stdin closes, so module state survives between invocations as in Lambda.

Protocol (binary, big-endian, on the pipes the host gave as stdin and stdout; the user's
code never sees them: fd 0 becomes /dev/null and fd 1 the log file before any import):

  host -> worker   u32 len, header JSON {"id", "deadline_ms", "arn", "cc", "ci"},
                   u32 len, event JSON bytes
  worker -> host   u8 kind, u32 max RSS (KB), u32 len, payload
                   kind 0 result JSON, 1 function error JSON, 2 function error JSON
                   after which the worker exits, 3 ready (empty), 4 init error JSON
                   (the worker exits)

Memory: Lambda limits what a function really uses (its resident memory), not the
address space it maps; numpy alone maps 130 MB to use 22 MB. So an invocation after
which the worker's peak resident set is over MemorySize is answered as
Runtime.OutOfMemory and the worker retires, as Lambda kills it; and RLIMIT_AS, set to
the address space in use after start-up plus MemorySize plus a 512 MB allowance for
mappings, stops a runaway allocation before it takes the machine (a MemoryError is
answered the same way).

The same file serves a zygote (`lambada_zygote.py`), which imports it once and calls
`run_forked` in each worker it forks: importing it has no effect beyond definitions, and
everything that depends on the worker (its descriptors, its environment) happens in
`_start`.
"""

import json
import os
import struct
import sys
import time

# decimal and traceback are imported when needed: together they are a fifth of a cold
# start, and most invocations need neither.

RESULT, ERROR, ERROR_RETIRE, READY, INIT_ERROR = 0, 1, 2, 3, 4

_ENV = os.environ
_REQ_FD = _RESP_FD = -1
_FUNCTION_NAME = _FUNCTION_VERSION = _MEMORY = _LOG_GROUP = _LOG_STREAM = ""


def _start():
    """Takes the protocol pipes off fds 0 and 1 (user code gets /dev/null and the log)
    and reads the function's settings from the environment."""
    global _REQ_FD, _RESP_FD, _FUNCTION_NAME, _FUNCTION_VERSION, _MEMORY, _LOG_GROUP, _LOG_STREAM
    _REQ_FD = os.dup(0)
    _RESP_FD = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)
    try:
        sys.stdout.reconfigure(line_buffering=True)
    except AttributeError:
        pass
    _FUNCTION_NAME = _ENV.get("AWS_LAMBDA_FUNCTION_NAME", "")
    _FUNCTION_VERSION = _ENV.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    _MEMORY = _ENV.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    _LOG_GROUP = _ENV.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
    _LOG_STREAM = _ENV.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

try:
    import resource

    _status = [None, None]  # (pid, fd) of this process's /proc/self/status

    def _max_rss_kb():
        # VmHWM, the peak resident set of this process image: getrusage's ru_maxrss
        # keeps the peak from before exec (or fork), which is the host's own size. One
        # pread of a descriptor kept open (per process: a forked child opens its own).
        try:
            pid = os.getpid()
            if _status[0] != pid:
                _status[:] = [pid, os.open("/proc/self/status", os.O_RDONLY)]
            text = os.pread(_status[1], 4096, 0)
            at = text.find(b"VmHWM:")
            if at >= 0:
                return int(text[at + 6:text.index(b"kB", at)])
        except (OSError, ValueError):
            pass
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss // 1024 if sys.platform == "darwin" else rss

except ImportError:  # pragma: no cover - not on Unix
    resource = None

    def _max_rss_kb():
        return 0


# Address space beyond MemorySize for mapped libraries, thread stacks and arenas.
_MAPPING_ALLOWANCE_MB = 512


def _out_of_memory(request_id):
    return ERROR_RETIRE, _error_json(
        "Runtime.OutOfMemory",
        "RequestId: %s Error: Runtime exited with error: out of memory (MemorySize %s MB)" % (request_id, _MEMORY),
        request_id,
        [],
    )


def _limit_memory():
    """Gives user code MemorySize MB of address space beyond what Python uses now."""
    if resource is None:
        return
    try:
        in_use = 0
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    in_use = int(line.split()[1]) * 1024
                    break
        if not in_use:
            return
        limit = in_use + (int(_MEMORY) + _MAPPING_ALLOWANCE_MB) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError):
        pass


def _write(kind, payload=b""):
    frame = struct.pack(">BII", kind, _max_rss_kb() & 0xFFFFFFFF, len(payload)) + payload
    view = memoryview(frame)
    while view:
        view = view[os.write(_RESP_FD, view):]


def _read_exactly(n):
    chunks = []
    while n:
        chunk = os.read(_REQ_FD, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def _read_frame():
    head = _read_exactly(4)
    if head is None:
        return None
    (length,) = struct.unpack(">I", head)
    return _read_exactly(length) if length else b""


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


class _Fault(Exception):
    def __init__(self, error_type, message, stack=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


def _error_json(error_type, message, request_id, stack):
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": stack,
        }
    ).encode()


def _exception_json(exc, request_id):
    import traceback

    tb = exc.__traceback__
    # Leave out the bootstrap's own frames, as Lambda's runtime does.
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    stack = traceback.format_list(traceback.extract_tb(tb))
    message = str(exc)
    sys.stderr.write(
        "[ERROR] %s: %s\nTraceback (most recent call last):\n%s"
        % (type(exc).__name__, message, "".join(stack))
    )
    return _error_json(type(exc).__name__, message, request_id, stack)


def _load_action(main_name):
    """An OpenWhisk Python action (handler ``openwhisk:<main>``): ``__main__.py`` of the
    action's code, imported as ``main__`` as OpenWhisk's Python runtime does, whose
    ``main(args)`` takes the parameters and returns a dictionary. An exception becomes
    ``{"error": str(exc)}`` with the traceback on stderr (an application error, as in
    OpenWhisk); a result that is not a dictionary is a developer error."""
    import importlib.util

    path = os.path.join(_ENV.get("LAMBDA_TASK_ROOT", os.getcwd()), "__main__.py")
    if not os.path.isfile(path):
        raise _Fault("Runtime.ImportModuleError", "Zip file does not include __main__.py")
    spec = importlib.util.spec_from_file_location("main__", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["main__"] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise _Fault("Runtime.UserCodeSyntaxError", "Syntax error in __main__.py: %s" % e, trace)
    main = getattr(module, main_name, None)
    if main is None:
        raise _Fault("Runtime.HandlerNotFound", "Function '%s' missing in __main__.py" % main_name)
    # The API key of the action's own namespace, as OpenWhisk gives it (its session
    # credentials here), so that an action can invoke other actions.
    if _ENV.get("AWS_ACCESS_KEY_ID") and _ENV.get("AWS_SECRET_ACCESS_KEY"):
        _ENV["__OW_API_KEY"] = "%s:%s" % (_ENV["AWS_ACCESS_KEY_ID"], _ENV["AWS_SECRET_ACCESS_KEY"])

    def action(args, context):
        _ENV["__OW_ACTIVATION_ID"] = context.aws_request_id
        _ENV["__OW_DEADLINE"] = str(context._deadline_ms)
        try:
            result = main(args)
        except Exception as exc:
            import traceback

            sys.stderr.write(traceback.format_exc())
            return {"error": str(exc)}
        if not isinstance(result, dict):
            raise _Fault("Action.NotADictionary", "The action did not return a dictionary.")
        return result

    return action


def _load_handler(handler):
    if handler.startswith("openwhisk:"):
        return _load_action(handler[len("openwhisk:"):])
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise _Fault("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e))
    modname = modname.replace("/", ".")
    if modname.split(".")[0] in sys.builtin_module_names:
        raise _Fault(
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module %s as a handler module" % modname,
        )
    import importlib

    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise _Fault("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise _Fault(
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module '%s': %s" % (modname, e),
            trace,
        )
    function = getattr(module, fname, None)
    if function is None:
        return _Fault("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname))
    return function


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __init__(self, data=None):
        data = data or {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id,
            self.cognito_identity_pool_id,
        )


class Client:
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __init__(self, data):
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    __slots__ = ["custom", "env", "client"]

    def __init__(self, data):
        client = data.get("client")
        self.client = Client(client) if isinstance(client, dict) else None
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    """The context object a handler receives, with the attributes of Lambda's."""

    def __init__(self, request_id, deadline_ms, arn, client_context, identity):
        self.aws_request_id = request_id
        self.function_name = _FUNCTION_NAME
        self.function_version = _FUNCTION_VERSION
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = _MEMORY
        self.log_group_name = _LOG_GROUP
        self.log_stream_name = _LOG_STREAM
        self.identity = CognitoIdentity(identity)
        self.client_context = ClientContext(client_context) if isinstance(client_context, dict) else None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def log(self, message):
        sys.stdout.write(str(message))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
            "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
            "invoked_function_arn=%s,client_context=%s,identity=%s])"
            % (
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
            )
        )


def _default(value):
    # A Decimal can only exist once some code imported decimal.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def _invoke(handler, header, body):
    request_id = header["id"]
    try:
        event = json.loads(body) if body else {}
        context = LambdaContext(request_id, header["deadline_ms"], header["arn"], header.get("cc"), header.get("ci"))
        if isinstance(handler, _Fault):
            raise handler
        result = handler(event, context)
        if _max_rss_kb() > int(_MEMORY) * 1024:
            return _out_of_memory(request_id)
        try:
            return RESULT, json.dumps(result, default=_default).encode()
        except (TypeError, ValueError) as e:
            raise _Fault("Runtime.MarshalError", "Unable to marshal response: %s" % e)
    except MemoryError:
        return _out_of_memory(request_id)
    except _Fault as fault:
        sys.stderr.write("[ERROR] %s: %s\n" % (fault.error_type, fault.message))
        return ERROR, _error_json(fault.error_type, fault.message, request_id, fault.stack)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are function errors too
        return ERROR, _exception_json(exc, request_id)


def _add_layers(task_root):
    """Puts the function's layers (Lambda's /opt) on sys.path right after its code, in
    Lambda's order: python/lib/python3.X/site-packages, then python."""
    opt = _ENV.get("LAMBADA_LAYERS_DIR")
    if not opt:
        return
    python = os.path.join(opt, "python")
    site = os.path.join(python, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")
    at = sys.path.index(task_root) + 1
    sys.path[at:at] = [site, python]


def main():
    task_root = _ENV.get("LAMBDA_TASK_ROOT", os.getcwd())
    if sys.path and os.path.dirname(os.path.abspath(__file__)) == os.path.abspath(sys.path[0] or "."):
        sys.path[0] = task_root
    else:
        sys.path.insert(0, task_root)
    _add_layers(task_root)
    _limit_memory()
    try:
        handler = _load_handler(_ENV.get("_HANDLER", ""))
    except _Fault as fault:
        sys.stderr.write("[ERROR] %s: %s\n" % (fault.error_type, fault.message))
        _flush()
        _write(INIT_ERROR, _error_json(fault.error_type, fault.message, "", fault.stack))
        return
    except MemoryError:
        _flush()
        _write(INIT_ERROR, _error_json("Runtime.OutOfMemory", "Out of memory while importing the handler", "", []))
        return
    except BaseException as exc:
        payload = _exception_json(exc, "")
        _flush()
        _write(INIT_ERROR, payload)
        return
    _flush()
    _write(READY)
    while True:
        header = _read_frame()
        if header is None:
            return
        body = _read_frame()
        if body is None:
            return
        kind, payload = _invoke(handler, json.loads(header), body)
        _flush()
        _write(kind, payload)
        if kind == ERROR_RETIRE:
            return


def run_forked(environment):
    """The rest of a worker forked by a zygote, once it is isolated: the environment the
    host sent it (its own credentials and variables, never in the zygote's memory), then
    the same start as a worker started directly. Never returns."""
    _ENV.clear()
    _ENV.update(environment)
    # The command line a directly started worker has, not the zygote's.
    sys.argv = [os.path.join(_ENV.get("LAMBDA_RUNTIME_DIR", ""), "worker_bootstrap.py")]
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = [sys.executable] + sys.argv
    # What the interpreter would have taken from the environment at its start: the
    # zygote refuses to fork for variables it cannot apply here (see the host's zygote.rs).
    time.tzset()
    if _ENV.get("PYTHONPATH"):
        sys.path[0:0] = [p for p in _ENV["PYTHONPATH"].split(os.pathsep) if p]
    if _ENV.get("PYTHONDONTWRITEBYTECODE"):
        sys.dont_write_bytecode = True
    _start()
    try:
        main()
    except BaseException:
        import traceback

        traceback.print_exc()
        _flush()
        os._exit(1)
    _flush()
    os._exit(0)


if __name__ == "__main__":
    _start()
    main()
    _flush()
    os._exit(0)
