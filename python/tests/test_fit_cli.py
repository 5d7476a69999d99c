"""What `cace fit` gives Python users. Uncertainty from a committee: a model fitted with
`cace fit --committee K`, its spread through the calculator against `cace evaluate
--uncertainty` (the same library code reached two ways), and the calculator of a model without a
committee. Parity plots (`--parity-plot`, drawn by `python -m pair_cace.parity`). Needs the CLI
(`.build/release/cace`); skipped with a reason when it is absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ase = pytest.importorskip("ase", reason="ase is not installed (pip install ase); the calculator needs it")
from ase.build import bulk  # noqa: E402
from ase.calculators.calculator import PropertyNotImplementedError  # noqa: E402
from ase.io import write  # noqa: E402

from pair_cace import CACECalculator, CACEError  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SILICON = os.path.join(REPO_ROOT, "examples", "silicon", "silicon.safetensors")
CACE_BINARY = os.environ.get("CACE_BINARY") or os.path.join(REPO_ROOT, ".build", "release", "cace")
pytestmark = pytest.mark.skipif(not os.access(CACE_BINARY, os.X_OK),
                                reason=f"no cace CLI at {CACE_BINARY}: run `swift build -c release --product cace`")


def _frames(count, seed):
    """Rattled, strained diamond-Si cells labelled by the shipped model."""
    rng = np.random.default_rng(seed)
    calc = CACECalculator(SILICON)
    frames = []
    for k in range(count):
        atoms = bulk("Si", "diamond", a=5.43 * (1 + 0.01 * (k % 5 - 2)), cubic=True)
        atoms.rattle(0.08, seed=int(rng.integers(1 << 30)))
        atoms.calc = calc
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = None
        atoms.info["energy"] = energy
        atoms.arrays["forces"] = forces
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def committee_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("committee")
    train, test = directory / "train.xyz", directory / "test.xyz"
    write(train, _frames(12, 1), format="extxyz")
    write(test, _frames(3, 2), format="extxyz")
    model = directory / "si-committee.safetensors"
    subprocess.run([CACE_BINARY, "fit", str(train), "--validation", str(test), "--output", str(model), "--cutoff", "3.9",
                    "--radial", "4", "--committee", "8", "--quiet"], check=True, capture_output=True, text=True)
    return model, test


def test_calculator_spread_matches_the_cli(committee_model):
    model, test = committee_model
    cli = subprocess.run([CACE_BINARY, "evaluate", str(model), str(test), "--uncertainty", "--format", "json"],
                         check=True, capture_output=True, text=True)
    expected = json.loads(cli.stdout)
    calc = CACECalculator(model)
    assert "energies_uncertainty" in calc.implemented_properties
    for atoms, reference in zip(ase.io.read(test, index=":"), expected):
        atoms.calc = calc
        sigma = calc.get_property("energy_uncertainty", atoms)
        assert sigma > 0
        assert sigma == pytest.approx(reference["energy_sigma"], rel=1e-12)
        np.testing.assert_allclose(calc.get_property("energies_uncertainty", atoms), reference["atom_energy_sigma"],
                                   rtol=1e-12)
        deviation = calc.get_property("forces_deviation", atoms)
        assert deviation.shape == (len(atoms),) and np.all(deviation > 0)
        np.testing.assert_allclose(deviation, reference["force_deviation"], rtol=1e-12)
        # The energy is the posterior mean's, as without the committee.
        assert atoms.get_potential_energy() == pytest.approx(reference["energy"], rel=1e-12)


def test_models_without_a_committee(committee_model):
    calc = CACECalculator(SILICON)
    assert "energy_uncertainty" not in calc.implemented_properties
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.calc = calc
    with pytest.raises(PropertyNotImplementedError):
        calc.get_property("energy_uncertainty", atoms)
    with pytest.raises(CACEError, match="no committee"):
        calc.model.committee_spread(atoms.numbers, atoms.positions, cell=np.asarray(atoms.cell), pbc=True)
    cli = subprocess.run([CACE_BINARY, "evaluate", SILICON, str(committee_model[1]), "--uncertainty"],
                         capture_output=True, text=True)
    assert cli.returncode != 0 and "has none" in cli.stderr


def test_parity_plot(committee_model, tmp_path):
    model, test = committee_model
    train = test.parent / "train.xyz"
    png, predictions = tmp_path / "parity.png", tmp_path / "predictions.json"
    run = subprocess.run([CACE_BINARY, "fit", str(train), "--validation", str(test), "--output", str(tmp_path / "m.safetensors"),
                          "--cutoff", "3.9", "--radial", "4", "--quiet", "--predictions", str(predictions),
                          "--parity-plot", str(png)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(predictions.read_text())
    assert len(data["training"]) == 12 and len(data["validation"]) == 3
    frame = data["validation"][0]
    assert len(frame["forces"]) == len(frame["forces_predicted"]) == 3 * frame["atoms"]
    # The predictions are the fit's: close to the references (the shipped model labelled them).
    reference, predicted = np.array(frame["forces"]), np.array(frame["forces_predicted"])
    assert np.sqrt(np.mean((reference - predicted) ** 2)) < 0.5 * np.sqrt(np.mean(reference ** 2))
    # A broken predictions file gives a one-line error, not a traceback.
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    bad = subprocess.run([sys.executable, "-m", "pair_cace.parity", str(broken), str(tmp_path / "x.png")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("pair_cace.parity: error:") and "Traceback" not in bad.stderr


def _fit_report(args):
    run = subprocess.run([CACE_BINARY, "fit", *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _error_tables(report):
    return report[report.index("training errors:"):]


def test_config_file(committee_model, tmp_path):
    """A JSON config gives the same fit as the same options on the command line; relative paths
    are relative to the file; command-line options override it."""
    train = committee_model[0].parent / "train.xyz"
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / "train.xyz").write_bytes(train.read_bytes())
    config = directory / "fit.json"
    config.write_text(json.dumps({"training": "train.xyz", "output": "m.safetensors", "cutoff": 3.9, "radial": 4,
                                  "max-l": 1, "solver": "cholesky", "lambda": 1e-8, "config-weight": {"default": 2},
                                  "quiet": True}))
    from_file = _fit_report(["--config", str(config)])
    assert (directory / "m.safetensors").exists()
    assert "solver cholesky, lambda 1.000e-08" in from_file and "L 1," in from_file
    from_cli = _fit_report([str(train), "--output", str(tmp_path / "cli.safetensors"), "--cutoff", "3.9", "--radial", "4",
                            "--max-l", "1", "--solver", "cholesky", "--lambda", "1e-8", "--config-weight", "default=2",
                            "--quiet"])
    assert _error_tables(from_file) == _error_tables(from_cli)
    # the command line overrides the file
    override = _fit_report(["--config", str(config), "--radial", "3", "--output", str(tmp_path / "o.safetensors")])
    assert "3 Bessel" in override and (tmp_path / "o.safetensors").exists()


@pytest.mark.parametrize("content, message", [
    ('{"training": "t.xyz", "cutof": 3.9}', "unknown key 'cutof'"),
    ('{"training": "t.xyz", "cutoff": "3.9"}', "'cutoff' must be a number"),
    ('{"training": "t.xyz", "radial": 4.5}', "'radial' must be a whole number >= 0, got 4.5"),
    ('{"training": "t.xyz", "solver": "lu"}', "'solver' must be one of"),
    ('{"training": "t.xyz", "config-weight": {"liquid": "x"}}', "'config-weight.liquid' must be a number"),
    ('[1, 2]', "one JSON object"),
    ('{"training": ', "one JSON object"),
])
def test_bad_config_files(tmp_path, content, message):
    config = tmp_path / "fit.json"
    config.write_text(content)
    run = subprocess.run([CACE_BINARY, "fit", "--config", str(config), "--output", str(tmp_path / "m.safetensors"),
                          "--cutoff", "3.9"], capture_output=True, text=True)
    assert run.returncode != 0
    assert message in run.stderr and "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    missing = subprocess.run([CACE_BINARY, "fit", "--output", str(tmp_path / "m.safetensors"), "--cutoff", "3.9"],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "no training data" in missing.stderr
