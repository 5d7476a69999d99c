#!/bin/sh
# Self-interacting vs canonical linear CACE at several lambda (docs/canonical.md).
#   compare.sh CACE DATA OUT   (DATA holds si/{train,test}.xyz and gan/{train,test}.xyz)
# Reports that exist already are kept.
set -e
cace=$1; data=$2; out=$3
mkdir -p "$out"
for system in si gan; do
    case $system in
        si) opts="--cutoff 3.9 --radial 12" ;;
        gan) opts="--cutoff 3.5 --radial 8" ;;
    esac
    for lambda in 1e-10 1e-7 1e-4 1e-2; do
        for basis in self canonical; do
            report="$out/$system-$basis-$lambda.txt"
            grep -q "validation errors" "$report" 2>/dev/null && continue
            $cace fit "$data/$system/train.xyz" --validation "$data/$system/test.xyz" $opts --basis $basis \
                --solver qr --lambda $lambda --threads 2 --quiet --output "$out/$system-$basis-$lambda.safetensors" \
                > "$report"
        done
    done
done
