"""The committee's per-atom uncertainty through fix pair (as pair_style pace/extrapolation
exposes its gamma): a linear model fitted with `cace fit --committee K` on frames labelled by
the shipped silicon model, `fix u all pair N cace uncertainty 1` (energy spread) and
`... force_deviation 1` (force deviation, with ghost atoms folded into their owners), and the
values against `cace evaluate --uncertainty` on 1 and 2 ranks; a model without a committee is
refused."""
import json
import subprocess

import numpy as np
import pytest

from lammps_io import read_dump, write_data
from lammps_run import BUILD, ROOT, Failure, preamble, run_lammps
from structures import Structure

CACE = BUILD / "cace" if (BUILD / "cace").exists() else ROOT / ".build" / "release" / "cace"
SILICON = ROOT / "examples" / "silicon" / "silicon.safetensors"


def _diamond(seed, a=5.43, reps=2, rattle=0.08):
    base = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
                     [.25, .25, .25], [.25, .75, .75], [.75, .25, .75], [.75, .75, .25]])
    cells = np.array([[i, j, k] for i in range(reps) for j in range(reps) for k in range(reps)])
    positions = ((base[None, :, :] + cells[:, None, :]).reshape(-1, 3)) * a
    positions += np.random.default_rng(seed).normal(scale=rattle, size=positions.shape)
    return Structure(f"si{seed}", np.full(len(positions), 14), positions, np.eye(3) * a * reps)


def _xyz(structures):
    lines = []
    for s in structures:
        lines += [str(s.natoms), 'Lattice="' + " ".join(repr(float(v)) for v in s.cell.reshape(-1))
                  + '" Properties=species:S:1:pos:R:3 pbc="T T T"']
        lines += [f"Si {float(x)!r} {float(y)!r} {float(z)!r}" for x, y, z in s.positions]
    return "\n".join(lines) + "\n"


def _cace(*args):
    run = subprocess.run([str(CACE), *map(str, args)], capture_output=True, text=True)
    if run.returncode:
        raise Failure(f"cace {' '.join(map(str, args))}: {run.stderr.strip()}")
    return run.stdout


@pytest.fixture(scope="module")
def committee_model(tmp_path_factory):
    if not CACE.exists():
        pytest.skip(f"no cace CLI at {CACE} (swift build -c release --product cace)")
    wd = tmp_path_factory.mktemp("committee")
    (wd / "frames.xyz").write_text(_xyz([_diamond(seed, a=5.43 * (1 + 0.01 * (seed % 5 - 2))) for seed in range(10)]))
    (wd / "train.xyz").write_text(_cace("evaluate", SILICON, wd / "frames.xyz"))   # energies and forces
    _cace("fit", wd / "train.xyz", "--output", wd / "committee.safetensors", "--cutoff", 3.9, "--radial", 4,
          "--committee", 6, "--quiet")
    return wd / "committee.safetensors"


@pytest.mark.parametrize("n", (1, 2), ids=lambda n: f"np{n}")
def test_fix_pair_uncertainty_matches_the_cli(tmp_path, committee_model, n):
    s = _diamond(99)
    write_data(tmp_path / "si.data", s)
    (tmp_path / "si.xyz").write_text(_xyz([s]))
    expected = np.array(json.loads(_cace("evaluate", committee_model, tmp_path / "si.xyz", "--uncertainty",
                                         "--format", "json"))[0]["atom_energy_sigma"])
    deck = (preamble("si.data", committee_model, ["Si"]) +
            "fix u all pair 1 cace uncertainty 1\n"
            "compute umax all reduce max f_u\n"
            "thermo_style custom step pe c_umax\n"
            "dump d all custom 1 dump.u id f_u\ndump_modify d sort id format float %.17g\n"
            "run 0\n")
    run_lammps(tmp_path, deck, nprocs=n, name=f"in.u.{n}", timeout=180)
    got = read_dump(tmp_path / "dump.u")["f_u"]
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-10, atol=0):
        raise Failure(f"np {n}: fix pair uncertainty differs from cace evaluate --uncertainty: "
                      f"max |diff| {np.abs(got - expected).max() if got.shape == expected.shape else got.shape}")
    if not np.all(got > 0):
        raise Failure("every atom has a spread")


@pytest.mark.parametrize("n", (1, 2, 3), ids=lambda n: f"np{n}")
def test_fix_pair_force_deviation_matches_the_cli(tmp_path, committee_model, n):
    s = _diamond(98)
    write_data(tmp_path / "si.data", s)
    (tmp_path / "si.xyz").write_text(_xyz([s]))
    reference = json.loads(_cace("evaluate", committee_model, tmp_path / "si.xyz", "--uncertainty", "--format", "json"))[0]
    # both columns in one fix; the force deviation only on the steps fix pair asks (every 2nd)
    deck = (preamble("si.data", committee_model, ["Si"]) +
            "fix u all pair 2 cace uncertainty 1 force_deviation 1\n"
            "dump d all custom 2 dump.u id f_u[1] f_u[2]\ndump_modify d sort id format float %.17g\n"
            "run 0\n")
    run_lammps(tmp_path, deck, nprocs=n, name=f"in.fd.{n}", timeout=180)
    dump = read_dump(tmp_path / "dump.u")
    for column, key in (("f_u[1]", "atom_energy_sigma"), ("f_u[2]", "force_deviation")):
        got, expected = dump[column], np.array(reference[key])
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-10, atol=1e-14):
            raise Failure(f"np {n}: fix pair {column} differs from cace evaluate --uncertainty {key}: "
                          f"max |diff| {np.abs(got - expected).max() if got.shape == expected.shape else got.shape}")
    if not np.all(dump["f_u[2]"] > 0):
        raise Failure("every atom has a force deviation")


def test_fix_pair_force_deviation_during_md(tmp_path, committee_model):
    """After 20 MD steps on 2 ranks (atoms moved, neighbour lists rebuilt, ghosts changed), the
    last triggered step's columns equal cace evaluate --uncertainty at the dumped positions."""
    s = _diamond(97)
    write_data(tmp_path / "si.data", s)
    deck = (preamble("si.data", committee_model, ["Si"]) +
            "mass 1 28.0855\nvelocity all create 1500 5 loop geom\ntimestep 0.001\n"
            "neighbor 0.5 bin\nneigh_modify every 1 delay 0 check yes\nfix nve all nve\n"
            "fix u all pair 10 cace uncertainty 1 force_deviation 1\n"
            "dump d all custom 10 dump.md id x y z f_u[1] f_u[2]\ndump_modify d sort id format float %.17g\n"
            "run 20\n")
    run_lammps(tmp_path, deck, nprocs=2, name="in.md", timeout=300)
    last = read_dump(tmp_path / "dump.md")
    if last["timestep"] != 20:
        raise Failure(f"expected the dump of step 20, got step {last['timestep']}")
    moved = Structure("md", s.numbers, np.column_stack([last["x"], last["y"], last["z"]]), s.cell)
    if np.abs(moved.positions - s.positions).max() < 1e-3:
        raise Failure("the atoms did not move")
    (tmp_path / "md.xyz").write_text(_xyz([moved]))
    reference = json.loads(_cace("evaluate", committee_model, tmp_path / "md.xyz", "--uncertainty", "--format", "json"))[0]
    for column, key in (("f_u[1]", "atom_energy_sigma"), ("f_u[2]", "force_deviation")):
        got, expected = last[column], np.array(reference[key])
        if not np.allclose(got, expected, rtol=1e-9, atol=1e-14):
            raise Failure(f"after MD: fix pair {column} differs from cace evaluate --uncertainty {key}: "
                          f"max |diff| {np.abs(got - expected).max()}")


def test_fix_pair_uncertainty_needs_a_committee(tmp_path):
    write_data(tmp_path / "si.data", _diamond(3))
    for name in ("uncertainty", "force_deviation"):
        deck = preamble("si.data", SILICON, ["Si"]) + f"fix u all pair 1 cace {name} 1\nrun 0\n"
        run = run_lammps(tmp_path, deck, name=f"in.none.{name}", timeout=120, check=False)
        if run.returncode == 0 or "has no committee" not in run.output or f"'{name}'" not in run.output:
            raise Failure(f"{name}: expected the error 'the model has no committee', got: {run.output[-400:]}")
