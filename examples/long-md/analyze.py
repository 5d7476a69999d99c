#!/usr/bin/env python3
"""Summary of the long MD runs (examples/long-md/run.sh): for each run and stage the energy drift
(meV/atom/ps, the slope of a least-squares line through the conserved energy: etotal in NVE,
econserve = pe + ke + the thermostat/barostat energy in NVT/NPT), its largest excursion from the
line, lost atoms, and the averages of temperature, pressure and volume. Writes OUT/summary.json.

usage: analyze.py OUT"""
import json
import os
import re
import sys

import numpy as np

import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location("pair_cace_atomic", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python", "pair_cace", "atomic.py"))
_atomic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_atomic)  # pair_cace/atomic.py of this checkout: files are written whole or not at all
write_json = _atomic.write_json


def stage(path, columns):
    data = np.loadtxt(path, comments="#", ndmin=2)
    col = {name: data[:, k] for k, name in enumerate(columns)}
    t, e, atoms = col["time"], col["energy"], col["atoms"]
    n0 = int(atoms[0])
    slope, intercept = np.polyfit(t - t[0], e, 1)
    residual = e - (intercept + slope * (t - t[0]))
    out = {"time_ps": float(t[-1] - t[0]), "samples": len(t), "atoms": n0,
           "lost_atoms": int(n0 - atoms.min()),
           "drift_meV_atom_ps": float(1000 * slope / n0),
           "max_excursion_meV_atom": float(1000 * np.abs(residual).max() / n0),
           "energy_change_meV_atom": float(1000 * (e[-1] - e[0]) / n0),
           "temperature_K": float(col["temp"].mean()), "temperature_std_K": float(col["temp"].std()),
           "pressure_bar": float(col["press"].mean()), "pressure_std_bar": float(col["press"].std())}
    if "volume" in col:
        out["volume_A3"] = float(col["volume"].mean())
    return out


def loop_times(log):
    if not os.path.exists(log):
        return []
    return [dict(seconds=float(m.group(1)), procs=int(m.group(2)), steps=int(m.group(3)))
            for m in re.finditer(r"Loop time of ([\d.eE+-]+) on (\d+) procs for (\d+) steps", open(log).read())]


def main():
    out = sys.argv[1]
    summary = {}
    prov = os.path.join(out, "provenance.json")
    if os.path.exists(prov):
        summary["provenance"] = json.load(open(prov))
    if os.path.exists(os.path.join(out, "water.energy")):
        summary["water_nve"] = stage(os.path.join(out, "water.energy"), ["time", "energy", "temp", "press", "atoms"])
        summary["water_nve"]["loops"] = loop_times(os.path.join(out, "water.log"))
    for name in ("nvt", "npt"):
        path = os.path.join(out, f"silicon.{name}")
        if os.path.exists(path):
            s = stage(path, ["time", "energy", "temp", "press", "volume", "atoms"])
            s["lattice_constant_A"] = (s["volume_A3"] / 8) ** (1 / 3)   # 2x2x2 cubic cells
            summary[f"silicon_{name}"] = s
    for name in ("silicon", "silicon-nvt", "silicon-npt"):
        if os.path.exists(os.path.join(out, f"{name}.log")):
            summary[f"{name.replace('-', '_')}_loops"] = loop_times(os.path.join(out, f"{name}.log"))
    for name in ("water", "silicon", "silicon-nvt", "silicon-npt"):
        path = os.path.join(out, f"{name}.time")
        values = open(path).read().split()[-3:] if os.path.exists(path) else []
        if len(values) == 3:   # (empty while the run is still going)
            wall, user, system = (float(v) for v in values)
            summary[f"{name.replace('-', '_')}_time_s"] = {"wall": wall, "user": user, "sys": system}
    write_json(os.path.join(out, "summary.json"), summary, indent=1)
    for key, s in summary.items():
        if isinstance(s, dict) and "drift_meV_atom_ps" in s:
            extra = f", V {s['volume_A3']:.2f} A^3 (a = {s['lattice_constant_A']:.4f} A)" if "volume_A3" in s else ""
            print(f"{key:12s} {s['time_ps']:7.2f} ps, {s['atoms']} atoms, lost {s['lost_atoms']}: drift "
                  f"{s['drift_meV_atom_ps']:+.4f} meV/atom/ps (max excursion {s['max_excursion_meV_atom']:.3f} "
                  f"meV/atom), T {s['temperature_K']:.1f} +- {s['temperature_std_K']:.1f} K, "
                  f"P {s['pressure_bar']:.0f} +- {s['pressure_std_bar']:.0f} bar{extra}")
    print(f"summary: {os.path.join(out, 'summary.json')}")


if __name__ == "__main__":
    main()
