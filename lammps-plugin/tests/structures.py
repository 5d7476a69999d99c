"""Atomic structures for the LAMMPS tests: the upstream reference cases, their restricted-
triclinic form, and small synthetic crystals (for checks that need no reference data).

A Structure holds float64 numpy arrays in Angstrom and eV. `cell` holds the lattice vectors as
rows (None for open boundaries); `numbers` are atomic numbers.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SYMBOLS = {1: "H", 6: "C", 8: "O", 13: "Al", 14: "Si", 28: "Ni", 29: "Cu"}
MASSES = {1: 1.008, 6: 12.011, 8: 15.999, 13: 26.982, 14: 28.085, 28: 58.693, 29: 63.546}


@dataclass
class Structure:
    name: str
    numbers: np.ndarray            # [n] atomic numbers
    positions: np.ndarray          # [n, 3]
    cell: np.ndarray = None        # [3, 3] rows a, b, c; None = open boundaries
    ref: dict = field(default_factory=dict)   # upstream results (energy, forces, virial, ...)

    @property
    def periodic(self):
        return self.cell is not None

    @property
    def natoms(self):
        return len(self.numbers)


def load_reference(path):
    """Reads <case>/<structure>.json into a Structure with the upstream results in .ref."""
    path = Path(path)
    d = json.loads(path.read_text())
    cell = np.array(d["lattice"], dtype=float) if d["lattice"] else None
    ref = {
        "energy": float(d["energy"]),
        "forces": np.array(d["forces"], dtype=float).reshape(-1, 3),
        "virial": np.array(d["virial"], dtype=float).reshape(3, 3),
        # total per-atom energies only where they sum to the energy (not for water_trained,
        # whose atom_energies are the short-range part)
        "atom_energies": None,
    }
    if d.get("atom_energies") is not None:
        ae = np.array(d["atom_energies"], dtype=float)
        if abs(ae.sum() - ref["energy"]) <= 1e-9 * max(1.0, abs(ref["energy"])):
            ref["atom_energies"] = ae
    return Structure(f"{path.parent.name}/{path.stem}", np.array(d["atomic_numbers"]),
                     np.array(d["positions"], dtype=float), cell, ref)


def restricted_triclinic(s):
    """The same structure rotated so that its cell is LAMMPS' restricted triclinic form
    (a along x, b in the xy plane, positive diagonal), with the reference forces and virial
    rotated along. Returns (structure, Q) with new row vectors = old row vectors @ Q."""
    if not s.periodic:
        return s, np.eye(3)
    q, r = np.linalg.qr(s.cell.T)          # cell.T = Q R, so cell @ Q = R.T (lower triangular)
    signs = np.sign(np.diag(r))
    q = q * signs                          # make the diagonal of R positive
    if np.linalg.det(q) < 0:
        raise ValueError(f"{s.name}: left-handed cell, LAMMPS needs a right-handed one")
    cell = s.cell @ q
    cell[np.triu_indices(3, 1)] = 0.0      # exact zeros above the diagonal
    ref = dict(s.ref)
    if "forces" in ref:
        ref["forces"] = ref["forces"] @ q
    if "virial" in ref:
        ref["virial"] = q.T @ ref["virial"] @ q
    return Structure(s.name, s.numbers, s.positions @ q, cell, ref), q


def voigt(w):
    """3x3 virial -> LAMMPS order xx, yy, zz, xy, xz, yz."""
    return np.array([w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])


def fcc_crystal(numbers_pool, a=3.6, reps=(3, 3, 3), rattle=0.1, seed=7, tilt=None,
                name="fcc"):
    """An fcc supercell (4*prod(reps) atoms) with random species from numbers_pool, rattled
    positions and, with tilt = (xy, xz, yz), a restricted-triclinic cell."""
    rng = np.random.default_rng(seed)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    frac = np.array([(b + [i, j, k]) / reps for i in range(reps[0]) for j in range(reps[1])
                     for k in range(reps[2]) for b in basis])
    cell = np.diag(np.array(reps, dtype=float) * a)
    if tilt is not None:
        xy, xz, yz = tilt
        cell[1, 0], cell[2, 0], cell[2, 1] = xy, xz, yz
    pos = frac @ cell + rng.normal(0.0, rattle, (len(frac), 3))
    numbers = rng.choice(np.asarray(numbers_pool), len(frac))
    return Structure(name, numbers, pos, cell)


def synthetic_crystal(seed=7, reps=(3, 3, 3)):
    """The system of the self-consistency tests: a rattled, triclinic Al/Cu fcc crystal of
    108 atoms (for the synthetic Al/Cu models; the cell exceeds twice the 4 A cutoff)."""
    return fcc_crystal([13, 29], a=3.6, reps=reps, rattle=0.1, seed=seed,
                       tilt=(0.6, -0.4, 0.5), name="synthetic_fcc")


def replicate(s, reps):
    """The periodic structure s repeated reps = (na, nb, nc) times along its cell vectors (any
    triclinic cell; a restricted-triclinic cell stays restricted). Atoms are ordered replica by
    replica, each replica in the order of s; the reference results are dropped."""
    na, nb, nc = reps
    shifts = np.array([i * s.cell[0] + j * s.cell[1] + k * s.cell[2]
                       for i in range(na) for j in range(nb) for k in range(nc)])
    positions = (s.positions[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    cell = s.cell * np.array([na, nb, nc], dtype=float)[:, None]
    return Structure(f"{s.name}_x{na}x{nb}x{nc}", np.tile(s.numbers, len(shifts)), positions, cell)
