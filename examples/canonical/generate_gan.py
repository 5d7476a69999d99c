#!/usr/bin/env python3
"""Stillinger-Weber GaN (LAMMPS potentials/GaN.sw, two elements) training and test data for the
self-interacting vs canonical comparison (docs/canonical.md).

Wurtzite supercells (72 atoms) sampled by MD at 300-3000 K, isotropic and random strains, and
single Ga and N vacancies; the test set uses other seeds, temperatures and strains.

    python generate_gan.py --out DIR [--lmp LMP] [--pot GaN.sw]
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
BAR = 1.602176634e6   # bar per eV/A^3
INPUT = """units metal
atom_style atomic
boundary p p p
read_data ${data}
mass 1 69.723
mass 2 14.007
pair_style sw
pair_coeff * * ${pot} Ga N
neighbor 1.0 bin
timestep 0.001
velocity all create ${T} ${seed} dist gaussian mom yes rot no
fix md all nve
fix lgv all langevin ${T} ${T} 0.05 ${seed}
run 1500
unfix lgv
unfix md
fix md all nvt temp ${T} ${T} 0.1
compute pv all pressure NULL virial
variable s equal step
variable e equal pe
variable p1 equal c_pv[1]
variable p2 equal c_pv[2]
variable p3 equal c_pv[3]
variable p4 equal c_pv[4]
variable p5 equal c_pv[5]
variable p6 equal c_pv[6]
dump d all custom ${every} ${out}.dump id type x y z fx fy fz
dump_modify d sort id format float %.10g
fix pr all print ${every} "${s} ${e} ${p1} ${p2} ${p3} ${p4} ${p5} ${p6}" file ${out}.ener screen no
run ${nsample}
"""


def default_potential():
    env = dict(l.strip().split("=", 1) for l in open(os.path.join(ROOT, "build/lammps.env")) if "=" in l)
    return os.path.join(env["LAMMPS_PREFIX"], "share/lammps/potentials/GaN.sw")


def lammps_cell(atoms):
    """The same crystal with a lower-triangular cell (a along x, b in xy), as LAMMPS needs."""
    a, b, c = atoms.cell.lengths()
    al, be, ga = np.radians(atoms.cell.angles())
    cx = c * np.cos(be)
    cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    cell = np.array([[a, 0, 0], [b * np.cos(ga), b * np.sin(ga), 0], [cx, cy, np.sqrt(c * c - cx * cx - cy * cy)]])
    out = atoms.copy()
    out.set_cell(cell, scale_atoms=True)
    return out


def sample(atoms, T, seed, nframes, tag, args, every=200):
    atoms = lammps_cell(atoms)
    c = atoms.cell.array
    types = [1 if s == "Ga" else 2 for s in atoms.get_chemical_symbols()]
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/in.data", "w") as f:
            f.write(f"GaN\n\n{len(atoms)} atoms\n2 atom types\n\n0 {c[0,0]:.12f} xlo xhi\n0 {c[1,1]:.12f} ylo yhi\n"
                    f"0 {c[2,2]:.12f} zlo zhi\n{c[1,0]:.12f} {c[2,0]:.12f} {c[2,1]:.12f} xy xz yz\n\nAtoms # atomic\n\n")
            f.write("".join(f"{i} {t} {p[0]:.12f} {p[1]:.12f} {p[2]:.12f}\n"
                            for i, (t, p) in enumerate(zip(types, atoms.positions), 1)))
        with open(f"{tmp}/in.lmp", "w") as f:
            f.write(INPUT)
        subprocess.run([args.lmp, "-in", f"{tmp}/in.lmp", "-log", "none", "-screen", "none", "-var", "data", f"{tmp}/in.data",
                        "-var", "pot", args.pot, "-var", "T", str(T), "-var", "seed", str(seed),
                        "-var", "nsample", str(every * nframes), "-var", "every", str(every), "-var", "out", f"{tmp}/s"],
                       check=True)
        ener = {int(r[0]): r[1:] for r in np.loadtxt(f"{tmp}/s.ener", comments="#", ndmin=2)}
        lines, i, out = open(f"{tmp}/s.dump").read().splitlines(), 0, []
        while i < len(lines):
            step, n = int(lines[i + 1]), int(lines[i + 3])
            data = np.array([l.split() for l in lines[i + 9:i + 9 + n]], float)
            i += 9 + n
            if step not in ener:
                continue
            e, pxx, pyy, pzz, pxy, pxz, pyz = ener[step]
            stress = -np.array([[pxx, pxy, pxz], [pxy, pyy, pyz], [pxz, pyz, pzz]]) / BAR
            symbols = ["Ga" if t == 1 else "N" for t in data[:, 1]]
            a = Atoms(symbols, positions=data[:, 2:5], cell=atoms.cell, pbc=True)
            a.wrap()
            a.calc = SinglePointCalculator(a, energy=e, forces=data[:, 5:8], stress=stress)
            a.info.update(config_type=tag, virial=-stress * a.get_volume())
            out.append(a)
    print(f"  {tag:<10s} T={T:5.0f} K  {len(atoms)} atoms  {len(out[:nframes])} frames", flush=True)
    return out[:nframes]


def frames(args, seed0, temperatures, strains, rng):
    base = bulk("GaN", "wurtzite", a=3.19, c=5.19).repeat((3, 3, 2))
    f = []
    for k, T in enumerate(temperatures):
        f += sample(base, T, seed0 + k, 6, "crystal", args)
    for k, s in enumerate(strains):
        f += sample(base.copy() if s == 0 else scaled(base, 1 + s), 600, seed0 + 50 + k, 4, "strain_iso", args)
    for k in range(4):
        F = np.eye(3) + rng.uniform(-0.04, 0.04, (3, 3))
        a = base.copy()
        a.set_cell(a.cell.array @ F.T, scale_atoms=True)
        f += sample(a, 900, seed0 + 80 + k, 4, "strain_shear", args)
    # single Ga and N vacancies: without frames of other compositions the two E0s (fitted,
    # unpenalised) are not separately determined and the least-squares system is singular
    for k, atom in enumerate((0, 1)):
        vac = base.copy()
        del vac[[atom]]
        f += sample(vac, 1200, seed0 + 90 + k, 4, "vacancy_Ga" if atom == 0 else "vacancy_N", args)
    return f


def scaled(atoms, s):
    a = atoms.copy()
    a.set_cell(a.cell.array * s, scale_atoms=True)
    return a


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--lmp", default=os.path.join(ROOT, "build/lmp"))
    p.add_argument("--pot", default=None)
    args = p.parse_args()
    args.pot = args.pot or default_potential()
    os.makedirs(args.out, exist_ok=True)
    train = frames(args, 1000, (300, 900, 1500, 2200, 3000), (-0.04, -0.02, 0.02, 0.04), np.random.default_rng(1))
    test = frames(args, 5000, (600, 1800, 2600), (-0.03, 0.03), np.random.default_rng(2))
    for name, f in (("train", train), ("test", test)):
        write(os.path.join(args.out, name + ".xyz"), f, format="extxyz")
        print(f"wrote {len(f)} frames, {sum(len(a) for a in f)} atoms -> {args.out}/{name}.xyz")


if __name__ == "__main__":
    main()
