#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for SECONDS (default 600) from a seed corpus
# (the reference models and structures when ../../shared exists, else the examples).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}
swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --scratch-path .build-fuzz
BIN=.build-fuzz/release
mkdir -p corpus/safetensors corpus/xyz
for f in ../../shared/reference/*/model.safetensors ../examples/*/*.safetensors; do
  [[ -f $f ]] && cp "$f" "corpus/safetensors/$(echo "$f" | tr '/.' '__')"
done
for f in ../../shared/reference/*/*.xyz ../examples/*/*.xyz; do
  [[ -f $f ]] && cp "$f" "corpus/xyz/$(echo "$f" | tr '/.' '__')"
done
"$BIN/FuzzSafeTensors" -max_total_time="$SECONDS_EACH" -max_len=400000 -rss_limit_mb=4096 corpus/safetensors
"$BIN/FuzzExtendedXYZ" -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 corpus/xyz
