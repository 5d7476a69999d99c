"""The long-range methods from Python: CACECalculator(long_range="auto"|"direct"|"mesh",
mesh_accuracy=...). Needs the reference long-range water model in ../shared/reference (skipped
with a reason when it is absent); the bad-input cases use the shipped silicon model."""

from __future__ import annotations

import os

import numpy as np
import pytest

ase = pytest.importorskip("ase", reason="ase is not installed (pip install ase); the calculator needs it")
from ase.io import read  # noqa: E402

from pair_cace import CACECalculator, CACEError  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SILICON = os.path.join(REPO_ROOT, "examples", "silicon", "silicon.safetensors")
WATER = os.path.join(REPO_ROOT, "..", "shared", "reference", "water_trained")
needs_water = pytest.mark.skipif(not os.path.isdir(WATER),
                                 reason=f"no reference data at {WATER} (../shared is not beside the clone)")


def _water(repeat=1):
    atoms = read(os.path.join(WATER, "liquid64_frame0.xyz"))
    atoms.calc = None
    return atoms.repeat(repeat)


@needs_water
def test_auto_is_upstream_direct_sum_for_small_boxes():
    model = os.path.join(WATER, "model.safetensors")
    atoms = _water()
    forces = {}
    for method in (None, "auto", "direct"):
        atoms.calc = CACECalculator(model, long_range=method)
        forces[method] = atoms.get_forces().copy()
    np.testing.assert_array_equal(forces[None], forces["direct"])
    np.testing.assert_array_equal(forces["auto"], forces["direct"])


@needs_water
def test_mesh_agrees_with_direct_on_a_1536_atom_box():
    model = os.path.join(WATER, "model.safetensors")
    atoms = _water(2)
    atoms.calc = CACECalculator(model, long_range="direct")
    e_direct, f_direct, s_direct = atoms.get_potential_energy(), atoms.get_forces().copy(), atoms.get_stress().copy()
    atoms.calc = CACECalculator(model, long_range="mesh")
    e_mesh, f_mesh, s_mesh = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    rms = np.sqrt(np.mean(f_direct ** 2))
    assert np.sqrt(np.mean((f_mesh - f_direct) ** 2)) <= 1e-7 * rms
    assert abs(e_mesh - e_direct) <= 1e-8 * abs(e_direct)
    np.testing.assert_allclose(s_mesh, s_direct, atol=1e-7 * np.abs(s_direct).max())
    assert np.any(f_mesh != f_direct), "the mesh was not used"
    # A coarse accuracy is coarser.
    atoms.calc = CACECalculator(model, long_range="mesh", mesh_accuracy=1e-2)
    coarse = np.sqrt(np.mean((atoms.get_forces() - f_direct) ** 2))
    assert coarse > np.sqrt(np.mean((f_mesh - f_direct) ** 2))


def test_long_range_options_are_checked():
    with pytest.raises(ValueError, match="no long-range term"):
        CACECalculator(SILICON, long_range="mesh")
    with pytest.raises(ValueError, match="no long-range term"):
        CACECalculator(SILICON, mesh_accuracy=1e-6)
    with pytest.raises(ValueError, match="long_range must be one of"):
        CACECalculator(SILICON, long_range="pppm")
    CACECalculator(SILICON, long_range="auto")   # accepted: nothing to choose


@needs_water
def test_mesh_accuracy_out_of_range():
    with pytest.raises((CACEError, ValueError)):
        CACECalculator(os.path.join(WATER, "model.safetensors"), long_range="mesh", mesh_accuracy=0.5)
