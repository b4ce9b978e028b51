#!/usr/bin/env bash
# Issue 13 benchmark: 1,000 lines read one input() at a time, 5 ms of work after each.
# Runs the program with python3, FaaSified in-process (lambada --local) and over HTTP on the
# embedded host (lambada run --stats). Usage: bench/split/run.sh [path/to/lambada]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lambada=${1:-$here/../../target/release/lambada}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seq 1 1000 | sed 's/^/line number /' > "$work/input.txt"
echo "== python3"
python3 "$here/read_lines.py" < "$work/input.txt"
echo "== lambada --local (in-process transport)"
"$lambada" --local -q -o "$work/out" "$here/read_lines.py"
LAMBADA_STATS_FILE="$work/stats.json" python3 "$work/out/read_lines/read_lines.py" < "$work/input.txt"
python3 -c "import json,sys; print('invocations', json.load(open(sys.argv[1]))['calls'])" "$work/stats.json"
echo "== lambada run --stats (HTTP, embedded host)"
start=$(date +%s.%N)
"$lambada" run --stats "$here/read_lines.py" < "$work/input.txt"
end=$(date +%s.%N)
echo "whole run (compile, host, deploy, program): $(echo "$end - $start" | bc) s"
