#!/usr/bin/env bash
# The whole test suite: the Swift core (reference, physics, bad-input, CLI and C ABI tests),
# the Python package's tests (pytest, python/tests: the exporter and the ASE calculator, after
# pip install ./python) and, unless CACE_SKIP_LAMMPS=1, the LAMMPS plugin
# tests (pytest, lammps-plugin/tests; building LAMMPS once into the cache). Prints one closing
# line "tests: N passed, M failed" and exits non-zero on failure.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
# BLAS inside numpy (ASE's small matrices) and inside cace fit's tests: one thread each, since the
# suite runs several processes on a small machine (threaded OpenBLAS slowed ASE's BFGS 10x here)
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

passed=0
failed=0
count() {   # count <label> <passed> <failed>
  echo "== $1: $2 passed, $3 failed"
  passed=$((passed + $2)); failed=$((failed + $3))
}

# OpenBLAS (BLAS/LAPACK for `cace fit`, module COpenBLAS): SwiftPM links it for the CLI and tests
if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
  echo "== apt-get install libopenblas-dev"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenblas-dev >/dev/null ||
    echo "WARNING: could not install libopenblas-dev: the fit module will not link"
fi

# FFTW3 (the serial FFT of the particle-mesh long-range method, module CFFTW): linked into the CLI,
# the tests and libcace_capi.so (so also the Python package's build)
if ! dpkg -s libfftw3-dev >/dev/null 2>&1; then
  echo "== apt-get install libfftw3-dev"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libfftw3-dev >/dev/null ||
    echo "WARNING: could not install libfftw3-dev: the library and the CLI will not link"
fi

[[ -d ../shared/reference ]] || echo "NOTE: ../shared/reference not found: upstream reference comparisons are SKIPPED (they run in CI)"

echo "== swift test (XCTest)"
log=$(mktemp)
swift test --disable-swift-testing 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
swift_passed=$(grep -cE "^Test Case '.*' passed" "$log")
swift_failed=$(grep -cE "^Test Case '.*' failed" "$log")
skipped=$(grep -cE "^Test Case '.*' skipped" "$log")
[[ $skipped -gt 0 ]] && echo "NOTE: $skipped Swift test(s) skipped (see SKIPPED lines above)"
if [[ $status -ne 0 && $swift_failed -eq 0 ]]; then swift_failed=1; fi   # build failure
count "swift" "$swift_passed" "$swift_failed"
rm -f "$log"

# pytest and numpy: the exporter's and the LAMMPS plugin's tests both run under pytest
python3 -c "import pytest, numpy" 2>/dev/null ||
  python3 -m pip install -q pytest numpy ||
  python3 -m pip install -q --break-system-packages pytest numpy

echo "== Python tests: exporter and pair_cace (pytest; upstream exporter comparisons need upstream cace: CACE_UPSTREAM or PYTHONPATH)"
# torch, ase and matscipy let the exporter's own checks run (the upstream comparisons also need
# upstream CACE); torch's CPU wheel is the one this machine's registry carries; spglib is for
# the calculator's FixSymmetry test; matplotlib for the examples (examples/python)
python3 -c "import pytest, numpy, ase, matscipy, torch, spglib, matplotlib" 2>/dev/null ||
  python3 -m pip install -q pytest numpy ase matscipy spglib matplotlib "torch==2.13.0+cpu" ||
  python3 -m pip install -q pytest numpy ase matscipy spglib matplotlib torch
swift build -c release --product cace >/dev/null 2>&1 || true   # the exporter's --check runs this binary
# The Python package (pair_cace: the ASE calculator and the exporter). pip builds libcace_capi.so
# with SwiftPM in python/build/swiftpm (not .build) and ships it in the package; reinstalled only
# when a file it is made of changed (python/swift_build.py compares the installed fingerprint).
install_failed=0
if python3 python/swift_build.py --installed-is-current; then
  echo "pair-cace is installed and current"
else
  # the exporter's former distribution installed the same cace_export package: remove it
  if python3 -c "import importlib.metadata as m; m.distribution('cace-export')" 2>/dev/null; then
    python3 -m pip uninstall -q -y cace-export || python3 -m pip uninstall -q -y --break-system-packages cace-export
  fi
  echo "pip install ./python (builds libcace_capi.so in release mode: a few minutes the first time)"
  python3 -m pip install -q ./python ||
    python3 -m pip install -q --break-system-packages ./python || install_failed=1
fi
# All of python/tests, including the examples (examples/python, test_examples.py) and the
# fresh-clone install test (marker fresh_install: git clone + venv + pip install, ~1.5 min the
# first time for a commit, ~15 s after; PAIR_CACE_SKIP_FRESH_INSTALL=1 skips it, visibly)
log=$(mktemp)
python3 -m pytest -q -rs python/tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
pp=$(grep -oE "[0-9]+ passed" "$log" | tail -1 | grep -oE "[0-9]+" || echo 0)
pf=$(grep -oE "[0-9]+ failed" "$log" | tail -1 | grep -oE "[0-9]+" || echo 0)
if [[ $status -ne 0 && $pf -eq 0 ]]; then pf=1; fi
if [[ $install_failed -ne 0 ]]; then echo "FAILED: pip install ./python"; pf=$((pf + 1)); fi
count "python (exporter, pair_cace)" "${pp:-0}" "${pf:-0}"
rm -f "$log"

if [[ ${CACE_SKIP_LAMMPS:-0} != 1 ]]; then
  echo "== LAMMPS plugin tests (pytest, lammps-plugin/tests; mpirun for 2-4 ranks)"
  "$ROOT/scripts/build.sh" || { count "LAMMPS build" 0 1; echo "tests: $passed passed, $failed failed"; exit 1; }
  log=$(mktemp)
  # -rfEs: a line per failure, error and skip (with its reason); more options in pytest.ini
  PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q -rfEs lammps-plugin/tests 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  # the closing line, e.g. "1 failed, 212 passed, 1 skipped, 2 errors in 80.12s (0:01:20)"
  summary=$(grep -E "^(=+ )?([0-9]+ [a-z]+.*|no tests ran) in [0-9.]+s" "$log" | tail -1)
  n_of() { grep -oE "[0-9]+ $1" <<<"$summary" | grep -oE "[0-9]+" | head -1 || true; }
  lp=$(n_of passed); lf=$(n_of failed); le=$(n_of "errors?"); lsk=$(n_of skipped)
  lp=${lp:-0}; lf=$((${lf:-0} + ${le:-0}))    # errors (collection, fixtures) count as failures
  [[ ${lsk:-0} -gt 0 ]] && echo "NOTE: ${lsk} LAMMPS test(s) skipped (see SKIPPED lines above)"
  # 5: no tests collected; any other non-zero status (interrupted, internal or usage error)
  # fails the suite even without a "failed" count
  if [[ $status -ne 0 && $status -ne 5 && $lf -eq 0 ]]; then lf=1; fi
  count "lammps" "$lp" "$lf"
  rm -f "$log"
fi

echo "tests: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
