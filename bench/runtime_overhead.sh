#!/usr/bin/env bash
# Per-call overhead of FaaSified calls on the in-process transport: compiles a trivial
# program and fixtures/fib_counter.py with level = 20 (both call modes) with the release
# binary into a temporary directory, then runs bench/runtime_overhead.py on them.
#
#     bench/runtime_overhead.sh
#     RUNS=5 CALLS=100000 PYTHON=python3.12 bench/runtime_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/lambada
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/inc_program.py" <<'PY'
def inc(x):
    return x + 1


if __name__ == "__main__":
    print(inc(1))
PY
"$bin" --local -q "$work/inc_program.py" -o "$work/tiny"

sed 's/^level = 12$/level = 20/' fixtures/fib_counter.py >"$work/fib_counter.py"
grep -q '^level = 20$' "$work/fib_counter.py" || {
    echo "fixtures/fib_counter.py no longer says 'level = 12'; update $0" >&2
    exit 1
}
"$bin" --local -q "$work/fib_counter.py" -o "$work/driver"
"$bin" --local -q --remote-calls all "$work/fib_counter.py" -o "$work/all"

# The same without the `for i in range(counter)` loop (91.5 million math.sin calls at
# level 20, which hide the call overhead): the comparison with the original Lambada.
mkdir "$work/plain"
grep -v -e '^    for i in range(counter):$' -e '^        a = math.sin(counter)$' \
    "$work/fib_counter.py" >"$work/plain/fib_counter.py"
[[ $(wc -l <"$work/plain/fib_counter.py") -eq $(( $(wc -l <"$work/fib_counter.py") - 2 )) ]] || {
    echo "fixtures/fib_counter.py no longer has the math.sin loop; update $0" >&2
    exit 1
}
"$bin" --local -q --remote-calls all "$work/plain/fib_counter.py" -o "$work/plain/all"

# fib(20) is 13,529 calls of fib: with --remote-calls all, 13,529 invocations.
"$python" bench/runtime_overhead.py \
    --tiny "$work/tiny/inc_program" --tiny-module inc_program --calls "${CALLS:-10000}" \
    --original "$work/fib_counter.py" \
    --driver "$work/driver/fib_counter/fib_counter.py" \
    --all "$work/all/fib_counter/fib_counter.py" \
    --plain-original "$work/plain/fib_counter.py" \
    --plain-all "$work/plain/all/fib_counter/fib_counter.py" \
    --runs "${RUNS:-3}" --expected-invocations 13529
