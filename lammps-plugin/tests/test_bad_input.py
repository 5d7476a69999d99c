"""Bad input must end LAMMPS with an 'ERROR:' line that says what is wrong and a non-zero exit
status: never a crash (signal), a hang, an MPI abort without a message, or a thermo line with
inf or nan (a non-finite result reported as if it were valid). Serial and np 2."""
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import synthetic_model
from lammps_io import write_data
from lammps_run import PLUGIN, Failure, run_lammps
from structures import MASSES, Structure, fcc_crystal

NPROCS = (1, 2)
# under mpirun, every code path that can fail: settings, model loading (ranks must agree),
# type mapping, init_style, and an error inside the library call (error->one on one rank)
ALSO_MPI = {"units_real", "garbage_model", "unknown_element", "newton_off",
            "mixed_boundary_long_range", "coincident_atoms", "all_types_null", "non_finite_energy",
            "non_finite_force", "mesh_open_boundaries", "mesh_too_large", "non_finite_position",
            "atoms_too_close", "box_shrinks_below_cutoff"}


@dataclass
class Files:
    wd: Path            # the directory of the decks and of the files below
    model: Path         # the synthetic model "mp_lr"
    overflow: Path      # a model whose E0s overflow the energy
    short_range: Path   # the synthetic model "mp" (no long-range term)


def _write_inputs(wd, synthetic):
    """The data and model files the decks read; returns the Files they are named by."""
    crystal = fcc_crystal([13, 29], reps=(2, 2, 2), seed=3)
    elements = write_data(wd / "ok.data", crystal)
    assert elements == ["Al", "Cu"]
    inside = fcc_crystal([13, 29], reps=(2, 2, 2), seed=3)
    inside.positions %= np.diag(inside.cell)        # all atoms in the box: for 'boundary p p f'
    write_data(wd / "inside.data", inside)
    twin = fcc_crystal([13, 29], reps=(2, 2, 2), seed=3)
    twin.positions[1] = twin.positions[0]           # two atoms on top of each other
    write_data(wd / "coincident.data", twin)
    close = fcc_crystal([13, 29], reps=(2, 2, 2), seed=3)
    close.positions[1] = close.positions[0] + [0.03, 0.04, 0.0]    # 0.05 A apart: IDs 1 and 2
    write_data(wd / "close.data", close)
    # hybrid/overlay: two atoms of a third type (NULL for cace) on one spot give lj/cut, computed
    # first, NaN forces there, which cace must not pass on: the error names their atom ID (33, 34)
    spot = np.diag(crystal.cell) / 2 + 0.3
    nan_lj = Structure("nan_lj", np.append(crystal.numbers, [18, 18]),
                       np.vstack([crystal.positions, spot, spot]), crystal.cell)
    write_data(wd / "nan_lj.data", nan_lj, types=[1 if z == 13 else 2 if z == 29 else 3
                                                  for z in nan_lj.numbers],
               masses=[MASSES[13], MASSES[29], 39.95])
    (wd / "garbage.safetensors").write_bytes(np.random.default_rng(5).bytes(4000))
    good = synthetic("mp_lr").read_bytes()
    (wd / "truncated.safetensors").write_bytes(good[: len(good) // 2])
    (wd / "model_dir.safetensors").mkdir(exist_ok=True)
    model = synthetic("mp_lr")
    # E0 = -1e308 eV per atom: each is finite, but the energy of two or more atoms overflows to
    # -inf (with e0 yes). pair_style cace must stop instead of handing -inf to LAMMPS
    overflow = synthetic_model.write_model(wd / "e0_overflow.safetensors", [13, 29], seed=13,
                                           atomic_energies={13: -1e308, 29: -1e308})
    # a few atoms in a 160 A box: at accuracy 1e-12 the mesh would exceed the library's limit
    sparse = fcc_crystal([13, 29], reps=(1, 1, 1), seed=3)
    write_data(wd / "huge.data", Structure("huge", sparse.numbers, sparse.positions + 80.0,
                                           np.diag([160.0, 160.0, 160.0])))
    return Files(wd, model, overflow, synthetic("mp"))


def _cases(files):
    """{name: (input text, key phrase of the expected error: text or compiled regex)}. Only
    formats text: with placeholder Files it gives the case names at collection time."""
    wd, model, overflow, short_range = files.wd, files.model, files.overflow, files.short_range

    def deck(pair_coeff=f"{model} Al Cu", pair_style="", units="metal", boundary="p p p",
             data="ok.data", before="", after="run 0"):
        return (f"plugin load {PLUGIN}\nunits {units}\natom_style atomic\n{before}"
                f"boundary {boundary}\nread_data {data}\npair_style cace {pair_style}\n"
                f"pair_coeff * * {pair_coeff}\n{after}\n")

    no_ids = (f"plugin load {PLUGIN}\nunits metal\natom_style atomic\natom_modify id no\n"
              "lattice fcc 3.6\nregion box block 0 2 0 2 0 2\ncreate_box 2 box\n"
              "create_atoms 1 box\nmass * 27.0\npair_style cace\n"
              f"pair_coeff * * {model} Al Cu\nrun 0\n")
    nan_lj_deck = (f"plugin load {PLUGIN}\nunits metal\natom_style atomic\nboundary p p p\n"
                   "read_data nan_lj.data\npair_style hybrid/overlay lj/cut 3.0 cace\n"
                   "pair_coeff * * lj/cut 0.0 1.0\npair_coeff 3 3 lj/cut 0.01 2.0\n"
                   f"pair_coeff * * cace {model} Al Cu NULL\nrun 0\n")
    # cace first, then lj/cut: the two type-3 atoms on one spot get NaN forces from lj/cut after
    # cace checked its forces, so fix nve moves them to NaN positions; NaN displacements do not
    # trigger a neighbour list build, so the next step hands the NaN positions to cace
    nan_x_deck = (f"plugin load {PLUGIN}\nunits metal\natom_style atomic\nboundary p p p\n"
                  "read_data nan_lj.data\npair_style hybrid/overlay cace lj/cut 3.0\n"
                  f"pair_coeff * * cace {model} Al Cu NULL\npair_coeff * * lj/cut 0.0 1.0\n"
                  "pair_coeff 3 3 lj/cut 0.01 2.0\nthermo_style custom step atoms\n"
                  "fix 1 all nve\nrun 3\n")
    # the neighbour list is built once, then the box is compressed to half its size: beyond
    # 4/(4 + 2) of the original size, pairs that were outside the list's reach (cutoff 4 A +
    # skin 2 A) are inside the cutoff
    shrink_deck = deck(after="neigh_modify once yes\nthermo_style custom step atoms\n"
                             "fix 1 all deform 1 x scale 0.5 y scale 0.5 z scale 0.5 remap x\n"
                             "run 20")
    cases = [
        ("non_finite_position", nan_x_deck,
         re.compile(r"atom ID 3[34] (\(ghost image\) )?has a non-finite position")),
        ("atoms_too_close", deck(data="close.data"),
         re.compile(r"atoms ID [12] and ID [12]( \(ghost image\))? are 0\.05 A apart .*closer than "
                    r"the 0\.1 A")),
        ("box_shrinks_below_cutoff", shrink_deck,
         re.compile(r"the box has shrunk to 0\.6\d* of its size at the last neighbour list build "
                    r"\(step 0\).* less than the model's cutoff 4 A")),
        ("missing_model", deck(pair_coeff=f"{wd}/no/such/model.safetensors Al Cu"),
         "Cannot find CACE model file"),
        ("garbage_model", deck(pair_coeff=f"{wd}/garbage.safetensors Al Cu"),
         "Cannot load CACE model file"),
        ("truncated_model", deck(pair_coeff=f"{wd}/truncated.safetensors Al Cu"),
         "Cannot load CACE model file"),
        ("directory_as_model", deck(pair_coeff=f"{wd}/model_dir.safetensors Al Cu"),
         "is not a regular file"),
        ("unknown_element", deck(pair_coeff=f"{model} Al Fe"),
         "Element Fe is not in CACE model file"),
        ("too_many_elements", deck(pair_coeff=f"{model} Al Cu Cu"),
         "needs one element symbol (or NULL) per atom type"),
        ("too_few_elements", deck(pair_coeff=f"{model} Al"),
         "needs one element symbol (or NULL) per atom type"),
        ("units_real", deck(units="real"), "requires 'units metal'"),
        ("newton_off", deck(before="newton off\n"), "requires newton pair on"),
        ("mixed_boundary_long_range", deck(boundary="p p f", data="inside.data"),
         "mixed boundaries are not supported"),
        ("no_atom_ids", no_ids, "requires atom IDs"),
        ("unknown_keyword", deck(pair_style="fast yes"), "Unknown pair_style cace keyword"),
        ("zero_threads", deck(pair_style="threads 0"), "threads must be >= 1"),
        ("bad_precision", deck(pair_style="precision half"), "precision must be 'double' or 'single'"),
        ("coincident_atoms", deck(data="coincident.data"), "CACE evaluation failed"),
        # LAMMPS' own check would only say "Incorrect args for pair coefficients"
        ("all_types_null", deck(pair_coeff=f"{model} NULL NULL"),
         "at least one atom type must map to an element of the model (model elements: Al Cu)"),
        ("non_finite_force", nan_lj_deck,
         re.compile(r"non-finite force .* on atom ID 3[34]\b|force on .* not finite", re.I)),
        # the plugin says "non-finite energy"; a check in the library may stop it first
        ("non_finite_energy", deck(pair_coeff=f"{overflow} Al Cu", pair_style="e0 yes"),
         re.compile(r"non-?finite.*energy|energy.*(non-?finite|not finite)", re.I)),
        # the long-range keywords (issue 15); the accuracy range and the mesh size limit are the
        # library's checks, passed on with the keyword that was given
        ("long_range_unknown_method", deck(pair_style="long_range fast"),
         "long_range must be 'direct', 'mesh' or 'auto', got 'fast'"),
        ("accuracy_out_of_range", deck(pair_style="long_range mesh accuracy 0.5"),
         "pair_style cace long_range mesh accuracy 0.5:"),
        ("accuracy_not_a_number", deck(pair_style="long_range mesh accuracy tight"),
         "Expected floating point parameter"),
        ("mesh_open_boundaries", deck(pair_style="long_range mesh", boundary="f f f",
                                      data="inside.data"),
         "needs a box periodic in all three directions"),
        ("mesh_without_long_range", deck(pair_coeff=f"{short_range} Al Cu",
                                         pair_style="long_range mesh"),
         "pair_style cace long_range mesh:"),
        ("mesh_too_large", deck(pair_style="long_range mesh accuracy 1e-12", data="huge.data"),
         "would need a mesh of"),
        ("pin_no_with_mesh", deck(pair_style="long_range mesh pin no"),
         "pin no needs long_range direct"),
    ]
    return {name: (text, phrase) for name, text, phrase in cases}


CASE_NAMES = list(_cases(Files(Path("WD"), Path("MODEL"), Path("OVERFLOW"), Path("SR"))))
PARAMS = [pytest.param(name, n, id=f"{name}-np{n}")
          for name in CASE_NAMES for n in (NPROCS if name in ALSO_MPI else NPROCS[:1])]


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory, synthetic):
    """The input files of all bad-input decks, in one directory."""
    return _write_inputs(tmp_path_factory.mktemp("bad_input"), synthetic)


def _matches(phrase, line):
    """phrase: a text the line must contain, or a compiled regular expression."""
    return bool(phrase.search(line)) if isinstance(phrase, re.Pattern) else phrase in line


def non_finite_thermo_lines(run):
    """Lines of numbers only (thermo output) with an inf or nan among them."""
    bad = []
    for line in (run.output + "\n" + run.log).splitlines():
        words = line.split()
        try:
            values = [float(w) for w in words]
        except ValueError:
            continue
        if len(values) >= 2 and not all(math.isfinite(v) for v in values):
            bad.append(line.strip())
    return bad


@pytest.mark.parametrize("name, n", PARAMS)
def test_errors(bad_input, name, n):
    text, phrase = _cases(bad_input)[name]
    run = run_lammps(bad_input.wd, text, nprocs=n, name=f"in.{name}.{n}", timeout=120,
                     check=False)
    errors = run.errors()
    non_finite = non_finite_thermo_lines(run)
    if run.timed_out:
        problem = f"hung: no exit within {run.seconds:.0f} s"
    elif run.signalled:
        problem = f"crashed (exit status {run.returncode}): {run.summary()}"
    elif run.returncode == 0:
        problem = "LAMMPS exited with status 0"
    elif not errors:
        problem = f"no ERROR line (exit status {run.returncode}): {run.summary()}"
    elif not any(_matches(phrase, e) for e in errors):
        problem = f"ERROR line lacks '{getattr(phrase, 'pattern', phrase)}': {errors[0]}"
    elif non_finite:
        problem = f"printed a non-finite result before the error: {non_finite[0]}"
    else:
        problem = None
    if problem:
        raise Failure(problem)


@pytest.mark.parametrize("n", NPROCS, ids=lambda n: f"np{n}")
def test_compressed_box_with_rebuilds_runs(tmp_path, synthetic, n):
    """The box_shrinks_below_cutoff deck with LAMMPS's default neighbour checks: the list is
    rebuilt as the box shrinks, and the check of the reach does not fire."""
    crystal = fcc_crystal([13, 29], reps=(2, 2, 2), seed=3)
    write_data(tmp_path / "ok.data", crystal)
    text = (f"plugin load {PLUGIN}\nunits metal\natom_style atomic\nboundary p p p\n"
            f"read_data ok.data\npair_style cace\npair_coeff * * {synthetic('mp')} Al Cu\n"
            "fix 1 all deform 1 x scale 0.5 y scale 0.5 z scale 0.5 remap x\nrun 20\n")
    run_lammps(tmp_path, text, nprocs=n, name=f"in.shrink.{n}", timeout=120)


@pytest.mark.parametrize("n", NPROCS, ids=lambda n: f"np{n}")
def test_valid_deck_runs(tmp_path, synthetic, n):
    """The decks above differ from a working input only by the one mistake."""
    wd = tmp_path
    crystal = fcc_crystal([13, 29], reps=(2, 2, 2), seed=3)
    write_data(wd / "ok.data", crystal)
    text = (f"plugin load {PLUGIN}\nunits metal\natom_style atomic\nboundary p p p\n"
            f"read_data ok.data\npair_style cace threads 2\n"
            f"pair_coeff * * {synthetic('mp_lr')} Al Cu\nrun 0\n")
    run_lammps(wd, text, nprocs=n, name=f"in.ok.{n}", timeout=120)
