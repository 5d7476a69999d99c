#!/usr/bin/env bash
# The long MD runs of issue 18 (not part of CI: tens of minutes of CPU each), in the background
# at nice 10 (above the fuzzers' nice 19 on a shared machine), then the summary (examples/long-md/analyze.py):
#   water    in.water-nve: NVE liquid water (192 atoms) with the long-range reference model
#            ../shared/reference/water_trained/model.safetensors, 0.5 fs, 20 ps (after a
#            minimisation and 1 ps of NVT at 300 K)
#   silicon  in.silicon-nvt-npt: 64-atom diamond Si with examples/silicon/silicon.safetensors,
#            1 fs, 1000 K, 100 ps NVT then 100 ps NPT
# usage: examples/long-md/run.sh [water] [silicon | silicon-nvt silicon-npt]
#   (default: water and silicon, in parallel, one rank each; silicon-nvt and silicon-npt run the
#   two silicon stages as two processes, the NPT one after 5 ps of NVT of its own)
# Environment: LMP and PLUGIN (default build/lmp and build/caceplugin.so from scripts/build.sh),
# OUT (default build/long-md), WATER_STEPS / SI_STEPS (shorter smoke runs), CACE_COMMIT (recorded
# in the summary; default: git rev-parse HEAD).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LMP=${LMP:-$ROOT/build/lmp}
PLUGIN=${PLUGIN:-$ROOT/build/caceplugin.so}
OUT=${OUT:-$ROOT/build/long-md}
WATER=${WATER_MODEL:-$ROOT/../shared/reference/water_trained}
COMMIT=${CACE_COMMIT:-$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)}
RUNS=("$@")
[[ ${#RUNS[@]} -gt 0 ]] || RUNS=(water silicon)
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
echo "{\"commit\": \"$COMMIT\", \"lmp\": \"$LMP\", \"plugin\": \"$PLUGIN\"}" > "$OUT/provenance.json"

water() {
  python3 "$ROOT/examples/bench/make_structures.py" "$WATER/liquid64_frame0.xyz" "$OUT" 1 > /dev/null
  /usr/bin/time -f "%e %U %S" -o "$OUT/water.time" nice -n 10 "$LMP" -in "$HERE/in.water-nve" \
    -var plugin "$PLUGIN" -var model "$WATER/model.safetensors" -var data "$OUT/liquid64_frame0_x1.data" \
    -var out "$OUT/water" -var steps "${WATER_STEPS:-40000}" -log "$OUT/water.log" -screen none
}
silicon() {   # silicon [both|nvt|npt]: the stages in one process, or one of them
  local stages=${1:-both} name=silicon
  [[ $stages == both ]] || name=silicon-$stages
  /usr/bin/time -f "%e %U %S" -o "$OUT/$name.time" nice -n 10 "$LMP" -in "$HERE/in.silicon-nvt-npt" \
    -var plugin "$PLUGIN" -var model "$ROOT/examples/silicon/silicon.safetensors" -var stages "$stages" \
    -var out "$OUT/silicon" -var steps "${SI_STEPS:-100000}" -log "$OUT/$name.log" -screen none
}
for r in "${RUNS[@]}"; do
  case $r in
    water|silicon) "$r" & ;;
    silicon-nvt) silicon nvt & ;;
    silicon-npt) silicon npt & ;;
    *) echo "unknown run $r (water, silicon, silicon-nvt, silicon-npt)" >&2; exit 2 ;;
  esac
done
wait
python3 "$HERE/analyze.py" "$OUT"
