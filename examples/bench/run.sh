#!/usr/bin/env bash
# Speed benchmarks of the Swift core (cace benchmark) and of pair_style cace in LAMMPS on the
# water models of ../shared/reference, written as a Markdown table to BENCHMARKS-run.md.
#   examples/bench/run.sh [SIZES...]    (replicas per direction; default: 1 2 4 8 -> 192 ... 98304 atoms)
# Needs ../shared/reference (the water models) and scripts/build.sh (LAMMPS + plugin).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REF=$ROOT/../shared/reference
[[ -d $REF ]] || { echo "run.sh: $REF not found (the water models live there)" >&2; exit 1; }
if [[ $# -gt 0 ]]; then SIZES=("$@"); else SIZES=(1 2 4 8); fi
OUT=$ROOT/build/bench
mkdir -p "$OUT"
cd "$ROOT"
scripts/build.sh >/dev/null
swift build -c release --product cace >/dev/null
python3 examples/bench/make_structures.py "$REF/water_sr/liquid64_frame0.xyz" "$OUT" "${SIZES[@]}"

table=$ROOT/BENCHMARKS-run.md
{
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| model | atoms | tool | threads x ranks | us/atom/step | peak RSS MB |"
  echo "|---|---:|---|---|---:|---:|"
} >"$table"
for r in "${SIZES[@]}"; do
  base=$OUT/liquid64_frame0_x$r
  for model in water_sr water_trained; do
    # the Ewald sum costs N^2: the long-range model stops at 12288 atoms
    [[ $model == water_trained && $r -gt 4 ]] && continue
    for threads in 1 2; do
      json=$(.build/release/cace benchmark "$REF/$model/model.safetensors" "$base.xyz" --threads "$threads" \
             --repeat 3 --format json)
      python3 - "$model" "$threads" "$json" >>"$table" <<'PY'
import json, sys
model, threads, j = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"| {model} | {j['atoms']} | cace benchmark | {threads} x 1 | {j['us_per_atom']:.1f} | {j['peak_rss_mb']:.0f} |")
PY
    done
    for ranks in 1 2; do
      log=$OUT/log.$model.x$r.np$ranks
      mpirun --allow-run-as-root --oversubscribe -np "$ranks" build/lmp -in examples/bench/in.bench \
        -var plugin "$ROOT/build/caceplugin.so" -var data "$base.data" -var model "$REF/$model/model.safetensors" \
        -var elements "H O" -log "$log" -screen none
      atoms=$(grep -m1 -oE '^[0-9]+ atoms' "$base.data" | cut -d' ' -f1)
      # "Performance: ... 0.123 timesteps/s, 12.3 katom-step/s" -> us per atom-step
      python3 - "$model" "$atoms" "$ranks" "$log" >>"$table" <<'PY'
import re, sys
model, atoms, ranks, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], open(sys.argv[4]).read()
m = re.findall(r"Performance:.*?([\d.]+) timesteps/s", log)
print(f"| {model} | {atoms} | LAMMPS run | 1 x {ranks} | {1e6 / (float(m[-1]) * atoms):.1f} | |")
PY
    done
  done
done
cat "$table"
