"""The long-range term in LAMMPS (issue 15): pair_style cace long_range direct|mesh|auto, the
k-set pinned at the start of each run, and the distributed particle mesh (LAMMPS's Grid3d for the
ghost points of each rank's brick, Remap and FFT3d of the KSPACE package for the 3-D FFT).

  test_mesh_vs_direct     1536-atom water (orthogonal and triclinic, trained model): run 0 with
                          long_range mesh at the default accuracy against long_range direct;
                          the long-range forces are direct minus the same model without its
                          long-range term
  test_auto_choice        auto takes the direct sum for the 192-atom reference frame, the mesh
                          for 1536 atoms, and says so in the log
  test_rank_invariance    np 2, 3, 4 and np 8 on 'processors 2 2 2' (every axis split) against
                          np 1 to 1e-10 relative: energy, virial, forces, pe/atom; orthogonal
                          and triclinic boxes; synthetic model (always) and water (reference)
  test_hybrid_overlay     hybrid/overlay cace + zero equals cace alone (setup() reaches the
                          sub-style: the k-set is pinned and the mesh built)
  test_restart            an NVE run with the mesh, restarted on another rank count, follows the
                          uninterrupted run
  test_npt_conservation   fix npt (Nose-Hoover) on 1536-atom water with the long-range model,
                          the box shrinking through a change of the unpinned k-set: the
                          extended energy (econserve) is conserved
  test_box_scan           the box scaled in 120 steps inside one run (fix deform, remap x):
                          pinned k-sets (direct and mesh) give a smooth energy and pressure,
                          and the pressure is -dE/dV; with 'pin no' (upstream's k-set per force
                          call) the scan shows the jumps of upstream issue #43
The bad-input cases of the long_range keywords are in test_bad_input.py; test_mpi_stress.py
runs the mesh through migration, fix balance (tiled), restarts and empty ranks."""
import json
import re
import struct

import numpy as np
import pytest

from compare import Checks
from lammps_io import evaluate, forces_of, thermo_table, virial_of, write_data
from lammps_run import NKTV2P, PLUGIN, preamble, run_lammps
from structures import (fcc_crystal, load_reference, replicate, restricted_triclinic,
                        synthetic_crystal)

REL = 1e-10                   # rank invariance (issue 15: 1e-10 relative)
MESH_FORCE_REL = 1e-5         # RMS(mesh - direct) / RMS(long-range force), default accuracy
MESH_ENERGY_REL = 1e-8        # |E_mesh - E_direct| / |E_direct|
PLAN = re.compile(r"CACE long range: (mesh (\d+)x(\d+)x(\d+), B-spline order (\d+)|direct sum)")


# ---- systems ------------------------------------------------------------------------------

def water(refdir, name="liquid64_frame0", reps=(2, 2, 2)):
    """The 192-atom reference water frame (restricted-triclinic orientation), replicated."""
    s, _ = restricted_triclinic(load_reference(refdir / "water_trained" / f"{name}.json"))
    return replicate(s, reps) if reps != (1, 1, 1) else s


def without_long_range(model, path):
    """Writes the model file `model` without its long-range term (the same short-range model,
    energy = SR_energy): the tensors are untouched, only the metadata changes."""
    raw = model.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = json.loads(header["__metadata__"]["cace"])
    short_range = meta["feature_add"][0]["feature_keys"][0]
    meta["ewald"] = None
    meta["feature_add"] = []
    meta["energy_key"] = short_range
    meta["forces"]["energy_key"] = short_range
    header["__metadata__"]["cace"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])
    return path


def plans(log):
    """The 'CACE long range:' lines of a log, as ('direct', None) or ('mesh', (K1, K2, K3, p))."""
    out = []
    for m in PLAN.finditer(log):
        if m.group(1) == "direct sum":
            out.append(("direct", None))
        else:
            out.append(("mesh", tuple(int(m.group(k)) for k in range(2, 6))))
    return out


def rms(a):
    return float(np.sqrt(np.mean(np.sum(np.asarray(a) ** 2, axis=-1))))


# ---- mesh against direct ------------------------------------------------------------------

@pytest.mark.parametrize("frame", ["liquid64_frame0", "liquid64_triclinic"],
                         ids=["orthogonal", "triclinic"])
def test_mesh_vs_direct(reference, tmp_path, note, frame):
    wd = tmp_path
    model = reference / "water_trained" / "model.safetensors"
    s = water(reference, frame)
    elements = write_data(wd / "water.data", s)
    short = without_long_range(model, wd / "water_sr_part.safetensors")
    runs, logs = {}, {}
    for name, m, args in [("direct", model, "long_range direct"), ("mesh", model, "long_range mesh"),
                          ("sr", short, "")]:
        runs[name] = evaluate(wd, name, preamble("water.data", m, elements, pair_args=args),
                              nprocs=2)
        logs[name] = (wd / f"log.in.{name}").read_text()
    (rd, fd), (rm, fm), (rs, fs) = runs["direct"], runs["mesh"], runs["sr"]
    f_direct, f_mesh, f_lr = forces_of(fd), forces_of(fm), forces_of(fd) - forces_of(fs)
    e_lr = rd["pe"] - rs["pe"]
    w_lr = virial_of(rd) - virial_of(rs)
    err_f = rms(f_mesh - f_direct)
    err_e = abs(rm["pe"] - rd["pe"])
    err_w = float(np.abs(virial_of(rm) - virial_of(rd)).max())
    mesh_plan = plans(logs["mesh"])
    note(f"mesh vs direct, water {s.natoms} atoms ({frame}), {mesh_plan}: RMS force error "
         f"{err_f / rms(f_lr):.2e} of the RMS long-range force ({rms(f_lr):.3g} eV/A), "
         f"{err_f / rms(f_direct):.2e} of the RMS total force; energy {err_e / abs(rd['pe']):.2e} "
         f"of E ({err_e / abs(e_lr):.2e} of E_lr = {e_lr:.4g} eV); virial "
         f"{err_w / np.abs(w_lr).max():.2e} of the long-range virial")
    c = Checks()
    c.that(plans(logs["direct"]) == [("direct", None)], f"direct run's plan: {plans(logs['direct'])}")
    c.that(len(mesh_plan) == 1 and mesh_plan[0][0] == "mesh", f"mesh run's plan: {mesh_plan}")
    c.that(rms(f_lr) > 1e-3, f"the long-range forces are tiny ({rms(f_lr):.3g}): vacuous")
    c.that(err_f <= MESH_FORCE_REL * rms(f_lr),
           f"RMS force error {err_f:.3g} > {MESH_FORCE_REL:g} x RMS long-range force {rms(f_lr):.3g}")
    c.that(err_e <= MESH_ENERGY_REL * abs(rd["pe"]),
           f"energy error {err_e:.3g} eV > {MESH_ENERGY_REL:g} x |E| = {abs(rd['pe']):.4g} eV")
    c.that(err_w <= 1e-4 * np.abs(w_lr).max(),
           f"virial error {err_w:.3g} eV > 1e-4 x the long-range virial {np.abs(w_lr).max():.3g}")
    c.done()


def test_auto_choice(reference, tmp_path):
    """auto: the direct sum for the 192-atom frame (as upstream, bit for bit: test_reference.py),
    the mesh for 1536 atoms; one log line each."""
    wd = tmp_path
    model = reference / "water_trained" / "model.safetensors"
    text = ""
    for k, reps in enumerate([(1, 1, 1), (2, 2, 2)]):
        elements = write_data(wd / f"w{k}.data", water(reference, reps=reps))
        text += preamble(f"w{k}.data", model, elements, clear=k > 0) + "run 0\n"
    run = run_lammps(wd, text, nprocs=1, name="in.auto")
    got = [p[0] for p in plans(run.log)]
    c = Checks()
    c.that(got == ["direct", "mesh"], f"auto chose {got} for 192 and 1536 atoms "
           "(expected direct, then mesh)")
    c.done()


# ---- rank invariance ------------------------------------------------------------------------

RANKS = [(2, ""), (3, ""), (4, ""), (8, "processors 2 2 2\n")]
RANK_IDS = ["np2", "np3", "np4", "np8-2x2x2"]


def _with_processors(text, processors):
    return text.replace("read_data", processors + "read_data", 1) if processors else text


def _rank_runs(wd, setup_text):
    """run 0 of one system on 1, 2, 3, 4 and 8 (2x2x2) ranks: {label: (result, dump)}, logs."""
    out, logs = {}, {}
    for n, processors in [(1, "")] + RANKS:
        label = f"np{n}"
        out[label] = evaluate(wd, label, _with_processors(setup_text, processors), nprocs=n)
        logs[label] = (wd / f"log.in.{label}").read_text()
    return out, logs


def _synthetic_system(wd, synthetic, triclinic):
    """256 rattled Al/Cu atoms (fcc 4x4x4, 14.4 A) with the message-passing + Ewald synthetic
    model, forced onto the mesh."""
    s = (synthetic_crystal(seed=21, reps=(4, 4, 4)) if triclinic else
         fcc_crystal([13, 29], a=3.6, reps=(4, 4, 4), rattle=0.1, seed=21, name="fcc_orthogonal"))
    elements = write_data(wd / "system.data", s)
    return preamble("system.data", synthetic("mp_lr"), elements, pair_args="long_range mesh")


def _water_system(wd, reference, triclinic):
    """1536 water atoms with the trained model and the default long_range auto (the mesh)."""
    s = water(reference, "liquid64_triclinic" if triclinic else "liquid64_frame0")
    elements = write_data(wd / "system.data", s)
    return preamble("system.data", reference / "water_trained" / "model.safetensors", elements)


@pytest.mark.parametrize("ranks", range(len(RANKS)), ids=RANK_IDS)
@pytest.mark.parametrize("system", ["synthetic-orthogonal", "synthetic-triclinic",
                                    "water-orthogonal", "water-triclinic"])
def test_rank_invariance(request, tmp_path_factory, synthetic, shared, system, ranks):
    kind, geometry = system.split("-")
    triclinic = geometry == "triclinic"

    def compute():
        wd = tmp_path_factory.mktemp(f"ranks_{system}")
        if kind == "water":
            setup_text = _water_system(wd, request.getfixturevalue("reference"), triclinic)
        else:
            setup_text = _synthetic_system(wd, synthetic, triclinic)
        return _rank_runs(wd, setup_text)

    if kind == "water":
        request.getfixturevalue("reference")    # skip (visibly) without the reference data
    runs, logs = shared.once(system, compute)
    n, _ = RANKS[ranks]
    label = f"np{n}"
    c = Checks()
    c.that(all(p[0] == "mesh" for p in plans(logs[label])) and plans(logs[label]),
           f"{label} did not use the mesh: {plans(logs[label])}")
    c.that(plans(logs[label]) == plans(logs["np1"]),
           f"{label} chose another plan than np 1: {plans(logs[label])} vs {plans(logs['np1'])}")
    c.same_evaluation(f"{system}, {RANK_IDS[ranks]} vs np 1", runs[label], runs["np1"], REL, 1e-13)
    c.done()


# ---- hybrid/overlay, restart ----------------------------------------------------------------

def test_hybrid_overlay(tmp_path, synthetic):
    wd = tmp_path
    elements = write_data(wd / "system.data", synthetic_crystal(seed=21, reps=(4, 4, 4)))
    model = synthetic("mp_lr")
    alone = evaluate(wd, "alone", preamble("system.data", model, elements,
                                           pair_args="long_range mesh"), nprocs=2)
    hybrid_text = preamble("system.data", model, elements).replace(
        "pair_style cace \n", "pair_style hybrid/overlay cace long_range mesh zero 3.0\n").replace(
        f"pair_coeff * * {model}", f"pair_coeff * * zero\npair_coeff * * cace {model}")
    assert "hybrid/overlay" in hybrid_text
    hybrid = evaluate(wd, "hybrid", hybrid_text, nprocs=2)
    c = Checks()
    c.that([p[0] for p in plans((wd / "log.in.hybrid").read_text())] == ["mesh"],
           "the hybrid run did not pin the k-set and build the mesh once")
    c.same_evaluation("hybrid/overlay cace + zero vs cace alone (mesh)", hybrid, alone, 1e-12,
                      1e-13)
    c.done()


def test_restart(tmp_path, synthetic):
    """NVE with the mesh: 'run 10' + write_restart + 'run 10' on 2 ranks, and the restart read
    on 3 ranks followed by 'run 10': the same state at step 20."""
    wd = tmp_path
    elements = write_data(wd / "system.data", synthetic_crystal(seed=21, reps=(4, 4, 4)))
    model = synthetic("mp_lr")
    md = ("velocity all create 300 77 mom yes dist gaussian\ntimestep 0.001\n"
          "fix nve all nve\nthermo 5\n")
    # the state at step 20 is measured by 'run 0' after the runs (per-atom energies are tallied
    # there; the mesh is built again for it, from the same box)
    through = evaluate(wd, "through", preamble("system.data", model, elements,
                                               pair_args="long_range mesh") + md +
                       "run 10\nwrite_restart md.restart\nrun 10\n", nprocs=2)
    restarted = evaluate(wd, "restarted", f"plugin load {PLUGIN}\nread_restart md.restart\n"
                         f"pair_style cace long_range mesh\npair_coeff * * {model} Al Cu\n"
                         "fix nve all nve\nthermo 5\nrun 10\n", nprocs=3)
    c = Checks()
    c.that(through[0]["step"] == restarted[0]["step"] == 20,
           f"steps {through[0]['step']} and {restarted[0]['step']}, expected 20")
    c.same_evaluation("restarted (np 2 -> np 3) vs uninterrupted, step 20", restarted, through,
                      REL, 1e-12)
    c.that([p[0] for p in plans((wd / "log.in.restarted").read_text())] == ["mesh", "mesh"],
           "the restarted runs did not build the mesh")
    c.done()


# ---- NPT conservation and the box scan --------------------------------------------------------

NPT_STEPS, NPT_DT = 400, 0.00025
NPT_MAX_DRIFT = 1e-5          # eV/atom: mean econserve over the last quarter - over steps 20-120
NPT_MAX_DEVIATION = 4e-5      # eV/atom: max |econserve(t) - econserve(0)|


def test_npt_conservation(reference, tmp_path, note):
    """fix npt (Nose-Hoover, iso, 10 kbar) on 1536 water atoms with the long-range model (auto:
    the mesh): the 192-atom frame relaxed (see test_nve.py: it is far from this model's minimum)
    and replicated 2x2x2, 200 steps of NVT from 600 K, then 400 steps of NPT during which the
    box shrinks through L = 24.66 A, where the k-set of the unpinned method changes (the 69 meV
    jump of test_box_scan); the extended energy econserve = pe + ke + ecouple stays put.

    Measured (2 ranks, this machine, under load: ~15 min; ~1 min idle): pinned mesh, drift
    3.4e-6 eV/atom, max deviation 1.45e-5 eV/atom (velocity-Verlet fluctuations of +-20 meV);
    the same run with 'long_range direct pin no' gives -1.3e-6 / 1.6e-5: in a thermalised box
    the jump at that crossing is ~14 meV, below the fluctuations, while in the coherent box of
    test_box_scan it is 69 meV (4.5e-5 eV/atom, over both bounds). With Pdamp = 0.1 ps the box
    swings by 12 % in 0.1 ps and econserve drifts by 4e-4 eV/atom for every method, also for
    the model without its long-range term and at half the timestep: a property of such a fast
    barostat, not of the long-range term, so Pdamp is 1 ps (4000 steps, as LAMMPS advises)."""
    wd = tmp_path
    frame = water(reference, reps=(1, 1, 1))
    elements = write_data(wd / "water.data", frame)
    model = reference / "water_trained" / "model.safetensors"
    run = run_lammps(wd, preamble("water.data", model, elements) +
                     "min_style cg\nminimize 0 1e-6 100 200\nreplicate 2 2 2\nreset_timestep 0\n"
                     "velocity all create 600 4711 mom yes rot yes dist gaussian\n"
                     f"timestep {NPT_DT}\nfix nvt all nvt temp 300 300 0.025\nthermo 50\nrun 200\n"
                     "unfix nvt\nreset_timestep 0\n"
                     "fix npt all npt temp 300 300 0.05 iso 10000.0 10000.0 1.0\n"
                     "thermo 10\nthermo_style custom step temp pe ke press vol ecouple econserve\n"
                     f"thermo_modify format float %.15g\nrun {NPT_STEPS}\n",
                     nprocs=2, name="in.npt", timeout=1800)
    t = thermo_table(run.log)[-1]
    n = 8 * frame.natoms
    c = Checks()
    c.that(len(t["Step"]) == NPT_STEPS // 10 + 1, f"thermo output incomplete: {len(t['Step'])} rows")
    if not c.problems:
        e, step = t["Econserve"] / n, t["Step"]
        deviation = np.abs(e - e[0]).max()
        drift = e[step >= 0.75 * NPT_STEPS].mean() - e[(step >= 20) & (step <= 120)].mean()
        lengths = t["Volume"] ** (1 / 3)
        exchanged = np.abs(t["Ecouple"]).max() / n
        note(f"NPT water {n} atoms, {NPT_STEPS} x {NPT_DT * 1000:g} fs on 2 ranks: econserve drift "
             f"{drift:+.1e} eV/atom, max deviation {deviation:.1e} eV/atom, L {lengths.max():.3f} -> "
             f"{lengths.min():.3f} A, |ecouple| up to {exchanged:.1e} eV/atom, {plans(run.log)[-1]}, "
             f"{run.seconds:.0f} s")
        c.that(plans(run.log)[-1][0] == "mesh", f"the NPT run did not use the mesh: {plans(run.log)}")
        c.that(lengths.min() < 24.66, f"the box only shrank to L = {lengths.min():.3f} A: it did not "
               "cross the change of the unpinned k-set at 24.66 A")
        c.that(exchanged > 10 * NPT_MAX_DRIFT, f"the reservoirs exchanged only {exchanged:.2g} eV/atom")
        c.that(abs(drift) < NPT_MAX_DRIFT, f"econserve drifted by {drift:.3g} eV/atom "
               f"(bound {NPT_MAX_DRIFT:g})")
        c.that(deviation < NPT_MAX_DEVIATION, f"econserve deviated by {deviation:.3g} eV/atom "
               f"(bound {NPT_MAX_DEVIATION:g})")
    c.done()


# Measured (1536 water atoms, 120 steps, Lx 24.830 -> 24.458 A): pinned, direct and mesh alike,
# max |3rd difference| 1.7e-6 eV (pe) and 0.004 bar (pressure); unpinned 0.14 eV and 73 bar,
# from one change of the k-set inside the scan (a jump of 69 meV in pe and 36.5 bar in pressure)
SCAN_STEPS, SCAN_SCALE = 120, 0.985
SCAN_SMOOTH_E = 2e-5          # eV: max |third difference of pe| along a smooth scan
SCAN_SMOOTH_P = 0.1           # bar: max |third difference of the pressure|


def _scan(wd, reference, label, pair_args):
    """pe and pressure at every step while fix deform scales the box by SCAN_SCALE along x, y
    and z within one run; atoms keep their fractional coordinates (remap x, no integrator)."""
    s = water(reference)
    elements = write_data(wd / f"{label}.data", s)
    run = run_lammps(wd, preamble(f"{label}.data", reference / "water_trained" / "model.safetensors",
                                  elements, pair_args=pair_args) +
                     f"fix scan all deform 1 x scale {SCAN_SCALE} y scale {SCAN_SCALE} "
                     f"z scale {SCAN_SCALE} remap x\n"
                     "thermo 1\nthermo_style custom step lx pe press\n"
                     f"thermo_modify format float %.17g\nrun {SCAN_STEPS}\n",
                     nprocs=2, name=f"in.{label}", timeout=600)
    # fix deform changes the box at the end of a step, after the forces: the energy and virial of
    # step n belong to the box printed at step n - 1, while thermo divides the virial by the
    # volume printed at step n. So step 1 repeats step 0, and the scan proper is steps 1 ... N
    # with the box of steps 0 ... N-1 and the pressure scaled by V(n) / V(n-1).
    t = thermo_table(run.log)[-1]
    volume = t["Lx"] ** 3
    return {"Step": t["Step"][1:], "Lx": t["Lx"][:-1], "V": volume[:-1], "PotEng": t["PotEng"][1:],
            "Press": t["Press"][1:] * volume[1:] / volume[:-1]}, run


def test_box_scan(reference, tmp_path_factory, shared, note):
    def compute():
        wd = tmp_path_factory.mktemp("scan")
        return {label: _scan(wd, reference, label, args) for label, args in
                [("unpinned", "long_range direct pin no"), ("direct", "long_range direct"),
                 ("mesh", "long_range mesh")]}

    scans = shared.once("scan", compute)
    c = Checks()
    third = {}
    for label, (t, _) in scans.items():
        c.that(len(t["Step"]) == SCAN_STEPS, f"{label}: {len(t['Step']) + 1} thermo rows")
        third[label] = (np.abs(np.diff(t["PotEng"], 3)).max(), np.abs(np.diff(t["Press"], 3)).max())
    if c.problems:
        c.done()
    # the jumps of the unpinned scan: its energy minus the pinned one changes in steps
    jumps = np.abs(np.diff(scans["unpinned"][0]["PotEng"] - scans["direct"][0]["PotEng"]))
    pjumps = np.abs(np.diff(scans["unpinned"][0]["Press"] - scans["direct"][0]["Press"]))
    lx = scans["direct"][0]["Lx"]
    note(f"box scan, water 1536 atoms, Lx {lx[0]:.3f} -> {lx[-1]:.3f} A in {SCAN_STEPS} steps: "
         "max |3rd difference| of pe / pressure: " +
         ", ".join(f"{k} {e:.2e} eV / {p:.2e} bar" for k, (e, p) in third.items()) +
         f"; unpinned - pinned direct: {int(np.sum(jumps > 1e-3))} jump(s) > 1 meV, largest "
         f"{jumps.max() * 1000:.2f} meV, pressure {pjumps.max():.3g} bar")
    for label in ("direct", "mesh"):
        # the pressure is -dE/dV along the scan (the virial is the derivative of the energy of
        # the pinned k-set, including the k-vectors' dependence on the box): a polynomial
        # through E(V), differentiated, against the pressure (no kinetic part: no velocities)
        t = scans[label][0]
        x = (t["V"] - t["V"].mean()) / t["V"].std()
        poly = np.polynomial.polynomial
        fit = poly.polyfit(x, t["PotEng"], 8)
        dedv = poly.polyval(x, poly.polyder(fit)) / t["V"].std()
        p = -t["Press"] / NKTV2P
        mismatch = float((np.abs(dedv - p) / np.abs(p))[5:-5].max())
        c.that(mismatch < 1e-5, f"{label} (pinned): pressure differs from -dE/dV by {mismatch:.3g} "
               "relative along the scan")
        note(f"box scan, {label} pinned: max |P + dE/dV| / |P| = {mismatch:.1e}")
        e, p = third[label]
        c.that(e < SCAN_SMOOTH_E, f"{label} (pinned): pe not smooth along the scan, max |3rd "
               f"difference| {e:.3g} eV (bound {SCAN_SMOOTH_E:g})")
        c.that(p < SCAN_SMOOTH_P, f"{label} (pinned): pressure not smooth along the scan, max "
               f"|3rd difference| {p:.3g} bar (bound {SCAN_SMOOTH_P:g})")
    # the check must be able to see issue #43: the unpinned scan fails it
    c.that(third["unpinned"][0] > 10 * SCAN_SMOOTH_E,
           f"the unpinned scan looks smooth too (max |3rd difference| {third['unpinned'][0]:.3g} "
           "eV): the scan does not cross a change of the k-set, so it tests nothing")
    c.done()
