"""Radial distribution function from LAMMPS dumps (`dump custom N FILE id x y z`, orthogonal box).
(compute rdf of LAMMPS 4Feb2025 ignores its cutoff keyword, so g(r) is computed here.)"""
import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list


def read_dump(path):
    """Frames of a `dump custom ... id x y z` file as ASE Atoms (Si, periodic)."""
    lines, frames, i = open(path).read().splitlines(), [], 0
    while i < len(lines):
        n = int(lines[i + 3])
        lo_hi = np.array([l.split()[:2] for l in lines[i + 5:i + 8]], float)
        xyz = np.array([l.split()[1:4] for l in lines[i + 9:i + 9 + n]], float)
        frames.append(Atoms(f"Si{n}", positions=xyz - lo_hi[:, 0], cell=lo_hi[:, 1] - lo_hi[:, 0], pbc=True))
        i += 9 + n
    return frames


def rdf(frames, rmax=6.0, nbins=120):
    """Bin centres r and g(r), averaged over frames."""
    edges = np.linspace(0, rmax, nbins + 1)
    g = np.zeros(nbins)
    for a in frames:
        h, _ = np.histogram(neighbor_list("d", a, rmax), edges)
        g += h / (len(a) * len(a) / a.get_volume() * 4 / 3 * np.pi * np.diff(edges ** 3))
    return 0.5 * (edges[1:] + edges[:-1]), g / len(frames)


def compare(r, g_ref, g):
    """Similarity 1 - sum|g - g_ref| / sum(g + g_ref) (1 = identical), RMS difference, first peaks."""
    return {"similarity": float(1 - np.abs(g - g_ref).sum() / (g + g_ref).sum()),
            "rms_difference": float(np.sqrt(np.mean((g - g_ref) ** 2))),
            "first_peak_ref_A": float(r[np.argmax(g_ref)]), "first_peak_A": float(r[np.argmax(g)])}
