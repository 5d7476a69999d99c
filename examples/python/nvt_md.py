#!/usr/bin/env python3
"""NVT molecular dynamics with ASE's Langevin thermostat and a CACE model.

The project ships no water model (the reference water models are not part of it), so the
default is the shipped silicon model: 64 atoms of diamond Si at 1000 K for 1 ps (1 fs steps).
For a pure-silicon system the same run is repeated with Stillinger-Weber (sw.py), the potential
the model was trained on, and the two are compared: mean potential energy, temperature, and the
radial distribution function g(r) over the second half of the run.

Any model and structure work, for example a water model exported with `cace-export`:

    python examples/python/nvt_md.py --model water.safetensors --structure liquid-64.xyz \\
        --temperature 300 --timestep 0.5 --steps 2000

Writes nvt_md.png (temperature, potential energy, g(r)) and prints a JSON summary as its last
line.

    python examples/python/nvt_md.py [--model M] [--structure XYZ] [--temperature K] [--steps N] [--out DIR]
"""

import argparse
import os
import sys
import time

# BFGS, the cell filter and the phonon solver work on small matrices, which a multi-threaded BLAS
# only slows down (10x for the relaxation on a busy 2-core machine); set before numpy loads it
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from ase import units  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.constraints import FixCom  # noqa: E402
from ase.md.langevin import Langevin  # noqa: E402
from ase.md.velocitydistribution import Stationary  # noqa: E402
from ase.neighborlist import neighbor_list  # noqa: E402

from pair_cace import CACECalculator  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from report import save_and_report  # noqa: E402
from sw import StillingerWeber  # noqa: E402

DEFAULT_MODEL = os.path.join(HERE, "..", "silicon", "silicon.safetensors")


def run(atoms, calc, args):
    """Langevin NVT; returns time (fs), temperature (K), potential energy per atom (eV), and the
    g(r) histogram summed over the second half of the run."""
    atoms = atoms.copy()
    atoms.calc = calc
    rng = np.random.default_rng(args.seed)
    try:
        from ase.md.velocitydistribution import thermalize_momenta   # ase >= 3.29
    except ImportError:
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta
    thermalize_momenta(atoms, temperature_K=args.initial_temperature, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())   # the centre of mass stays (rather than Langevin's fixcm)
    dyn = Langevin(atoms, timestep=args.timestep * units.fs, temperature_K=args.temperature,
                   friction=args.friction / units.fs, fixcm=False, rng=rng, logfile=None)
    rmax = min(args.rmax, 0.49 * min(atoms.cell.lengths()))
    edges = np.linspace(0, rmax, 101)
    trace, histogram, samples = [], np.zeros(100), 0

    def record():
        nonlocal histogram, samples
        trace.append((dyn.get_time() / units.fs, atoms.get_temperature(),
                      atoms.get_potential_energy() / len(atoms)))
        if dyn.nsteps >= args.steps // 2:
            histogram += np.histogram(neighbor_list("d", atoms, rmax), bins=edges)[0]
            samples += 1

    dyn.attach(record, interval=args.interval)
    dyn.run(args.steps)
    # g(r): pair counts over the ideal-gas count at the same density
    shell = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = histogram / max(samples, 1) / (len(atoms) * len(atoms) / atoms.get_volume() * shell)
    return np.array(trace), 0.5 * (edges[1:] + edges[:-1]), g


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL, help="CACE model file (default: the shipped silicon model)")
    ap.add_argument("--structure", default=None, help="starting structure, any file ASE reads "
                    "(default: 2x2x2 cubic cells of diamond Si, 64 atoms)")
    ap.add_argument("--repeat", type=int, nargs=3, default=(1, 1, 1), help="replicate the structure")
    ap.add_argument("--temperature", type=float, default=1000.0, help="K (default: %(default)s)")
    ap.add_argument("--initial-temperature", type=float, default=None,
                    help="K, of the initial velocities (default: twice --temperature for the built-in crystal, "
                         "which shares it with the lattice at once, else --temperature)")
    ap.add_argument("--timestep", type=float, default=1.0, help="fs (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--friction", type=float, default=0.01, help="Langevin friction, 1/fs (default: %(default)s)")
    ap.add_argument("--interval", type=int, default=10, help="record every N steps")
    ap.add_argument("--rmax", type=float, default=6.0, help="g(r) range, A (at most half the cell)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-sw", action="store_true", help="skip the Stillinger-Weber comparison")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="output directory (default: %(default)s)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()

    if args.structure:
        import ase.io
        atoms = ase.io.read(args.structure)
    else:
        atoms = bulk("Si", "diamond", 5.43, cubic=True).repeat(2)
    atoms = atoms.repeat(args.repeat)
    if args.initial_temperature is None:
        args.initial_temperature = args.temperature * (1 if args.structure else 2)
    runs = {"CACE": CACECalculator(args.model, threads=args.threads)}
    if not args.no_sw and set(atoms.get_chemical_symbols()) == {"Si"}:
        runs["SW"] = StillingerWeber()

    summary, results = {"atoms": len(atoms), "steps": args.steps, "timestep_fs": args.timestep,
                        "temperature_K": args.temperature}, {}
    for name, calc in runs.items():
        t0 = time.perf_counter()
        trace, r, g = run(atoms, calc, args)
        half = trace[len(trace) // 2:]
        results[name] = (trace, r, g)
        summary[name] = {"mean_T_K": float(half[:, 1].mean()), "mean_Epot_eV_atom": float(half[:, 2].mean()),
                         "std_Epot_eV_atom": float(half[:, 2].std()), "first_peak_A": float(r[np.argmax(g)]),
                         "seconds": round(time.perf_counter() - t0, 1)}
        s = summary[name]
        print(f"{name:4s} second half: <T> = {s['mean_T_K']:.0f} K, <E_pot> = {s['mean_Epot_eV_atom']:.4f} "
              f"eV/atom, g(r) first peak at {s['first_peak_A']:.2f} A ({s['seconds']} s)", flush=True)
    if "SW" in results:
        gc, gs = results["CACE"][2], results["SW"][2]
        summary["g_r_max_difference"] = float(np.abs(gc - gs).max())
        summary["Epot_difference_meV_atom"] = 1e3 * (summary["CACE"]["mean_Epot_eV_atom"]
                                                    - summary["SW"]["mean_Epot_eV_atom"])

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for name, (trace, r, g) in results.items():
        style = "-" if name == "CACE" else "--"
        axes[0].plot(trace[:, 0] / 1000, trace[:, 1], style, label=name)
        axes[1].plot(trace[:, 0] / 1000, trace[:, 2], style, label=name)
        axes[2].plot(r, g, style, label=name)
    axes[0].axhline(args.temperature, color="grey", lw=0.8)
    axes[0].set(xlabel="time (ps)", ylabel="temperature (K)", title=f"Langevin NVT, {len(atoms)} atoms")
    axes[1].set(xlabel="time (ps)", ylabel="potential energy (eV/atom)")
    axes[2].set(xlabel="r (A)", ylabel="g(r)", title="second half of the run")
    for ax in axes:
        ax.legend()
    save_and_report(fig, args.out, "nvt_md", summary, start)


if __name__ == "__main__":
    main()
