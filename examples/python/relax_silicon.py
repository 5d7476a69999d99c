#!/usr/bin/env python3
"""Relaxing silicon with ASE and the shipped CACE model, next to Stillinger-Weber (SW), the
potential it was trained on:

1. the lattice constant of diamond Si: cell and positions relaxed from a = 5.60 A (atoms rattled
   by 0.01 A) with BFGS on ASE's FrechetCellFilter;
2. a vacancy in a 64-site cubic supercell at that lattice constant: positions relaxed with BFGS
   (the vacancy's four neighbours start 0.4 A closer to it, and all atoms are rattled by 0.02 A);
   the formation energy E_v = E(63 atoms) - 63/64 E(64 atoms), unrelaxed and relaxed.

Writes relax_silicon.png (energy and largest force along both relaxations) and prints a JSON
summary as its last line.

    python examples/python/relax_silicon.py [--model silicon.safetensors] [--out DIR]
"""

import argparse
import os
import sys
import time

# BFGS, the cell filter and the phonon solver work on small matrices, which a multi-threaded BLAS
# only slows down (10x for the relaxation on a busy 2-core machine); set before numpy loads it
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.filters import FrechetCellFilter  # noqa: E402
from ase.geometry import find_mic  # noqa: E402
from ase.optimize import BFGS  # noqa: E402

from pair_cace import CACECalculator  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from report import save_and_report  # noqa: E402
from sw import StillingerWeber  # noqa: E402

DEFAULT_MODEL = os.path.join(HERE, "..", "silicon", "silicon.safetensors")


def relax(atoms, target, steps, fmax):
    """BFGS on target (the atoms, or a filter of them) until fmax; records the energy and the
    largest force (of the target: for a cell filter, the stress too) at every step."""
    trace = []

    def record():
        f = target.get_forces()
        trace.append((atoms.get_potential_energy(), float(np.linalg.norm(f, axis=1).max())))

    opt = BFGS(target, logfile=None)
    opt.attach(record)
    converged = opt.run(fmax=fmax, steps=steps)
    return bool(converged), np.array(trace)


def lattice_constant(calc):
    atoms = bulk("Si", "diamond", 5.60, cubic=True)
    atoms.rattle(0.01, seed=2)   # (also keeps the library's wrapping bug out of the way: README.md)
    atoms.calc = calc
    converged, trace = relax(atoms, FrechetCellFilter(atoms), 200, 1e-4)
    return float(np.cbrt(atoms.get_volume())), converged, trace


def vacancy(calc, a):
    """The four neighbours of the empty site start 0.4 A closer to it (SW and the model also
    have a metastable, nearly unrelaxed vacancy, which BFGS finds from the ideal sites)."""
    perfect = bulk("Si", "diamond", a, cubic=True).repeat(2)
    perfect.calc = calc
    e_perfect = perfect.get_potential_energy()
    n = len(perfect)
    atoms = perfect.copy()
    site = atoms.positions[0].copy()
    del atoms[0]
    atoms.calc = calc
    e_unrelaxed = atoms.get_potential_energy() - (n - 1) / n * e_perfect
    vectors, distances = find_mic(atoms.positions - site, atoms.cell, atoms.pbc)
    neighbours = np.argsort(distances)[:4]
    atoms.positions[neighbours] -= 0.4 * vectors[neighbours] / distances[neighbours, None]
    atoms.rattle(0.02, seed=1)
    converged, trace = relax(atoms, atoms, 300, 0.01)
    e_relaxed = atoms.get_potential_energy() - (n - 1) / n * e_perfect
    moved = find_mic(atoms.positions[neighbours] - site, atoms.cell, atoms.pbc)[1]
    return {"E_v_unrelaxed_eV": float(e_unrelaxed), "E_v_relaxed_eV": float(e_relaxed),
            "neighbour_distance_A": [float(distances[neighbours].mean()), float(moved.mean())],
            "converged": converged, "steps": len(trace)}, trace


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL, help="CACE model file (default: the shipped silicon model)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="output directory (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()

    calculators = {"CACE": CACECalculator(args.model, threads=args.threads), "SW": StillingerWeber()}
    summary, traces = {}, {}
    for name, calc in calculators.items():
        a, converged, cell_trace = lattice_constant(calc)
        vac, vac_trace = vacancy(calc, a)
        summary[name] = {"a_A": a, "cell_relaxation_converged": converged, "cell_steps": len(cell_trace), **vac}
        traces[name] = (cell_trace, vac_trace)
        print(f"{name:4s}  a = {a:.4f} A ({len(cell_trace)} steps)   vacancy: E_v unrelaxed {vac['E_v_unrelaxed_eV']:.3f} eV, "
              f"relaxed {vac['E_v_relaxed_eV']:.3f} eV ({vac['steps']} steps); its neighbours "
              "{:.3f} -> {:.3f} A from the site".format(*vac["neighbour_distance_A"]), flush=True)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex="col")
    for col, (title, index) in enumerate((("cell + positions, diamond Si (8 atoms)", 0),
                                          ("vacancy, 63 atoms", 1))):
        for name, style in (("CACE", "-o"), ("SW", "--s")):
            trace = traces[name][index]
            axes[0, col].plot(trace[:, 0] - trace[-1, 0], style, ms=3, label=name)
            axes[1, col].semilogy(trace[:, 1], style, ms=3, label=name)
        axes[0, col].set_title(title)
        axes[0, col].set_ylabel("E - E_final (eV)")
        axes[1, col].set_ylabel("largest force (eV/A)")
        axes[1, col].set_xlabel("BFGS step")
        axes[0, col].legend()
    fig.suptitle(f"CACE a = {summary['CACE']['a_A']:.4f} A, SW a = {summary['SW']['a_A']:.4f} A;  "
                 f"E_v relaxed: CACE {summary['CACE']['E_v_relaxed_eV']:.3f} eV, SW {summary['SW']['E_v_relaxed_eV']:.3f} eV")
    save_and_report(fig, args.out, "relax_silicon", summary, start)


if __name__ == "__main__":
    main()
