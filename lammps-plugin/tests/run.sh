#!/usr/bin/env bash
# LAMMPS regression tests of pair_style cace: build/lmp + build/caceplugin.so against the
# upstream references in ../shared/reference (SKIPPED if absent) and self-consistency checks.
# Prints "PASS <name>" / "FAIL <name>: <why>" / "SKIPPED ..." lines; exits non-zero on failure.
#   tests/lammps/run.sh [--keep] [--list] [SUBSTRING ...]
# Needs python3 with numpy and mpirun (Open MPI). CACE_BUILD_DIR overrides build/.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import numpy' 2>/dev/null; then
  echo "FAIL setup: $PYTHON cannot import numpy (pip install numpy, or set PYTHON=...)"
  exit 1
fi
export PYTHONDONTWRITEBYTECODE=1    # nothing written into the repository
exec "$PYTHON" "$HERE/run_tests.py" "$@"
