#!/usr/bin/env python3
"""Phonon band structure of diamond Si with the shipped CACE model, against Stillinger-Weber
(SW, the potential it was trained on; sw.py, since ASE has no SW calculator of its own).

ase.phonons (finite displacements of 0.01 A in a 4x4x4 supercell of the 2-atom primitive cell,
128 atoms; acoustic sum rule imposed) at a = 5.431 A, SW's lattice constant, for both potentials
(the model's own is 5.428 A: relax_silicon.py). The bands follow the fcc path
G-X-W-K-G-L-U-W-L-K; frequencies in THz.

Writes phonons_silicon.png (both band structures) and prints the frequencies at G, X and L and
a JSON summary as its last line.

    python examples/python/phonons_silicon.py [--model silicon.safetensors] [--supercell 4] [--out DIR]
"""

import argparse
import os
import sys
import tempfile
import time

# BFGS, the cell filter and the phonon solver work on small matrices, which a multi-threaded BLAS
# only slows down (10x for the relaxation on a busy 2-core machine); set before numpy loads it
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from ase import units  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.phonons import Phonons  # noqa: E402

from pair_cace import CACECalculator  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from report import save_and_report  # noqa: E402
from sw import StillingerWeber  # noqa: E402

DEFAULT_MODEL = os.path.join(HERE, "..", "silicon", "silicon.safetensors")
THZ = 1e12 * units._hplanck / units._e   # eV per THz


def bands(calc, a, n, path, workdir):
    atoms = bulk("Si", "diamond", a)
    ph = Phonons(atoms, calc, supercell=(n, n, n), delta=0.01, name=os.path.join(workdir, "phonon"))
    ph.run()
    ph.read(acoustic=True)
    structure = ph.get_band_structure(path)
    special = {}
    for label, k in (("G", [0, 0, 0]), ("X", path.special_points["X"]), ("L", path.special_points["L"])):
        special[label] = (ph.band_structure([k])[0] / THZ).tolist()
    ph.clean()
    return structure.energies[0] / THZ, special     # [k points, 6 branches]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL, help="CACE model file (default: the shipped silicon model)")
    ap.add_argument("--a", type=float, default=5.431, help="lattice constant, A (default: %(default)s)")
    ap.add_argument("--supercell", type=int, default=4, help="N for an NxNxN supercell (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="output directory (default: %(default)s)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()

    path = bulk("Si", "diamond", args.a).cell.bandpath("GXWKGLUWLK", npoints=240)
    results = {}
    for name, calc in (("CACE", CACECalculator(args.model, threads=args.threads)), ("SW", StillingerWeber())):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir:   # ase.phonons caches displacements on disk
            results[name] = bands(calc, args.a, args.supercell, path, workdir)
        print(f"{name:4s} " + "   ".join(f"{k}: " + " ".join(f"{f:5.2f}" for f in v)
                                           for k, v in results[name][1].items())
              + f" THz ({time.perf_counter() - t0:.1f} s)", flush=True)
    cace, sw = results["CACE"][0], results["SW"][0]
    difference = cace - sw
    summary = {"a_A": args.a, "supercell": args.supercell,
               "CACE": results["CACE"][1], "SW": results["SW"][1],
               "rms_difference_THz": float(np.sqrt(np.mean(difference ** 2))),
               "max_difference_THz": float(np.abs(difference).max()),
               "max_frequency_THz": {"CACE": float(cace.max()), "SW": float(sw.max())}}
    print(f"CACE - SW over the path: rms {summary['rms_difference_THz']:.3f} THz, "
          f"largest {summary['max_difference_THz']:.3f} THz")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x, xticks, labels = path.get_linear_kpoint_axis()
    labels = ["Γ" if label == "G" else label for label in labels]
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, freq, style in (("CACE", cace, "-"), ("SW", sw, "--")):
        lines = ax.plot(x, freq, style, color="C0" if name == "CACE" else "C1", lw=1.2)
        lines[0].set_label(name)
    for t in xticks:
        ax.axvline(t, color="grey", lw=0.5)
    ax.set_xticks(xticks)
    ax.set_xticklabels(labels)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, None)
    ax.set_ylabel("frequency (THz)")
    ax.set_title(f"diamond Si, a = {args.a} A, {args.supercell}x{args.supercell}x{args.supercell} supercell; "
                 f"CACE - SW rms {summary['rms_difference_THz']:.2f} THz")
    ax.legend()
    save_and_report(fig, args.out, "phonons_silicon", summary, start)


if __name__ == "__main__":
    main()
