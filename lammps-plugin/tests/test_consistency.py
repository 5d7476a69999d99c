"""Checks that need no reference data, on the synthetic models: the sums LAMMPS' force-style
harness checks (pe/atom, stress/atom, centroid/stress/atom against the global energy and
virial), and the same numbers for every domain decomposition and with 'threads 2', with and
without message passing and long range, periodic (triclinic) and open."""
from compare import Checks
from lammps_io import evaluate, write_data
from lammps_run import preamble
from structures import Structure, synthetic_crystal

REL = 1e-11
CASES = [("mp_lr", "p p p"), ("mp_lr", "f f f"), ("mp", "p p p"), ("sr", "p p p")]


def test_decompositions(ctx):
    results = []
    for kind, boundary in CASES:
        open_boundaries = boundary != "p p p"
        wd = ctx.workdir(f"consistency_{kind}_{'open' if open_boundaries else 'periodic'}")
        s = synthetic_crystal()
        if open_boundaries:
            s = Structure("cluster", s.numbers, s.positions, None)
        elements = write_data(wd / "s.data", s)
        model = ctx.synthetic(kind)
        runs = {}
        for label, n, args in [("np=1", 1, ""), ("np=3", 3, ""), ("np=4", 4, ""),
                               ("threads=2", 1, "threads 2")]:
            setup = preamble("s.data", model, elements, boundary, pair_args=args)
            runs[label] = evaluate(wd, label.replace("=", ""), setup, nprocs=n)
        for label, run in runs.items():
            c = Checks()
            c.per_atom_sums(*run)
            c.that(abs(run[0]["pe"]) > 1e-3, "energy is zero: vacuous")
            if label != "np=1":
                c.same_evaluation(f"{label} vs serial", run, runs["np=1"], REL, 1e-12)
            results.append((f"{kind} {boundary.replace(' ', '')} {label}",
                            "; ".join(c.problems) or None))
    return results


TESTS = [test_decompositions]
