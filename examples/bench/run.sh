#!/usr/bin/env bash
# Speed benchmarks of the Swift core (cace benchmark) and of pair_style cace in LAMMPS, every
# comparison of BENCHMARKS.md in one run, written as a Markdown table to BENCHMARKS-run.md:
# water (../shared/reference water_sr and water_trained) at 192 to 98304 atoms in double and
# single precision, threads and MPI ranks, the message-passing reference models, and upstream
# CACE on the same structures when CACE_UPSTREAM=<upstream checkout> is set.
#   examples/bench/run.sh [--quick]     (--quick: no 98304-atom and message-passing runs)
# Needs ../shared/reference and scripts/build.sh (LAMMPS + plugin). About 15 min on 2 cores.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[[ -d $ROOT/../shared/reference ]] || { echo "run.sh: $ROOT/../shared/reference not found (the models live there)" >&2; exit 1; }
cd "$ROOT"
scripts/build.sh >/dev/null
swift build -c release --product cace >/dev/null
mkdir -p build/bench
exec python3 examples/bench/bench.py "$ROOT" "$ROOT/build/bench" "$ROOT/BENCHMARKS-run.md" "$@"
