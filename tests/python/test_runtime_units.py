"""Small pieces of the runtime package on their own: the handler's envelope, the in-process
Lambda context, RemoteError, the no-op cloudfunction decorator, the stubs' wrapping."""

import json
import sys

import pytest


def call_handler(runtime, handler, args, kwargs=None):
    """Sends ``args`` to ``handler`` as the caller's side would; (answer, decoded result)."""
    wire = runtime.wire
    encoder = wire.Encoder()
    event = {"args": [encoder.value(a) for a in args]}
    if kwargs:
        event["kwargs"] = {k: encoder.value(v) for k, v in kwargs.items()}
    encoder.run()
    if encoder.records:
        event["objs"] = encoder.records
    answer = json.loads(json.dumps(handler(json.loads(json.dumps(event)), None)))
    decoder = wire.Decoder(answer.get("objs") or [], {"__name__": "__main__"}, encoder.objects)
    decoder.build_all()
    result = decoder.value(answer["ret"]) if "ret" in answer else None
    return answer, result


def test_handler_answers_with_result_output_and_write_back(runtime):
    def double(xs, scale=1):
        print("doubling", len(xs))
        xs.append("seen")
        return tuple(x * 2 * scale for x in xs[:-1]), xs

    handler = runtime.make_handler(double, {"__name__": "lambada_handler", "double": double}, "double")
    items = [1, 2]
    answer, result = call_handler(runtime, handler, [items], {"scale": 10})
    assert answer["stdout"] == "doubling 2\n" and answer["stderr"] == ""
    assert result[0] == (20, 40)
    assert result[1] is items  # the caller's own list comes back as itself
    assert answer["updates"]  # ... whose new state is sent for the caller to apply


def test_handler_refuses_a_foreign_event_and_restores_the_streams(runtime):
    def f():
        return 1

    handler = runtime.make_handler(f, {"__name__": "lambada_handler", "f": f}, "f")
    stdout, stderr = sys.stdout, sys.stderr
    with pytest.raises(TypeError, match="a lambada request is a JSON object with args, kwargs and globals, not list"):
        handler([1, 2], None)
    assert sys.stdout is stdout and sys.stderr is stderr


def test_handler_answers_an_exception_with_its_traceback(runtime):
    class AppError(Exception):
        pass

    def fail(n):
        raise AppError("too big: %d" % n)

    AppError.__module__ = fail.__module__ = "__main__"
    AppError.__qualname__ = "AppError"  # as if defined at the top of the program
    namespace = {"__name__": "__main__", "fail": fail, "AppError": AppError}
    handler = runtime.make_handler(fail, namespace, "fail")
    answer = handler({"args": [5]}, None)
    error = answer["error"]
    assert (error["type"], error["message"]) == ("AppError", "too big: 5")
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert error["traceback"].rstrip().endswith("AppError: too big: 5")
    assert "lambada_runtime" not in error["traceback"].replace("lambada_runtime_under_test", "")


def test_handler_refuses_what_it_cannot_rebuild_so_the_caller_runs_it_locally(runtime):
    def f(x):
        return x

    handler = runtime.make_handler(f, {"__name__": "lambada_handler", "f": f}, "f")
    answer = handler({"args": [[0]], "objs": [["G", "__main__", "NoSuchClass"]]}, None)
    assert answer["fallback"].startswith("the cloud function cannot rebuild its request")


def test_in_process_context_looks_like_lambdas(runtime):
    fn = runtime.transports.Function.__new__(runtime.transports.Function)
    fn.name, fn.memory, fn.timeout = "app-fib", 256, 30.0
    context = runtime.transports._Context(fn, "eu-west-1")
    assert context.function_name == "app-fib" and context.function_version == "$LATEST"
    assert context.invoked_function_arn == "arn:aws:lambda:eu-west-1:000000000000:function:app-fib"
    assert context.memory_limit_in_mb == "256"
    assert context.log_group_name == "/aws/lambda/app-fib" and context.log_stream_name
    assert len(context.aws_request_id) == 36 and context.aws_request_id == context.aws_request_id
    assert 29000 < context.get_remaining_time_in_millis() <= 30000


def test_remote_error_carries_its_fields(runtime):
    error = runtime.RemoteError("Sandbox.Timedout", "Task timed out after 3.00 seconds", "app-fib")
    assert (error.error_type, error.message, error.function) == (
        "Sandbox.Timedout", "Task timed out after 3.00 seconds", "app-fib")
    assert str(error) == "cloud function app-fib failed: Sandbox.Timedout: Task timed out after 3.00 seconds"


def test_cloudfunction_is_a_no_op_decorator(runtime):
    def f():
        return 1

    assert runtime.cloudfunction(f) is f
    assert runtime.cloudfunction(memory=256, duration=10)(f) is f
    assert runtime.cloudfunction()(f) is f


def test_a_stub_looks_like_the_function_it_stands_for(runtime):
    def area(w, h=2):
        """The area."""
        return w * h

    stub = runtime.cloud("area", {"__name__": "__main__"})(area)
    assert stub._lambada_twin is area
    assert (stub.__name__, stub.__qualname__, stub.__doc__) == (area.__name__, area.__qualname__, "The area.")
    assert stub.__wrapped__ is area


def test_remote_traceback_of_an_exception_never_sent_is_none(runtime):
    assert runtime.remote_traceback(ValueError("local")) is None
