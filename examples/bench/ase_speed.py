#!/usr/bin/env python3
"""Speed of the ASE calculators: upstream CACE's `cace.calculators.CACECalculator` (PyTorch,
float32 as shipped, one thread, its own matscipy neighbour list) against
`pair_cace.CACECalculator` (the Swift library, double, threads=1), for one `get_forces` call
including the neighbour list, on the 1536-atom water box (liquid64_frame0 of
../shared/reference replicated 2x2x2), timed alternately in one process (issue 17).

    CACE_UPSTREAM=/path/to/upstream-cace python3 examples/bench/ase_speed.py [--rounds 7]

Variants (as examples/bench/upstream_time.py):
  full  upstream `benchmark/best_model.pth` as shipped (short range + Ewald; its Forces module
        also computes the stress) against ../shared/reference/water_trained/model.safetensors
        (the same weights, exported);
  sr    its short-range part alone (the SR_energy head; forces) against
        ../shared/reference/water_sr/model.safetensors.
Every call starts from calc.reset(), so each one builds its neighbour list and evaluates. Each
round times every variant on both sides, the order of the two sides alternating between
rounds; medians over the rounds, after one warm-up call each. Also printed: the largest force
difference between the two (float32 against float64).

Upstream's calculator ends with float(np.asarray(energy)) on a 1-element array, which numpy
>= 2.4 refuses; the model is wrapped so that it returns the energy of the one frame as a 0-d
tensor (a reshape, nothing else).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")   # before torch is imported
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location("pair_cace_atomic", os.path.join(ROOT, "python", "pair_cace", "atomic.py"))
_atomic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_atomic)  # pair_cace/atomic.py of this checkout: files are written whole or not at all
write_json = _atomic.write_json
REFERENCE = os.path.normpath(os.path.join(ROOT, "..", "shared", "reference"))


def upstream_calculators(checkout):
    sys.path.insert(0, checkout)
    import torch
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    from cace.calculators import CACECalculator as UpstreamCalculator
    from cace.models.atomistic import NeuralNetworkPotential
    from cace.modules import Forces

    class ScalarEnergy(torch.nn.Module):
        """The model, with the energy of a one-frame batch as a 0-d tensor."""

        def __init__(self, model, key):
            super().__init__()
            self.model, self.key = model, key
            self.representation = model.representation

        def forward(self, data, **kwargs):
            out = self.model(data, **kwargs)
            out[self.key] = out[self.key].reshape(())
            return out

    full = torch.load(os.path.join(checkout, "benchmark", "best_model.pth"), weights_only=False, map_location="cpu")
    sr_head = next(m for m in full.output_modules if getattr(m, "output_key", None) == "SR_energy")
    sr = NeuralNetworkPotential(input_modules=full.input_modules, representation=full.representation,
                                output_modules=[sr_head, Forces(energy_key="SR_energy", forces_key="forces",
                                                                calc_stress=False)])
    return torch, {
        "full": UpstreamCalculator(ScalarEnergy(full, "CACE_energy"), device="cpu", energy_key="CACE_energy",
                                   forces_key="CACE_forces", compute_stress=False),
        "sr": UpstreamCalculator(ScalarEnergy(sr, "SR_energy"), device="cpu", energy_key="SR_energy",
                                 forces_key="forces", compute_stress=False),
    }


def timed_forces(calc, atoms):
    """Wall time and this process's CPU time of one get_forces call, and the forces."""
    calc.reset()
    atoms.calc = calc
    c0, t0 = time.process_time(), time.perf_counter()
    forces = atoms.get_forces()
    return (time.perf_counter() - t0, time.process_time() - c0), forces


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", default=os.environ.get("CACE_UPSTREAM"),
                    help="upstream CACE checkout (default: $CACE_UPSTREAM)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--repeat", type=int, nargs=3, default=(2, 2, 2))
    ap.add_argument("--variants", default="full,sr")
    ap.add_argument("--json", help="also write every time to this file")
    args = ap.parse_args()
    if not args.upstream or not os.path.isdir(os.path.join(args.upstream, "cace")):
        sys.exit("ase_speed.py: set CACE_UPSTREAM (or --upstream) to a checkout of github.com/BingqingCheng/cace")
    if not os.path.isdir(REFERENCE):
        sys.exit(f"ase_speed.py: {REFERENCE} not found (the exported models and the water frame live there)")

    import ase.io
    import pair_cace
    torch, upstream = upstream_calculators(args.upstream)
    variants = args.variants.split(",")
    ours = {"full": pair_cace.CACECalculator(os.path.join(REFERENCE, "water_trained", "model.safetensors"),
                                             threads=1, include_e0=False),
            "sr": pair_cace.CACECalculator(os.path.join(REFERENCE, "water_sr", "model.safetensors"),
                                           threads=1, include_e0=False)}
    atoms = ase.io.read(os.path.join(REFERENCE, "water_sr", "liquid64_frame0.xyz")).repeat(args.repeat)
    n = len(atoms)
    print(f"{n} atoms; torch {torch.__version__} ({torch.get_num_threads()} thread, float32), numpy {np.__version__}, "
          f"pair_cace {pair_cace.__version__} (threads=1, double); {platform.processor() or platform.machine()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    times = {(v, side): [] for v in variants for side in ("upstream", "pair_cace")}
    cpu = {key: [] for key in times}
    difference = {}
    for v in variants:   # warm-up, and the agreement of the two
        _, f_up = timed_forces(upstream[v], atoms.copy())
        _, f_ours = timed_forces(ours[v], atoms.copy())
        difference[v] = float(np.abs(f_up - f_ours).max() / np.abs(f_ours).max())
    for r in range(args.rounds):
        for v in variants:
            order = ("upstream", "pair_cace") if r % 2 == 0 else ("pair_cace", "upstream")
            for side in order:
                calc = upstream[v] if side == "upstream" else ours[v]
                (seconds, cpu_seconds), _ = timed_forces(calc, atoms.copy())
                times[(v, side)].append(seconds)
                cpu[(v, side)].append(cpu_seconds)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{v} {side} {times[(v, side)][-1]:.3f} s"
                                                          for v in variants for side in ("upstream", "pair_cace")),
              flush=True)

    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\n| variant | atoms | upstream CACECalculator, float32 (s) | pair_cace.CACECalculator, double (s) | "
          f"speed-up | speed-up in CPU time | max force difference / max force |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = {}
    for v in variants:
        up, us = statistics.median(times[(v, "upstream")]), statistics.median(times[(v, "pair_cace")])
        cpu_up, cpu_us = statistics.median(cpu[(v, "upstream")]), statistics.median(cpu[(v, "pair_cace")])
        rows[v] = {"upstream_s": up, "pair_cace_s": us, "speedup": up / us, "cpu_speedup": cpu_up / cpu_us,
                   "force_difference": difference[v], "upstream_all": times[(v, "upstream")],
                   "pair_cace_all": times[(v, "pair_cace")], "upstream_cpu": cpu[(v, "upstream")],
                   "pair_cace_cpu": cpu[(v, "pair_cace")]}
        label = "full (SR + Ewald)" if v == "full" else "sr (short range)"
        print(f"| {label} | {n} | {up:.3f} | {us:.4f} | {up / us:.1f}x | {cpu_up / cpu_us:.1f}x | {difference[v]:.1e} |")
    if args.json:
        write_json(args.json, {"atoms": n, "rounds": args.rounds, "variants": rows}, indent=1)


if __name__ == "__main__":
    main()
