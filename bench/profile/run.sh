#!/usr/bin/env bash
# Profile-guided granularity (issue 9): every program in bench/profile/ has a hot small
# class or function. Prints wall time and invocations under python3, `lambada run` and
# `lambada run --profile` as a Markdown table (see bench/README.md).
#
#     bench/profile/run.sh
#     RUNS=5 PYTHON=~/.pyenv/versions/3.12.1/bin/python bench/profile/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
# pyenv's python3 is a shell shim that costs ~100 ms a start: use the interpreter itself.
python=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
exec python3 bench/profile/run.py "$PWD/target/release/lambada" "$python"
