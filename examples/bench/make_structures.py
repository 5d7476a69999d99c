#!/usr/bin/env python3
"""Replicates a periodic reference structure (extended XYZ from ../shared/reference) into
larger boxes, written as extended XYZ (for `cace benchmark`) and LAMMPS data files.

usage: make_structures.py SOURCE.xyz OUTDIR R1 [R2 ...]
Ri = replicas per direction, N (N x N x N) or AxBxC; files are named SOURCE_xRi.
Only orthorhombic sources are replicated (the reference boxes are cubic).
Atom types follow the order of MASSES below: water gets types 1 = O, 2 = H, the order of
`pair_coeff * * water.safetensors O H` in the README and of the elements in in.bench; the
first line of each data file names the types (bench.py passes it on to pair_coeff)."""
import os
import re
import sys
from pathlib import Path

import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location("pair_cace_atomic", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python", "pair_cace", "atomic.py"))
_atomic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_atomic)  # pair_cace/atomic.py of this checkout: files are written whole or not at all
write_text = _atomic.write_text

# the key order is the atom type order (O before H: see above)
MASSES = {"O": 15.999, "H": 1.008, "C": 12.011, "Al": 26.982, "Ni": 58.693, "Cu": 63.546, "Si": 28.085}


def read_xyz(path):
    lines = Path(path).read_text().splitlines()
    n = int(lines[0])
    cell = [float(v) for v in re.search(r'Lattice="([^"]*)"', lines[1]).group(1).split()]
    if any(abs(cell[i]) > 1e-12 for i in (1, 2, 3, 5, 6, 7)):
        sys.exit(f"{path}: only orthorhombic cells can be replicated here")
    atoms = [(w[0], [float(x) for x in w[1:4]]) for w in (l.split() for l in lines[2:2 + n])]
    return (cell[0], cell[4], cell[8]), atoms


def main():
    source, outdir, reps = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    (lx, ly, lz), atoms = read_xyz(source)
    elements = sorted({s for s, _ in atoms}, key=lambda s: list(MASSES).index(s))
    outdir.mkdir(parents=True, exist_ok=True)
    for r in reps:
        na, nb, nc = [int(n) for n in r.split("x")] if "x" in r else [int(r)] * 3
        rows = [(s, [x[0] + i * lx, x[1] + j * ly, x[2] + k * lz])
                for i in range(na) for j in range(nb) for k in range(nc) for s, x in atoms]
        stem = outdir / f"{Path(source).stem}_x{r}"
        box = (lx * na, ly * nb, lz * nc)
        write_text(f"{stem}.xyz",
                   f"{len(rows)}\nLattice=\"{box[0]} 0 0 0 {box[1]} 0 0 0 {box[2]}\" "
                   "Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n"
                   + "".join(f"{s} {x[0]:.10f} {x[1]:.10f} {x[2]:.10f}\n" for s, x in rows))
        write_text(f"{stem}.data",
                   f"# {source} replicated {na}x{nb}x{nc}; types: {' '.join(elements)}\n\n"
                   f"{len(rows)} atoms\n{len(elements)} atom types\n\n"
                   f"0 {box[0]} xlo xhi\n0 {box[1]} ylo yhi\n0 {box[2]} zlo zhi\n\nMasses\n\n"
                   + "".join(f"{t + 1} {MASSES[e]}\n" for t, e in enumerate(elements))
                   + "\nAtoms # atomic\n\n"
                   + "".join(f"{n + 1} {elements.index(s) + 1} {x[0]:.10f} {x[1]:.10f} {x[2]:.10f}\n"
                             for n, (s, x) in enumerate(rows)))
        print(f"{stem}.xyz / .data: {len(rows)} atoms ({' '.join(elements)})")


if __name__ == "__main__":
    main()
