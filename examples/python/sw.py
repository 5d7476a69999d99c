"""Stillinger-Weber silicon as a small ASE calculator in NumPy: the reference the shipped model
(examples/silicon/silicon.safetensors) was trained on, for comparing with it in these examples.
ASE has no Stillinger-Weber calculator of its own.

The parameters are those of LAMMPS's `Si.sw` (Stillinger and Weber, Phys. Rev. B 31, 5262
(1985)), and the functional form that of LAMMPS `pair_style sw`:

    E = sum_{i<j} phi2(r_ij) + sum_i sum_{j<k} phi3(r_ij, r_ik, theta_jik)
    phi2 = A eps (B (sigma/r)^p - (sigma/r)^q) exp(sigma / (r - a sigma))
    phi3 = lambda eps (cos theta_jik - cos theta0)^2 exp(gamma sigma / (r_ij - a sigma))
                                                   exp(gamma sigma / (r_ik - a sigma))

Energy, analytic forces and (for periodic cells) stress. python/tests/test_examples.py checks it
against finite differences and, when the project's LAMMPS build is present, against LAMMPS.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list

# Si.sw: epsilon sigma a lambda gamma costheta0 A B p q
SI_SW = dict(epsilon=2.1683, sigma=2.0951, a=1.80, lam=21.0, gamma=1.20, costheta0=-1.0 / 3.0,
             A=7.049556277, B=0.6022245584, p=4.0, q=0.0)


class StillingerWeber(Calculator):
    """Stillinger-Weber silicon (LAMMPS Si.sw). Properties: energy, free_energy, forces, stress."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    nolabel = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.p = dict(SI_SW)
        self.cutoff = self.p["a"] * self.p["sigma"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        P = self.p
        eps, sig, a, lam, gam, c0 = P["epsilon"], P["sigma"], P["a"], P["lam"], P["gamma"], P["costheta0"]
        A, B, pe, qe = P["A"], P["B"], P["p"], P["q"]
        rc = self.cutoff
        n = len(atoms)
        # directed pairs i -> j, sorted by i; D = r_j - r_i (with the periodic shift)
        i, j, d, D = neighbor_list("ijdD", atoms, rc)
        grad = np.zeros_like(D)                                 # dE/dD for every directed pair

        # two-body: every unordered pair appears twice, hence the 1/2
        s = sig / d
        x = sig / (d - rc)
        ex = np.exp(x)
        poly = B * s ** pe - s ** qe
        dpoly = (-pe * B * s ** pe + qe * s ** qe) / d
        e2 = A * eps * poly * ex
        de2 = A * eps * (dpoly * ex + poly * ex * (-x / (d - rc)))
        energy = 0.5 * e2.sum()
        grad += (0.5 * de2 / d)[:, None] * D

        # three-body: pairs (p, q) of directed pairs with the same centre i, q after p
        if len(i):
            first = np.searchsorted(i, np.arange(n + 1))
            count = first[i + 1] - np.arange(len(i)) - 1
            P_ = np.repeat(np.arange(len(i)), count)
            within = np.arange(len(P_)) - np.repeat(np.cumsum(count) - count, count)
            Q_ = P_ + 1 + within
            rij, rik, dij, dik = D[P_], D[Q_], d[P_], d[Q_]
            cos = np.einsum("ab,ab->a", rij, rik) / (dij * dik)
            gij = gam * sig / (dij - rc)
            gik = gam * sig / (dik - rc)
            eij, eik = np.exp(gij), np.exp(gik)
            delta = cos - c0
            h = lam * eps * delta ** 2 * eij * eik
            energy += h.sum()
            dh_dcos = 2 * lam * eps * delta * eij * eik
            dh_ddij = h * (-gij / (dij - rc))
            dh_ddik = h * (-gik / (dik - rc))
            gj = (dh_dcos / (dij * dik))[:, None] * rik + (dh_ddij / dij - dh_dcos * cos / dij ** 2)[:, None] * rij
            gk = (dh_dcos / (dij * dik))[:, None] * rij + (dh_ddik / dik - dh_dcos * cos / dik ** 2)[:, None] * rik
            np.add.at(grad, P_, gj)
            np.add.at(grad, Q_, gk)

        forces = np.zeros((n, 3))
        np.add.at(forces, i, grad)       # D = r_j - r_i: dE/dr_i = -grad, so F_i = +grad
        np.add.at(forces, j, -grad)
        self.results = {"energy": float(energy), "free_energy": float(energy), "forces": forces}
        if atoms.pbc.all():
            sigma = np.einsum("pa,pb->ab", D, grad) / atoms.get_volume()
            sigma = 0.5 * (sigma + sigma.T)
            self.results["stress"] = sigma[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
