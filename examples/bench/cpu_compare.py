#!/usr/bin/env python3
"""CPU time per evaluation of water_sr and water_trained with the particle mesh, for a loaded
machine (wall times then drift by 2x between neighbouring runs; the CPU time a process gets is
steadier). For each configuration, alternated: `cace benchmark MODEL XYZ --repeat 1` and
`--repeat R` under GNU time, and (user + system seconds of the second - the first) / (R - 1)
evaluations, so reading, neighbour lists and the warm-up cancel. Prints us/atom per run, the
medians, water_trained/water_sr and the single-precision speed-up.

usage: cpu_compare.py OLD_CACE NEW_CACE XYZ [XYZ ...] [--rounds N]
Needs ../shared/reference (the water models) beside the project and GNU time (/usr/bin/time)."""
import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"


def cpu_seconds(tool, model, xyz, precision, extra, repeat):
    out = subprocess.run(["/usr/bin/time", "-f", "CPU %U %S", tool, "benchmark", str(model), str(xyz), "--repeat",
                          str(repeat), "--precision", precision, "--format", "json", *extra],
                         capture_output=True, text=True, check=True)
    user, system = map(float, re.findall(r"CPU ([\d.]+) ([\d.]+)", out.stderr)[-1])
    return user + system, json.loads(out.stdout)["atoms"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("structures", nargs="+")
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args()
    if not REFERENCE.is_dir():
        sys.exit(f"{REFERENCE} not found: the comparison needs the reference models")
    sr, trained = REFERENCE / "water_sr" / "model.safetensors", REFERENCE / "water_trained" / "model.safetensors"
    mesh = ["--long-range", "mesh"]
    configs = [("water_sr double", args.new, sr, "double", []),
               ("water_trained mesh double (new)", args.new, trained, "double", mesh),
               ("water_trained mesh double (old)", args.old, trained, "double", mesh),
               ("water_trained mesh single (new)", args.new, trained, "single", mesh),
               ("water_sr single", args.new, sr, "single", [])]
    for xyz in args.structures:
        times = {c[0]: [] for c in configs}
        for r in range(args.rounds):
            for label, tool, model, precision, extra in configs:
                first, atoms = cpu_seconds(tool, model, xyz, precision, extra, 1)
                repeat = max(4, 20000 // atoms)   # at least ~2 s of CPU between the two runs (GNU time counts 10 ms)
                last, _ = cpu_seconds(tool, model, xyz, precision, extra, repeat)
                times[label].append((last - first) / (repeat - 1) / atoms * 1e6)
                print(f"  {Path(xyz).name} round {r + 1} {label}: {times[label][-1]:.1f} us/atom CPU", flush=True)
        m = {k: statistics.median(v) for k, v in times.items()}
        print(f"{Path(xyz).name}: " + ", ".join(f"{k} {v:.1f}" for k, v in m.items()))
        print(f"  water_trained mesh / water_sr, double: new {m['water_trained mesh double (new)'] / m['water_sr double']:.2f}, "
              f"old {m['water_trained mesh double (old)'] / m['water_sr double']:.2f}; single speed-up, water_trained "
              f"{m['water_trained mesh double (new)'] / m['water_trained mesh single (new)']:.2f}, water_sr "
              f"{m['water_sr double'] / m['water_sr single']:.2f}", flush=True)


if __name__ == "__main__":
    main()
