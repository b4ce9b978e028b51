import json


class AppError(Exception):
    def __init__(self, code):
        super().__init__("code %d" % code)
        self.code = code


def fail(kind):
    print("failing with", kind)
    if kind == "value":
        raise ValueError("bad", 42)
    if kind == "app":
        raise AppError(7)
    if kind == "json":
        return json.loads("{")
    if kind == "key":
        return {}["missing"]
    if kind == "os":
        return open("/nonexistent/lambada/x")
    if kind == "zero":
        return 1 / 0
    if kind == "module":
        import no_such_module_anywhere  # noqa: F401


for kind in ["value", "app", "json", "key", "os", "zero", "module"]:
    try:
        fail(kind)
    except AppError as e:
        print("AppError", e.args, e.code, str(e))
    except json.JSONDecodeError as e:
        print("JSONDecodeError", e.args, e.msg, e.pos, e.lineno, e.colno)
    except ValueError as e:
        print("ValueError", e.args, str(e))
    except LookupError as e:
        print(type(e).__name__, repr(e), str(e))
    except ImportError as e:
        print(type(e).__name__, e.args, e.name)
    except OSError as e:
        print(type(e).__name__, e.errno, e.filename, str(e))
    except ArithmeticError as e:
        print(type(e).__name__, e.args)
