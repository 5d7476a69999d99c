#!/usr/bin/env python3
"""Grow a trained silicon model without changing what it computes, to continue training it.

    PYTHONPATH=/path/to/upstream-cace python grow.py data/silicon_v3.pth data/silicon_v4_init.pth \
        --n-rbf 16 --hidden 64 32

Why: the session-3 model fits its training set no better than its test set (it underfits), and
two parts of it are too small for SW's three-body term. Eight Bessel functions reproduce SW's
radial factor exp(gamma sigma / (r - a sigma)) with ~2 % error in its derivative (16: ~1 %), and
CACE's B features have no (A_l=0)^2 invariant, so the term sum_jk g_j g_k / 9 must come from the
read-out's nonlinearity. New Bessel functions enter with zero weight in the radial transform;
new hidden units get small random input weights and zero output weights. The grown model gives
the same energies and forces as the original (checked here) and trains from there.
"""
import argparse

import torch


def pad_rows(weight, rows, scale):
    """weight with `rows` more output rows, drawn small (scale 0 = zeros)."""
    extra = torch.randn(rows, *weight.shape[1:], dtype=weight.dtype) * scale
    return torch.cat([weight, extra], 0)


def grow_bessel(rep, n_rbf):
    basis = rep.radial_basis
    old = basis.bessel_weights.detach()
    if n_rbf <= len(old):
        return
    step = torch.pi / basis.cutoff
    extra = step * torch.arange(len(old) + 1, n_rbf + 1, dtype=old.dtype)
    basis.bessel_weights = torch.nn.Parameter(torch.cat([old, extra]))
    basis.n_rbf = n_rbf
    rep.n_radial_func = n_rbf
    transform = rep.radial_transform
    transform.radial_dim = n_rbf
    for i, w in enumerate(transform.weights):
        transform.weights[i] = torch.nn.Parameter(pad_rows(w.detach(), n_rbf - w.shape[0], 0.0))


def grow_readout(head, hidden):
    layers = [m.linear for m in head.outnet]
    assert len(layers) == len(hidden) + 1, "one width per hidden layer"
    for i, width in enumerate(hidden):
        layer, after = layers[i], layers[i + 1]
        extra = width - layer.out_features
        if extra <= 0:
            continue
        w = layer.weight.detach()
        grown = torch.nn.Linear(layer.in_features, width, dtype=w.dtype)
        grown.weight = torch.nn.Parameter(pad_rows(w, extra, 0.3 * w.std().item()))
        grown.bias = torch.nn.Parameter(torch.cat([layer.bias.detach(), torch.zeros(extra, dtype=w.dtype)]))
        # the new units feed the next layer with zero weights: the output is unchanged
        wider = torch.nn.Linear(width, after.out_features, dtype=w.dtype)
        wider.weight = torch.nn.Parameter(torch.cat([after.weight.detach(),
                                                     torch.zeros(after.out_features, extra, dtype=w.dtype)], 1))
        wider.bias = after.bias
        head.outnet[i].linear, head.outnet[i + 1].linear = grown, wider
        layers[i], layers[i + 1] = grown, wider
    head.n_hidden = list(hidden)


def energies_and_forces(model, data):
    out = model(dict(data), training=False)
    return out["CACE_energy"].detach(), out["CACE_forces"].detach()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("output")
    ap.add_argument("--n-rbf", type=int, default=16)
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 32])
    ap.add_argument("--check", default="data/test.xyz", help="frames on which the grown model must agree")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = torch.load(args.model, weights_only=False)

    import cace
    cutoff = float(model.representation.cutoff)
    frames = cace.tasks.get_dataset_from_xyz(train_path=args.check, valid_fraction=0.5, cutoff=cutoff,
                                             data_key={"energy": "energy", "forces": "forces"})
    batch = next(iter(cace.tasks.load_data_loader(collection=frames, data_type="train", batch_size=8))).to_dict()
    before = energies_and_forces(model, batch)

    grow_bessel(model.representation, args.n_rbf)
    grow_readout(model.output_modules[0], args.hidden)
    after = energies_and_forces(model, batch)
    de = (after[0] - before[0]).abs().max().item()
    df = (after[1] - before[1]).abs().max().item()
    print(f"grown: n_rbf {args.n_rbf}, hidden {args.hidden}, "
          f"{sum(p.numel() for p in model.parameters())} parameters; max change E {de:.2e} eV, F {df:.2e} eV/A")
    if de > 1e-3 or df > 1e-3:
        raise SystemExit("the grown model does not compute what the original did")
    torch.save(model, args.output)


if __name__ == "__main__":
    main()
