#!/usr/bin/env bash
# LAMMPS regression tests of pair_style cace with pytest: build/lmp + build/caceplugin.so
# against the upstream references in ../shared/reference (SKIPPED if absent, with the reason)
# and self-consistency checks on synthetic models. Arguments go to pytest, e.g.
#   lammps-plugin/tests/run.sh [-k WORDS] [--collect-only] [-x] [--basetemp DIR] ...
# Needs python3 with numpy and pytest, and mpirun (Open MPI). CACE_BUILD_DIR overrides build/.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PYTHONDONTWRITEBYTECODE=1    # nothing written into the repository
exec "${PYTHON:-python3}" -m pytest -q "$HERE" "$@"    # options in pytest.ini (-rs, run dirs)
