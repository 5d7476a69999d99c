"""A loaded CACE model and the evaluation of one structure through the C ABI
(`cace_compute_structure`: the library adds the periodic images and builds the neighbour list
with the same code as `cace evaluate`)."""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Dict, Optional, Sequence

import numpy as np

from . import _library
from ._library import CACEError

ELEMENTS = ("X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se "
            "Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy "
            "Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf "
            "Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og").split()

PRECISIONS = {"double": 0, "single": 1}
LONG_RANGE_METHODS = {"auto": 0, "direct": 1, "mesh": 2}


class Model:
    """A model file loaded into the Swift library, with its evaluator (reused between calls).

    `threads`: worker threads inside one evaluation. `precision`: "double", or "single" (the
    per-atom feature arithmetic in float32, for every model).
    Calls on one Model are serialised by a lock (the library's evaluator is not thread-safe).
    """

    def __init__(self, path, threads: int = 1, precision: str = "double"):
        self._handle = None
        lib = _library.load()
        self._lib = lib
        self._err = ctypes.create_string_buffer(_library.ERROR_LENGTH)
        self._lock = threading.Lock()
        path = os.fspath(path)
        handle = ctypes.c_void_p()
        _library.check(lib.cace_model_load(os.fsencode(path), ctypes.byref(handle), self._err, len(self._err)),
                       self._err)
        self._handle = handle
        self.path = path
        self.cutoff = float(lib.cace_model_cutoff(handle))
        self.atomic_numbers = tuple(lib.cace_model_atomic_number(handle, i)
                                    for i in range(lib.cace_model_num_elements(handle)))
        self.elements = tuple(ELEMENTS[z] if 0 < z < len(ELEMENTS) else f"Z={z}" for z in self.atomic_numbers)
        self.num_message_passing = int(lib.cace_model_num_message_passing(handle))
        self.has_long_range = bool(lib.cace_model_has_long_range(handle))
        self.committee_size = int(lib.cace_model_committee_size(handle))
        self._threads = 1
        self._precision = "double"
        self.threads = threads
        self.precision = precision

    # -- settings ---------------------------------------------------------------------------

    @property
    def threads(self) -> int:
        return self._threads

    @threads.setter
    def threads(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"threads must be an integer, got {value!r}")
        with self._lock:
            _library.check(self._lib.cace_model_set_threads(self._live(), int(value), self._err, len(self._err)),
                           self._err)
            self._threads = int(value)

    @property
    def precision(self) -> str:
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        if value not in PRECISIONS:
            raise ValueError(f"precision must be 'double' or 'single', got {value!r}")
        with self._lock:
            _library.check(self._lib.cace_model_set_precision(self._live(), PRECISIONS[value], self._err,
                                                              len(self._err)), self._err)
            self._precision = value

    def set_long_range(self, method: str = "auto", accuracy: Optional[float] = None) -> None:
        """The method of the long-range term: "auto" (the default: the direct k-sum while atoms x
        k-vectors is small, the particle-mesh sum above), "direct" (upstream's sum) or "mesh";
        `accuracy`: the mesh's relative RMS force error against the direct sum (None: the
        library's default). Raises CACEError for a model without a long-range term (except
        "auto") or an accuracy out of range."""
        if method not in LONG_RANGE_METHODS:
            raise ValueError(f"long-range method must be one of {sorted(LONG_RANGE_METHODS)}, got {method!r}")
        value = 0.0 if accuracy is None else float(accuracy)
        if accuracy is not None and not value > 0:
            raise ValueError(f"mesh accuracy must be > 0, got {accuracy!r}")
        with self._lock:
            _library.check(self._lib.cace_model_set_long_range(self._live(), LONG_RANGE_METHODS[method], value,
                                                               self._err, len(self._err)), self._err)

    def check_boundary(self, pbc: Sequence[bool]) -> None:
        """Raises CACEError if the model cannot be evaluated with these periodic flags (a
        long-range term needs all periodic or all open)."""
        x, y, z = (int(bool(p)) for p in np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)))
        with self._lock:
            _library.check(self._lib.cace_model_check_boundary(self._live(), x, y, z, self._err, len(self._err)),
                           self._err)

    # -- evaluation -------------------------------------------------------------------------

    def committee_spread(self, numbers, positions, cell=None, pbc=False) -> Dict[str, np.ndarray]:
        """The spread of the model's committee (a model fitted with `cace fit --committee K`):
        energy_sigma (eV), atom_energy_sigma [N] (eV) and force_deviation [N] (eV/A). Raises
        CACEError for a model without a committee."""
        numbers, positions, cell, pbc = _checked(numbers, positions, cell, pbc)
        n = numbers.shape[0]
        sigma, deviation = np.empty(n), np.empty(n)
        structure = _structure(numbers, positions, cell, pbc)
        spread = _library.cace_committee_spread()
        spread.atom_energy_sigma = sigma.ctypes.data if n else None
        spread.force_deviation = deviation.ctypes.data if n else None
        with self._lock:
            status = self._lib.cace_compute_committee_spread(self._live(), ctypes.byref(structure), ctypes.byref(spread),
                                                             self._err, len(self._err))
            _library.check(status, self._err)
        return {"energy_sigma": float(spread.energy_sigma), "atom_energy_sigma": sigma, "force_deviation": deviation}

    def evaluate(self, numbers, positions, cell=None, pbc=False, include_e0: bool = True,
                 atom_virials: bool = True) -> Dict[str, Optional[np.ndarray]]:
        """Energy, per-atom energies, forces, virial and (if all three directions are periodic)
        stress of one structure, as `cace evaluate` computes them.

        numbers: [N] atomic numbers. positions: [N][3] Angstrom. cell: [3][3] rows a, b, c (may
        be None without periodicity). pbc: one bool or three.
        Returns a dict: energy (float, eV), long_range_energy, energies [N], forces [N][3],
        virial [3][3] (W = -dE/d(strain), eV), atom_virials [N][3][3] or None, stress [3][3]
        (sigma = -W/V, eV/A^3, ASE's sign) or None, volume or None.
        Errors of the library (an element the model lacks, non-finite positions, a cell far
        smaller than the cutoff, no atoms) raise CACEError with its message.
        """
        numbers, positions, cell, pbc = _checked(numbers, positions, cell, pbc)
        n = numbers.shape[0]
        forces = np.empty((n, 3))
        energies = np.empty(n)
        virials = np.empty((n, 6)) if atom_virials else None
        structure = _structure(numbers, positions, cell, pbc)
        result = _library.cace_structure_result()
        result.include_e0 = int(bool(include_e0))
        result.forces = forces.ctypes.data if n else None
        result.atom_energy = energies.ctypes.data if n else None
        result.atom_virial = virials.ctypes.data if (virials is not None and n) else None
        with self._lock:
            status = self._lib.cace_compute_structure(self._live(), ctypes.byref(structure), ctypes.byref(result),
                                                      self._err, len(self._err))
            _library.check(status, self._err)
        virial = _full(np.array(result.virial[:]))
        volume = abs(float(np.linalg.det(cell))) if (cell is not None and pbc.all()) else None
        stress = -virial / volume if volume else None
        return {
            "energy": float(result.energy),
            "long_range_energy": float(result.long_range_energy),
            "energies": energies,
            "forces": forces,
            "virial": virial,
            "atom_virials": _full(virials) if virials is not None else None,
            "stress": stress,
            "volume": volume,
        }

    # -- lifetime ---------------------------------------------------------------------------

    def _live(self):
        if self._handle is None:
            raise CACEError("the model has been closed", 4)
        return self._handle

    def close(self) -> None:
        """Frees the library's model (also done when the Model is garbage-collected)."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            self._lib.cace_model_free(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"Model({self.path!r}, elements={' '.join(self.elements)}, cutoff={self.cutoff}, "
                f"message_passing={self.num_message_passing}, long_range={self.has_long_range}, "
                f"threads={self.threads}, precision={self.precision!r})")


def _full(voigt: np.ndarray) -> np.ndarray:
    """[..., 6] in LAMMPS order xx yy zz xy xz yz -> [..., 3, 3] symmetric."""
    v = np.asarray(voigt)
    out = np.empty(v.shape[:-1] + (3, 3))
    out[..., 0, 0], out[..., 1, 1], out[..., 2, 2] = v[..., 0], v[..., 1], v[..., 2]
    out[..., 0, 1] = out[..., 1, 0] = v[..., 3]
    out[..., 0, 2] = out[..., 2, 0] = v[..., 4]
    out[..., 1, 2] = out[..., 2, 1] = v[..., 5]
    return out


def _checked(numbers, positions, cell, pbc):
    """The arrays the C ABI takes (contiguous, of the right types and shapes)."""
    numbers = np.ascontiguousarray(numbers, dtype=np.intc).reshape(-1)
    n = numbers.shape[0]
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if positions.shape != (n, 3):
        raise ValueError(f"positions must have shape ({n}, 3) for {n} atoms, got {positions.shape}")
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    if cell is not None:
        cell = np.ascontiguousarray(cell, dtype=np.float64)
        if cell.shape != (3, 3):
            raise ValueError(f"cell must have shape (3, 3), got {cell.shape}")
    return numbers, positions, cell, pbc


def _structure(numbers, positions, cell, pbc):
    """A cace_structure pointing into the arrays (which must outlive the call)."""
    n = numbers.shape[0]
    structure = _library.cace_structure()
    structure.natoms = n
    structure.positions = positions.ctypes.data if n else None
    structure.cell = cell.ctypes.data if cell is not None else None
    structure.pbc[0], structure.pbc[1], structure.pbc[2] = (int(p) for p in pbc)
    structure.atomic_numbers = numbers.ctypes.data if n else None
    return structure
