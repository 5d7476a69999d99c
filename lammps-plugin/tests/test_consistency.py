"""Checks that need no reference data, on the synthetic models: the sums LAMMPS' force-style
harness checks (pe/atom, stress/atom, centroid/stress/atom against the global energy and
virial), and the same numbers for every domain decomposition and with 'threads 2', with and
without message passing and long range, periodic (triclinic) and open. One test per model,
boundary and decomposition; the four runs of a model and boundary are shared."""
import pytest

from compare import Checks
from lammps_io import evaluate, write_data
from lammps_run import preamble
from structures import Structure, synthetic_crystal

REL = 1e-11
CASES = [("mp_lr", "p p p"), ("mp_lr", "f f f"), ("mp", "p p p"), ("sr", "p p p")]
RUNS = [("np=1", 1, ""), ("np=3", 3, ""), ("np=4", 4, ""), ("threads=2", 1, "threads 2")]


def _runs(wd, model, boundary):
    """{label: (RESULT entry, dump frame)} for every decomposition of RUNS."""
    s = synthetic_crystal()
    if boundary != "p p p":
        s = Structure("cluster", s.numbers, s.positions, None)
    elements = write_data(wd / "s.data", s)
    runs = {}
    for label, n, args in RUNS:
        setup = preamble("s.data", model, elements, boundary, pair_args=args)
        runs[label] = evaluate(wd, label.replace("=", ""), setup, nprocs=n)
    return runs


@pytest.mark.parametrize("label", [label for label, _, _ in RUNS],
                         ids=lambda label: label.replace("=", ""))
@pytest.mark.parametrize("kind, boundary", CASES,
                         ids=[f"{k}-{b.replace(' ', '')}" for k, b in CASES])
def test_decompositions(tmp_path_factory, synthetic, shared, kind, boundary, label):
    def compute():
        name = f"consistency_{kind}_{'periodic' if boundary == 'p p p' else 'open'}"
        return _runs(tmp_path_factory.mktemp(name), synthetic(kind), boundary)

    runs = shared.once((kind, boundary), compute)
    run = runs[label]
    c = Checks()
    c.per_atom_sums(*run)
    c.that(abs(run[0]["pe"]) > 1e-3, "energy is zero: vacuous")
    if label != "np=1":
        c.same_evaluation(f"{label} vs serial", run, runs["np=1"], REL, 1e-12)
    c.done()
