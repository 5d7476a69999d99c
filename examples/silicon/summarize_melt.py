#!/usr/bin/env python3
"""Summary of the melting runs of scripts/run-example.sh: speed, NVE energy drift and the
liquid g(r) of CACE vs Stillinger-Weber; writes summary.json and rdf.png to the run directory.

    python summarize_melt.py RUNDIR      (RUNDIR holds {cace,sw}.log, .dump, .nve)
"""
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rdf  # noqa: E402
import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location("pair_cace_atomic", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python", "pair_cace", "atomic.py"))
_atomic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_atomic)  # pair_cace/atomic.py of this checkout: files are written whole or not at all
atomic_write = _atomic.atomic_write
write_json = _atomic.write_json


def speed(log):
    """Atom-steps per second over all runs, from LAMMPS's 'Loop time of T on P procs for S steps with N atoms'."""
    runs = re.findall(r"Loop time of ([\d.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms", open(log).read())
    t = sum(float(r[0]) for r in runs)
    return {"atom_steps_per_s": sum(int(r[2]) * int(r[3]) for r in runs) / t, "loop_time_s": t,
            "steps": sum(int(r[2]) for r in runs), "ranks": int(runs[0][1]), "atoms": int(runs[0][3])}


def drift(nve, natoms, dt_ps=0.001):
    """Linear drift and largest excursion of the NVE total energy (meV/atom/ps, meV/atom)."""
    step, e = np.loadtxt(nve, comments="#").T
    t = (step - step[0]) * dt_ps
    slope = np.polyfit(t, e, 1)[0]
    return {"drift_meV_atom_ps": 1000 * slope / natoms, "max_dev_meV_atom": 1000 * np.ptp(e) / natoms,
            "time_ps": float(t[-1])}


def main():
    d = sys.argv[1]
    res = {}
    for pot in ("cace", "sw"):
        s = speed(f"{d}/{pot}.log")
        res[pot] = {**s, **drift(f"{d}/{pot}.nve", s["atoms"])}
        r, res[pot]["g"] = rdf.rdf(rdf.read_dump(f"{d}/{pot}.dump"))
    cmp = rdf.compare(r, res["sw"]["g"], res["cace"]["g"])

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(r, res["sw"]["g"], "k-", lw=2, label="Stillinger-Weber (reference)")
    ax.plot(r, res["cace"]["g"], "C1--", lw=2, label="CACE (pair_style cace)")
    ax.set(xlabel="r (Å)", ylabel="g(r)", title=f"liquid Si, 2500 K, {res['cace']['atoms']} atoms "
           f"(similarity {cmp['similarity']:.3f})")
    ax.legend()
    fig.tight_layout()
    atomic_write(f"{d}/rdf.png", lambda f: fig.savefig(f, format="png", dpi=120))

    c, s = res["cace"], res["sw"]
    print(f"\n{'':28s}{'CACE':>14s}{'SW':>14s}")
    print(f"{'atom-steps/s':28s}{c['atom_steps_per_s']:14.0f}{s['atom_steps_per_s']:14.0f}   "
          f"({c['atoms']} atoms, {c['steps']} steps, {c['ranks']} MPI ranks)")
    print(f"{'loop time (s)':28s}{c['loop_time_s']:14.1f}{s['loop_time_s']:14.1f}")
    print(f"{'NVE drift (meV/atom/ps)':28s}{c['drift_meV_atom_ps']:14.4f}{s['drift_meV_atom_ps']:14.4f}   "
          f"(over {c['time_ps']:.2f} ps, 1 fs steps)")
    print(f"{'NVE max excursion (meV/atom)':28s}{c['max_dev_meV_atom']:14.4f}{s['max_dev_meV_atom']:14.4f}")
    print(f"{'g(r) first peak (A)':28s}{cmp['first_peak_A']:14.3f}{cmp['first_peak_ref_A']:14.3f}")
    print(f"g(r) CACE vs SW: similarity {cmp['similarity']:.4f} (1 = identical), "
          f"RMS difference {cmp['rms_difference']:.4f}")
    for v in res.values():
        v["g"] = v["g"].tolist()
    write_json(f"{d}/summary.json", {**res, "r_A": r.tolist(), "rdf_comparison": cmp}, indent=1)
    print(f"plot: {d}/rdf.png   numbers: {d}/summary.json")


if __name__ == "__main__":
    main()
