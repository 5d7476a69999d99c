"""Tests of the pair_cace package (issue 17): the ctypes binding of cace_compute_structure and
the ASE calculator, against `cace evaluate` and the upstream references, by finite
differences, and with ASE's optimisers, MD, cell filters and phonons.

They test the *installed* package (`pip install ./python`, which scripts/test.sh runs): its
libcace_capi.so is built by the install. The comparisons with the CLI need
`.build/release/cace` (`swift build -c release --product cace`), those with upstream need
../shared/reference; both are skipped with a reason when absent.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

ase = pytest.importorskip("ase", reason="ase is not installed (pip install ase); the calculator needs it")
from ase import Atoms, units  # noqa: E402
from ase.build import bulk, molecule  # noqa: E402
from ase.calculators.calculator import PropertyNotImplementedError  # noqa: E402

import pair_cace  # noqa: E402
from pair_cace import CACECalculator, CACEError, Model  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(PYTHON_DIR)
REFERENCE_DIR = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "reference"))
SILICON = os.path.join(REPO_ROOT, "examples", "silicon", "silicon.safetensors")
CACE_BINARY = os.environ.get("CACE_BINARY") or os.path.join(REPO_ROOT, ".build", "release", "cace")

needs_cli = pytest.mark.skipif(not os.access(CACE_BINARY, os.X_OK),
                               reason=f"the cace binary {CACE_BINARY} is missing: run "
                                      "`swift build -c release --product cace` in the repository root")
needs_reference = pytest.mark.skipif(not os.path.isdir(REFERENCE_DIR),
                                     reason=f"{REFERENCE_DIR} not found: upstream reference comparisons are "
                                            "SKIPPED (they run in CI)")


def _synthetic():
    spec = importlib.util.spec_from_file_location(
        "synthetic_model", os.path.join(REPO_ROOT, "lammps-plugin", "tests", "synthetic_model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- models and structures --------------------------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Model files: the shipped silicon model (one message-passing layer), and random H/O models
    with an Ewald term (no message passing), and with message passing and E0s."""
    synthetic = _synthetic()
    d = tmp_path_factory.mktemp("models")
    return {
        "silicon": SILICON,
        "ewald": synthetic.write_model(str(d / "ewald.safetensors"), [1, 8], ewald=True, cutoff=3.5,
                                       atomic_energies={1: -0.5, 8: -2.0}),
        "mp": synthetic.write_model(str(d / "mp.safetensors"), [1, 8], layers=1, cutoff=3.5,
                                    atomic_energies={1: -0.25, 8: -1.5}),
    }


def silicon_triclinic():
    atoms = bulk("Si", "diamond", 5.43, cubic=True)
    atoms.set_cell(atoms.cell @ np.array([[1.02, 0.0, 0.0], [0.11, 0.98, 0.0], [-0.07, 0.05, 1.01]]),
                   scale_atoms=True)
    atoms.rattle(0.08, seed=3)
    return atoms


def silicon_primitive():
    """2 atoms, fcc lattice vectors 3.84 A: shorter than the 3.9 A cutoff."""
    atoms = bulk("Si", "diamond", 5.43)
    atoms.rattle(0.05, seed=4)
    return atoms


def silicon_slab():
    atoms = bulk("Si", "diamond", 5.43, cubic=True).repeat((1, 1, 2))
    atoms.center(vacuum=4.0, axis=2)
    atoms.pbc = (True, True, False)
    atoms.rattle(0.05, seed=5)
    return atoms


def silicon_cluster():
    atoms = bulk("Si", "diamond", 5.43, cubic=True)[:5]
    atoms.pbc = False
    atoms.cell = np.zeros((3, 3))
    atoms.rattle(0.05, seed=6)
    return atoms


def water_box(cell=None, pbc=True, seed=7):
    """8 water molecules on a grid in a (triclinic) box, rattled."""
    rng = np.random.default_rng(seed)
    cell = np.array([[6.2, 0, 0], [0.4, 6.0, 0], [-0.3, 0.5, 6.4]]) if cell is None else np.asarray(cell)
    water = molecule("H2O")
    atoms = Atoms(cell=cell, pbc=pbc)
    for s in np.ndindex(2, 2, 2):
        w = water.copy()
        w.rotate(rng.uniform(0, 360), rng.normal(size=3))
        w.translate((np.array(s) + 0.25) @ cell / 2)
        atoms += w
    atoms.rattle(0.03, seed=seed)
    return atoms


def water_cluster():
    atoms = water_box(pbc=False)[:9]
    atoms.cell = np.zeros((3, 3))
    return atoms


def water_slab():
    atoms = water_box()
    atoms.pbc = (True, False, True)
    return atoms


CASES = [  # (model, structure builder)
    ("silicon", silicon_triclinic), ("silicon", silicon_primitive), ("silicon", silicon_slab),
    ("silicon", silicon_cluster),
    ("ewald", water_box), ("ewald", water_cluster),
    ("mp", water_box), ("mp", water_slab), ("mp", water_cluster),
]
CASE_IDS = [f"{m}-{f.__name__}" for m, f in CASES]


def relative(a, b, floor=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), floor))


def write_xyz(path, atoms):
    """Extended XYZ at full double precision (ASE's writer rounds positions to 1e-8 A)."""
    lines = [str(len(atoms))]
    header = []
    if atoms.pbc.any() or atoms.cell.rank == 3:
        header.append('Lattice="' + " ".join(repr(float(x)) for x in np.asarray(atoms.cell).ravel()) + '"')
    header.append("Properties=species:S:1:pos:R:3")
    header.append('pbc="' + " ".join("T" if p else "F" for p in atoms.pbc) + '"')
    lines.append(" ".join(header))
    for symbol, p in zip(atoms.get_chemical_symbols(), atoms.positions):
        lines.append(" ".join([symbol] + [repr(float(x)) for x in p]))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def cli_evaluate(model, atoms, tmp_path, *options):
    xyz = tmp_path / "frame.xyz"
    write_xyz(xyz, atoms)
    proc = subprocess.run([CACE_BINARY, "evaluate", model, str(xyz), "--format", "json", *options],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)[0]


def voigt(full):
    full = np.asarray(full).reshape(3, 3)
    return np.array([full[0, 0], full[1, 1], full[2, 2], full[1, 2], full[0, 2], full[0, 1]])


# -- the installed package ----------------------------------------------------------------------

def test_installed_package_works_outside_the_repository(tmp_path):
    """From another directory, without PYTHONPATH or any variable: the package imports from
    site-packages, carries its library (without a Swift runtime dependency) and evaluates."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CACE", "PAIR_CACE"))}
    code = ("import json, os, pair_cace, numpy as np\n"
            "m = pair_cace.Model(os.environ['MODEL'])\n"
            "r = m.evaluate([14, 14], [[0, 0, 0], [1.3, 1.4, 1.2]], cell=None, pbc=False)\n"
            "print(json.dumps({'file': pair_cace.__file__, 'lib': pair_cace.library_path(),\n"
            "                  'abi': pair_cace.abi_version(), 'energy': r['energy']}))\n")
    env["MODEL"] = SILICON
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert not out["file"].startswith(PYTHON_DIR + os.sep), f"imported from the source tree: {out['file']}"
    assert os.path.dirname(out["lib"]) == os.path.dirname(out["file"])
    assert out["abi"] == pair_cace._library.ABI_VERSION   # the installed library matches these declarations
    assert np.isfinite(out["energy"])
    if shutil.which("ldd"):
        needed = subprocess.run(["ldd", out["lib"]], capture_output=True, text=True).stdout
        assert "libswiftCore" not in needed and "not found" not in needed, needed


def test_exporter_entry_points_still_work(tmp_path):
    """`cace-export` (console script), `python -m cace_export` and `python -m pair_cace.export`,
    and the old import name `cace_export` for the same modules."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    script = shutil.which("cace-export") or os.path.join(os.path.dirname(sys.executable), "cace-export")
    for command in ([script], [sys.executable, "-m", "cace_export"], [sys.executable, "-m", "pair_cace.export"]):
        proc = subprocess.run(command + ["--help"], cwd=str(tmp_path), env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, (command, proc.stderr)
        assert "cace-export MODEL.pth OUT.safetensors" in proc.stdout
    import cace_export
    import pair_cace.export.cli
    from cace_export import cli
    assert cli is pair_cace.export.cli
    assert cace_export.write_safetensors is pair_cace.export.write_safetensors


# -- agreement with the CLI and with upstream ------------------------------------------------------

@needs_cli
@pytest.mark.parametrize("model_name,build", CASES, ids=CASE_IDS)
def test_matches_cace_evaluate(models, model_name, build, tmp_path):
    """Energy, per-atom energies, forces, virial and stress as `cace evaluate` (1e-12)."""
    atoms = build()
    model = models[model_name]
    expected = cli_evaluate(model, atoms, tmp_path)
    out = Model(model).evaluate(atoms.numbers, atoms.positions, np.asarray(atoms.cell), atoms.pbc)
    assert out["energy"] == pytest.approx(expected["energy"], rel=1e-12, abs=1e-12)
    assert relative(out["energies"], expected["atom_energies"]) < 1e-12
    assert relative(out["forces"], expected["forces"]) < 1e-12
    assert relative(out["virial"].ravel(), expected["virial"]) < 1e-12
    atoms.calc = CACECalculator(model)
    assert atoms.get_potential_energy() == pytest.approx(expected["energy"], rel=1e-12, abs=1e-12)
    assert relative(atoms.get_forces(), expected["forces"]) < 1e-12
    if expected["stress"] is None:
        assert not atoms.pbc.all()
        with pytest.raises(PropertyNotImplementedError):
            atoms.get_stress()
    else:
        assert relative(atoms.get_stress(), voigt(expected["stress"])) < 1e-12
    # the same without E0s
    expected = cli_evaluate(model, atoms, tmp_path, "--no-e0")
    calc = CACECalculator(model, include_e0=False)
    assert calc.get_potential_energy(atoms) == pytest.approx(expected["energy"], rel=1e-12, abs=1e-12)


def _reference_frames():
    if not os.path.isdir(REFERENCE_DIR):
        return []
    frames = []
    for case in sorted(os.listdir(REFERENCE_DIR)):
        folder = os.path.join(REFERENCE_DIR, case)
        if os.path.isfile(os.path.join(folder, "model.safetensors")):
            frames += [(case, name[:-5]) for name in sorted(os.listdir(folder)) if name.endswith(".json")]
    return frames


def _reference_atoms(data):
    lattice = data["lattice"]
    return Atoms(numbers=data["atomic_numbers"], positions=data["positions"],
                 cell=np.zeros((3, 3)) if lattice is None else lattice, pbc=data["pbc"])


@needs_reference
@pytest.mark.parametrize("case,structure", _reference_frames() or [("none", "none")])
def test_matches_upstream_reference(case, structure, tmp_path):
    """Every upstream reference case (float64 PyTorch): energy 1e-9 relative, forces and stress
    1e-8 relative to their largest component; per-atom energies where upstream has them."""
    folder = os.path.join(REFERENCE_DIR, case)
    with open(os.path.join(folder, structure + ".json")) as f:
        data = json.load(f)
    atoms = _reference_atoms(data)
    atoms.calc = CACECalculator(os.path.join(folder, data["model_file"]), include_e0=data["energy_includes_e0"])
    assert atoms.get_potential_energy() == pytest.approx(data["energy"], rel=1e-9, abs=1e-10)
    assert relative(atoms.get_forces(), data["forces"], floor=1e-2) < 1e-8
    if data["stress"] is not None:
        assert relative(atoms.get_stress(), voigt(data["stress"]), floor=1e-5) < 1e-8
    if data["atom_energies"] is not None and data.get("atom_energies_key") == data.get("energy_key"):
        assert relative(atoms.get_potential_energies(), data["atom_energies"], floor=1e-3) < 1e-8
    if os.access(CACE_BINARY, os.X_OK):   # and the CLI on the reference's own model file
        expected = cli_evaluate(os.path.join(folder, data["model_file"]), atoms, tmp_path, "--no-e0")
        assert relative(atoms.get_forces(), expected["forces"]) < 1e-12


# -- physics: finite differences, sums, images ------------------------------------------------------

FD_CASES = [("silicon", silicon_triclinic), ("silicon", silicon_slab), ("ewald", water_box),
            ("ewald", water_cluster), ("mp", water_box)]


@pytest.mark.parametrize("model_name,build", FD_CASES, ids=[f"{m}-{f.__name__}" for m, f in FD_CASES])
def test_forces_are_minus_the_energy_gradient(models, model_name, build):
    atoms = build()
    atoms.calc = CACECalculator(models[model_name])
    forces = atoms.get_forces()
    rng = np.random.default_rng(11)
    h = 1e-5
    for i in rng.choice(len(atoms), size=min(4, len(atoms)), replace=False):
        for c in range(3):
            moved = atoms.copy()
            moved.calc = atoms.calc
            moved.positions[i, c] += h
            plus = moved.get_potential_energy()
            moved.positions[i, c] -= 2 * h
            minus = moved.get_potential_energy()
            assert -(plus - minus) / (2 * h) == pytest.approx(forces[i, c], abs=1e-6 * max(1.0, np.abs(forces).max()))


@pytest.mark.parametrize("model_name,build", [("silicon", silicon_triclinic), ("silicon", silicon_primitive),
                                              ("ewald", water_box), ("mp", water_box)],
                         ids=["silicon-triclinic", "silicon-primitive", "ewald-water", "mp-water"])
def test_stress_is_the_strain_derivative(models, model_name, build):
    atoms = build()
    atoms.calc = CACECalculator(models[model_name])
    stress = atoms.get_stress()
    try:
        from ase.calculators.fd import calculate_numerical_stress
        numerical = calculate_numerical_stress(atoms, eps=1e-5, voigt=True)
    except ImportError:   # ase < 3.23
        numerical = atoms.calc.calculate_numerical_stress(atoms, d=1e-5, voigt=True)
    assert relative(stress, numerical, floor=1e-4) < 1e-6, (stress, numerical)


@pytest.mark.parametrize("model_name,build", CASES, ids=CASE_IDS)
def test_per_atom_energies_and_stresses_sum_to_the_totals(models, model_name, build):
    """energies sum to energy; stresses (ASE convention, -W_i/V as ase.calculators.lj) sum to
    stress, i.e. the per-atom virials sum to -stress*V."""
    atoms = build()
    atoms.calc = CACECalculator(models[model_name])
    energies = atoms.get_potential_energies()
    assert energies.shape == (len(atoms),)
    assert energies.sum() == pytest.approx(atoms.get_potential_energy(), rel=1e-12, abs=1e-12)
    if not atoms.pbc.all():
        with pytest.raises(PropertyNotImplementedError):
            atoms.get_stresses()
        return
    stresses = atoms.get_stresses()
    assert stresses.shape == (len(atoms), 6)
    assert relative(stresses.sum(axis=0), atoms.get_stress()) < 1e-10
    assert relative(-stresses.sum(axis=0) * atoms.get_volume(),
                    voigt(Model(models[model_name]).evaluate(atoms.numbers, atoms.positions, atoms.cell,
                                                             atoms.pbc)["virial"])) < 1e-10
    assert np.ptp(stresses[:, 0]) > 0   # not one share per atom


@pytest.mark.parametrize("model_name,build", [("silicon", silicon_triclinic), ("silicon", silicon_primitive),
                                              ("ewald", water_box), ("mp", water_box)],
                         ids=["silicon-triclinic", "silicon-primitive", "ewald-water", "mp-water"])
def test_supercell_repeats_per_atom_results(models, model_name, build):
    """A 2x1x2 supercell has 4 copies of every atom with its energy, force and virial: the
    periodic images and the folding of per-atom virials agree between the two cells."""
    atoms = build()
    atoms.calc = CACECalculator(models[model_name])
    big = atoms.repeat((2, 1, 2))
    big.calc = CACECalculator(models[model_name])
    n = len(atoms)
    assert big.get_potential_energy() == pytest.approx(4 * atoms.get_potential_energy(), rel=1e-10)
    assert relative(big.get_potential_energies(), np.tile(atoms.get_potential_energies(), 4), floor=1e-3) < 1e-9
    assert relative(big.get_forces(), np.tile(atoms.get_forces(), (4, 1))) < 1e-9
    assert relative(big.get_stress(), atoms.get_stress()) < 1e-9
    # stresses are -W_i/V: the same W_i in a volume 4 times larger
    assert relative(4 * big.get_stresses()[:n], atoms.get_stresses()) < 1e-9


def test_threads_and_single_precision(models):
    atoms = water_box().repeat((2, 2, 2))
    one = CACECalculator(models["ewald"])
    two = CACECalculator(models["ewald"], threads=2)
    single = CACECalculator(models["ewald"], precision="single")
    f1 = one.get_forces(atoms)
    assert relative(two.get_forces(atoms), f1) < 1e-12
    assert relative(single.get_forces(atoms), f1) < 1e-4
    assert single.get_potential_energy(atoms) == pytest.approx(one.get_potential_energy(atoms), rel=1e-4)


def test_calculator_reuses_the_model_and_shares_it(models):
    model = Model(models["silicon"])
    calc = CACECalculator(model)
    assert calc.model is model
    atoms = silicon_triclinic()
    atoms.calc = calc
    e0 = atoms.get_potential_energy()
    atoms.positions[0, 0] += 0.01
    assert atoms.get_potential_energy() != e0
    assert calc.model is model
    other = silicon_triclinic()
    other.calc = CACECalculator(model)
    assert other.get_potential_energy() == e0
    assert "elements=Si" in repr(model) and model.cutoff == pytest.approx(3.9)


# -- errors ---------------------------------------------------------------------------------------------

def test_errors_are_exceptions_with_the_library_message(models, tmp_path):
    with pytest.raises(CACEError, match="nonexistent") as err:
        CACECalculator(str(tmp_path / "nonexistent.safetensors"))
    assert err.value.kind == "io"
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CACEError) as err:
        Model(str(garbage))
    assert "garbage.safetensors" in str(err.value) and err.value.kind == "format"

    calc = CACECalculator(models["silicon"])
    atoms = silicon_triclinic()
    atoms.numbers[3] = 8
    with pytest.raises(CACEError, match=r"element O \(atom 3\) is not in the model \(elements: Si\)"):
        calc.get_potential_energy(atoms)

    atoms = silicon_triclinic()
    atoms.positions[2, 1] = np.nan
    with pytest.raises(CACEError, match="atom 2 has coordinate nan"):
        calc.get_forces(atoms)

    tiny = Atoms("Si", positions=[[0, 0, 0]], cell=np.eye(3) * 0.05, pbc=True)
    with pytest.raises(CACEError, match="far smaller than the cutoff"):
        calc.get_potential_energy(tiny)

    with pytest.raises(CACEError, match="no atoms"):
        calc.get_potential_energy(Atoms(cell=np.eye(3) * 5, pbc=True))

    flat = Atoms("Si2", positions=[[0, 0, 0], [1.2, 1.2, 0]], cell=[[3, 0, 0], [0, 3, 0], [6, 6, 0]], pbc=True)
    with pytest.raises(CACEError, match="zero volume"):
        calc.get_potential_energy(flat)

    # a long-range model refuses mixed boundaries (all periodic or all open)
    with pytest.raises(CACEError, match="mixed boundaries are not supported"):
        CACECalculator(models["ewald"]).get_potential_energy(water_slab())

    # message-passing models run in single precision too: forces within 1e-4 of double
    single = CACECalculator(models["silicon"], precision="single")
    f_single, f_double = single.get_forces(silicon_triclinic()), calc.get_forces(silicon_triclinic())
    assert np.abs(f_single - f_double).max() <= 1e-4 * np.abs(f_double).max()
    assert not np.array_equal(f_single, f_double)
    with pytest.raises(CACEError, match="between 1 and 1024"):
        CACECalculator(models["silicon"], threads=0)
    with pytest.raises(ValueError, match="precision"):
        CACECalculator(models["silicon"], precision="half")
    with pytest.raises(ValueError, match="long_range"):
        CACECalculator(models["ewald"], long_range="pme")
    with pytest.raises(ValueError, match="no long-range term"):
        CACECalculator(models["silicon"], long_range="ewald")
    assert CACECalculator(models["ewald"], long_range="ewald").get_potential_energy(water_box()) != 0

    # after all that, the same calculator still works
    assert np.isfinite(calc.get_potential_energy(silicon_triclinic()))

    model = Model(models["silicon"])
    model.close()
    with pytest.raises(CACEError, match="closed"):
        model.evaluate([14], [[0, 0, 0]])


# ASE's cell filters make such coordinates (FrechetCellFilter on ideal diamond: x = -1.9e-17);
# the wrap into the cell once lost the atom's images there
def test_an_atom_a_hair_below_zero_keeps_its_images(models):
    atoms = bulk("Si", "diamond", 5.43, cubic=True)
    model = Model(models["silicon"])
    ideal = model.evaluate(atoms.numbers, atoms.positions, atoms.cell, True)["energy"]
    positions = atoms.positions.copy()
    positions[0, 0] = -1e-17
    assert model.evaluate(atoms.numbers, positions, atoms.cell, True)["energy"] == pytest.approx(ideal, rel=1e-12)


# -- ASE machinery --------------------------------------------------------------------------------------

def test_bfgs_relaxation_converges(models):
    from ase.optimize import BFGS
    atoms = bulk("Si", "diamond", 5.428, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=8)
    atoms.calc = CACECalculator(models["silicon"])
    start = atoms.get_potential_energy()
    assert np.abs(atoms.get_forces()).max() > 0.1
    opt = BFGS(atoms, logfile=None)
    assert opt.run(fmax=1e-3, steps=200)
    assert atoms.get_potential_energy() < start
    assert np.linalg.norm(atoms.get_forces(), axis=1).max() < 1e-3


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_velocity_verlet_conserves_energy(models):
    """200 NVE steps of 64 Si atoms at about 450 K (1 fs): the total energy stays within a band
    of 1 meV/atom (0.2 here; wrong forces or a wrong sign break it by far)."""
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet
    atoms = bulk("Si", "diamond", 5.43, cubic=True).repeat(2)
    atoms.calc = CACECalculator(models["silicon"])
    MaxwellBoltzmannDistribution(atoms, temperature_K=1200, rng=np.random.default_rng(9))
    Stationary(atoms)
    totals = []
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs, logfile=None)
    dyn.attach(lambda: totals.append(atoms.get_potential_energy() + atoms.get_kinetic_energy()), interval=10)
    dyn.run(200)
    totals = np.array(totals)
    assert len(totals) == 21
    assert atoms.get_temperature() > 300     # it moved: kinetic and potential energy exchanged
    assert np.ptp(totals) / len(atoms) < 1e-3, totals


def test_frechet_cell_filter_relaxes_the_lattice(models):
    """Diamond Si from a = 5.60 A relaxes to the model's lattice constant (5.428 A in README)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    atoms = bulk("Si", "diamond", 5.60, cubic=True)
    atoms.calc = CACECalculator(models["silicon"])
    assert np.abs(atoms.get_stress()).max() > 1e-3
    opt = BFGS(FrechetCellFilter(atoms), logfile=None)
    assert opt.run(fmax=1e-4, steps=200)
    a = atoms.cell.lengths()[0]
    assert a == pytest.approx(5.428, abs=0.01)
    assert np.abs(atoms.get_stress()).max() < 1e-4


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_exp_cell_filter(models):
    from ase.filters import ExpCellFilter
    from ase.optimize import BFGS
    atoms = bulk("Si", "diamond", 5.35)
    atoms.rattle(0.02, seed=10)
    atoms.calc = CACECalculator(models["silicon"])
    assert BFGS(ExpCellFilter(atoms), logfile=None).run(fmax=1e-4, steps=300)
    assert atoms.get_volume() == pytest.approx(5.428 ** 3 / 4, rel=3e-3)


def test_fix_symmetry(models):
    pytest.importorskip("spglib", reason="ase's FixSymmetry needs spglib (pip install spglib)")
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    atoms = bulk("Si", "diamond", 5.35)
    atoms.calc = CACECalculator(models["silicon"])
    atoms.set_constraint(FixSymmetry(atoms))
    assert BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-4, steps=200)
    assert atoms.get_volume() == pytest.approx(5.428 ** 3 / 4, rel=3e-3)
    assert np.abs(atoms.get_scaled_positions()[1] - 0.25).max() < 1e-8


def test_phonons_at_gamma(models, tmp_path):
    """ase.phonons on the primitive cell with a 2x2x2 supercell (exact at Gamma): the acoustic
    modes vanish, the optical ones are near silicon's 15-16 THz."""
    from ase.phonons import Phonons
    atoms = bulk("Si", "diamond", 5.428)
    ph = Phonons(atoms, CACECalculator(models["silicon"]), supercell=(2, 2, 2), delta=0.01,
                 name=str(tmp_path / "phonon"))
    ph.run()
    ph.read(acoustic=True)
    frequencies = ph.band_structure([[0, 0, 0]])[0] / (1e12 * units._hplanck / units._e)   # eV -> THz
    assert np.abs(frequencies[:3]).max() < 0.05
    assert 12 < frequencies[3:].min() and frequencies[3:].max() < 19, frequencies


def test_binding_overhead_on_three_atoms(models):
    """The issue's target: the binding adds under 50 us per call on a 3-atom structure. Measured
    as the median of Model.evaluate minus the median of the bare ctypes call with the same
    arrays; asserted with slack for a loaded machine (100 us)."""
    import ctypes
    from pair_cace import _library
    model = Model(models["ewald"])
    numbers = np.array([8, 1, 1])
    positions = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    z = np.ascontiguousarray(numbers, dtype=np.intc)
    forces = np.empty((3, 3))
    structure = _library.cace_structure(natoms=3, positions=positions.ctypes.data, atomic_numbers=z.ctypes.data)
    result = _library.cace_structure_result(include_e0=1, forces=forces.ctypes.data)
    lib, handle, err = model._lib, model._handle, model._err

    def bare():
        assert lib.cace_compute_structure(handle, ctypes.byref(structure), ctypes.byref(result), err, len(err)) == 0

    def binding():
        model.evaluate(numbers, positions, None, False, atom_virials=False)

    def median(call):
        for _ in range(50):
            call()
        times = []
        for _ in range(1000):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        return float(np.median(times))

    overhead = median(binding) - median(bare)
    print(f"binding overhead on 3 atoms: {overhead * 1e6:.1f} us")
    assert overhead < 100e-6
