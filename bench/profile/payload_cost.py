"""What a KB of arguments or results costs an invocation beyond its round trip: the
runtime's codec (lambada_runtime/wire.py) and JSON, encoding and decoding, once each way
(the caller encodes the arguments, the function decodes them; the function encodes the
result, the caller decodes it). Payloads are lists of small records, as programs send.

    python3 bench/profile/payload_cost.py   # prints µs per KB for a few payload sizes
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "templates"))
from lambada_runtime import wire  # noqa: E402


def round_trip(value):
    encoder, roots = wire.encode([value])
    text = json.dumps([encoder.records, roots], separators=(",", ":"))
    records, roots = json.loads(text)
    decoder = wire.Decoder(records, {})
    decoder.value(roots[0])
    return len(text)


def main():
    for n in (10, 100, 1000, 10000):
        value = [{"id": i, "name": "item%d" % i, "score": i * 0.5, "tags": ["a", "b"]} for i in range(n)]
        size = round_trip(value)
        runs = max(3, 2000 // n)
        started = time.perf_counter()
        for _ in range(runs):
            round_trip(value)
        per_call = (time.perf_counter() - started) / runs * 1e6
        print("%6d records, %9d bytes: %9.1f µs per round trip, %5.1f µs per KB" % (
            n, size, per_call, per_call / (size / 1024)))


if __name__ == "__main__":
    main()
