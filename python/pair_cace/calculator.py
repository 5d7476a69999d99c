"""The ASE calculator on the Swift core."""

from __future__ import annotations

import os

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from .model import Model

LONG_RANGE_CHOICES = (None, "ewald", "auto", "direct", "mesh")


class CACECalculator(Calculator):
    """ASE calculator for a CACE model file (the safetensors interchange format).

    CACECalculator(model_path, threads=1, precision="double", long_range=None, include_e0=True,
                   mesh_accuracy=None)

    * model_path: the model file, or a `pair_cace.Model` to share one loaded model.
    * threads: worker threads inside one evaluation. precision: "double" or "single" (features
      in float32, for every model).
    * long_range: how the model's latent-charge long-range term is summed. None (default) or
      "auto": the direct k-sum while atoms x k-vectors is small (every structure of up to a few
      hundred atoms, exactly as upstream), the particle-mesh Ewald sum above; "direct" or
      "mesh" force one. "ewald" is "auto" and asserts that the model has the term. Every
      choice except None and "auto" refuses a model without a long-range term.
    * mesh_accuracy: relative RMS force error of the mesh against the direct sum of the same
      k-set (None: the library's default, docs/long-range.md).
    * include_e0: add the model's per-element reference energies (E0s).

    Uncertainty: for a model with a committee (`cace fit --committee K`), the extra properties
    energy_uncertainty (eV), energies_uncertainty (per atom, eV) and forces_deviation (per atom,
    eV/A), the standard deviations over the members, computed only when asked for
    (calc.get_property("energies_uncertainty", atoms)).

    Properties: energy and free_energy (the same), energies (per atom), forces, and for cells
    periodic in all three directions stress (-W/V, eV/A^3, Voigt order xx yy zz yz xz xy, ASE's
    sign) and stresses (per atom, -W_i/V, summing to stress, as ase.calculators.lj). Periodic
    images and the neighbour list are built by the library exactly as `cace evaluate` does:
    any triclinic cell, mixed pbc, cells smaller than the cutoff. Errors (an element the model
    lacks, NaN positions, a cell far smaller than the cutoff, no atoms, a long-range model with
    mixed pbc) raise pair_cace.CACEError with the library's one-line message.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "stresses"]
    # With a model fitted with `cace fit --committee K`: the committee's spread, computed when asked for.
    uncertainty_properties = ["energy_uncertainty", "energies_uncertainty", "forces_deviation"]
    nolabel = True

    def __init__(self, model_path, threads: int = 1, precision: str = "double", long_range=None,
                 include_e0: bool = True, mesh_accuracy=None, **kwargs):
        if long_range not in LONG_RANGE_CHOICES:
            raise ValueError(f"long_range must be one of {LONG_RANGE_CHOICES}, got {long_range!r}")
        if isinstance(model_path, Model):
            self.model = model_path
            self.model.threads = threads
            self.model.precision = precision
        else:
            self.model = Model(model_path, threads=threads, precision=precision)
        if long_range not in (None, "auto") and not self.model.has_long_range:
            raise ValueError(f"long_range={long_range!r} but the model {self.model.path} has no long-range term")
        if self.model.has_long_range:
            method = "auto" if long_range in (None, "ewald") else long_range
            self.model.set_long_range(method, mesh_accuracy)
        elif mesh_accuracy is not None:
            raise ValueError(f"mesh_accuracy is given but the model {self.model.path} has no long-range term")
        self.include_e0 = bool(include_e0)
        self.long_range = long_range
        if self.model.committee_size:
            self.implemented_properties = CACECalculator.implemented_properties + CACECalculator.uncertainty_properties
        super().__init__(**kwargs)
        self.parameters.update(model_path=os.fspath(self.model.path), threads=threads, precision=precision,
                               long_range=long_range, include_e0=self.include_e0, mesh_accuracy=mesh_accuracy)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        pbc = atoms.pbc
        out = self.model.evaluate(atoms.numbers, atoms.positions, cell=np.asarray(atoms.cell), pbc=pbc,
                                  include_e0=self.include_e0, atom_virials="stresses" in properties)
        voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
        self.results = {
            "energy": out["energy"],
            "free_energy": out["energy"],
            "energies": out["energies"],
            "forces": out["forces"],
        }
        if self.model.committee_size and any(p in self.uncertainty_properties for p in properties):
            spread = self.model.committee_spread(atoms.numbers, atoms.positions, cell=np.asarray(atoms.cell), pbc=pbc)
            self.results["energy_uncertainty"] = spread["energy_sigma"]
            self.results["energies_uncertainty"] = spread["atom_energy_sigma"]
            self.results["forces_deviation"] = spread["force_deviation"]
        if out["stress"] is not None:
            self.results["stress"] = np.array([out["stress"][a, b] for a, b in voigt])
            if out["atom_virials"] is not None:
                w = out["atom_virials"]
                self.results["stresses"] = np.stack([-w[:, a, b] for a, b in voigt], axis=1) / out["volume"]
