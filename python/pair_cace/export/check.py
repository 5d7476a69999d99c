"""`cace-export --check`: evaluate structures with upstream CACE (float64) and with the Swift
`cace evaluate` command on the exported model, and compare energies, forces and stress."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

__all__ = ["find_cace_binary", "run_check", "CheckResult", "write_extxyz"]

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

# Scales below these floors are treated as the floor when forming relative errors, so that
# (near-)zero energies and forces are compared absolutely (eV, eV/Angstrom, eV/Angstrom^3).
ENERGY_FLOOR = 1e-3
FORCE_FLOOR = 1e-3
STRESS_FLOOR = 1e-5


def _repositories() -> List[str]:
    """The checkout this module is in (when imported from python/), then the checkout that
    contains the current directory (the installed package lives in site-packages)."""
    roots = [REPO_ROOT]
    directory = os.path.abspath(os.getcwd())
    while True:
        if os.path.isfile(os.path.join(directory, "Package.swift")) and \
                os.path.isdir(os.path.join(directory, "Sources", "CACE")):
            roots.append(directory)
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return roots


def find_cace_binary(explicit: Optional[str] = None) -> Optional[str]:
    """--cace PATH, else $CACE_BINARY, else <repo>/.build/release/cace, else
    <repo>/.build/debug/cace (repo: the checkout of this module, or the one containing the
    current directory), else `cace` on PATH."""
    if explicit:
        return explicit
    env = os.environ.get("CACE_BINARY")
    if env:
        return env
    for root in _repositories():
        for sub in ("release", "debug"):
            path = os.path.join(root, ".build", sub, "cace")
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    return shutil.which("cace")


def _num(x: float) -> str:
    return repr(float(x))


def write_extxyz(path: str, frames) -> None:
    """Write ASE Atoms as extended XYZ with round-trip float precision. Fully non-periodic
    frames are written without a Lattice (the Swift reader then treats them as open)."""
    with open(path, "w", encoding="utf-8") as f:
        for atoms in frames:
            pbc = [bool(p) for p in atoms.get_pbc()]
            fields = []
            if any(pbc):
                cell = np.asarray(atoms.get_cell(), dtype=float).reshape(-1)
                fields.append('Lattice="' + " ".join(_num(v) for v in cell) + '"')
            fields.append("Properties=species:S:1:pos:R:3")
            fields.append('pbc="' + " ".join("T" if p else "F" for p in pbc) + '"')
            f.write(f"{len(atoms)}\n{' '.join(fields)}\n")
            for symbol, pos in zip(atoms.get_chemical_symbols(), atoms.get_positions()):
                f.write(f"{symbol} {_num(pos[0])} {_num(pos[1])} {_num(pos[2])}\n")


def normalise_frames(frames):
    """Frames as upstream and the Swift CLI will both see them: fully open frames get an
    all-zero cell (upstream's convention, which selects the real-space Ewald branch)."""
    out = []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = None
        if not any(atoms.get_pbc()):
            atoms.set_cell(np.zeros((3, 3)))
        out.append(atoms)
    return out


@contextlib.contextmanager
def _float64_ewald_grid():
    """Upstream `EwaldPotential.compute_potential_triclinic` builds its k vectors as
    `nvec.float() @ G`: the integer grid is cast to float32, which cannot be multiplied by a
    float64 G, so a periodic Ewald model fails in float64. While this context is active,
    `Tensor.float()` casts to the default dtype (float64 here) instead. The grid holds small
    integers, so this changes no value; it only lets the float64 evaluation run."""
    import torch

    original = torch.Tensor.float

    def to_default(self, *args, **kwargs):
        return self.to(torch.get_default_dtype())

    torch.Tensor.float = to_default
    try:
        yield
    finally:
        torch.Tensor.float = original


def upstream_evaluate(model, frames, energy_key: str, forces_key: str,
                      stress_key: Optional[str]) -> List[dict]:
    """Evaluate frames with the upstream model in float64, as upstream's CACECalculator does
    (AtomicData.from_atoms with matscipy neighbour lists, one-frame batches)."""
    import torch
    from cace.data import AtomicData
    from cace.tools import torch_geometric

    torch.set_default_dtype(torch.float64)
    model = model.double().to("cpu")
    cutoff = float(model.representation.cutoff)
    results = []
    for atoms in frames:
        data = AtomicData.from_atoms(atoms, cutoff=cutoff)
        loader = torch_geometric.dataloader.DataLoader(dataset=[data], batch_size=1,
                                                       shuffle=False, drop_last=False)
        batch = next(iter(loader)).to("cpu")
        with _float64_ewald_grid():
            out = model(batch.to_dict(), training=True, compute_stress=True)
        energy = float(out[energy_key].detach().reshape(-1)[0].item())
        forces = out[forces_key].detach().cpu().numpy().reshape(-1, 3).astype(float)
        stress = None
        if stress_key and stress_key in out and out[stress_key] is not None and all(atoms.get_pbc()):
            stress = out[stress_key].detach().cpu().numpy().reshape(3, 3).astype(float)
        results.append({"energy": energy, "forces": forces, "stress": stress,
                        "n_edges": int(batch["edge_index"].shape[1])})
    return results


def swift_evaluate(binary: str, model_path: str, xyz_path: str) -> List[dict]:
    cmd = [binary, "evaluate", model_path, xyz_path, "--format", "json"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as err:
        raise RuntimeError(f"{' '.join(cmd)} printed no valid JSON ({err}):\n{proc.stdout[:2000]}")
    out = []
    for r in data:
        stress = r.get("stress")
        out.append({"energy": float(r["energy"]),
                    "forces": np.asarray(r["forces"], dtype=float).reshape(-1, 3),
                    "stress": None if stress is None else np.asarray(stress, dtype=float).reshape(3, 3)})
    return out


@dataclass
class FrameDiff:
    index: int
    n_atoms: int
    energy_ref: float
    energy_abs: float
    energy_rel: float
    force_max_ref: float
    force_abs: float
    force_rel: float
    stress_abs: Optional[float] = None
    stress_rel: Optional[float] = None


@dataclass
class CheckResult:
    frames: List[FrameDiff] = field(default_factory=list)
    tolerance: float = 1e-6

    @property
    def max_energy_rel(self) -> float:
        return max((f.energy_rel for f in self.frames), default=0.0)

    @property
    def max_force_rel(self) -> float:
        return max((f.force_rel for f in self.frames), default=0.0)

    @property
    def max_stress_rel(self) -> float:
        return max((f.stress_rel for f in self.frames if f.stress_rel is not None), default=0.0)

    @property
    def max_energy_abs(self) -> float:
        return max((f.energy_abs for f in self.frames), default=0.0)

    @property
    def max_force_abs(self) -> float:
        return max((f.force_abs for f in self.frames), default=0.0)

    @property
    def passed(self) -> bool:
        worst = max(self.max_energy_rel, self.max_force_rel, self.max_stress_rel)
        return math.isfinite(worst) and worst <= self.tolerance


def compare(ref: List[dict], got: List[dict], frames, tolerance: float) -> CheckResult:
    if len(ref) != len(got):
        raise RuntimeError(f"upstream evaluated {len(ref)} frames, cace evaluate {len(got)}")
    result = CheckResult(tolerance=tolerance)
    for i, (r, g, atoms) in enumerate(zip(ref, got, frames)):
        if g["forces"].shape != r["forces"].shape:
            raise RuntimeError(f"frame {i + 1}: forces of shape {g['forces'].shape} vs {r['forces'].shape}")
        e_abs = abs(g["energy"] - r["energy"])
        e_rel = e_abs / max(abs(r["energy"]), ENERGY_FLOOR)
        f_max = float(np.max(np.abs(r["forces"]))) if r["forces"].size else 0.0
        f_abs = float(np.max(np.abs(g["forces"] - r["forces"]))) if r["forces"].size else 0.0
        f_rel = f_abs / max(f_max, FORCE_FLOOR)
        if not (math.isfinite(g["energy"]) and np.all(np.isfinite(g["forces"]))):
            e_rel = f_rel = math.inf
        diff = FrameDiff(i + 1, len(atoms), r["energy"], e_abs, e_rel, f_max, f_abs, f_rel)
        if r["stress"] is not None and g["stress"] is not None:
            s_max = float(np.max(np.abs(r["stress"])))
            diff.stress_abs = float(np.max(np.abs(g["stress"] - r["stress"])))
            diff.stress_rel = diff.stress_abs / max(s_max, STRESS_FLOOR)
        result.frames.append(diff)
    return result


def run_check(model, structures_path: str, meta: dict, model_file: str, binary: str,
              e0: Optional[Dict[int, float]] = None, tolerance: float = 1e-6,
              out=None) -> CheckResult:
    """Compare upstream and `cace evaluate` on every frame of `structures_path`.
    `model_file` is the exported .safetensors of `model` (with metadata `meta`)."""
    import ase.io

    if out is None:
        out = sys.stdout
    frames = normalise_frames(ase.io.read(structures_path, index=":"))
    if not frames:
        raise RuntimeError(f"{structures_path}: no structures")
    zs = set(meta["zs"])
    for i, atoms in enumerate(frames):
        unknown = sorted(set(int(z) for z in atoms.get_atomic_numbers()) - zs)
        if unknown:
            raise RuntimeError(f"{structures_path} frame {i + 1}: atomic numbers {unknown} are not "
                               f"elements of the model {sorted(zs)}")
    forces = meta.get("forces") or {}
    energy_key = meta["energy_key"]
    forces_key = forces.get("forces_key")
    if not forces_key or not forces.get("calc_forces", False):
        raise RuntimeError("the model has no Forces module that computes forces; --check needs one")
    stress_key = forces.get("stress_key") if forces.get("calc_stress") else None

    ref = upstream_evaluate(model, frames, energy_key, forces_key, stress_key)
    if e0:
        for r, atoms in zip(ref, frames):
            r["energy"] += sum(e0.get(int(z), 0.0) for z in atoms.get_atomic_numbers())

    with tempfile.TemporaryDirectory(prefix="cace-check-") as tmp:
        xyz = os.path.join(tmp, "structures.xyz")
        write_extxyz(xyz, frames)
        got = swift_evaluate(binary, model_file, xyz)

    result = compare(ref, got, frames, tolerance)
    print(f"{'frame':>5} {'atoms':>6} {'edges':>7} {'E upstream (eV)':>22} {'|dE| (eV)':>10} "
          f"{'rel':>9} {'max|F|':>10} {'max|dF|':>10} {'rel':>9} {'rel stress':>10}", file=out)
    for d, r in zip(result.frames, ref):
        srel = "-" if d.stress_rel is None else f"{d.stress_rel:.2e}"
        print(f"{d.index:>5} {d.n_atoms:>6} {r['n_edges']:>7} {d.energy_ref:>22.12f} {d.energy_abs:>10.2e} "
              f"{d.energy_rel:>9.2e} {d.force_max_ref:>10.3e} {d.force_abs:>10.2e} {d.force_rel:>9.2e} "
              f"{srel:>10}", file=out)
    print(f"largest energy difference: {result.max_energy_abs:.3e} eV "
          f"(relative {result.max_energy_rel:.3e})", file=out)
    print(f"largest force difference:  {result.max_force_abs:.3e} eV/Angstrom "
          f"(relative to the largest force {result.max_force_rel:.3e})", file=out)
    if any(f.stress_rel is not None for f in result.frames):
        print(f"largest stress difference: relative {result.max_stress_rel:.3e}", file=out)
    verdict = "PASS" if result.passed else "FAIL"
    print(f"{verdict}: tolerance {tolerance:g} relative "
          f"(scales floored at {ENERGY_FLOOR:g} eV, {FORCE_FLOOR:g} eV/Angstrom, "
          f"{STRESS_FLOOR:g} eV/Angstrom^3)", file=out)
    return result
