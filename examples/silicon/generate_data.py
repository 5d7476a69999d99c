#!/usr/bin/env python3
"""Generate Stillinger-Weber (SW) silicon training and test data with LAMMPS.

Writes data/train.xyz and data/test.xyz (extended XYZ, ASE conventions: energy in eV,
forces in eV/A, stress in eV/A^3 with ASE's sign, virial = -stress * volume in eV).
Configurations: diamond crystals (MD 50-1600 K), strained cells (+-5 %, uniaxial and shear),
vacancies, (100) and (111) slabs with vacuum, liquids at 2000-3600 K and transients of a
crystal given 6000 K velocities (close contacts); 63-216 atoms.
The test set uses other seeds, temperatures and strains and is never used in training.

    python generate_data.py [--lmp build/lmp] [--pot Si.sw]
"""
import argparse
import io
import os
import subprocess
import tempfile

import numpy as np
from ase import Atoms
from ase.build import bulk, diamond100, diamond111
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

import sys  # noqa: E402
import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location("pair_cace_atomic", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python", "pair_cace", "atomic.py"))
_atomic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_atomic)  # pair_cace/atomic.py of this checkout: files are written whole or not at all
write_text = _atomic.write_text

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../.."))
A0 = 5.431            # diamond lattice constant of SW silicon (A)
BAR = 1.602176634e6   # bar per eV/A^3


def default_potential():
    env = {}
    path = os.path.join(ROOT, "build/lammps.env")
    if os.path.exists(path):
        env = dict(l.strip().split("=", 1) for l in open(path) if "=" in l)
    for p in (os.path.join(env.get("LAMMPS_PREFIX", ""), "share/lammps/potentials/Si.sw"),
              os.path.join(env.get("LAMMPS_SOURCE_DIR", ""), "../potentials/Si.sw")):
        if os.path.exists(p):
            return os.path.abspath(p)
    raise SystemExit("Si.sw not found: pass --pot")


def diamond(n, a=A0):
    return bulk("Si", "diamond", a=a, cubic=True).repeat((n, n, n))


def deform(atoms, F):
    """Apply the deformation F (upper triangular, so the cell stays in LAMMPS form)."""
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ np.asarray(F).T, scale_atoms=True)
    return atoms


def slab(kind, vacuum=6.0):
    if kind == "100":
        s = diamond100("Si", size=(3, 3, 8), a=A0, vacuum=vacuum)   # 72 atoms
    else:
        s = diamond111("Si", size=(3, 3, 8), a=A0, vacuum=vacuum)   # 72 atoms
    s.pbc = True
    return s


def write_lammps_data(atoms, path):
    """LAMMPS data file; the cell must already be lower triangular (a along x, b in xy)."""
    c = atoms.cell.array
    assert abs(c[0, 1]) + abs(c[0, 2]) + abs(c[1, 2]) < 1e-8, "cell not in LAMMPS form"
    write_text(path, f"SW silicon\n\n{len(atoms)} atoms\n1 atom types\n\n"
               f"0 {c[0,0]:.12f} xlo xhi\n0 {c[1,1]:.12f} ylo yhi\n0 {c[2,2]:.12f} zlo zhi\n"
               f"{c[1,0]:.12f} {c[2,0]:.12f} {c[2,1]:.12f} xy xz yz\n\nAtoms # atomic\n\n"
               + "".join(f"{i} 1 {p[0]:.12f} {p[1]:.12f} {p[2]:.12f}\n" for i, p in enumerate(atoms.positions, 1)))


def read_dump(path):
    """Frames of (timestep, positions, forces) from a sorted `dump custom id x y z fx fy fz`."""
    frames, lines, i = [], open(path).read().splitlines(), 0
    while i < len(lines):
        step, n = int(lines[i + 1]), int(lines[i + 3])
        box = 5 + 3   # ITEM: BOX BOUNDS + 3 lines, then ITEM: ATOMS
        data = np.array([l.split() for l in lines[i + box + 1:i + box + 1 + n]], float)
        frames.append((step, data[:, 1:4], data[:, 4:7]))
        i += box + 1 + n
    return frames


def sample(atoms, T, seed, nframes, tag, args, every=250, nequil=2000):
    """Run SW MD at temperature T and return nframes labelled snapshots."""
    with tempfile.TemporaryDirectory() as tmp:
        write_lammps_data(atoms, f"{tmp}/in.data")
        cmd = [args.lmp, "-in", os.path.join(HERE, "in.sample"), "-log", "none", "-screen", "none",
               "-var", "data", f"{tmp}/in.data", "-var", "pot", args.pot, "-var", "T", str(T),
               "-var", "seed", str(seed), "-var", "nequil", str(nequil),
               "-var", "nsample", str(every * nframes), "-var", "every", str(every),
               "-var", "out", f"{tmp}/s"]
        subprocess.run(cmd, check=True)
        ener = {int(r[0]): r[1:] for r in np.loadtxt(f"{tmp}/s.ener", comments="#", ndmin=2)}
        out = []
        for step, pos, frc in read_dump(f"{tmp}/s.dump"):
            if step not in ener:
                continue
            e, pxx, pyy, pzz, pxy, pxz, pyz = ener[step]
            p = np.array([[pxx, pxy, pxz], [pxy, pyy, pyz], [pxz, pyz, pzz]]) / BAR
            a = Atoms("Si%d" % len(atoms), positions=pos, cell=atoms.cell, pbc=True)
            a.wrap()
            stress = -p   # ASE stress = (1/V) dE/d(strain) = -(virial pressure)
            a.calc = SinglePointCalculator(a, energy=e, forces=frc, stress=stress)
            a.info.update(config_type=tag, temperature=T, virial=-stress * a.get_volume())
            out.append(a)
    out = out[:nframes]
    print(f"  {tag:<14s} T={T:5.0f} K  {len(atoms):3d} atoms  {len(out)} frames", flush=True)
    return out


def train_set(args):
    rng = np.random.default_rng(1)
    d2, d3 = diamond(2), diamond(3)
    f = []
    for T in (50, 300, 600, 900, 1200, 1600):
        f += sample(d2, T, 100 + T, 8, "diamond", args)
    for T in (300, 1000, 1600):
        f += sample(d3, T, 200 + T, 3, "diamond216", args)
    for s in (-0.05, -0.035, -0.02, -0.01, 0.01, 0.02, 0.035, 0.05):
        for T in (50, 600):
            f += sample(deform(d2, np.eye(3) * (1 + s)), T, 300 + T + int(1000 * s), 3, "strain_iso", args)
    for k in range(12):   # random uniaxial + shear strains up to 5 %
        F = np.eye(3) + np.triu(rng.uniform(-0.05, 0.05, (3, 3)))
        f += sample(deform(d2, F), (100, 500, 900)[k % 3], 400 + k, 3, "strain_shear", args)
    vac2, vac3 = d2.copy(), d3.copy()
    del vac2[0]
    del vac3[[0, 100]]
    for T in (300, 800, 1300):
        f += sample(vac2, T, 500 + T, 5, "vacancy", args)
    f += sample(vac3, 1000, 501, 3, "vacancy216", args)
    for kind in ("100", "111"):
        for T in (300, 900, 1400):
            f += sample(slab(kind), T, 600 + T, 5, "surface" + kind, args)
    for T in (2000, 2500, 3000):
        for s in (1.0, 0.97):     # diamond density and ~10 % denser (SW liquid is denser)
            f += sample(deform(d2, np.eye(3) * s), T, 700 + T, 7, "liquid", args, nequil=4000)
    f += sample(d3, 2500, 801, 3, "liquid216", args, nequil=6000)
    # the main job holds its liquid at 3300 K; hotter and denser liquids and violent transients
    # (a crystal given 6000 K velocities) supply the close contacts that MD at 2500-3300 K visits
    for T in (2500, 3300, 3600):
        for s in (1.0, 0.985, 0.955):
            f += sample(deform(d2, np.eye(3) * s), T, 1700 + T + int(1000 * s), 6, "liquid_hot", args, nequil=4000)
    for k in range(6):
        f += sample(d2, 6000, 1900 + k, 4, "transient", args, every=25, nequil=0)
    return f


def test_set(args):
    rng = np.random.default_rng(2)
    d2, d3 = diamond(2), diamond(3)
    f = []
    for T in (150, 450, 1400):
        f += sample(d2, T, 9100 + T, 4, "diamond", args)
    f += sample(d3, 750, 9201, 2, "diamond216", args)
    for s in (-0.04, -0.015, 0.025, 0.045):
        f += sample(deform(d2, np.eye(3) * (1 + s)), 300, 9300 + int(1000 * s), 2, "strain_iso", args)
    for k in range(4):
        F = np.eye(3) + np.triu(rng.uniform(-0.045, 0.045, (3, 3)))
        f += sample(deform(d2, F), 700, 9400 + k, 2, "strain_shear", args)
    vac = d2.copy()
    del vac[5]
    f += sample(vac, 1000, 9501, 4, "vacancy", args)
    for kind in ("100", "111"):
        f += sample(slab(kind), 1100, 9600, 3, "surface" + kind, args)
    for T in (2250, 2750):
        f += sample(deform(d2, np.eye(3) * 0.985), T, 9700 + T, 4, "liquid", args, nequil=4000)
    f += sample(d3, 2400, 9801, 2, "liquid216", args, nequil=6000)
    f += sample(deform(d2, np.eye(3) * 0.97), 3300, 9901, 4, "liquid_hot", args, nequil=4000)
    f += sample(d2, 6000, 9902, 4, "transient", args, every=25, nequil=0)
    return f


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lmp", default=os.path.join(ROOT, "build/lmp"))
    ap.add_argument("--pot", default=None, help="Si.sw (default: from the LAMMPS install)")
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    args = ap.parse_args()
    args.pot = args.pot or default_potential()
    os.makedirs(args.out, exist_ok=True)
    for name, fn in (("train", train_set), ("test", test_set)):
        print(f"{name} set:", flush=True)
        frames = fn(args)
        text = io.StringIO()
        write(text, frames, format="extxyz")   # atomic: into memory, then whole into the file
        write_text(os.path.join(args.out, f"{name}.xyz"), text.getvalue())
        print(f"wrote {len(frames)} frames, {sum(map(len, frames))} atoms -> {args.out}/{name}.xyz")


if __name__ == "__main__":
    main()
