#!/usr/bin/env bash
# Build LAMMPS from Debian's pinned orig tarball (shared lib + PLUGIN + MANYBODY + KSPACE + MPI + OpenMP) and
# install it into a per-version cache outside the clone. Idempotent: each finished step is skipped.
#
# Environment (all optional):
#   CACE_CACHE           cache root                        (default: ~/.cache/pair-cace)
#   LAMMPS_DEB_VERSION   Debian source version             (default: 20250204+dfsg.1-2, trixie)
#   LAMMPS_DEB_SUITE     suite that carries that version   (default: trixie)
#   LAMMPS_ORIG_SHA256   sha256 of the orig tarball        (default: the trixie one)
#   LAMMPS_MPI           on|off; off builds a serial LAMMPS with MPI stubs (separate cache dir)
#   LAMMPS_JOBS          parallel build jobs               (default: 2)
# Options:
#   --env-file FILE      write LAMMPS_PREFIX=... and LAMMPS_SOURCE_DIR=... to FILE (for build.sh)
set -euo pipefail

DEB_VERSION=${LAMMPS_DEB_VERSION:-20250204+dfsg.1-2}
DEB_SUITE=${LAMMPS_DEB_SUITE:-trixie}
if [[ $DEB_VERSION != 20250204+dfsg.1-2 && -z ${LAMMPS_ORIG_SHA256:-} ]]; then
  echo "setup-lammps: LAMMPS_DEB_VERSION is set, so LAMMPS_ORIG_SHA256 must be set too" >&2
  exit 2
fi
ORIG_SHA256=${LAMMPS_ORIG_SHA256:-3671165bd52fad36734e0a9136c5bc5ecb225e03988f8c89aa13366a8b53b1c7}
MPI=${LAMMPS_MPI:-on}
JOBS=${LAMMPS_JOBS:-2}
ENV_FILE=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --env-file) ENV_FILE=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup-lammps: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

UPSTREAM=${DEB_VERSION%-*}           # 20250204+dfsg.1 (orig tarball version)
SHORT=${UPSTREAM%%+*}                # 20250204
CACHE_ROOT=${CACE_CACHE:-$HOME/.cache/pair-cace}
DIR=$CACHE_ROOT/lammps-$SHORT
SRC=$DIR/lammps-src                  # unpacked; plugins need $SRC/src (lammpsplugin.h, version.h)
VARIANT=""                           # the serial build shares download and source with the MPI one
[[ $MPI == on ]] || VARIANT=-serial
BUILD_DIR=$DIR/build$VARIANT
PREFIX=$DIR/install$VARIANT
STAMP=$DIR/installed$VARIANT.stamp
STAMP_TEXT="deb=$DEB_VERSION sha256=$ORIG_SHA256 mpi=$MPI packages=plugin,manybody,kspace fft=fftw3"

T0=$SECONDS
say() { printf '[setup-lammps %4ds] %s\n' $((SECONDS - T0)) "$*"; }
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO=sudo

write_env() {
  [[ -z $ENV_FILE ]] && return 0
  mkdir -p "$(dirname "$ENV_FILE")"
  # whole or not at all: a temporary file renamed into place (a killed run keeps the old file)
  printf 'LAMMPS_PREFIX=%q\nLAMMPS_SOURCE_DIR=%q\nLAMMPS_MPI=%q\n' "$PREFIX" "$SRC/src" "$MPI" \
    >"$ENV_FILE.tmp.$$"
  mv -f "$ENV_FILE.tmp.$$" "$ENV_FILE"
}

# --- 1. build tools (install only what is missing) -----------------------------------------------
# OpenBLAS: cace fit; FFTW3: the mesh Ewald sum (the CLI's serial FFT, and KSPACE's FFT3d in LAMMPS)
PKGS=(cmake ninja-build g++ make xz-utils ca-certificates libopenblas-dev libfftw3-dev)
[[ $MPI == on ]] && PKGS+=(libopenmpi-dev openmpi-bin)
MISSING=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || MISSING+=("$p"); done
if [[ ${#MISSING[@]} -gt 0 ]]; then
  say "apt-get install ${MISSING[*]}"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${MISSING[@]}" >/dev/null
else
  say "build tools present"
fi

if [[ -f $STAMP && $(cat "$STAMP") == "$STAMP_TEXT" && -x $PREFIX/bin/lmp ]]; then
  say "LAMMPS $DEB_VERSION already installed in $PREFIX"
  write_env
  exit 0
fi
mkdir -p "$DIR"

# --- 2. orig tarball from the Debian archive, checked against the pinned sha256 ------------------
mkdir -p "$DIR/download"
orig() { compgen -G "$DIR/download/lammps_$UPSTREAM.orig.tar.*" | head -n1 || true; }
TARBALL=$(orig)
if [[ -z $TARBALL ]] || ! echo "$ORIG_SHA256  $TARBALL" | sha256sum -c --status; then
  LIST=/etc/apt/sources.list.d/pair-cace-lammps-src.sources
  if [[ ! -f $LIST ]] || ! grep -q "Suites: $DEB_SUITE\$" "$LIST"; then
    say "adding deb-src entry for $DEB_SUITE ($LIST)"
    printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" "Suites: $DEB_SUITE" \
      "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" |
      $SUDO tee "$LIST" >/dev/null
    $SUDO apt-get update -q
  elif ! apt-cache showsrc lammps 2>/dev/null | grep -qx "Version: $DEB_VERSION"; then
    $SUDO apt-get update -q
  fi
  say "downloading lammps=$DEB_VERSION orig tarball"
  rm -f "$DIR"/download/lammps_*
  # The archive 404s on the .dsc (and sometimes .debian.tar.xz), so apt-get exits non-zero even
  # though the orig tarball arrived; the sha256 check below is what decides.
  (cd "$DIR/download" && apt-get source --download-only "lammps=$DEB_VERSION") || \
    say "apt-get source exited non-zero (expected: the .dsc is missing upstream); checking tarball"
  TARBALL=$(orig)
  [[ -n $TARBALL ]] || {
    echo "setup-lammps: no lammps_$UPSTREAM.orig.tar.* was downloaded" >&2; exit 1; }
  echo "$ORIG_SHA256  $TARBALL" | sha256sum -c --quiet || {
    echo "setup-lammps: sha256 mismatch for $TARBALL (expected $ORIG_SHA256)" >&2; exit 1; }
fi
say "tarball ok: $TARBALL"

# --- 3. unpack (trixie's tarball has a top-level lammps-<date>/ dir, sid's has none) -------------
if [[ ! -f $SRC/.unpacked || $(cat "$SRC/.unpacked") != "$ORIG_SHA256" ]]; then
  say "unpacking into $SRC"
  rm -rf "$SRC" "$DIR/unpack"
  mkdir -p "$DIR/unpack"
  tar -xf "$TARBALL" -C "$DIR/unpack"
  top=("$DIR"/unpack/*)
  if [[ ${#top[@]} -eq 1 && -d ${top[0]}/cmake ]]; then mv "${top[0]}" "$SRC"; rmdir "$DIR/unpack"
  else mv "$DIR/unpack" "$SRC"; fi
  [[ -f $SRC/cmake/CMakeLists.txt ]] || { echo "setup-lammps: no cmake/ in $SRC" >&2; exit 1; }
  echo "$ORIG_SHA256" >"$SRC/.unpacked"
fi

# --- 4. configure, build, install ----------------------------------------------------------------
say "configuring LAMMPS (MPI=$MPI) in $BUILD_DIR"
cmake -S "$SRC/cmake" -B "$BUILD_DIR" -G Ninja -D CMAKE_BUILD_TYPE=Release \
  -D BUILD_SHARED_LIBS=on -D PKG_PLUGIN=on -D PKG_MANYBODY=on -D PKG_KSPACE=on -D FFT=FFTW3 -D BUILD_MPI="$MPI" -D BUILD_OMP=on \
  -D LAMMPS_INSTALL_RPATH=on -D CMAKE_INSTALL_PREFIX="$PREFIX" >"$BUILD_DIR.configure.log" 2>&1 || {
  tail -n 30 "$BUILD_DIR.configure.log" >&2; exit 1; }
TB=$SECONDS
say "building LAMMPS with $JOBS jobs (a few minutes; full log: $BUILD_DIR.log)"
# ninja prints one line per step; show every 25th so progress stays visible but short
if ! cmake --build "$BUILD_DIR" -j "$JOBS" 2>&1 | tee "$BUILD_DIR.log" | awk '
    /^\[[0-9]+\/[0-9]+\]/ { split($1, a, /[][\/]/)
                           if (a[2] % 25 == 0 || a[2] == a[3]) print "  " $1
                           fflush(); next }
    { print; fflush() }'; then
  echo "setup-lammps: LAMMPS build failed, see $BUILD_DIR.log" >&2; exit 1
fi
say "LAMMPS build took $((SECONDS - TB)) s"
cmake --install "$BUILD_DIR" >"$PREFIX.log"
HELP=$("$PREFIX/bin/lmp" -h)
for package in PLUGIN KSPACE; do
  grep -A2 '^Installed packages' <<<"$HELP" | grep -qw $package || {
    echo "setup-lammps: installed lmp lacks the $package package" >&2; exit 1; }
done
echo "$STAMP_TEXT" >"$STAMP"
say "LAMMPS installed: $PREFIX/bin/lmp (source: $SRC/src)"
write_env
