"""NVE energy conservation with the trained water model (water_trained, liquid64_frame0,
192 atoms): a short CG relaxation, velocities at 300 K, 2000 steps of 0.25 fs with fix nve.

Why relax first: liquid64_frame0 has rigid O-H bonds of 1.00006 A, far from this model's
minimum. Started directly at 300 K, 35 eV of potential energy turn into heat within 30 fs and
the water runs at ~1900 K, where 0.25 fs is at the stability limit of velocity Verlet for the
O-H modes (energy errors of eV per 10 fs at 0.25 fs, shrinking as dt^2: 0.12, 0.033, 0.0088 eV
at dt/2, dt/4, dt/8), which is an integrator limit and not a test of the forces.

Measured (this machine, serial, 2000 steps): after the initial velocity-Verlet offset of
4e-5 eV/atom the total energy stays flat: max |E(t) - E(0)| = 5.3e-5 eV/atom, and the mean of
the last quarter differs from the mean of steps 100-600 by 3e-6 eV/atom. Bounds, ~4x and ~7x
those: MAX_DEVIATION and MAX_DRIFT below. Forces that are not -dE/dx (a missing term, a wrong
ghost contribution, a stale neighbour list) show up as a drift well above MAX_DRIFT.

Run time: ~55 s serially on 2 shared cores; 2 MPI ranks or 'threads 2' were slower there
(the cores were busy with other work), so the test runs serially."""
import numpy as np

from compare import Checks
from lammps_io import thermo_table, write_data
from lammps_run import preamble, run_lammps
from structures import load_reference, restricted_triclinic

STEPS, DT, NPROCS = 2000, 0.00025, 1
MAX_DEVIATION = 2e-4      # eV/atom, max |E(t) - E(0)|
MAX_DRIFT = 2e-5          # eV/atom, mean E over the last quarter - mean E over steps 100-600
MIN_EXCHANGE = 0.005      # eV/atom: range of the potential energy during the run


def test_energy_conservation(reference, tmp_path, note):
    refdir = reference
    wd = tmp_path
    s, _ = restricted_triclinic(load_reference(refdir / "water_trained" / "liquid64_frame0.json"))
    elements = write_data(wd / "water.data", s)
    run = run_lammps(wd, preamble("water.data", refdir / "water_trained" / "model.safetensors",
                                  elements) +
                     "min_style cg\nminimize 0 1e-6 100 200\nreset_timestep 0\n"
                     "velocity all create 300 12345 mom yes rot no dist gaussian\n"
                     f"timestep {DT}\nfix nve all nve\nthermo 20\n"
                     "thermo_style custom step temp pe ke etotal\n"
                     f"thermo_modify format float %.15g\nrun {STEPS}\n",
                     nprocs=NPROCS, name="in.nve", timeout=600)
    t = thermo_table(run.log)[-1]
    n = s.natoms
    c = Checks()
    c.that(len(t["Step"]) == STEPS // 20 + 1 and t["Step"][-1] == STEPS,
           f"thermo output incomplete: {len(t['Step'])} rows")
    if not c.problems:
        e, step = t["TotEng"] / n, t["Step"]
        dev = np.abs(e - e[0]).max()
        drift = e[step >= 0.75 * STEPS].mean() - e[(step >= 100) & (step <= 600)].mean()
        exchange = (t["PotEng"].max() - t["PotEng"].min()) / n
        note(f"NVE water: max |E(t)-E(0)| = {dev:.2e} eV/atom, drift {drift:+.1e} eV/atom, "
              f"PE range {exchange:.3f} eV/atom, T {t['Temp'][0]:.0f} -> {t['Temp'][-1]:.0f} K, "
              f"{run.seconds:.0f} s")
        c.that(np.all(np.isfinite(e)), "non-finite energies")
        c.that(dev < MAX_DEVIATION, f"max |E(t)-E(0)| = {dev:.3g} eV/atom "
               f"(bound {MAX_DEVIATION:g})")
        c.that(abs(drift) < MAX_DRIFT, f"energy drift {drift:.3g} eV/atom (bound {MAX_DRIFT:g})")
        c.that(exchange > MIN_EXCHANGE,
               f"the potential energy varied by only {exchange:.3g} eV/atom: the dynamics did "
               "not exercise the forces")
    c.done()

