"""Short dynamics through LAMMPS: minimize, fix npt with a changing triclinic box, and MD in
which atoms migrate between MPI ranks (np 4 must follow the serial trajectory). The synthetic
model (message passing + long range) runs everywhere; the trained water model when the
reference data is present."""
import re

import numpy as np

from compare import Checks
from lammps_io import evaluate, forces_of, read_dump_frames, thermo_table, write_data
from lammps_run import Failure, preamble, run_lammps
from structures import load_reference, restricted_triclinic, synthetic_crystal

THERMO = "thermo_modify format float %.17g\n"


def _synthetic_setup(synthetic, wd):
    elements = write_data(wd / "start.data", synthetic_crystal())
    return preamble("start.data", synthetic("mp_lr"), elements)


def test_minimize(tmp_path, synthetic):
    """CG lowers the energy, and the final energy it reports is that of the final structure."""
    wd = tmp_path
    setup = _synthetic_setup(synthetic, wd)
    # the synthetic model's random weights pull atoms together without bound: by iteration 40
    # two atoms are within 0.1 A, which the library refuses (the distance floor); 10 iterations
    # lower the energy by about 7 eV
    run = run_lammps(wd, setup + "thermo 10\n" + THERMO + "min_style cg\n"
                     "minimize 0 1e-8 10 40\nwrite_data minimized.data\n", nprocs=2,
                     name="in.minimize")
    m = re.search(r"Energy initial, next-to-last, final =\s*\n\s*(\S+)\s+(\S+)\s+(\S+)", run.log)
    if not m:
        raise Failure("no 'Energy initial, next-to-last, final' in the minimize log")
    e_initial, e_final = float(m.group(1)), float(m.group(3))
    start, _ = evaluate(wd, "start", setup, nprocs=1)
    final, _ = evaluate(wd, "final", preamble("minimized.data", synthetic("mp_lr"),
                                              ["Al", "Cu"]), nprocs=1)
    c = Checks()
    c.close("minimizer's initial energy vs run 0", e_initial, start["pe"], 1e-10, 1e-10)
    c.close("minimizer's final energy vs run 0 of the written structure", e_final, final["pe"],
            1e-10, 1e-10)
    c.that(e_final < e_initial - 0.1,
           f"minimize did not lower the energy: {e_initial:.6f} -> {e_final:.6f} eV")
    c.done()


def test_npt_triclinic(tmp_path, synthetic):
    """fix npt (tri) on 2 ranks: the box changes shape and volume, and the conserved quantity
    (etotal + ecouple) stays put, which needs a virial consistent with the energy."""
    wd = tmp_path
    run = run_lammps(wd, _synthetic_setup(synthetic, wd) +
                     "velocity all create 100 4 mom yes\ntimestep 0.001\n"
                     "fix npt all npt temp 100 100 0.1 tri 0 0 0.5\nthermo 10\n"
                     "thermo_style custom step temp pe etotal ecouple econserve vol xy xz yz\n"
                     + THERMO + "run 200\n", nprocs=2, name="in.npt")
    t = thermo_table(run.log)[-1]
    c = Checks()
    c.that(len(t["Step"]) == 21, f"expected 21 thermo rows, got {len(t['Step'])}")
    dv = abs(t["Volume"][-1] / t["Volume"][0] - 1)
    c.that(dv > 0.01, f"the volume hardly changed ({dv:.2g}): the barostat did nothing")
    c.that(abs(t["Xy"][-1] - t["Xy"][0]) > 1e-3, "the xy tilt did not change")
    exchanged = np.abs(t["Ecouple"]).max()
    c.that(exchanged > 0.1, f"the barostat/thermostat exchanged only {exchanged:.3g} eV")
    # measured: |drift| <= 6e-5 eV (108 atoms) while 4 eV went through the reservoirs. The
    # virial does about 1 eV of work here (W ~ 2 eV, ln(V1/V0) ~ 0.4), so a virial wrong by 1%
    # would move econserve by ~1e-2 eV, ten times the bound
    drift = np.abs(t["Econserve"] - t["Econserve"][0]).max()
    c.that(drift < 1e-3, f"econserve drifted by {drift:.3g} eV (bound 1e-3 eV)")
    c.done()


def test_nvt(tmp_path, synthetic):
    """fix nvt (Nose-Hoover) on 2 ranks: the conserved quantity stays put while the thermostat
    exchanges energy with the system."""
    wd = tmp_path
    run = run_lammps(wd, _synthetic_setup(synthetic, wd) +
                     "velocity all create 300 5 mom yes\ntimestep 0.001\n"
                     "fix nvt all nvt temp 200 200 0.05\nthermo 10\n"
                     "thermo_style custom step temp pe etotal ecouple econserve\n"
                     + THERMO + "run 200\n", nprocs=2, name="in.nvt")
    t = thermo_table(run.log)[-1]
    c = Checks()
    c.that(len(t["Step"]) == 21, f"expected 21 thermo rows, got {len(t['Step'])}")
    exchanged = np.abs(t["Ecouple"]).max()
    drift = np.abs(t["Econserve"] - t["Econserve"][0]).max()
    c.that(exchanged > 0.01, f"the thermostat exchanged only {exchanged:.3g} eV")
    c.that(drift < 0.05 * exchanged, f"econserve drifts {drift:.3g} eV (thermostat moved {exchanged:.3g} eV)")
    c.done()


def _md_pair(wd, setup, steps, dt, thermo_every, nprocs=(1, 4)):
    """Runs the same MD serially and on more ranks; returns ({np: thermo}, {np: (first, last)
    dump frames with the owning rank of every atom})."""
    tables, frames = {}, {}
    for n in nprocs:
        run = run_lammps(wd, setup +
                         f"timestep {dt}\nneighbor 0.5 bin\n"
                         "neigh_modify every 1 delay 0 check yes\n"
                         "fix nve all nve\ncompute owner all property/atom proc\n"
                         f"thermo {thermo_every}\nthermo_style custom step pe ke etotal press\n"
                         + THERMO +
                         f"dump d all custom {steps} md{n}.dump id c_owner x y z fx fy fz\n"
                         "dump_modify d sort id format float %.17g\n"
                         f"run {steps}\n", nprocs=n, name=f"in.md{n}")
        tables[n] = thermo_table(run.log)[-1]
        builds = re.search(r"Neighbor list builds = (\d+)", run.log)
        frames[n] = read_dump_frames(wd / f"md{n}.dump")
        frames[n][-1]["builds"] = int(builds.group(1)) if builds else 0
    return tables, frames


def _check_migration(tables, frames, rel):
    c = Checks()
    (n1, nn) = sorted(tables)
    a, b = tables[n1], tables[nn]
    c.that(list(a["Step"]) == list(b["Step"]), "different thermo steps")
    if not c.problems:
        scale = np.abs(a["PotEng"]).max() + np.abs(a["KinEng"]).max()
        c.close(f"pe, np {nn} vs serial", b["PotEng"], a["PotEng"], rel, scale=scale)
        c.close(f"etotal, np {nn} vs serial", b["TotEng"], a["TotEng"], rel, scale=scale)
        c.close(f"pressure, np {nn} vs serial", b["Press"], a["Press"], rel,
                scale=np.abs(a["Press"]).max())
    first, last = frames[nn][0], frames[nn][-1]
    c.close(f"final forces, np {nn} vs serial", forces_of(last), forces_of(frames[n1][-1]),
            rel * 10)
    moved = int(np.sum(first["c_owner"] != last["c_owner"]))
    c.that(moved > 0, f"no atom changed its owning rank on np {nn}: nothing migrated")
    c.that(last["builds"] > 2, f"only {last['builds']} neighbour list builds on np {nn}")
    c.that(abs(a["PotEng"][-1] - a["PotEng"][0]) > 1e-3, "the energy did not change in the MD")
    return c


def test_migration_synthetic(tmp_path, synthetic):
    """Message passing + long range, 150 steps with a drift velocity so that atoms cross the
    rank boundaries; np 4 agrees with serial to 1e-9 relative at every thermo step."""
    wd = tmp_path
    setup = (_synthetic_setup(synthetic, wd) + "velocity all create 100 4 mom yes\n"
             "velocity all set 0.6 0.4 0.3 sum yes\n")
    tables, frames = _md_pair(wd, setup, 150, 0.001, 10)
    c = _check_migration(tables, frames, 1e-9)
    c.done()


def test_migration_water(reference, tmp_path):
    """The trained water model (long range): 120 steps of 0.5 fs, np 4 vs serial."""
    refdir = reference
    wd = tmp_path
    s, _ = restricted_triclinic(load_reference(refdir / "water_trained" / "liquid64_frame0.json"))
    elements = write_data(wd / "water.data", s)
    setup = (preamble("water.data", refdir / "water_trained" / "model.safetensors", elements) +
             "velocity all create 300 8 mom yes\nvelocity all set 1.0 0.8 0.6 sum yes\n")
    tables, frames = _md_pair(wd, setup, 120, 0.0005, 10)
    c = _check_migration(tables, frames, 1e-9)
    c.done()

