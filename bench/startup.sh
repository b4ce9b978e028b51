#!/usr/bin/env bash
# Wall time of one whole `lambada --local fixtures/fib_counter.py -o <tmpdir>` process
# (release binary): process start, parse, analyse, plan, rewrite, package, write.
#
#     bench/startup.sh            # hyperfine when installed, else a loop of 50 runs
#     RUNS=200 bench/startup.sh
#     NO_HYPERFINE=1 bench/startup.sh   # force the date +%s%N loop
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/lambada
input=fixtures/fib_counter.py
runs=${RUNS:-50}
out=$(mktemp -d)
mkdir "$out/gen"
trap 'rm -rf "$out"' EXIT
cmd="$bin --local $input -o $out/gen"

if [[ -z ${NO_HYPERFINE:-} ]] && command -v hyperfine >/dev/null; then
    # hyperfine's mean suffers on a busy machine: print the median and min too.
    hyperfine --warmup 10 --runs "$runs" -N --export-json "$out/hyperfine.json" "$cmd"
    python3 -c 'import json, statistics, sys
t = json.load(open(sys.argv[1]))["results"][0]["times"]
print(f"  median {statistics.median(t) * 1e3:.2f} ms, min {min(t) * 1e3:.2f} ms over {len(t)} runs")' "$out/hyperfine.json"
else
    for _ in $(seq 10); do $cmd >/dev/null 2>&1; done
    times=()
    for _ in $(seq "$runs"); do
        start=$(date +%s%N)
        $cmd >/dev/null 2>&1
        times+=($(( $(date +%s%N) - start )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v runs="$runs" '
        { t[NR] = $1; sum += $1 }
        END { printf "%d runs of: %s\n  mean %.2f ms, median %.2f ms, min %.2f ms, max %.2f ms\n",
              runs, cmd, sum / NR / 1e6, t[int((NR + 1) / 2)] / 1e6, t[1] / 1e6, t[NR] / 1e6 }' cmd="$cmd"
fi
