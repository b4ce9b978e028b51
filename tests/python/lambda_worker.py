"""A warm "Lambda" worker for the in-test Invoke server: imports a package's handler once,
then answers one JSON event per stdin line. Each answer is one line starting with MARK;
every other line on stdout is the function's log (what a real Lambda sends to CloudWatch)."""

import importlib
import json
import os
import sys

MARK = "\x00lambada-answer\x00"

sys.path.insert(0, os.getcwd())
module_name, _, attribute = sys.argv[1].rpartition(".")
handler = getattr(importlib.import_module(module_name), attribute)
out = sys.stdout
for line in sys.stdin:
    answer = handler(json.loads(line), None)
    out.write(MARK + json.dumps(answer) + "\n")
    out.flush()
