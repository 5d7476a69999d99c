#!/usr/bin/env python3
"""Times upstream CACE (PyTorch) on the same structures as the Swift benchmarks, so that each
comparison comes from one run on one machine state.

usage: upstream_time.py MODEL.pth STRUCTURE.xyz [...]   (upstream cace importable, e.g. PYTHONPATH)
Prints one JSON object per line: {"variant", "atoms", "us_per_atom", "threads": 1, "dtype"}.
Variants, as in ../shared/notes/upstream-speed.md: "full" (the model as shipped: short range +
Ewald, forces and stress by autograd) and "sr_ef" (short-range energy head and forces only).
One evaluation is model(batch) on a fresh clone of a pre-built batch; median after one warm-up.
"""
import json
import statistics
import sys
import time

import ase.io
import torch

import cace
from cace.models.atomistic import NeuralNetworkPotential
from cace.modules import Forces


def batch_of(atoms, cutoff):
    data = cace.data.AtomicData.from_atoms(atoms, cutoff=cutoff)
    return next(iter(cace.tools.torch_geometric.DataLoader([data], batch_size=1, shuffle=False)))


def median_seconds(model, batch, repeat):
    model(batch.clone().to_dict())     # warm-up
    times = []
    for _ in range(repeat):
        b = batch.clone().to_dict()
        t0 = time.perf_counter()
        model(b)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    torch.set_num_threads(1)
    full = torch.load(sys.argv[1], weights_only=False, map_location="cpu")
    sr_head = next(m for m in full.output_modules if getattr(m, "output_key", None) == "SR_energy")
    sr_ef = NeuralNetworkPotential(input_modules=full.input_modules, representation=full.representation,
                                   output_modules=[sr_head, Forces(energy_key="SR_energy", forces_key="forces",
                                                                   calc_stress=False)])
    cutoff = full.representation.cutoff
    for path in sys.argv[2:]:
        atoms = ase.io.read(path)
        batch = batch_of(atoms, cutoff)
        n = len(atoms)
        repeat = 5 if n <= 2000 else 2
        for name, model in (("full", full), ("sr_ef", sr_ef)):
            seconds = median_seconds(model, batch, repeat)
            print(json.dumps({"variant": name, "atoms": n, "us_per_atom": seconds / n * 1e6, "threads": 1,
                              "dtype": "float32", "repeat": repeat}), flush=True)


if __name__ == "__main__":
    main()
