"""The Python examples (examples/python, issue 17 item 5) run and give sensible numbers, so that
they stay working; and their Stillinger-Weber reference (examples/python/sw.py) is checked
against finite differences and, when the project's LAMMPS build is present, against LAMMPS's
`pair_style sw`. Each example runs as a user would run it (a subprocess, its default settings,
output to a temporary directory) and ends with a JSON summary line, which is checked here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ase", reason="ase is not installed (pip install ase); the examples use it")
from ase.build import bulk  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(REPO_ROOT, "examples", "python")
LMP = os.path.join(REPO_ROOT, "build", "lmp")

try:
    import matplotlib  # noqa: F401
    HAVE_MATPLOTLIB = True
except ImportError:
    HAVE_MATPLOTLIB = False
needs_matplotlib = pytest.mark.skipif(not HAVE_MATPLOTLIB, reason="matplotlib is not installed (pip install "
                                      "matplotlib): the examples plot to PNG, so they are SKIPPED")


def sw_calculator():
    sys.path.insert(0, EXAMPLES)
    try:
        from sw import StillingerWeber
    finally:
        sys.path.remove(EXAMPLES)
    return StillingerWeber()


def run_example(name, tmp_path, *options):
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), "--out", str(tmp_path), *options],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(proc.stdout)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert os.path.getsize(summary["png"]) > 10_000
    assert os.path.dirname(summary["png"]) == str(tmp_path)
    print(f"{name}: {summary['seconds']} s")
    return summary


# -- the Stillinger-Weber reference ------------------------------------------------------------------

def rattled_silicon():
    atoms = bulk("Si", "diamond", 5.431, cubic=True).repeat(2)
    atoms.set_cell(atoms.cell @ np.array([[1.01, 0.02, 0.0], [0.0, 0.99, 0.0], [0.0, 0.01, 1.0]]), scale_atoms=True)
    atoms.rattle(0.1, seed=1)
    return atoms


def test_sw_forces_and_stress_are_derivatives_of_its_energy():
    from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
    atoms = rattled_silicon()
    atoms.calc = sw_calculator()
    assert atoms.get_potential_energy() / len(atoms) == pytest.approx(-4.09, abs=0.05)
    forces = atoms.get_forces()
    assert np.abs(forces.sum(axis=0)).max() < 1e-10
    assert np.abs(calculate_numerical_forces(atoms, 1e-5) - forces).max() < 1e-7 * max(1, np.abs(forces).max())
    stress = atoms.get_stress()
    assert np.abs(calculate_numerical_stress(atoms, 1e-6) - stress).max() < 1e-8
    # diamond at SW's lattice constant: -4.3366 eV/atom (2.1683 eV x 2), no forces, no stress
    ideal = bulk("Si", "diamond", 5.431)
    ideal.calc = sw_calculator()
    assert ideal.get_potential_energy() / 2 == pytest.approx(-4.3366, abs=1e-4)
    assert np.abs(ideal.get_stress()).max() < 2e-4


def _potential_file():
    env = {}
    if os.path.exists(os.path.join(REPO_ROOT, "build", "lammps.env")):
        with open(os.path.join(REPO_ROOT, "build", "lammps.env")) as f:
            env = dict(line.strip().split("=", 1) for line in f if "=" in line)
    path = os.path.join(env.get("LAMMPS_PREFIX", ""), "share", "lammps", "potentials", "Si.sw")
    return path if os.path.exists(path) else None


@pytest.mark.skipif(not (os.access(LMP, os.X_OK) and _potential_file()),
                    reason=f"{LMP} or its Si.sw is missing (scripts/build.sh builds LAMMPS): the check of "
                           "examples/python/sw.py against LAMMPS pair_style sw is SKIPPED")
def test_sw_matches_lammps(tmp_path):
    atoms = bulk("Si", "diamond", 5.431, cubic=True).repeat(2)
    atoms.set_cell(atoms.cell * 1.01, scale_atoms=True)   # orthogonal: LAMMPS's box as it is
    atoms.rattle(0.1, seed=1)
    atoms.wrap()
    atoms.calc = sw_calculator()
    c = [float(x) for x in np.diag(atoms.cell.array)]
    lines = [f"SW check\n\n{len(atoms)} atoms\n1 atom types\n", f"0 {c[0]!r} xlo xhi", f"0 {c[1]!r} ylo yhi",
             f"0 {c[2]!r} zlo zhi", "\nMasses\n\n1 28.0855\n\nAtoms # atomic\n"]
    lines += [f"{k} 1 {p[0]:.17g} {p[1]:.17g} {p[2]:.17g}" for k, p in enumerate(atoms.positions, 1)]
    (tmp_path / "in.data").write_text("\n".join(lines) + "\n")
    (tmp_path / "in.lmp").write_text(f"""units metal
atom_style atomic
boundary p p p
read_data in.data
pair_style sw
pair_coeff * * {_potential_file()} Si
compute pv all pressure NULL virial
thermo_style custom pe c_pv[1] c_pv[2] c_pv[3] c_pv[4] c_pv[5] c_pv[6]
thermo_modify format float %.15g
run 0
write_dump all custom forces.dump id fx fy fz modify sort id format float %.17g
""")
    proc = subprocess.run([LMP, "-in", "in.lmp", "-log", "none"], cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout.splitlines()
    row = next(out[k + 1] for k, line in enumerate(out) if line.split()[:1] == ["PotEng"])
    energy, *pressure = (float(x) for x in row.split())
    forces = np.loadtxt(tmp_path / "forces.dump", skiprows=9)[:, 1:]
    stress = -np.array(pressure)[[0, 1, 2, 5, 4, 3]] / 1.602176634e6   # bar -> eV/A^3, ASE's sign and order
    assert atoms.get_potential_energy() == pytest.approx(energy, rel=1e-12, abs=1e-9)
    assert np.abs(atoms.get_forces() - forces).max() < 1e-10
    assert np.abs(atoms.get_stress() - stress).max() < 1e-9


# -- the examples ------------------------------------------------------------------------------------------

@needs_matplotlib
def test_relax_silicon(tmp_path):
    s = run_example("relax_silicon.py", tmp_path)
    for name in ("CACE", "SW"):
        assert s[name]["cell_relaxation_converged"] and s[name]["converged"], s[name]
    assert s["SW"]["a_A"] == pytest.approx(5.431, abs=1e-3)
    assert s["CACE"]["a_A"] == pytest.approx(5.428, abs=0.01)
    assert s["SW"]["E_v_unrelaxed_eV"] == pytest.approx(4.337, abs=0.01)
    assert s["SW"]["E_v_relaxed_eV"] == pytest.approx(2.835, abs=0.03)   # the inward-relaxed vacancy
    assert abs(s["CACE"]["E_v_unrelaxed_eV"] - s["SW"]["E_v_unrelaxed_eV"]) < 0.2
    assert abs(s["CACE"]["E_v_relaxed_eV"] - s["SW"]["E_v_relaxed_eV"]) < 0.5


@needs_matplotlib
def test_nvt_md(tmp_path):
    s = run_example("nvt_md.py", tmp_path)
    assert s["atoms"] == 64 and s["steps"] == 1000
    for name in ("CACE", "SW"):
        assert s[name]["mean_T_K"] == pytest.approx(1000, rel=0.15), s[name]
        assert s[name]["first_peak_A"] == pytest.approx(2.36, abs=0.1)
    assert abs(s["Epot_difference_meV_atom"]) < 10
    assert s["g_r_max_difference"] < 1.0


@needs_matplotlib
def test_phonons_silicon(tmp_path):
    s = run_example("phonons_silicon.py", tmp_path)
    for name in ("CACE", "SW"):
        gamma = s[name]["G"]
        assert np.abs(gamma[:3]).max() < 0.05                    # acoustic modes at Gamma
        assert gamma[3:] == pytest.approx([17.8] * 3, abs=0.5)  # the optical mode
    assert s["rms_difference_THz"] < 0.3 and s["max_difference_THz"] < 1.0
