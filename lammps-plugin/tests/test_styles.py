"""pair_style cace together with LAMMPS' type and atom handling: NULL types under
pair_style hybrid/overlay (energy, forces and virial are the sum of the parts, and the cace part
equals a cace run without the NULL atoms), several atom types mapped to one element,
delete_atoms followed by a run, and the e0 keyword. Synthetic message-passing + long-range
model; hybrid and delete_atoms also with open boundaries (the long-range term is then a direct
sum over atom IDs, and these leave gaps in the IDs)."""
import numpy as np
import pytest

from compare import Checks
from lammps_io import evaluate, forces_of, virial_of, write_data
from lammps_run import PLUGIN, preamble
from structures import MASSES, Structure, synthetic_crystal

REL = 1e-12


def _crystal(open_boundaries):
    s = synthetic_crystal()
    return Structure("cluster", s.numbers, s.positions, None) if open_boundaries else s


def _system_lines(data, boundary="p p p"):
    return (f"plugin load {PLUGIN}\nunits metal\natom_style atomic\natom_modify map array\n"
            f"boundary {boundary}\nread_data {data}\n")


BOUNDARIES = pytest.mark.parametrize("open_boundaries", [False, True],
                                     ids=["periodic", "open"])


@BOUNDARIES
def test_hybrid_overlay_null(tmp_path, synthetic, open_boundaries):
    """Types 1 Al, 2 Cu (cace) and 3 (NULL for cace: an LJ 'solute', 12 atoms); lj/cut acts
    between type 3 and all types."""
    wd = tmp_path
    boundary = "f f f" if open_boundaries else "p p p"
    model = synthetic("mp_lr")
    s = _crystal(open_boundaries)
    types = np.where(s.numbers == 13, 1, 2)
    solute = np.random.default_rng(1).choice(s.natoms, 12, replace=False)
    types[solute] = 3
    masses = [MASSES[13], MASSES[29], 39.95]
    write_data(wd / "all.data", s, types=types, masses=masses)
    keep = np.setdiff1d(np.arange(s.natoms), solute)
    # atoms renumbered 1..96: the cace part of the hybrid run must not depend on the IDs
    write_data(wd / "cace_only.data", Structure("cace_only", s.numbers[keep], s.positions[keep],
                                                s.cell), types=types[keep], masses=masses[:2])
    lj = "pair_coeff * * {0} 0.0 1.0\npair_coeff 1*3 3 {0} 0.02 2.6\n"
    hybrid = evaluate(wd, "hybrid", _system_lines("all.data", boundary) +
                      "pair_style hybrid/overlay cace lj/cut 6.0\n"
                      f"pair_coeff * * cace {model} Al Cu NULL\n" + lj.format("lj/cut") +
                      "compute ecace all pair cace\ncompute elj all pair lj/cut\n",
                      nprocs=2, thermo_extra="c_ecace c_elj",
                      after='print "PARTS $(c_ecace:%.17g) $(c_elj:%.17g)" file parts.txt\n')
    only_lj = evaluate(wd, "lj", _system_lines("all.data", boundary) + "pair_style lj/cut 6.0\n" +
                       lj.format(""), nprocs=1)
    only_cace = evaluate(wd, "cace", _system_lines("cace_only.data", boundary) +
                         f"pair_style cace\npair_coeff * * {model} Al Cu\n", nprocs=1)
    e_cace, e_lj = (float(v) for v in (wd / "parts.txt").read_text().split()[1:3])

    c = Checks()
    (rh, fh), (rl, fl), (rc, fc) = hybrid, only_lj, only_cace
    c.close("hybrid energy - (cace part + lj part)", rh["pe"], e_cace + e_lj, REL, 1e-12,
            scale=abs(e_cace) + abs(e_lj))
    c.close("cace part of hybrid vs cace without the NULL atoms", e_cace, rc["pe"], REL, 1e-12)
    c.close("lj part of hybrid vs lj/cut alone", e_lj, rl["pe"], REL, 1e-12)
    c.that(abs(e_lj) > 1e-3, f"the lj/cut part is negligible ({e_lj:g} eV): vacuous check")
    c.close("hybrid energy - (cace alone + lj alone)", rh["pe"], rc["pe"] + rl["pe"], REL, 1e-12)
    c.close("hybrid virial - (cace + lj)", virial_of(rh), virial_of(rc) + virial_of(rl), REL,
            1e-12)
    f_sum = forces_of(fl)    # ids 1..N in order
    ids_c = keep[fc["id"].astype(int) - 1]      # row in the full system
    f_sum[ids_c] += forces_of(fc)
    c.close("hybrid forces - (cace + lj)", forces_of(fh), f_sum, REL, 1e-12)
    pe_sum = fl["c_cace_pea"].copy()
    pe_sum[ids_c] += fc["c_cace_pea"]
    c.close("hybrid pe/atom - (cace + lj)", fh["c_cace_pea"], pe_sum, REL, 1e-12)
    c.done()


def test_types_sharing_an_element(tmp_path, synthetic):
    """Types 1 Al, 2 Cu, 3 Cu, 4 Al must give exactly the two-type result."""
    wd = tmp_path
    model = synthetic("mp_lr")
    s = synthetic_crystal()
    elements = write_data(wd / "two.data", s)
    types = np.where(s.numbers == 13, 1, 2)
    flip = np.random.default_rng(2).random(s.natoms) < 0.5
    types[flip & (types == 2)] = 3
    types[flip & (types == 1)] = 4
    write_data(wd / "four.data", s, types=types,
               masses=[MASSES[13], MASSES[29], MASSES[29], MASSES[13]])
    two = evaluate(wd, "two", preamble("two.data", model, elements), nprocs=1)
    four = evaluate(wd, "four", preamble("four.data", model, ["Al", "Cu", "Cu", "Al"]), nprocs=2)
    c = Checks()
    c.that(len(set(types)) == 4, "not all four types are used")
    c.same_evaluation("4 types (Al Cu Cu Al) vs 2 types", four, two, REL)
    c.done()


def test_nofdotr(tmp_path, synthetic):
    """pair_modify nofdotr must not change the virial (the style computes it from its edges)."""
    wd = tmp_path
    model = synthetic("mp_lr")
    elements = write_data(wd / "start.data", synthetic_crystal())
    plain = evaluate(wd, "plain", preamble("start.data", model, elements), nprocs=1)
    nofdotr = evaluate(wd, "nofdotr", preamble("start.data", model, elements) + "pair_modify nofdotr\n",
                       nprocs=2)
    c = Checks()
    c.same_evaluation("pair_modify nofdotr vs default", nofdotr, plain, REL)
    c.done()


@BOUNDARIES
def test_delete_atoms(tmp_path, synthetic, open_boundaries):
    """delete_atoms between runs (np 2) gives the energy of the smaller system (serial), and
    dynamics continue afterwards."""
    wd = tmp_path
    boundary = "f f f" if open_boundaries else "p p p"
    model = synthetic("mp_lr")
    s = _crystal(open_boundaries)
    elements = write_data(wd / "full.data", s)
    gone = np.array([3, 17, 40, 41, 90, 104])
    keep = np.setdiff1d(np.arange(1, s.natoms + 1), gone)
    sub = Structure("smaller", s.numbers[keep - 1], s.positions[keep - 1], s.cell)
    types = np.where(sub.numbers == 13, 1, 2)
    # renumbered 1..N, while delete_atoms ... compress no leaves gaps in the IDs
    write_data(wd / "smaller.data", sub, types=types, masses=[MASSES[13], MASSES[29]])
    ids = " ".join(str(i) for i in gone)
    deleted = evaluate(wd, "deleted", preamble("full.data", model, elements, boundary) +
                       f"run 0\ngroup gone id {ids}\ndelete_atoms group gone compress no\n",
                       nprocs=2,
                       after="velocity all create 100 5 mom yes loop geom\nfix nve all nve\n"
                             "timestep 0.001\nrun 20\n"
                             'print "NATOMS $(atoms)" file natoms.txt\n')
    smaller = evaluate(wd, "smaller", preamble("smaller.data", model, elements, boundary),
                       nprocs=1)
    smaller[1]["id"] = keep[smaller[1]["id"].astype(int) - 1].astype(float)    # original IDs
    c = Checks()
    c.same_evaluation("after delete_atoms vs smaller data file", deleted, smaller, REL)
    c.that((wd / "natoms.txt").read_text().split()[1] == str(len(keep)),
           "atom count after the run is wrong")
    c.done()


def test_e0_keyword(tmp_path, synthetic):
    """e0 yes adds the model file's per-element E0s to the energy and pe/atom (forces and
    virial unchanged); e0 no leaves them out; the default is e0 yes (pair_cace.rst)."""
    wd = tmp_path
    model = synthetic("mp_e0")
    s = synthetic_crystal()
    elements = write_data(wd / "s.data", s)
    e0 = np.where(s.numbers == 13, -1.25, -3.5)
    runs = {k: evaluate(wd, k, preamble("s.data", model, elements, pair_args=args), nprocs=n)
            for k, args, n in [("yes", "e0 yes", 2), ("no", "e0 no", 1), ("default", "", 1)]}
    (ry, fy), (rn, fn) = runs["yes"], runs["no"]
    c = Checks()
    c.close("E(e0 yes) - E(e0 no) - sum of E0", ry["pe"] - rn["pe"], e0.sum(), REL, 1e-10,
            scale=abs(e0.sum()))
    c.close("pe/atom(e0 yes) - pe/atom(e0 no) - E0", fy["c_cace_pea"] - fn["c_cace_pea"], e0,
            REL, 1e-10)
    c.close("forces, e0 yes vs no", forces_of(fy), forces_of(fn), REL, 1e-12)
    c.same_evaluation("default vs e0 yes", runs["default"], runs["yes"], REL)
    c.done()


@pytest.mark.parametrize("kind", ["sr", "mp", "mp_lr"])
def test_precision_single(tmp_path, synthetic, kind):
    """precision single gives forces within 1e-4 of double, on 1 and 2 ranks, and is not
    bit-identical to double (pair_cace.rst): atom by atom (sr), with message passing (mp, whose
    exchanged features travel as Float rows packed into LAMMPS' double buffers), and with the long-range term (mp_lr)."""
    wd = tmp_path
    model = synthetic(kind)
    s = synthetic_crystal()
    elements = write_data(wd / "s.data", s)
    runs = {k: evaluate(wd, k, preamble("s.data", model, elements, pair_args=args), nprocs=n)
            for k, args, n in [("double", "precision double", 1), ("single", "precision single", 1),
                               ("single_np2", "precision single threads 2", 2)]}
    (rd, fd), (rs, fs) = runs["double"], runs["single"]
    scale = np.abs(forces_of(fd)).max()
    c = Checks()
    c.close("energy, single vs double", rs["pe"], rd["pe"], 1e-5)
    c.close("forces, single vs double", forces_of(fs), forces_of(fd), 0.0, 1e-4 * scale)
    c.close("virial, single vs double", virial_of(rs), virial_of(rd), 1e-4, 1e-4 * np.abs(virial_of(rd)).max())
    c.close("forces, single on 2 ranks x 2 threads vs 1 rank", forces_of(runs["single_np2"][1]), forces_of(fs),
            0.0, 1e-4 * scale)
    if np.array_equal(forces_of(fs), forces_of(fd)):
        c.problems.append("precision single gave the double-precision forces bit for bit: the keyword had no effect")
    c.done()

