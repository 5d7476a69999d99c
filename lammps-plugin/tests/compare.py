"""Numerical comparisons that collect every problem of a test into one FAIL message."""
import numpy as np

from lammps_io import forces_of
from lammps_run import NKTV2P, Failure

SUM_REL, SUM_ABS = 1e-10, 1e-10     # LAMMPS-internal sums (pe/atom, stress/atom)


class Checks:
    def __init__(self):
        self.problems = []

    def close(self, what, got, want, rel, abs_tol=0.0, scale=None):
        """max|got - want| <= rel * scale + abs_tol, scale = max|want| unless given."""
        got = np.asarray(got, dtype=float)
        want = np.asarray(want, dtype=float)
        if got.shape != want.shape:
            self.problems.append(f"{what}: shape {got.shape} != {want.shape}")
            return
        if scale is None:
            scale = float(np.abs(want).max()) if want.size else 0.0
        tol = rel * scale + abs_tol
        err = float(np.abs(got - want).max()) if got.size else 0.0
        if not np.all(np.isfinite(got)) or not err <= tol:
            self.problems.append(f"{what} off by {err:.3g} (tolerance {tol:.3g})")

    def same_evaluation(self, what, a, b, rel=1e-12, abs_tol=1e-12, atom_energies=True):
        """Two (RESULT entry, dump frame) pairs of the same atoms (matched by atom ID) agree:
        energy, virial, forces and, unless atom_energies is False, pe/atom."""
        (ra, fa), (rb, fb) = a, b
        ia, ib = fa["id"].astype(int), fb["id"].astype(int)
        if sorted(ia) != sorted(ib):
            self.problems.append(f"{what}: different atom IDs ({len(ia)} vs {len(ib)} atoms)")
            return
        oa, ob = np.argsort(ia), np.argsort(ib)
        self.close(f"{what}: energy", ra["pe"], rb["pe"], rel, abs_tol)
        wa = np.array([ra[f"w{k}"] for k in range(1, 7)])
        wb = np.array([rb[f"w{k}"] for k in range(1, 7)])
        self.close(f"{what}: virial", wa, wb, rel, abs_tol)
        self.close(f"{what}: forces", forces_of(fa)[oa], forces_of(fb)[ob], rel, abs_tol)
        if atom_energies:
            self.close(f"{what}: pe/atom", fa["c_cace_pea"][oa], fb["c_cace_pea"][ob], rel, abs_tol,
                       scale=np.abs(fb["c_cace_pea"]).max())

    def per_atom_sums(self, result, frame):
        """What LAMMPS' force-style tests check: sum of pe/atom = pe; sums of stress/atom and
        centroid/stress/atom (minus the per-atom virials, in pressure*volume) = the virial."""
        w = np.array([result[f"w{k}"] for k in range(1, 7)])
        pea = frame["c_cace_pea"]
        self.close("sum of pe/atom - pe", pea.sum(), result["pe"], SUM_REL, SUM_ABS,
                   scale=np.abs(pea).sum())
        sa = -np.array([frame[f"c_cace_sa[{k}]"].sum() for k in range(1, 7)]) / NKTV2P
        csa = -np.array([frame[f"c_cace_csa[{k}]"].sum() for k in range(1, 10)]) / NKTV2P
        self.close("sum of stress/atom - virial", sa, w, SUM_REL, SUM_ABS)
        self.close("sum of centroid/stress/atom - virial", csa, np.concatenate([w, w[3:]]),
                   SUM_REL, SUM_ABS, scale=np.abs(w).max())

    def that(self, condition, message):
        if not condition:
            self.problems.append(message)

    def done(self):
        __tracebackhide__ = True    # pytest shows the test's line, not this one
        if self.problems:
            raise Failure("; ".join(self.problems))
