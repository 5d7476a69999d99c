#!/usr/bin/env bash
# Fuzzing the readers of untrusted input (docs/reliability.md records the runs).
#
#   Fuzz/run.sh [SECONDS] [READER...]   run each READER for SECONDS of wall time (default 600), all
#                                       in parallel at nice 19; READER: safetensors xyz metadata
#                                       metadata-ref training (default: all)
#   Fuzz/run.sh --cpu SECONDS [READER...]
#                                       the same, but each READER runs until it has used SECONDS
#                                       of CPU time (on a shared machine wall time says little);
#                                       FUZZ_NICE sets the niceness (default 19)
#   Fuzz/run.sh merge                   minimise the working corpora into the committed ones
#                                       (corpus/<reader>; not metadata-ref, see below)
#
# Targets (libFuzzer + AddressSanitizer, built here into .build-fuzz; FUZZ_BIN=DIR uses binaries
# built elsewhere):
#   safetensors   FuzzSafeTensors: bytes -> SafeTensors -> CACEModel
#   xyz           FuzzExtendedXYZ: text -> ExtendedXYZ.parse
#   metadata      FuzzModelMetadata: structure-aware (a custom mutator edits the metadata JSON and
#                 the tensor table of valid models), load, evaluate; seeds: synthetic models
#   metadata-ref  the same target seeded with examples/silicon/silicon.safetensors and
#                 ../shared/reference/*/model.safetensors (its corpus derives from the shared
#                 reference weights and is never committed)
#   training      FuzzTrainingData: the training-data reader of `cace fit` (extended XYZ with
#                 energy/forces/virial/stress/config_type, then LabelledFrame.frames)
#
# Working corpora: .work/<reader> (the committed corpus/<reader> plus seeds); crashes go to
# .work/artifacts, logs to .work/logs/<reader>.log with one summary line per run (wall and CPU
# seconds, executions, coverage). A crash is logged and the target restarted until SECONDS are used.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
WORK=$HERE/.work
ALL=(safetensors xyz metadata metadata-ref training)

target() { case $1 in safetensors) echo FuzzSafeTensors ;; xyz) echo FuzzExtendedXYZ ;;
  metadata|metadata-ref) echo FuzzModelMetadata ;; training) echo FuzzTrainingData ;; *) return 1 ;; esac; }
options() { case $1 in
  safetensors) echo "-max_len=200000 -rss_limit_mb=2048" ;;
  metadata) echo "-max_len=400000 -rss_limit_mb=3072" ;;
  metadata-ref) echo "-max_len=1200000 -rss_limit_mb=4096" ;;
  *) echo "-max_len=4096 -rss_limit_mb=2048" ;; esac; }

if [[ -z ${FUZZ_BIN:-} ]]; then
  nice -n 19 swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --scratch-path .build-fuzz
  FUZZ_BIN=$HERE/.build-fuzz/release
fi

if [[ ${1:-} == merge ]]; then
  for r in safetensors xyz metadata training; do
    [[ -d $WORK/$r ]] || continue
    mkdir -p "corpus/$r"
    # shellcheck disable=SC2046
    # -use_counters=0: keep one input per coverage edge (not per hit-count bucket): half the files
    nice -n 19 "$FUZZ_BIN/$(target $r)" -merge=1 -use_counters=0 $(options $r) "corpus/$r" "$WORK/$r" 2>&1 | tail -1
  done
  exit 0
fi

BUDGET=wall
if [[ ${1:-} == --cpu ]]; then BUDGET=cpu; shift; fi
SECONDS_EACH=${1:-600}
shift || true
NICE=${FUZZ_NICE:-19}
READERS=("$@")
[[ ${#READERS[@]} -gt 0 ]] || READERS=("${ALL[@]}")

seed() {   # seed READER: the committed corpus plus seeds made here
  local r=$1 d=$WORK/$1
  mkdir -p "$d"
  [[ -d corpus/$r ]] && cp -n corpus/$r/* "$d/" 2>/dev/null || true
  case $r in
    safetensors|metadata)
      python3 - "$d" <<'EOF'
import sys
sys.path.insert(0, "../lammps-plugin/tests")
from synthetic_model import model_bytes
for name, kw in {"sr_alcu": dict(zs=[13, 29]), "mp_alcu": dict(zs=[13, 29], layers=1),
                 "mplr_alcu": dict(zs=[13, 29], layers=1, ewald=True),
                 "sr_si_l3": dict(zs=[14], max_l=3, max_nu=2),
                 "mp2_hoc": dict(zs=[1, 6, 8], layers=2, max_l=1, max_nu=2)}.items():
    open(f"{sys.argv[1]}/seed_{name}.safetensors", "wb").write(model_bytes(**kw))
EOF
      ;;
    metadata-ref)
      cp ../examples/silicon/silicon.safetensors "$d/seed_silicon.safetensors"
      for f in ../../shared/reference/*/model.safetensors; do
        [[ -f $f ]] && cp "$f" "$d/seed_$(basename "$(dirname "$f")").safetensors"
      done
      ;;
    xyz|training)
      cp -n seeds/xyz/* "$d/"
      if [[ $r == training ]]; then cp -n seeds/training/* "$d/"; fi
      ;;
  esac
}

cpu_of() {   # cpu_of PID: user + system seconds used so far by PID (0 once it has exited)
  local f
  f=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  f=${f##*) }   # fields after the command name, which may hold spaces
  # shellcheck disable=SC2086
  set -- $f
  echo $(( (${12} + ${13}) / $(getconf CLK_TCK) ))
}

run() {   # run READER: fuzz for SECONDS_EACH of wall (or CPU) time, restarting after crashes
  local r=$1 log=$WORK/logs/$1.log start now left used=0 pid child cpu wall_limit
  start=$(date +%s)
  while true; do
    now=$(date +%s)
    if [[ $BUDGET == cpu ]]; then left=$((SECONDS_EACH - used)); else left=$((SECONDS_EACH - (now - start))); fi
    (( left > 5 )) || break
    wall_limit=$left; [[ $BUDGET == cpu ]] && wall_limit=864000
    echo "== $(date -u +%FT%TZ) $r: $(target "$r") for ${left}s of $BUDGET time" >> "$log"
    # shellcheck disable=SC2046
    /usr/bin/time -f "== time: wall %e s, user %U s, sys %S s, max rss %M KB, exit %x" -a -o "$log" \
      nice -n "$NICE" "$FUZZ_BIN/$(target "$r")" -max_total_time="$wall_limit" \
      -timeout=120 -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$r-" $(options "$r") \
      "$WORK/$r" >> "$log" 2>&1 &
    pid=$!
    if [[ $BUDGET == cpu ]]; then
      # libFuzzer has no CPU-time limit: interrupt it (it prints its final stats) once it is used up
      cpu=0
      while kill -0 "$pid" 2>/dev/null; do
        sleep 10
        child=$(pgrep -P "$pid" | head -1) || true
        [[ -n $child ]] && cpu=$(cpu_of "$child")
        if (( cpu >= left )); then kill -INT "$child" 2>/dev/null || true; fi
      done
      used=$((used + cpu))
    fi
    wait "$pid" || true
  done
}

mkdir -p "$WORK/logs" "$WORK/artifacts"
for r in "${READERS[@]}"; do target "$r" > /dev/null || { echo "unknown reader $r" >&2; exit 2; }; seed "$r"; done
for r in "${READERS[@]}"; do run "$r" & done
wait
for r in "${READERS[@]}"; do
  echo "== $r"
  grep -E "^== time|DONE|stat::number_of_executed_units|ERROR|SUMMARY" "$WORK/logs/$r.log" | tail -20
done
