"""MPI stress: 6 and 8 ranks (oversubscribed on a small machine), atoms migrating between ranks
in a hot run, a tiled (RCB) decomposition rebalanced by fix balance, a processors grid that
leaves most ranks empty followed by the balance command, and a restart written on 8 ranks read
on 6 and on 1. Energies, virials, per-atom energies and forces must equal the serial answer to
1e-10 relative, for a model without message passing (evaluated atom by atom), a message-passing
model and a message-passing model with the Ewald long-range term (synthetic models), the last one
also with 'long_range mesh' (mp_lr_mesh: the distributed mesh rebuilt by fix balance, bricks of
ranks without atoms, restarts).

Per model, one module-wide set of LAMMPS runs (shared) serves the tests:
  hot-np1, hot-np6, hot-np8  the same hot NVE run (2000 K plus a drift velocity, 40 steps):
                             np 6 on the default brick grid, np 8 with comm_style tiled and
                             fix balance rcb every 10 steps; np 8 writes a restart at the end
  restart-np6, restart-np1   that restart read on 6 ranks and serially
  slab-np1, slab-np8         a slab with 20 A of vacuum along x on 'processors 8 1 1' (5 of 8
                             ranks own no atom), run 0, 20 hot steps, then 'balance ... shift x'
"""
import numpy as np
import pytest

from compare import Checks
from lammps_io import forces_of, read_dump, read_results, thermo_table, write_data
from lammps_run import NKTV2P, PLUGIN, preamble, run_lammps
from structures import Structure, fcc_crystal, synthetic_crystal

REL = 1e-10
# atom by atom, message passing, message passing + Ewald (direct sum, and particle mesh)
MODELS = ["sr", "mp", "mp_lr", "mp_lr_mesh"]
PAIR_ARGS = {"mp_lr_mesh": "long_range mesh"}
STEPS = 40
HOT = ("velocity all create 2000 {seed} mom yes rot yes dist gaussian\n"
       "velocity all set 8.0 6.0 4.0 sum yes\n"    # Angstrom/ps: every atom drifts across ranks
       "timestep 0.001\nneighbor 0.5 bin\nneigh_modify every 1 delay 0 check yes\n"
       "fix nve all nve\n")


def _computes():
    """Computes and thermo output that _measure needs, defined once per input."""
    return ("compute cace_pea all pe/atom\n"
            "compute cace_pv all pressure NULL virial\n"
            "compute owner all property/atom proc\n"
            "thermo_style custom step pe ke etotal press c_cace_pv[*]\n"
            "thermo_modify format float %.17g\n")


def _measure(label):
    """run 0, then a RESULT line (energy, virial in eV) and a dump of forces, pe/atom and the
    owning rank of every atom."""
    w = " ".join(f"w{k} $(c_cace_pv[{k}]*vol/{NKTV2P}:%.17g)" for k in range(1, 7))
    return ("run 0\n"
            f'print "RESULT {label} step $(step) pe $(pe:%.17g) vol $(vol:%.17g) {w}" '
            "append results.txt screen no\n"
            f"write_dump all custom {label}.dump id type x y z fx fy fz c_cace_pea c_owner "
            "modify sort id format float %.17g\n")


def _slab():
    """108 Al/Cu atoms (the 3x3x3 fcc crystal) in a periodic box with 20 A of vacuum along x."""
    s = fcc_crystal([13, 29], a=3.6, reps=(3, 3, 3), rattle=0.1, seed=5, name="slab")
    cell = s.cell.copy()
    cell[0, 0] += 20.0
    return Structure("slab", s.numbers, s.positions + [10.0, 0.0, 0.0], cell)


def _runs(wd, model, pair_args=""):
    """Every LAMMPS run of one model; returns {label: (RESULT entry, dump frame)} and the logs."""
    elements = write_data(wd / "crystal.data", synthetic_crystal(seed=9))
    write_data(wd / "slab.data", _slab())
    hot = HOT.format(seed=4321) + "thermo 10\n"
    logs = {}
    # the mesh's bricks are wider than this small box's 20^3 mesh (order 12), which comm_style
    # tiled refuses (pair_cace.cpp): the mesh variant rebalances a brick layout instead
    balance = ("fix bal all balance 10 1.0 shift xyz 10 1.0\n" if "mesh" in pair_args else
               "comm_style tiled\nfix bal all balance 10 1.0 rcb\n")
    for n, extra in [(1, ""), (6, ""), (8, balance)]:
        label = f"hot-np{n}"
        text = (preamble("crystal.data", model, elements, pair_args=pair_args) + _computes() +
                hot + extra +
                f"dump start all custom 1 {label}-start.dump id c_owner\n"
                "dump_modify start sort id\nrun 0\nundump start\n" +
                f"run {STEPS}\n" + _measure(label) +
                ("write_restart hot.restart\n" if n == 8 else ""))
        logs[label] = run_lammps(wd, text, nprocs=n, name=f"in.{label}").log
    for n in (6, 1):
        label = f"restart-np{n}"
        text = (f"plugin load {PLUGIN}\nread_restart hot.restart\n"
                f"pair_style cace {pair_args}\npair_coeff * * {model} {' '.join(elements)}\n"
                + _computes() + _measure(label))
        logs[label] = run_lammps(wd, text, nprocs=n, name=f"in.{label}").log
    for n in (1, 8):
        text = (("processors 8 1 1\n" if n == 8 else "") +
                preamble("slab.data", model, elements, pair_args=pair_args) + _computes() +
                _measure(f"slab-np{n}-start") +
                HOT.format(seed=99) + "thermo 5\n" + "run 20\n" + _measure(f"slab-np{n}-hot") +
                "balance 1.0 shift x 20 1.0\n" + _measure(f"slab-np{n}-balanced"))
        logs[f"slab-np{n}"] = run_lammps(wd, text, nprocs=n, name=f"in.slab-np{n}").log
    results = read_results(wd / "results.txt")
    frames = {label: (results[label], read_dump(wd / f"{label}.dump")) for label in results}
    starts = {label: read_dump(wd / f"{label}-start.dump") for label in ("hot-np6", "hot-np8")}
    return frames, starts, logs


def _shared_runs(tmp_path_factory, synthetic, shared, kind):
    return shared.once(kind, lambda: _runs(tmp_path_factory.mktemp(f"stress_{kind}"),
                                           synthetic(kind.removesuffix("_mesh")),
                                           PAIR_ARGS.get(kind, "")))


def _owners(frame):
    return frame["c_owner"].astype(int)


def _hot_table(log):
    """The thermo rows of the 40-step run (the other blocks are run 0)."""
    return max(thermo_table(log), key=lambda t: len(t["Step"]))


@pytest.mark.parametrize("ranks", [6, 8], ids=["np6", "np8-tiled-fix-balance"])
@pytest.mark.parametrize("kind", MODELS)
def test_hot_run(tmp_path_factory, synthetic, shared, kind, ranks):
    """The hot run on 6 or 8 ranks follows the serial one: thermo energies and pressure at every
    10th step, and energy, virial, pe/atom and forces at the end; atoms changed ranks."""
    frames, starts, logs = _shared_runs(tmp_path_factory, synthetic, shared, kind)
    label = f"hot-np{ranks}"
    c = Checks()
    serial, parallel = _hot_table(logs["hot-np1"]), _hot_table(logs[label])
    c.that(list(parallel["Step"]) == list(serial["Step"]) == list(range(0, STEPS + 1, 10)),
           f"thermo steps {list(parallel['Step'])} vs serial {list(serial['Step'])}")
    if not c.problems:
        scale = np.abs(serial["PotEng"]).max() + np.abs(serial["KinEng"]).max()
        for column in ("PotEng", "KinEng", "TotEng"):
            c.close(f"{column} along the run, np {ranks} vs serial", parallel[column], serial[column],
                    REL, scale=scale)
        c.close(f"pressure along the run, np {ranks} vs serial", parallel["Press"], serial["Press"],
                REL, scale=np.abs(serial["Press"]).max())
    c.same_evaluation(f"after {STEPS} steps, np {ranks} vs serial", frames[label],
                      frames["hot-np1"], REL, 1e-12)
    start, end = _owners(starts[label]), _owners(frames[label][1])
    c.that(len(set(start)) == ranks and len(set(end)) == ranks,
           f"not every rank owned atoms: {len(set(start))} / {len(set(end))} of {ranks}")
    moved = int(np.sum(start != end))
    c.that(moved >= 10, f"only {moved} atoms changed their owning rank on np {ranks}")
    c.that(abs(serial["PotEng"][-1] - serial["PotEng"][0]) > 1e-2, "the energy hardly changed")
    if kind in PAIR_ARGS:
        c.that("CACE long range: mesh" in logs[label], f"{label} did not use the mesh")
    c.done()


@pytest.mark.parametrize("ranks", [6, 1], ids=["np8-to-np6", "np8-to-np1"])
@pytest.mark.parametrize("kind", MODELS)
def test_restart_other_rank_count(tmp_path_factory, synthetic, shared, kind, ranks):
    """A restart written on 8 ranks (tiled) and read on 6 or 1 gives the state it was written
    in: the same energy, virial, pe/atom and forces, and the serial run's too."""
    frames, _, _ = _shared_runs(tmp_path_factory, synthetic, shared, kind)
    c = Checks()
    read = frames[f"restart-np{ranks}"]
    c.that(read[0]["step"] == STEPS, f"restart did not carry the timestep: {read[0]['step']}")
    c.same_evaluation(f"restart read on np {ranks} vs written on np 8", read, frames["hot-np8"],
                      REL, 1e-12)
    c.same_evaluation(f"restart read on np {ranks} vs serial run", read, frames["hot-np1"],
                      REL, 1e-12)
    c.done()


@pytest.mark.parametrize("stage", ["start", "hot", "balanced"])
@pytest.mark.parametrize("kind", MODELS)
def test_empty_ranks_and_balance(tmp_path_factory, synthetic, shared, kind, stage):
    """'processors 8 1 1' on a slab with vacuum: most ranks own no atom (start), atoms move
    between ranks in 20 hot steps (hot), then 'balance' moves the cuts so that every rank owns
    atoms (balanced); each stage equals the serial run."""
    frames, _, _ = _shared_runs(tmp_path_factory, synthetic, shared, kind)
    parallel, serial = frames[f"slab-np8-{stage}"], frames[f"slab-np1-{stage}"]
    c = Checks()
    c.same_evaluation(f"slab {stage}, np 8 vs serial", parallel, serial, REL, 1e-12)
    c.that(abs(serial[0]["pe"]) > 1e-3, "energy is zero: vacuous")
    owners = set(_owners(parallel[1]))
    if stage == "start":
        c.that(len(owners) <= 4, f"{len(owners)} of 8 ranks own atoms: expected empty ranks")
    if stage == "balanced":
        c.that(len(owners) == 8, f"after balance only {len(owners)} of 8 ranks own atoms")
    if stage == "hot":
        before = _owners(frames["slab-np8-start"][1])
        c.that(int(np.sum(before != _owners(parallel[1]))) > 0, "no atom changed rank in the hot run")
    c.done()
