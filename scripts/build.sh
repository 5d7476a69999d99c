#!/usr/bin/env bash
# Build everything needed to run pair_style cace:
#   1. LAMMPS (cached outside the clone by setup-lammps.sh; see its header for the env variables)
#   2. the Swift library and the plugin, into build/ of this repository
# Result: build/lmp (symlink to the cached LAMMPS) and build/caceplugin.so (+ libcace_capi.so).
# Extra arguments are passed to the CMake configure step, e.g. -D CACE_SWIFT_STATIC_STDLIB=OFF.
# CACE_BUILD_DIR overrides build/ (relative to the repo), e.g.
#   LAMMPS_MPI=off CACE_BUILD_DIR=/tmp/cace-serial scripts/build.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${CACE_BUILD_DIR:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
T0=$SECONDS
say() { printf '[build %4ds] %s\n' $((SECONDS - T0)) "$*"; }

"$ROOT/scripts/setup-lammps.sh" --env-file "$BUILD/lammps.env"
# shellcheck source=/dev/null
source "$BUILD/lammps.env"

# a plugin must be built against the exact LAMMPS it runs in: start afresh if that changed
LAMMPS_CMAKE_DIR=$LAMMPS_PREFIX/lib/cmake/LAMMPS
if [[ -f $BUILD/CMakeCache.txt ]] &&
  ! grep -qxF "LAMMPS_DIR:PATH=$LAMMPS_CMAKE_DIR" "$BUILD/CMakeCache.txt"; then
  say "LAMMPS install changed: clearing the CMake cache in $BUILD"
  rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
fi
say "configuring the plugin in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -D CMAKE_BUILD_TYPE=Release \
  -D CMAKE_PREFIX_PATH="$LAMMPS_PREFIX" -D LAMMPS_DIR:PATH="$LAMMPS_CMAKE_DIR" \
  -D LAMMPS_SOURCE_DIR="$LAMMPS_SOURCE_DIR" "$@" >/dev/null
say "building libcace_capi.so (SwiftPM) and caceplugin.so"
cmake --build "$BUILD"
ln -sfn "$LAMMPS_PREFIX/bin/lmp" "$BUILD/lmp"

say "done:"
echo "  $BUILD/lmp -> $LAMMPS_PREFIX/bin/lmp"
echo "  $BUILD/caceplugin.so   (in an input: plugin load $BUILD/caceplugin.so)"
