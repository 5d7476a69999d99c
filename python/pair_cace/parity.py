"""Parity plots of a linear fit: `python -m pair_cace.parity PREDICTIONS.json OUT.png`.

PREDICTIONS.json is what `cace fit --predictions FILE` writes (`cace fit --parity-plot OUT.png`
runs this module itself): the reference and predicted energies and forces of every training and
validation frame. The figure has two panels, energy per atom and force components, with
training and validation in different colours and their RMSE in the legend.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from .atomic import atomic_write


def _arrays(frames):
    energy = np.array([[f["energy"] / f["atoms"], f["energy_predicted"] / f["atoms"]] for f in frames]).reshape(-1, 2)
    forces = np.array([[a, b] for f in frames for a, b in zip(f["forces"], f["forces_predicted"])]).reshape(-1, 2)
    return energy, forces


def plot(predictions: dict, output: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_e, ax_f) = plt.subplots(1, 2, figsize=(10, 4.6))
    for label, colour in (("training", "tab:blue"), ("validation", "tab:orange")):
        frames = predictions.get(label) or []
        if not frames:
            continue
        energy, forces = _arrays(frames)
        e_rmse = 1000 * np.sqrt(np.mean((energy[:, 1] - energy[:, 0]) ** 2))
        f_rmse = np.sqrt(np.mean((forces[:, 1] - forces[:, 0]) ** 2))
        ax_e.scatter(energy[:, 0], energy[:, 1], s=8, alpha=0.7, color=colour,
                     label=f"{label}: {len(frames)} frames, RMSE {e_rmse:.3f} meV/atom")
        ax_f.scatter(forces[:, 0], forces[:, 1], s=2, alpha=0.4, color=colour,
                     label=f"{label}: RMSE {f_rmse:.4f} eV/Å")
    for ax, unit, title in ((ax_e, "eV/atom", "energy per atom"), (ax_f, "eV/Å", "force components")):
        lo, hi = ax.get_xlim()
        lo, hi = min(lo, ax.get_ylim()[0]), max(hi, ax.get_ylim()[1])
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"reference ({unit})")
        ax.set_ylabel(f"cace fit ({unit})")
        ax.set_title(title)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    atomic_write(output, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m pair_cace.parity PREDICTIONS.json OUT.png", file=sys.stderr)
        return 2
    try:
        with open(args[0]) as f:
            predictions = json.load(f)
        plot(predictions, args[1])
    except (OSError, ValueError, KeyError, TypeError) as err:
        print(f"pair_cace.parity: error: {args[0]}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
