#!/usr/bin/env python3
"""Speed of two builds of `cace`, alternated in one run (this machine drifts 10-30 %, so only
runs that interleave are compared): water_sr at 1536 atoms (double and single), water_trained
at 1536 atoms (auto: the particle mesh; also in single precision) and 12,288 atoms (mesh), the
shipped silicon model on 2744 atoms of diamond, and one reference message-passing model. Prints a Markdown table of median us/atom and the ratio new/old.

usage: compare_builds.py OLD_CACE NEW_CACE [--rounds N] [--repeat N] [--workdir DIR] [--only TEXT]
Needs ../shared/reference (the reference models) beside the project."""
import argparse
import json
import statistics
import subprocess
import os
import sys
from pathlib import Path

import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location("pair_cace_atomic", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python", "pair_cace", "atomic.py"))
_atomic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_atomic)  # pair_cace/atomic.py of this checkout: files are written whole or not at all
write_text = _atomic.write_text

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference"


def replicate(source, reps, out):
    """The first frame of an orthorhombic extended XYZ file, repeated reps x reps x reps."""
    lines = Path(source).read_text().splitlines()
    n = int(lines[0])
    lattice = lines[1].split('Lattice="')[1].split('"')[0].split()
    cell = [float(v) for v in lattice]
    lx, ly, lz = cell[0], cell[4], cell[8]
    rows = [l.split()[:4] for l in lines[2:2 + n]]
    text = [f"{n * reps ** 3}\nLattice=\"{lx * reps} 0 0 0 {ly * reps} 0 0 0 {lz * reps}\" "
            "Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n"]
    for i in range(reps):
        for j in range(reps):
            for k in range(reps):
                for s, x, y, z in rows:
                    text.append(f"{s} {float(x) + i * lx:.10f} {float(y) + j * ly:.10f} {float(z) + k * lz:.10f}\n")
    write_text(out, "".join(text))
    return out


def diamond(cells, out, a=5.431):
    basis = [(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0),
             (.25, .25, .25), (.25, .75, .75), (.75, .25, .75), (.75, .75, .25)]
    text = [f"{8 * cells ** 3}\nLattice=\"{a * cells} 0 0 0 {a * cells} 0 0 0 {a * cells}\" "
            "Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n"]
    for i in range(cells):
        for j in range(cells):
            for k in range(cells):
                for b in basis:
                    text.append(f"Si {(i + b[0]) * a:.10f} {(j + b[1]) * a:.10f} {(k + b[2]) * a:.10f}\n")
    write_text(out, "".join(text))
    return out


def time_once(tool, model, xyz, precision, repeat, extra=()):
    out = subprocess.run([tool, "benchmark", str(model), str(xyz), "--precision", precision, "--repeat",
                          str(repeat), "--format", "json", *extra], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["us_per_atom"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workdir", default="build/compare-builds")
    p.add_argument("--only", default="", help="run only the cases whose label contains this text")
    args = p.parse_args()
    if not REFERENCE.is_dir():
        sys.exit(f"{REFERENCE} not found: the comparison needs the reference models")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    water = replicate(REFERENCE / "water_sr" / "liquid64_frame0.xyz", 2, work / "water1536.xyz")
    cases = [
        ("water_sr, 1536 atoms, double", REFERENCE / "water_sr" / "model.safetensors", water, "double"),
        ("water_sr, 1536 atoms, single", REFERENCE / "water_sr" / "model.safetensors", water, "single"),
        ("water_trained, 1536 atoms, double", REFERENCE / "water_trained" / "model.safetensors", water, "double"),
        ("water_trained mesh, 12288 atoms, double", REFERENCE / "water_trained" / "model.safetensors",
         replicate(REFERENCE / "water_sr" / "liquid64_frame0.xyz", 4, work / "water12288.xyz"), "double",
         ["--long-range", "mesh"]),
        ("water_trained mesh, 1536 atoms, single", REFERENCE / "water_trained" / "model.safetensors", water, "single",
         ["--long-range", "mesh"]),
        ("silicon (shipped, T = 1), 2744 atoms, double", ROOT / "examples" / "silicon" / "silicon.safetensors",
         diamond(7, work / "diamond2744.xyz"), "double"),
        ("rand_3el_l3_nu3_mp1_MArBchi, 864 atoms, double",
         REFERENCE / "rand_3el_l3_nu3_mp1_MArBchi" / "model.safetensors",
         replicate(REFERENCE / "rand_3el_l3_nu3_mp1_MArBchi" / "alloy_bulk.xyz", 2, work / "alloy.xyz"), "double"),
    ]
    cases = [c if len(c) == 5 else (*c, []) for c in cases if args.only in c[0]]
    times = {(c[0], b): [] for c in cases for b in ("old", "new")}
    for r in range(args.rounds):
        for label, model, xyz, precision, extra in cases:
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for build in order:
                tool = args.old if build == "old" else args.new
                times[(label, build)].append(time_once(tool, model, xyz, precision, args.repeat, extra))
        print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)
    print(f"| case | old us/atom | new us/atom | new/old |\n|---|---|---|---|")
    for label, *_ in cases:
        old, new = statistics.median(times[(label, "old")]), statistics.median(times[(label, "new")])
        print(f"| {label} | {old:.1f} | {new:.1f} | {new / old:.3f} |")


if __name__ == "__main__":
    main()
