"""Builders of small random upstream CACE models for the exporter tests (needs torch, ase and
upstream `cace` importable)."""

from __future__ import annotations

import numpy as np


def small_structures(zs, cutoff, seed=0, n_cluster=5):
    """A few small structures whose species are drawn from `zs`: a periodic triclinic cell,
    a cluster and a dimer (no periodicity)."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    frames = []
    # Periodic, strongly skewed cell smaller than the cutoff in one direction.
    cell = np.array([[0.9 * cutoff, 0.0, 0.0],
                     [0.35 * cutoff, 0.95 * cutoff, 0.0],
                     [-0.2 * cutoff, 0.3 * cutoff, 1.1 * cutoff]])
    frac = rng.random((4, 3))
    numbers = rng.choice(zs, size=4)
    frames.append(Atoms(numbers=numbers, scaled_positions=frac, cell=cell, pbc=True))
    # Open cluster with distances ~0.3-0.8 cutoff.
    pos = [np.zeros(3)]
    while len(pos) < n_cluster:
        trial = rng.normal(size=3) * 0.45 * cutoff
        d = min(np.linalg.norm(trial - p) for p in pos)
        if 0.25 * cutoff < d < 0.8 * cutoff:
            pos.append(trial)
    frames.append(Atoms(numbers=rng.choice(zs, size=n_cluster), positions=np.array(pos)))
    # Dimer at 0.6 cutoff.
    frames.append(Atoms(numbers=rng.choice(zs, size=2),
                        positions=[[0.0, 0.0, 0.0], [0.2 * cutoff, 0.3 * cutoff, 0.48 * cutoff]]))
    return frames


def build_model(cfg, warmup_atoms=None, perturb=0.2):
    """Build a random NeuralNetworkPotential (float64) from a config dict like the ones in the
    reference `model_source` strings:

    zs, cutoff, n_atom_basis, n_rbf, n_radial_basis, max_l, max_nu, nmp, mp_types,
    embed_receiver, rbf (bessel|gaussian|gaussian_centered|expdecay), rbf_trainable,
    cutoff_fn ([polynomial, p] | [cosine] | [mollifier]), avg_nn, bchi_args,
    head {n_hidden, bias, add_linear_nn}, seed, directed (default True).

    The lazily built layers are created by one forward pass; then every parameter is
    perturbed randomly (seeded), so that no two memory coefficients etc. are equal."""
    import torch
    from cace.models import NeuralNetworkPotential
    from cace.modules import (Atomwise, BesselRBF, CosineCutoff, EdgeEncoder, ExponentialDecayRBF,
                              Forces, GaussianRBF, GaussianRBFCentered, MollifierCutoff,
                              PolynomialCutoff)
    from cace.representations import Cace

    torch.set_default_dtype(torch.float64)
    cutoff = float(cfg["cutoff"])
    n_rbf = int(cfg["n_rbf"])
    trainable = bool(cfg.get("rbf_trainable", False))
    rbf = cfg.get("rbf", "bessel")
    if rbf == "bessel":
        radial = BesselRBF(cutoff=cutoff, n_rbf=n_rbf, trainable=trainable)
    elif rbf == "gaussian":
        # Upstream builds the widths with torch.FloatTensor(...), which fails when the
        # default dtype is float64: build it in float32 (model.double() below converts).
        torch.set_default_dtype(torch.float32)
        try:
            radial = GaussianRBF(n_rbf=n_rbf, cutoff=cutoff, trainable=trainable)
        finally:
            torch.set_default_dtype(torch.float64)
    elif rbf == "gaussian_centered":
        radial = GaussianRBFCentered(n_rbf=n_rbf, cutoff=cutoff, trainable=trainable)
    elif rbf == "expdecay":
        radial = ExponentialDecayRBF(n_rbf=n_rbf, cutoff=cutoff, trainable=trainable)
    else:
        raise ValueError(rbf)
    fc = cfg.get("cutoff_fn", ["polynomial", 6])
    if fc[0] == "polynomial":
        cutoff_fn = PolynomialCutoff(cutoff=cutoff, p=fc[1] if len(fc) > 1 else 6)
    elif fc[0] == "cosine":
        cutoff_fn = CosineCutoff(cutoff=cutoff)
    elif fc[0] == "mollifier":
        cutoff_fn = MollifierCutoff(cutoff=cutoff)
    else:
        raise ValueError(fc)

    mp_types = list(cfg.get("mp_types", []))
    args_mp = {"M": {}, "Ar": {}, "Bchi": dict(cfg.get("bchi_args", {}))}
    rep = Cace(
        zs=list(cfg["zs"]),
        n_atom_basis=int(cfg["n_atom_basis"]),
        cutoff=cutoff,
        radial_basis=radial,
        cutoff_fn=cutoff_fn,
        max_l=int(cfg["max_l"]),
        max_nu=int(cfg["max_nu"]),
        num_message_passing=int(cfg.get("nmp", 0)),
        edge_encoder=EdgeEncoder(directed=bool(cfg.get("directed", True))),
        type_message_passing=mp_types,
        args_message_passing=args_mp,
        embed_receiver_nodes=bool(cfg.get("embed_receiver", False)),
        n_radial_basis=cfg.get("n_radial_basis"),
        avg_num_neighbors=float(cfg.get("avg_nn", 10.0)),
    )
    head_cfg = cfg.get("head", {})
    n_hidden = list(head_cfg.get("n_hidden", [16, 8]))
    head = Atomwise(n_layers=len(n_hidden) + 1, n_hidden=n_hidden,
                    bias=bool(head_cfg.get("bias", True)),
                    add_linear_nn=bool(head_cfg.get("add_linear_nn", False)),
                    output_key="CACE_energy", per_atom_output_key="CACE_atom_energy")
    forces = Forces(energy_key="CACE_energy", forces_key="CACE_forces")
    model = NeuralNetworkPotential(input_modules=None, representation=rep,
                                   output_modules=[head, forces])
    model.double()

    # One forward pass builds the lazy layers (Atomwise.outnet, MessageBchi.hnet).
    if warmup_atoms is None:
        warmup_atoms = small_structures(cfg["zs"], cutoff, seed=1)[1]
    evaluate(model, warmup_atoms)

    gen = torch.Generator().manual_seed(int(cfg.get("seed", 0)))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(perturb * torch.randn(p.shape, generator=gen, dtype=p.dtype) * (p.abs().mean() + 0.1))
    model.eval()
    return model


def evaluate(model, atoms):
    """Upstream energy and forces of one structure (float64)."""
    import torch
    from cace.data import AtomicData
    from cace.tools import torch_geometric

    torch.set_default_dtype(torch.float64)
    data = AtomicData.from_atoms(atoms, cutoff=float(model.representation.cutoff))
    batch = next(iter(torch_geometric.dataloader.DataLoader([data], batch_size=1, shuffle=False)))
    out = model(batch.to_dict(), training=True)
    return out
