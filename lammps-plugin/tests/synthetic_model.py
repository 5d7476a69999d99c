"""Small CACE model files with random weights, so that the LAMMPS checks that need no upstream
reference (round trips, hybrid styles, dynamics, bad input) run in any clone.

A Python port of a subset of Tests/CACETests/SyntheticModel.swift: Bessel radial basis,
polynomial cutoff, directed edges, optional message-passing layers (M, Ar, shared Bchi) and an
optional latent-charge Ewald term. The layout is the interchange format of
docs/model-format.md (safetensors container, F64 tensors, JSON metadata under "cace").
"""
import json
import math
import struct

import numpy as np


def _exponents(max_l):
    out = []
    for l in range(max_l + 1):
        for lx in range(l, -1, -1):
            for ly in range(l - lx, -1, -1):
                out.append([lx, ly, l - lx - ly])
    return out


def _symmetrizer_table(max_l, max_nu):
    """The invariant table for max_nu <= 3 (spec section 4.4)."""
    exps = _exponents(max_l)
    index = {tuple(e): k for k, e in enumerate(exps)}
    fact = math.factorial

    def mult(v):
        return fact(sum(v)) // (fact(v[0]) * fact(v[1]) * fact(v[2]))

    def of_degree(l):
        return [e for e in exps if sum(e) == l]

    table = [[[[0], 1]]]
    if max_nu >= 2:
        for l in range(1, max_l + 1):
            table.append([[[index[tuple(v)], index[tuple(v)]], mult(v)] for v in of_degree(l)])
    if max_nu >= 3:
        for l1 in range(1, max_l + 1):
            for l2 in range(l1, max_l - l1 + 1):
                terms = []
                for v1 in of_degree(l1):
                    for v2 in of_degree(l2):
                        v12 = tuple(a + b for a, b in zip(v1, v2))
                        terms.append([[index[tuple(v1)], index[tuple(v2)], index[v12]],
                                      mult(v1) * mult(v2)])
                table.append(terms)
    return table


def model_bytes(zs, cutoff=4.0, layers=0, ewald=False, max_l=2, max_nu=3, atom_basis=2,
                radial_functions=4, radial_basis=3, seed=1, atomic_energies=None):
    """Returns the bytes of a model file with deterministic random weights; atomic_energies
    ({Z: E0}) are stored as the model's per-element reference energies."""
    if max_nu > 3:
        raise ValueError("this port writes max_nu <= 3 only")
    rng = np.random.default_rng(seed)
    tensors = []    # (name, shape, values)

    def tensor(name, shape, scale=1.0, offset=0.0):
        count = int(np.prod(shape)) if shape else 1
        tensors.append((name, list(shape), offset + rng.uniform(-scale, scale, count)))
        return name

    def constant(name, shape, values):
        tensors.append((name, list(shape), np.asarray(values, dtype=float).ravel()))
        return name

    nz, c0 = len(zs), atom_basis
    channels, nr, nm = c0 * c0, radial_functions, radial_basis
    exps = _exponents(max_l)
    table = _symmetrizer_table(max_l, max_nu)
    nsym = len(table)
    features = nm * nsym * channels * (layers + 1)

    sender = tensor("representation.node_embedding_sender.embedding_weights", [nz, c0])
    receiver = tensor("representation.node_embedding_receiver.embedding_weights", [nz, c0])
    radial_meta = {"type": "bessel", "n_rbf": nr, "tensors": {
        "bessel_weights": constant("representation.radial_basis.bessel_weights", [nr],
                                   [n * math.pi / cutoff for n in range(1, nr + 1)]),
        "prefactor": constant("representation.radial_basis.prefactor", [],
                              [math.sqrt(2.0 / cutoff)])}}
    constant("representation.cutoff_fn.cutoff", [], [cutoff])
    constant("representation.cutoff_fn.p", [], [6.0])
    rt = [tensor(f"representation.radial_transform.weights.{g}", [nr, nm, channels])
          for g in range(max_l + 1)]

    types = ["M", "Ar", "Bchi"] if layers else []
    layer_meta = []
    for t in range(layers):
        p = f"representation.message_passing_list.{t}"
        n_in = nm * nsym * channels
        layer_meta.append({
            "M": {"memory_coef": [tensor(f"{p}.0.memory_coef.{g}", [nm, channels], 0.3)
                                  for g in range(max_l + 1)]},
            "Ar": {"prefactor": [tensor(f"{p}.1.prefactor.{g}", [nm, channels], 0.5, 0.5)
                                 for g in range(max_l + 1)],
                   "invr0": [tensor(f"{p}.1.invr0.{g}", [nm, channels], 0.1, 0.3)
                             for g in range(max_l + 1)]},
            "Bchi": {"shared_channels": True, "shared_l": True, "nl": 1, "nc": 1, "n_in": n_in,
                     "l_matrix": None,
                     "hnet": [{"weight": tensor(f"{p}.2.hnet.0.linear.weight", [1, n_in], 0.2),
                               "bias": tensor(f"{p}.2.hnet.0.linear.bias", [1]),
                               "in": n_in, "out": 1, "activation": "identity"}]}})

    def head(index, output_key, per_atom):
        widths = [features, 6, 4, 1]
        outnet = []
        for i in range(3):
            w = tensor(f"output_modules.{index}.outnet.{i}.linear.weight",
                       [widths[i + 1], widths[i]], 1.0 / math.sqrt(widths[i]))
            b = tensor(f"output_modules.{index}.outnet.{i}.linear.bias", [widths[i + 1]], 0.1)
            outnet.append({"weight": w, "bias": b, "in": widths[i], "out": widths[i + 1],
                           "activation": "silu" if i < 2 else "identity"})
        linear = {"weight": tensor(f"output_modules.{index}.linear_nn.linear.weight",
                                   [1, features], 0.05),
                  "bias": tensor(f"output_modules.{index}.linear_nn.linear.bias", [1], 0.1),
                  "in": features, "out": 1, "activation": "identity"}
        return {"module_index": index, "type": "Atomwise", "feature_key": "node_feats",
                "n_in": features, "n_out": 1, "n_layers": 3, "n_hidden": [6, 4],
                "activation": "silu", "bias": True, "residual": False, "use_batchnorm": False,
                "add_linear_nn": True, "aggregation_mode": "sum", "output_key": output_key,
                "per_atom_output_key": per_atom, "outnet": outnet, "linear_nn": linear}

    heads = [head(0, "SR_energy" if ewald else "CACE_energy", "CACE_atom_energy")]
    ewald_meta, feature_add = None, []
    if ewald:
        charge_head = head(1, "tot_q", "q")
        for layer in charge_head["outnet"]:    # the charge head has no bias upstream
            layer["bias"] = None
        charge_head["linear_nn"]["bias"] = None
        charge_head["bias"] = False
        heads.append(charge_head)
        ewald_meta = {"module_index": 2, "type": "EwaldPotential", "feature_key": "q",
                      "output_key": "ewald_potential", "dl": 2.0, "sigma": 1.0, "exponent": 1,
                      "k_sq_max": (2 * math.pi / 2.0) ** 2, "norm_factor": 1.0,
                      "remove_self_interaction": False}
        feature_add = [{"module_index": 3, "type": "FeatureAdd",
                        "feature_keys": ["SR_energy", "ewald_potential"],
                        "output_key": "CACE_energy"}]
    groups = [[l * (l + 1) * (l + 2) // 6, (l + 1) * (l + 2) * (l + 3) // 6]
              for l in range(max_l + 1)]
    meta = {
        "format_version": 1, "zs": list(zs), "cutoff": cutoff, "n_atom_basis": c0,
        "n_channels": channels, "embed_receiver_nodes": True, "max_l": max_l, "max_nu": max_nu,
        "num_message_passing": layers, "n_radial_func": nr, "n_radial_basis": nm,
        "avg_num_neighbors": 10.0, "mp_norm_factor": 1 / math.sqrt(10.0),
        "radial_basis": radial_meta, "cutoff_fn": {"type": "polynomial", "cutoff": cutoff},
        "edge_encoder": {"type": "EdgeEncoder", "directed": True},
        "node_embedding": {"sender": sender, "receiver": receiver, "shape": [nz, c0]},
        "angular": {"lxlylz": exps, "l_groups": groups},
        "radial_transform": {"weights": rt, "shape": [nr, nm, channels]},
        "symmetrizer": {"n_sym": nsym, "nu_of_feature": [], "table": table},
        "message_passing": {"types": types, "layers": layer_meta},
        "node_feats_shape": ["n_atoms", nm, nsym, channels, layers + 1],
        "n_features": features, "heads": heads, "ewald": ewald_meta,
        "feature_add": feature_add, "energy_key": "CACE_energy",
        "atomic_energies": ({str(z): float(e) for z, e in atomic_energies.items()}
                            if atomic_energies else None),
        "source": "synthetic LAMMPS test model (lammps-plugin/tests/synthetic_model.py)",
    }
    header = {"__metadata__": {"cace": json.dumps(meta)}}
    data = bytearray()
    for name, shape, values in tensors:
        start = len(data)
        data += np.asarray(values, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": shape, "data_offsets": [start, len(data)]}
    head_bytes = json.dumps(header).encode()
    return struct.pack("<Q", len(head_bytes)) + head_bytes + bytes(data)


def write_model(path, zs, **options):
    with open(path, "wb") as f:
        f.write(model_bytes(zs, **options))
    return path
