"""The canonical basis in LAMMPS (model-format §9: symmetrizer.self_interaction false, format
version 2): a synthetic model without message passing, made canonical by editing its metadata
(as `cace convert --basis canonical` does), on 1-4 ranks and with 'threads 2' must give the
serial energy, virial, per-atom energies and forces; the per-atom sums must hold; its energy must
differ from the self-interacting model's (the corrections are not vacuous); and a canonical
model with message passing must be refused at pair_coeff with a clear ERROR."""
import json
import struct

import pytest

import synthetic_model
from compare import Checks
from lammps_io import evaluate, write_data
from lammps_run import preamble, run_lammps
from structures import synthetic_crystal

REL = 1e-10
RUNS = [("np=1", 1, ""), ("np=2", 2, ""), ("np=3", 3, ""), ("np=4", 4, ""), ("threads=2", 1, "threads 2")]


def canonical_bytes(data, self_interaction=False):
    """The model file `data` with format_version 2 and symmetrizer.self_interaction set."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["cace"])
    meta["format_version"] = 2
    meta["symmetrizer"]["self_interaction"] = self_interaction
    header["__metadata__"]["cace"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    wd = tmp_path_factory.mktemp("canonical_models")
    plain = synthetic_model.model_bytes([13, 29], seed=21, max_nu=3)
    paths = {"self": wd / "self.safetensors", "canonical": wd / "canonical.safetensors",
             "canonical_mp": wd / "canonical_mp.safetensors"}
    paths["self"].write_bytes(plain)
    paths["canonical"].write_bytes(canonical_bytes(plain))
    paths["canonical_mp"].write_bytes(canonical_bytes(synthetic_model.model_bytes([13, 29], seed=22, layers=1)))
    return paths


def _runs(wd, model):
    elements = write_data(wd / "s.data", synthetic_crystal())
    return {label: evaluate(wd, label.replace("=", ""), preamble("s.data", model, elements, pair_args=args), nprocs=n)
            for label, n, args in RUNS}


@pytest.mark.parametrize("label", [label for label, _, _ in RUNS], ids=lambda label: label.replace("=", ""))
def test_canonical_decompositions(tmp_path_factory, shared, models, label):
    runs = shared.once("canonical", lambda: _runs(tmp_path_factory.mktemp("canonical"), models["canonical"]))
    run = runs[label]
    c = Checks()
    c.per_atom_sums(*run)
    c.that(abs(run[0]["pe"]) > 1e-3, "energy is zero: vacuous")
    if label != "np=1":
        c.same_evaluation(f"{label} vs serial", run, runs["np=1"], REL, 1e-12)
    c.done()


def test_canonical_differs_from_self_interacting(tmp_path, models):
    elements = write_data(tmp_path / "s.data", synthetic_crystal())
    canonical = evaluate(tmp_path, "canonical", preamble("s.data", models["canonical"], elements))[0]
    plain = evaluate(tmp_path, "self", preamble("s.data", models["self"], elements))[0]
    assert abs(canonical["pe"] - plain["pe"]) > 1e-3 * max(1.0, abs(plain["pe"])), (canonical["pe"], plain["pe"])


def test_canonical_with_message_passing_is_refused(tmp_path, models):
    elements = write_data(tmp_path / "s.data", synthetic_crystal())
    run = run_lammps(tmp_path, preamble("s.data", models["canonical_mp"], elements) + "run 0\n", check=False)
    assert run.returncode != 0 and not run.signalled, run.summary()
    assert any("without message passing" in e for e in run.errors()), run.errors()
