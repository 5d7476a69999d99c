#!/usr/bin/env bash
# The main job: build everything, then melt 2744 atoms of diamond silicon with the shipped CACE
# model (examples/silicon/silicon.safetensors, trained on Stillinger-Weber data) using
# pair_style cace on all cores with MPI, repeat the run with Stillinger-Weber itself, and
# compare speed, NVE energy drift and the liquid g(r). Idempotent: a second run reuses the builds.
#   scripts/run-example.sh            (NP=<ranks> overrides the number of MPI ranks)
# Output: build/example-silicon/ (LAMMPS logs, summary.json, rdf.png)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EX=$ROOT/examples/silicon
OUT=$ROOT/build/example-silicon
NP=${NP:-$(nproc)}
T0=$SECONDS
say() { printf '\n=== [run-example %4ds] %s\n' $((SECONDS - T0)) "$*"; }
cd "$ROOT"

say "1/6 LAMMPS + pair_style cace plugin (scripts/build.sh; cached after the first run)"
scripts/build.sh
source build/lammps.env
SWFILE=$LAMMPS_PREFIX/share/lammps/potentials/Si.sw

say "2/6 the cace command-line tool (swift build -c release --product cace)"
swift build -c release --product cace
.build/release/cace info "$EX/silicon.safetensors"

say "3/6 Python packages for the summary (numpy, ase, matplotlib)"
PKGS="numpy ase matplotlib"
if ! python3 -c "import numpy, ase, matplotlib" 2>/dev/null; then
  python3 -m pip install --quiet $PKGS ||
    python3 -m pip install --quiet --break-system-packages $PKGS ||
    { apt-get update -qq && apt-get install -y -qq python3-numpy python3-ase python3-matplotlib; }
fi
echo "ok: $(python3 -c 'import numpy, ase, matplotlib; print("numpy", numpy.__version__, "ase", ase.__version__, "matplotlib", matplotlib.__version__)')"

mkdir -p "$OUT"
melt() {  # melt POT: run examples/silicon/in.melt with pair_style POT on NP ranks
  rm -f "$OUT/$1".{dump,nve}
  mpirun --allow-run-as-root --oversubscribe -np "$NP" build/lmp -in "$EX/in.melt" \
    -var pot "$1" -var model "$EX/silicon.safetensors" -var plugin "$ROOT/build/caceplugin.so" \
    -var swfile "$SWFILE" -var out "$OUT/$1" -log "$OUT/$1.log" "${@:2}"
}

say "4/6 CACE: 2744 Si atoms, 300 K -> 3300 K (melting), 2500 K liquid, NVE; pair_style cace on $NP MPI ranks"
melt cace | grep -E --line-buffered '^\s+[0-9]+\s|Step|Loop time|Performance'

say "5/6 the same with pair_style sw (Stillinger-Weber, the reference the model was trained on)"
melt sw -screen none
grep -E 'Performance' "$OUT/sw.log" | tail -1

say "6/6 summary"
python3 "$EX/summarize_melt.py" "$OUT"
say "done in $((SECONDS - T0)) s"
