"""Many structures through one loaded model: `pair_cace.evaluate(model, frames)`, returning arrays
(for regression tests and data sets). Each frame goes through `Model.evaluate`, i.e. one call of
the library's `cace_compute_structure`, so the numbers are those of `CACECalculator` frame by
frame, bit for bit."""

from __future__ import annotations

import os
from typing import Dict, Iterable, Optional

import numpy as np

from ._library import CACEError
from .model import Model

VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))   # ASE's order: xx yy zz yz xz xy


def evaluate(model, frames: Iterable, threads: Optional[int] = None, precision: Optional[str] = None,
             include_e0: bool = True, concatenate: bool = False, stresses: bool = False) -> Dict[str, object]:
    """Energies, forces, per-atom energies and stresses of many structures with one loaded model.

    model: a model file (path), or a loaded `pair_cace.Model` (reused as it is; a
        `CACECalculator`'s is its `.model`). A path is loaded once for all frames.
    frames: ase.Atoms objects (a list, or any iterable such as `ase.io.iread(...)`), or one
        Atoms. Anything with `.numbers`, `.positions`, `.cell` and `.pbc` works: ase itself is not
        needed.
    threads, precision: as for `Model` ("double" or "single"). None keeps the Model's setting
        (1 and "double" for a path); a value given for a Model changes that Model's setting.
    include_e0: add the model's per-element reference energies, as `CACECalculator` does.
    concatenate: per-atom arrays as one array over all atoms of all frames plus `offsets`
        (frame i is rows offsets[i]:offsets[i+1]), instead of a list of one array per frame.
    stresses: also return per-atom stresses (-W_i/V, ASE's `stresses`; NaN rows for frames
        that are not periodic in all three directions).

    Returns a dict:
        energy    [n_frames] eV
        natoms    [n_frames] int
        offsets   [n_frames + 1] int (the first atom of each frame in the concatenated arrays)
        forces    list of [n_i, 3] eV/A, or [sum n_i, 3] with concatenate=True
        energies  per-atom energies, list of [n_i], or [sum n_i] (they sum to `energy`)
        virial    [n_frames, 3, 3] W = -dE/d(strain), eV (defined for every frame)
        stress    [n_frames, 6] -W/V in eV/A^3, ASE's Voigt order xx yy zz yz xz xy, where the
                  frame is periodic in all three directions, NaN rows elsewhere
        periodic  [n_frames] bool: the frames that have a stress
        stresses  (only with stresses=True) per-atom [n_i, 6] or [sum n_i, 6]
    A frame the library refuses raises CACEError whose message starts with "frame K: " (K
    counts from 0) and keeps the library's status.
    """
    if isinstance(model, Model):
        loaded = model
        if threads is not None:
            loaded.threads = threads
        if precision is not None:
            loaded.precision = precision
    elif isinstance(model, (str, bytes, os.PathLike)):
        loaded = Model(model, threads=1 if threads is None else threads,
                       precision="double" if precision is None else precision)
    else:
        raise TypeError(f"model must be a path or a pair_cace.Model, got {type(model).__name__}")

    if _is_structure(frames):
        frames = [frames]
    energy, natoms, virials, stress, periodic = [], [], [], [], []
    forces, energies, atom_stresses = [], [], []
    for k, atoms in enumerate(frames):
        if not _is_structure(atoms):
            raise TypeError(f"frame {k}: expected an ase.Atoms (numbers, positions, cell, pbc), "
                            f"got {type(atoms).__name__}")
        cell = np.asarray(atoms.cell, dtype=np.float64)
        try:
            out = loaded.evaluate(atoms.numbers, atoms.positions, cell=cell, pbc=atoms.pbc,
                                  include_e0=include_e0, atom_virials=stresses)
        except CACEError as err:
            raise CACEError(f"frame {k}: {err}", err.status) from None
        except ValueError as err:
            raise ValueError(f"frame {k}: {err}") from None
        n = len(out["energies"])
        energy.append(out["energy"])
        natoms.append(n)
        virials.append(out["virial"])
        forces.append(out["forces"])
        energies.append(out["energies"])
        if out["stress"] is not None:
            periodic.append(True)
            stress.append([out["stress"][a, b] for a, b in VOIGT])
            if stresses:
                w = out["atom_virials"]
                atom_stresses.append(np.stack([-w[:, a, b] for a, b in VOIGT], axis=1) / out["volume"])
        else:
            periodic.append(False)
            stress.append([np.nan] * 6)
            if stresses:
                atom_stresses.append(np.full((n, 6), np.nan))

    natoms = np.array(natoms, dtype=int)
    result = {
        "energy": np.array(energy, dtype=np.float64),
        "natoms": natoms,
        "offsets": np.concatenate([[0], np.cumsum(natoms)]).astype(int),
        "virial": np.array(virials, dtype=np.float64).reshape(-1, 3, 3),
        "stress": np.array(stress, dtype=np.float64).reshape(-1, 6),
        "periodic": np.array(periodic, dtype=bool),
    }
    per_atom = {"forces": (forces, (0, 3)), "energies": (energies, (0,))}
    if stresses:
        per_atom["stresses"] = (atom_stresses, (0, 6))
    for key, (arrays, empty) in per_atom.items():
        if concatenate:
            result[key] = np.concatenate(arrays) if arrays else np.zeros(empty)
        else:
            result[key] = arrays
    return result


def _is_structure(obj) -> bool:
    return all(hasattr(obj, name) for name in ("numbers", "positions", "cell", "pbc"))
