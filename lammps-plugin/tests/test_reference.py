"""LAMMPS `run 0` against the upstream float64 references in ../shared/reference: energy,
forces, virial and per-atom energies; sums of pe/atom, stress/atom and centroid/stress/atom
against the global energy and virial. Periodic structures serially, on 2, 3 and 4 MPI ranks
and with 'threads 2' (triclinic cells rotated to LAMMPS' restricted form, the reference forces
and virial rotated with them); open structures in a large box (boundary f f f serially and on
2 ranks; s s s, which needs an nsq neighbour list for boxes this small, on 4 ranks, some of
them without atoms). All structures of one setting run in one LAMMPS process, separated by
'clear'. One test per structure and setting; the LAMMPS run of a setting is shared."""
import numpy as np
import pytest

from compare import Checks
from lammps_io import (measure_block, read_dump, read_results, virial_of, forces_of,
                       write_data)
from lammps_run import REFERENCE, Failure, preamble, run_lammps
from structures import load_reference, restricted_triclinic, voigt

PERIODIC = ["small_periodic", "triclinic", "alloy_bulk",
            "liquid64_frame0", "liquid64_rattled", "liquid64_triclinic"]
OPEN = ["isolated_atom", "dimer_mid", "dimer_near_cutoff", "cluster5",
        "water_monomer", "water_dimer"]

# tolerances (relative to the largest reference component, plus an absolute floor for values
# that are zero or tiny, e.g. dimer_near_cutoff forces of 1e-88 with the mollifier cutoff)
E_REL, E_ABS = 1e-9, 1e-12
F_REL, F_ABS = 1e-8, 1e-10
W_REL, W_ABS = 1e-8, 1e-10


def reference_labels(refdir, names):
    """["case/structure"] for every case directory with a model file and a structure of
    `names` (read when the tests are collected)."""
    if not refdir.is_dir():
        return []
    return [f"{case.name}/{name}"
            for case in sorted(p for p in refdir.iterdir() if (p / "model.safetensors").exists())
            for name in names if (case / f"{name}.json").exists()]


def reference_items(refdir, names):
    """[(label, structure in LAMMPS orientation, model file)] for every case that has them."""
    items = []
    for label in reference_labels(refdir, names):
        case, name = label.split("/")
        s, _ = restricted_triclinic(load_reference(refdir / case / f"{name}.json"))
        items.append((label, s, refdir / case / "model.safetensors"))
    return items


def evaluate_group(wd, items, nprocs, boundary, extra=""):
    """Runs `run 0` for every item in one LAMMPS process. Returns ({label: (result, dump)},
    why-missing text for labels without results)."""
    text = ""
    for k, (label, s, model) in enumerate(items):
        elements = write_data(wd / f"s{k}.data", s)
        text += preamble(f"s{k}.data", model, elements, boundary=boundary, clear=True) + extra
        text += measure_block(label, dump=f"s{k}.dump")
    run = run_lammps(wd, text, nprocs=nprocs, name=f"in.np{nprocs}", timeout=300, check=False)
    results = read_results(wd / "results.txt")
    out = {}
    for k, (label, s, model) in enumerate(items):
        if label in results and (wd / f"s{k}.dump").exists():
            out[label] = (results[label], read_dump(wd / f"s{k}.dump"))
    return out, run.summary() if run.returncode or run.timed_out else "no output"


def check_structure(s, result, frame):
    c = Checks()
    ref = s.ref
    pe = result["pe"]
    c.close("energy", pe, ref["energy"], E_REL, E_ABS)
    ids = frame["id"].astype(int)
    c.that(np.array_equal(ids, np.arange(1, s.natoms + 1)), "dump does not hold atoms 1..N")
    c.close("forces", forces_of(frame), ref["forces"], F_REL, F_ABS)
    w = virial_of(result)
    c.close("virial", w, voigt(ref["virial"]), W_REL, W_ABS)
    pea = frame["c_cace_pea"]
    if ref["atom_energies"] is not None:
        c.close("pe/atom", pea, ref["atom_energies"], E_REL, E_ABS)
    c.per_atom_sums(result, frame)
    return c.problems


# settings: (name, MPI ranks, boundary, extra input lines after pair_coeff)
# threads=2: pair_style re-issued after pair_coeff, with 2 worker threads in the library
PERIODIC_RUNS = ([(f"np={n}", n, "p p p", "") for n in (1, 2, 3, 4)] +
                 [("threads=2", 1, "p p p", "pair_style cace threads 2\n")])
OPEN_RUNS = [("np=1", 1, "f f f", ""), ("np=2", 2, "f f f", ""),
             ("np=4 sss", 4, "s s s", "neighbor 2.0 nsq\n")]


def _params(names, runs):
    """(label, setting) per structure and setting. Without the reference data one placeholder
    (None, None), which the `reference` fixture skips (and _compare fails if the data is
    there but holds none of `names`)."""
    labels = reference_labels(REFERENCE, names)
    if not labels:
        return [pytest.param(None, None, id="no_reference")]
    return [pytest.param(label, setting,
                         id=f"{label}-{setting[0].replace('=', '').replace(' ', '_')}")
            for label in labels for setting in runs]


def _compare(reference, shared, tmp_path_factory, names, label, setting):
    """Checks structure `label` in the run of `setting` (one LAMMPS process per setting, shared
    by all structures of `names`)."""
    if label is None:
        raise AssertionError(f"no reference structures {names} in {reference}")
    suffix, nprocs, boundary, extra = setting

    def compute():
        items = reference_items(reference, names)
        wd = tmp_path_factory.mktemp(f"reference_{suffix}".replace(" ", "_").replace("=", ""))
        out, why = evaluate_group(wd, items, nprocs, boundary, extra)
        return {lab: s for lab, s, _ in items}, out, why

    structures, out, why = shared.once((tuple(names), suffix), compute)
    if label not in out:
        raise Failure(f"no result: {why}")
    problems = check_structure(structures[label], *out[label])
    if problems:
        raise Failure("; ".join(problems))


@pytest.mark.parametrize("label, setting", _params(PERIODIC, PERIODIC_RUNS))
def test_periodic(reference, shared, tmp_path_factory, label, setting):
    _compare(reference, shared, tmp_path_factory, PERIODIC, label, setting)


@pytest.mark.parametrize("label, setting", _params(OPEN, OPEN_RUNS))
def test_open_boundaries(reference, shared, tmp_path_factory, label, setting):
    _compare(reference, shared, tmp_path_factory, OPEN, label, setting)
