#!/usr/bin/env bash
# Fan-out benchmark (issue 9): each program under plain python3 and under
# `lambada run --max-workers 16`, wall time by hyperfine (or /usr/bin/time without it).
# Usage: bench/fanout/run.sh [path/to/lambada]   (default: target/release/lambada)
set -euo pipefail
cd "$(dirname "$0")/../.."
lambada=${1:-target/release/lambada}
for program in map_form comprehension_form executor_form cpu_form; do
    file=bench/fanout/$program.py
    expected=$(python3 "$file")
    got=$("$lambada" run -q --max-workers 16 "$file")
    [ "$expected" = "$got" ] || { echo "$program: output differs: $expected vs $got"; exit 1; }
    if command -v hyperfine >/dev/null; then
        hyperfine -N --warmup 1 --runs 3 "python3 $file" "$lambada run -q --max-workers 16 $file"
    else
        /usr/bin/time -f "$program python3: %e s" python3 "$file" >/dev/null
        /usr/bin/time -f "$program lambada run: %e s" "$lambada" run -q --max-workers 16 "$file" >/dev/null
    fi
done
