"""Moved coroutines: ``async def`` functions whose calls are awaited without blocking
the event loop, so ``asyncio.gather`` over them runs their invocations concurrently.

The caller's side (this module):

- ``@_lambada.cloud_coroutine(key, namespace)`` makes the stub, itself an ``async def``.
- A call builds its request on the event loop's thread (as a plain call does), sends it
  without blocking (HTTP/1.1 over asyncio streams, kept alive per event loop; in-process,
  in the loop's default executor), then rebuilds the answer, replays output and writes
  back state on the loop's thread again.
- Calls started while others are in flight stay exact:
  * a call that shares a changeable object, or a global, with an earlier call still in
    flight (and either may change it) is sent only when that call is finished, with
    the state it left: concurrent calls never start from the same state and overwrite
    each other's changes;
  * calls finish in the order they started: output is replayed, state written back
    and the result or exception delivered in that order. So ``asyncio.gather`` sees the
    same first exception, and the program the same output, as when the coroutines run
    one step each in order (what the original does with coroutines that do their work
    without waiting on each other).
- A call that cannot travel runs the original coroutine (the twin) in this loop.

The function's side (handler.py) runs the coroutine to completion with ``asyncio.run``.
"""

import asyncio
import functools
import ssl
import threading
import time
import types
import urllib.parse
import weakref

from . import caller, capture, sigv4, stats, transports, wire
from .errors import RemoteError

# ---------------------------------------------------------------------------------------
# The stub


def cloud_coroutine(key, namespace):
    """``@_lambada.cloud_coroutine("fetch", globals())`` above a moved ``async def``: the
    stub is a coroutine function; awaiting its call awaits the invocation."""
    def decorate(twin):
        async def stub(*args, **kwargs):
            return await call(key, twin, args, kwargs, namespace)

        caller._wraps(stub, twin)
        # Not a fan-out target (its calls make coroutines): no _lambada_key.
        stub._lambada_coroutine_key = key
        return stub

    return decorate


async def invoke_async(key, args, kwargs, namespace, twin=None):
    """Awaits cloud function ``key`` like ``await key(*args, **kwargs)`` (the stubs of
    ``--remote-calls all`` inside packages use this, with the original as ``twin``)."""
    return await call(key, twin, args, kwargs, namespace)


# ---------------------------------------------------------------------------------------
# One call


async def call(key, twin, args, kwargs, namespace):
    fn = transports._functions.get(key) or transports.function(key)
    stats.count_call(fn.key)
    order = _order()
    ticket = order.enter(fn, twin, namespace)
    try:
        try:
            text, encoder, named = await _request(order, ticket, fn, twin, args, kwargs, namespace)
        except wire.CannotTravel as exc:
            return await _fallback(order, ticket, fn, twin, args, kwargs, exc.reason)
        response = await send(fn, text)
        if "cache_miss" in response:  # a new worker: send the named runs in full
            text, encoder, named = caller.request(fn, twin, args, kwargs, namespace, None, resend=True)
            response = await send(fn, text)
        for segment in named:
            caller.cache.remember_sent(fn, segment.key, segment.kept)
        reason = response.get("fallback")
        if reason is not None:
            return await _fallback(order, ticket, fn, twin, args, kwargs, reason)
        await order.turn(ticket)
        try:
            return caller.finish(fn, response, encoder, namespace)
        except caller._Fallback as exc:
            return await _fallback(order, ticket, fn, twin, args, kwargs, exc.reason)
    finally:
        order.leave(ticket)


async def _request(order, ticket, fn, twin, args, kwargs, namespace):
    """The request, built once no earlier call in flight shares what it sends."""
    while True:
        text, encoder, named = caller.request(fn, twin, args, kwargs, namespace, None)
        ticket.objects = _changeable(encoder.objects)
        earlier = order.conflicts(ticket)
        if not earlier:
            return text, encoder, named
        await asyncio.wait([e.done for e in earlier])  # then encode the state they left


async def _fallback(order, ticket, fn, twin, args, kwargs, reason):
    if twin is None:
        raise TypeError("cannot call cloud function %s: %s" % (fn.name, reason)) from None
    stats.count_fallback(fn.key, reason)
    # The twin runs in this loop and may await later calls: it holds up no one.
    order.leave(ticket)
    return await twin(*args, **kwargs)


async def send(fn, text):
    transport = fn.transport
    if isinstance(transport, transports.LambdaTransport):
        response = await _http_call(transport, fn, text)
    else:
        response = await _inprocess_call(transport, fn, text)
    if type(response) is not dict or not ("ret" in response or "error" in response
                                          or "fallback" in response or "cache_miss" in response):
        raise RemoteError("Lambada.InvalidResponse", "not a lambada response: %.200r" % (response,), fn.name)
    return response


# Objects of these types never change: sharing them is no conflict.
_FIXED = (str, bytes, int, float, complex, bool, type(None), tuple, frozenset, type,
          types.FunctionType, types.BuiltinFunctionType, types.ModuleType)


def _changeable(objects):
    return frozenset(id(o) for o in objects if not isinstance(o, _FIXED))


# ---------------------------------------------------------------------------------------
# The order of calls in flight, per event loop


class _Ticket:
    __slots__ = ("number", "done", "objects", "reads", "writes", "namespace", "changes")

    def __init__(self, number, loop, fn, twin, namespace):
        self.number = number
        self.done = loop.create_future()
        self.objects = frozenset()
        self.namespace = id(namespace)
        self.reads = frozenset(fn.globals_read)
        self.writes = frozenset(fn.globals_written_only) | _written_globals(fn)
        self.changes = bool(self.writes) or not _only_reads(fn, twin)


class _Order:
    def __init__(self, loop):
        self.loop = loop
        self.next = 0
        self.flying = []  # tickets in start order

    def enter(self, fn, twin, namespace):
        ticket = _Ticket(self.next, self.loop, fn, twin, namespace)
        self.next += 1
        self.flying.append(ticket)
        return ticket

    def leave(self, ticket):
        if not ticket.done.done():
            ticket.done.set_result(None)
        try:
            self.flying.remove(ticket)
        except ValueError:
            pass

    def conflicts(self, ticket):
        """Earlier calls in flight that share a changeable object or a global with it."""
        found = []
        for other in self.flying:
            if other is ticket:
                break
            if other.namespace == ticket.namespace and (
                    ticket.writes & (other.reads | other.writes) or other.writes & ticket.reads):
                found.append(other)
            elif (ticket.changes or other.changes) and not ticket.objects.isdisjoint(other.objects):
                found.append(other)
        return found

    async def turn(self, ticket):
        """Waits until every call started before this one is finished."""
        while True:
            earlier = [t.done for t in self.flying if t.number < ticket.number]
            if not earlier:
                return
            await asyncio.wait(earlier)


_orders = weakref.WeakKeyDictionary()


def _order():
    loop = asyncio.get_running_loop()
    order = _orders.get(loop)
    if order is None:
        order = _orders[loop] = _Order(loop)
    return order


def _written_globals(fn):
    entry = (transports.manifest().get("functions") or {}).get(fn.key) or {}
    return frozenset(entry.get("globals_written") or ())


def _only_reads(fn, twin):
    """Whether the function provably changes none of its arguments."""
    entry = (transports.manifest().get("functions") or {}).get(fn.key) or {}
    readonly = entry.get("readonly")
    code = getattr(twin, "__code__", None)
    if not isinstance(readonly, list) or code is None:
        return False
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)  # *args, **kwargs
    return all(name in readonly for name in code.co_varnames[:count])


# ---------------------------------------------------------------------------------------
# Transport "inprocess": the handler runs in the loop's default executor, one call at a
# time (calls share sys.path, the working directory and the packages' modules), while
# the loop goes on with the program's other coroutines.


async def _inprocess_call(transport, fn, text):
    if transports.inprocess_lock.held():
        # Called from a coroutine that itself runs in an in-process call on this thread
        # (--remote-calls all): its loop is that call's own, so run it here.
        return transport.call(fn, text)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(transport.call, fn, text))



# ---------------------------------------------------------------------------------------
# Transport "lambda": HTTP/1.1 over asyncio streams, SigV4-signed; idle connections are
# kept per event loop and closed when the loop shuts down (asyncio.run does that).


async def _http_call(transport, fn, text):
    body = transports.encode_body(text)
    name = urllib.parse.quote(fn.name, safe="")
    path = "%s/2015-03-31/functions/%s/invocations" % (transport.base_path, name)
    # A throttled invocation (429) did not run: sent again, as the blocking path does.
    deadline = time.monotonic() + max(fn.timeout, transports.THROTTLE_PATIENCE)
    pause = 0.05
    while True:
        headers = {
            "Host": transport.host_header,
            "Content-Type": "application/json",
            "X-Amz-Invocation-Type": "RequestResponse",
        }
        headers.update(sigv4.sign_headers("POST", path, "", headers, body, transport.credentials(fn),
                                          transport.region, "lambda"))
        headers["User-Agent"] = "lambada-runtime/1"
        status, reply_headers, data = await _post(transport, fn, path, body, headers)
        if status != 429 or time.monotonic() + pause > deadline:
            return transports._invoke_answer(fn, status, reply_headers, data)
        await asyncio.sleep(transports._throttle_pause(reply_headers, pause))
        pause = min(pause * 2, 2.0)


async def _post(transport, fn, path, body, headers):
    pool = await _pool(transport)
    timeout = fn.timeout + 30
    for attempt in (1, 2):
        conn = pool.take()
        reused = conn is not None
        try:
            if conn is None:
                conn = await asyncio.wait_for(_Connection.open(transport), timeout)
            status, reply_headers, data, will_close = await asyncio.wait_for(
                conn.post(path, headers, body), timeout)
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError,
                asyncio.IncompleteReadError) as exc:
            if conn is not None:
                conn.close()
            if reused and attempt == 1:
                continue  # the server closed the kept-alive connection: reconnect once
            raise RemoteError("Lambada.ConnectionError", "%s: %s" % (transport.endpoint, exc), fn.name) from exc
        except (OSError, asyncio.TimeoutError, ValueError) as exc:
            if conn is not None:
                conn.close()
            message = "%s: %s" % (transport.endpoint, exc or type(exc).__name__)
            raise RemoteError("Lambada.ConnectionError", message, fn.name) from exc
        except BaseException:  # cancelled mid-exchange: the connection is in an unknown state
            if conn is not None:
                conn.close()
            raise
        if will_close:
            conn.close()
        else:
            pool.give(conn)
        return status, reply_headers, data
    raise AssertionError("unreachable")


class _Connection:
    _LINE = 65536

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, transport):
        if transport.scheme == "https":
            reader, writer = await asyncio.open_connection(
                transport.hostname, transport.port, ssl=ssl.create_default_context(),
                server_hostname=transport.hostname)
        else:
            reader, writer = await asyncio.open_connection(transport.hostname, transport.port)
            sock = writer.get_extra_info("socket")
            if sock is not None:
                import socket

                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def post(self, path, headers, body):
        head = "".join("%s: %s\r\n" % item for item in headers.items())
        request = "POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (path, head, len(body))
        self.writer.write(request.encode("latin-1") + body)
        await self.writer.drain()
        line = await self.reader.readline()
        if not line:
            raise ConnectionResetError("the server closed the connection without answering")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise ValueError("not an HTTP response: %r" % line[:100])
        version, status = parts[0], int(parts[1])
        reply_headers = transports._Headers()
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            reply_headers[name.strip().lower()] = value.strip()
        connection = reply_headers.get("connection", "").lower()
        will_close = connection == "close" or (version == b"HTTP/1.0" and connection != "keep-alive")
        if "chunked" in reply_headers.get("transfer-encoding", "").lower():
            data = await self._read_chunks()
        elif reply_headers.get("content-length", "").isdigit():
            data = await self.reader.readexactly(int(reply_headers["content-length"]))
        else:
            data = await self.reader.read()
            will_close = True
        return status, reply_headers, data, will_close

    async def _read_chunks(self):
        chunks = []
        while True:
            size = (await self.reader.readline()).split(b";", 1)[0].strip()
            try:
                n = int(size, 16)
            except ValueError:
                raise ValueError("bad chunk size %r" % size[:40]) from None
            if n == 0:
                while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(await self.reader.readexactly(n))
            await self.reader.readexactly(2)

    def close(self):
        self.writer.close()


class _Pool:
    """Idle kept-alive connections of one event loop to one endpoint."""

    def __init__(self):
        self.idle = []
        self.closer = None

    def take(self):
        while self.idle:
            conn = self.idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn
            conn.close()
        return None

    def give(self, conn):
        self.idle.append(conn)

    def close_all(self):
        while self.idle:
            self.idle.pop().close()


_pools = weakref.WeakKeyDictionary()


async def _pool(transport):
    loop = asyncio.get_running_loop()
    pools = _pools.get(loop)
    if pools is None:
        pools = _pools[loop] = {}
    key = (transport.scheme, transport.hostname, transport.port)
    pool = pools.get(key)
    if pool is None:
        pool = pools[key] = _Pool()
        # An async generator the loop finalises when it shuts down (asyncio.run calls
        # loop.shutdown_asyncgens()): the idle connections are closed then, not left
        # to the garbage collector.
        pool.closer = _close_at_shutdown(pool)
        await pool.closer.__anext__()
    return pool


async def _close_at_shutdown(pool):
    try:
        yield
    finally:
        pool.close_all()


# ---------------------------------------------------------------------------------------
# The function's side


def run_coroutine(coroutine):
    """Runs a moved coroutine to completion in an event loop of its own. An in-process
    call made from a running coroutine (``--remote-calls all``) gets a thread of its
    own for that loop, whose output goes to the same capture."""
    if not _loop_running():
        return asyncio.run(coroutine)
    outcome = {}
    captures = list(getattr(capture._local, "captures", None) or ())
    inside_call = transports.inprocess_lock.held()

    def run():
        capture._local.captures = captures[-1:]
        if inside_call:
            transports.inprocess_lock.inherit()
        try:
            outcome["ret"] = asyncio.run(coroutine)
        except BaseException as exc:  # delivered in the calling thread
            outcome["exc"] = exc
        finally:
            capture._local.captures = []

    thread = threading.Thread(target=run, name="lambada-coroutine")
    thread.start()
    thread.join()
    if "exc" in outcome:
        exc = outcome.pop("exc")
        try:
            raise exc.with_traceback(exc.__traceback__)
        finally:
            del exc
    return outcome.get("ret")


def _loop_running():
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


__all__ = ["cloud_coroutine", "invoke_async", "run_coroutine"]
