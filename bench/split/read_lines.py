# Benchmark program (issue 13): reads 1,000 lines, one input() at a time, and does 5 ms of
# work after each. FaaSified, session() moves split at its read: every line is one
# invocation, and the time between reading a line and asking for the next is what the user
# waits. The driver measures that wait itself (the time from one read's return to the next
# read's start, printed on stderr at the end).
import time


def work(line):
    """5 ms of computation on the line."""
    deadline = time.perf_counter() + 0.005
    digest = 0
    while time.perf_counter() < deadline:
        for ch in line:
            digest = (digest * 31 + ord(ch)) % 1000003
    return digest


def session():
    count = 0
    total = 0
    while True:
        try:
            line = input()
        except EOFError:
            break
        total = (total + work(line)) % 1000003
        count += 1
    return count, total


if __name__ == "__main__":
    import builtins
    import sys

    # Wait per line: from the moment a read returns to the moment the next read starts.
    waits = []
    last = [None]
    real_input = builtins.input

    def timed_input(*args):
        if last[0] is not None:
            waits.append(time.perf_counter() - last[0])
        try:
            return real_input(*args)
        finally:
            last[0] = time.perf_counter()

    builtins.input = timed_input
    started = time.perf_counter()
    count, _ = session()
    wall = time.perf_counter() - started
    waits.sort()
    print("lines %d" % count)
    sys.stderr.write("wall %.3f s, wait per line: median %.2f ms, p99 %.2f ms\n" % (
        wall, 1000 * waits[len(waits) // 2], 1000 * waits[int(len(waits) * 0.99)]))
