#!/bin/sh
# Self-interacting vs canonical linear CACE at several lambda (docs/canonical.md).
#   compare.sh CACE DATA OUT   (DATA holds si/{train,test}.xyz and gan/{train,test}.xyz)
# Reports that exist already are kept; a fit that fails leaves its error in the report.
cace=$1; data=$2; out=$3
mkdir -p "$out"
for system in si gan; do
    case $system in
        si) opts="--cutoff 3.9 --radial 12"; lambdas="1e-10 1e-7 1e-4 1e-2" ;;
        gan) opts="--cutoff 3.5 --radial 8"; lambdas="1e-8 1e-6 1e-4 1e-2" ;;
    esac
    for lambda in $lambdas; do
        for basis in self canonical; do
            report="$out/$system-$basis-$lambda.txt"
            grep -q "validation errors" "$report" 2>/dev/null && continue
            $cace fit "$data/$system/train.xyz" --validation "$data/$system/test.xyz" $opts --basis $basis \
                --solver qr --lambda $lambda --threads 2 --quiet --output "$out/$system-$basis-$lambda.safetensors" \
                > "$report" 2>&1 || true
        done
    done
done
