#!/usr/bin/env bash
# End to end: `lambada run --stats fixtures/fib_counter.py` with the release binary
# (compile, start the embedded host, deploy, run the program against it, stop), with the
# default --remote-calls driver and with --remote-calls all. Wall time (hyperfine when
# installed), then RUNS (5) timed runs each, printing the --stats lines of every run.
#
#     bench/run_e2e.sh
#     RUNS=10 NO_HYPERFINE=1 bench/run_e2e.sh
#     PYTHON=$(python3 -c 'import sys; print(sys.executable)') bench/run_e2e.sh
#         (passes --python: skips a pyenv shim, which costs every Python process ~60 ms)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/lambada
runs=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python_arg=${PYTHON:+ --python $PYTHON}

for mode in driver all; do
    cmd="$bin run --stats --remote-calls $mode$python_arg fixtures/fib_counter.py -o $work/out-$mode"
    echo "== $cmd"
    if [[ -z ${NO_HYPERFINE:-} ]] && command -v hyperfine >/dev/null; then
        hyperfine --warmup 2 --runs 10 -N --export-json "$work/$mode.json" "$cmd"
        python3 -c 'import json, statistics, sys
t = json.load(open(sys.argv[1]))["results"][0]["times"]
print(f"  median {statistics.median(t) * 1e3:.1f} ms, min {min(t) * 1e3:.1f} ms over {len(t)} runs")' "$work/$mode.json"
    fi
    times=()
    for i in $(seq "$runs"); do
        start=$(date +%s%N)
        $cmd >"$work/stdout" 2>"$work/stderr"
        times+=($(( $(date +%s%N) - start )))
        printf '  run %d: %6.1f ms  program output: %s\n' "$i" "$(( times[-1] / 1000 ))e-3" \
            "$(tr '\n' ' ' <"$work/stdout")"
        sed -n 's/^lambada run: /    /p' "$work/stderr"
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 }
        END { printf "  loop of %d: median %.1f ms, min %.1f ms, max %.1f ms\n",
              NR, t[int((NR + 1) / 2)] / 1e6, t[1] / 1e6, t[NR] / 1e6 }'
done
