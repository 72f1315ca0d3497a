#!/usr/bin/env bash
# One prepared GPU check (issue 13): see benchmarks/gpu_check.py for the stages and the two-call procedure.
#   bash benchmarks/gpu_check.sh --out "$OUT"          # on the GPU machine, from the repository alone
#   bash benchmarks/gpu_check.sh --dry-run --out DIR   # every stage at toy size on the CPU
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$(command -v python3 || command -v python)" benchmarks/gpu_check.py "$@"
