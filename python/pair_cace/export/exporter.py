"""Conversion of an upstream CACE `NeuralNetworkPotential` into the interchange format
(docs/model-format.md, format version 1): every state_dict tensor as F64 under its exact
key, plus the `__metadata__["cace"]` JSON string that describes the architecture.

Anything the format cannot express is refused with `UnsupportedModel`, whose message names
the module and the option.
"""

from __future__ import annotations

import importlib
import json
import pickle
import sys
import zipfile
from typing import Dict, Optional, Tuple

import numpy as np

from .files import InputError, one_line
from .safetensors_io import write_safetensors

__all__ = ["UnsupportedModel", "build_export", "export_model", "load_model", "FORMAT_VERSION"]

FORMAT_VERSION = 1

UNITS = {"energy": "eV", "length": "Angstrom", "forces": "eV/Angstrom", "virial": "eV",
         "stress": "eV/Angstrom^3"}

ATOMIC_ENERGIES_NOTE = (
    "Upstream models carry no E0s. If training used atomic_energies, they were subtracted from "
    "the reference energies in AtomicData.from_atoms, so the model energy excludes them; add "
    "sum_i E0[Z_i] to get total energies.")

FORMULAS = {
    "bessel": "phi_n(r) = prefactor * sin(bessel_weights[n] * r) / r",
    "gaussian": "phi_n(r) = exp(-0.5 / widths[n]^2 * (r - offsets[n])^2)",
    "gaussian_centered": "phi_n(r) = exp(-0.5 / widths[n]^2 * (r - offsets[n])^2)",
    "exponential_decay": "phi_n(r) = prefactor * exp(-r / r0[n])",
    "polynomial": ("f(x=r/rc) = [1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)] "
                   "* (r < rc)"),
    "cosine": "f(r) = 0.5 (cos(pi r / rc) + 1) * (r < rc)",
    "mollifier": "m = (r + eps < rc); f(r) = exp(1 - 1/(1 - (r*m/rc)^2)) * m",
}

CHANNEL_INDEX = {
    True: ("c = a * n_atom_basis + b, a = sender-embedding index, "
           "b = receiver-embedding index"),
    False: ("c = a * n_atom_basis + b, a = index into the element-wise min of the sender and "
            "receiver embeddings, b = index into their element-wise max"),
}


class UnsupportedModel(Exception):
    """The model uses an upstream option that the interchange format does not carry."""


def _refuse(module: str, option: str, detail: str = "") -> UnsupportedModel:
    message = f"unsupported model: {module}: {option}"
    if detail:
        message += f" ({detail})"
    return UnsupportedModel(message)


def _torch():
    try:
        import torch
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "cace-export needs PyTorch to read a .pth model (pip install torch; the CPU wheel "
            f"is enough): {err}") from None
    return torch


# Functions an upstream checkpoint may name as a module attribute (activations); on the
# allow-list of the safe load with the nn.Module classes of torch and of upstream CACE.
_ALLOWED_FUNCTIONS = ("silu", "relu", "tanh", "sigmoid", "softplus", "gelu", "elu", "celu",
                      "leaky_relu", "mish", "selu", "softsign", "tanhshrink", "logsigmoid", "identity")

UNSAFE_LOAD_NOTE = (
    "cace-export: note: {path}: this checkpoint names {names}, which are not on the allow-list "
    "of the safe loader (torch.load(weights_only=True) with the nn.Module classes of torch and "
    "upstream CACE), so it is loaded with weights_only=False: loading it runs code from it. Load "
    "only checkpoints you trust.")

_noticed = set()


def _print_notice(message: str) -> None:
    """Prints a notice on standard error once per process (one line)."""
    if message in _noticed:
        return
    _noticed.add(message)
    print(message, file=sys.stderr, flush=True)


def allowed_globals(torch) -> list:
    """What the safe load may construct: every nn.Module subclass defined by torch.nn or by
    upstream CACE (rebuilt from its pickled attributes, no code of the file's choosing runs),
    and a few activation functions of torch.nn.functional (referenced, not called)."""
    allowed = {torch.nn.Parameter}
    modules = [m for name, m in list(sys.modules.items())
               if m is not None and (name.startswith("torch.nn.modules.") or name == "cace"
                                     or name.startswith("cace."))]
    for module in modules:
        for value in list(vars(module).values()):
            if (isinstance(value, type) and issubclass(value, torch.nn.Module)
                    and (value.__module__.startswith("torch.nn.modules.")
                         or value.__module__.startswith("cace."))):
                allowed.add(value)
    functional = torch.nn.functional
    for name in _ALLOWED_FUNCTIONS:
        if hasattr(functional, name):
            allowed.add(getattr(functional, name))
    return sorted(allowed, key=lambda g: f"{g.__module__}.{g.__qualname__}")


def _import_upstream_classes() -> None:
    """Imports upstream CACE's modules (when importable) so that its classes are known."""
    for name in ("cace.models", "cace.modules", "cace.representations"):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - absent or broken upstream: the safe load just fails
            pass


def _unlisted_globals(torch, path: str, allowed) -> str:
    """The globals of a checkpoint that are not on the allow-list, for the notice."""
    listed = {f"{g.__module__}.{g.__qualname__}" for g in allowed}
    try:
        names = [n for n in torch.serialization.get_unsafe_globals_in_checkpoint(path)
                 if n not in listed]
    except Exception:  # noqa: BLE001 - the legacy (non-zip) format is not inspectable
        names = []
    if not names:
        return "objects"
    shown = ", ".join(sorted(names)[:4])
    return shown + (f" (and {len(names) - 4} more)" if len(names) > 4 else "")


def _refused_by_safe_loader(err: BaseException) -> bool:
    """Whether torch.load(weights_only=True) refused a global or a construction that is not
    on its allow-list (rather than finding the file damaged)."""
    message = str(err).lower()
    return any(k in message for k in ("unsupported global", "allowed global", "allowlisted",
                                      "unrecognized function", "is blocked"))


def load_model(path: str, notice=_print_notice):
    """Loads a whole pickled upstream model (needs upstream `cace` importable).

    First with torch.load(weights_only=True) and an allow-list of classes (`allowed_globals`):
    upstream's own checkpoints load so. A checkpoint that names anything else cannot be loaded
    that way; it is then loaded with weights_only=False, after `notice` (default: one line on
    standard error, once) has said that this runs code from the file.

    A file torch cannot read raises `InputError(path, problem)` (a one-line message)."""
    try:
        import torch
    except (ImportError, OSError) as err:
        raise InputError(path, f"reading a PyTorch model needs the torch package, which cannot "
                               f"be imported ({one_line(err)}); install it, e.g. "
                               "`pip install torch` (the CPU wheel is enough)") from None
    _import_upstream_classes()
    allowed = allowed_globals(torch)
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        if not _refused_by_safe_loader(err):
            return _load_failed(path, err)
    except Exception as err:  # noqa: BLE001 - classified below
        return _load_failed(path, err)
    # The safe loader refused a global: the unsafe load, announced.
    notice(UNSAFE_LOAD_NOTE.format(path=path, names=_unlisted_globals(torch, path, allowed)))
    try:
        return torch.load(path, weights_only=False, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - classified below
        return _load_failed(path, err)


def _load_failed(path: str, err: BaseException):
    """Raises the one-line InputError for an exception of torch.load."""
    if isinstance(err, ModuleNotFoundError):
        if err.name and err.name.split(".")[0] == "cace":
            raise InputError(
                path, f"cannot unpickle: the upstream CACE package is not importable "
                      f"({one_line(err)}). Put a checkout of github.com/BingqingCheng/cace on "
                      "PYTHONPATH, or set CACE_UPSTREAM to it") from None
        raise InputError(path, f"cannot unpickle: the model needs the Python module "
                               f"{err.name!r}, which is not importable ({one_line(err)})") from None
    if isinstance(err, (ImportError, AttributeError)):
        # A class the pickle names does not exist (e.g. another version of upstream CACE).
        raise InputError(path, f"cannot unpickle: {one_line(err)}") from None
    if isinstance(err, EOFError):
        raise InputError(path, f"truncated file: torch.load reached its end too early "
                               f"({one_line(err)})") from None
    if isinstance(err, (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, ValueError,
                        KeyError, OSError)):
        message = one_line(err).lower()
        if "eof" in message or "central directory" in message:
            raise InputError(path, f"truncated or corrupt file: torch.load failed "
                                   f"({type(err).__name__}: {one_line(err)})") from None
        raise InputError(path, f"torch.load cannot read it ({type(err).__name__}: "
                               f"{one_line(err)}); the file is damaged or not a PyTorch "
                               "model") from None
    raise err


# --------------------------------------------------------------------------------------
# small helpers


def _cls(obj) -> str:
    return type(obj).__name__


def _is(obj, name: str) -> bool:
    """Class-name test that also accepts subclasses named in the MRO."""
    return any(c.__name__ == name for c in type(obj).__mro__)


def _exactly(obj, name: str) -> bool:
    return type(obj).__name__ == name


def _scalar(t) -> float:
    return float(t.detach().cpu().double().reshape(-1)[0].item())


def _is_silu(act) -> bool:
    torch = _torch()
    F = torch.nn.functional
    if act is F.silu or isinstance(act, torch.nn.SiLU):
        return True
    name = getattr(act, "__name__", None)
    module = getattr(act, "__module__", "") or ""
    return name == "silu" and module.startswith("torch")


def _is_identity(act) -> bool:
    torch = _torch()
    return act is None or isinstance(act, torch.nn.Identity)


def _act_name(act) -> str:
    if _is_identity(act):
        return "identity"
    if _is_silu(act):
        return "silu"
    return getattr(act, "__name__", None) or _cls(act)


class _Names:
    """Checks that tensor names exist in the state_dict."""

    def __init__(self, state: Dict[str, object]):
        self.state = state

    def __call__(self, name: str, shape: Optional[Tuple[int, ...]] = None) -> str:
        if name not in self.state:
            raise UnsupportedModel(f"internal error: expected tensor {name} is not in the state_dict")
        if shape is not None and tuple(self.state[name].shape) != tuple(shape):
            raise UnsupportedModel(
                f"tensor {name} has shape {list(self.state[name].shape)}, expected {list(shape)}")
        return name


def _dense_stack(seq, prefix: str, owner: str, names: _Names):
    """Describe an upstream `build_mlp` network (nn.Sequential of Dense) as a list of
    layers {weight, bias, in, out, activation}. Refuses residual blocks, batch norm and
    activations other than SiLU on hidden layers."""
    torch = _torch()
    if seq is None:
        raise _refuse(owner, "network was never built (lazy layers)",
                      "run one forward pass before saving so that its layers exist")
    if not isinstance(seq, torch.nn.Sequential):
        raise _refuse(owner, f"network of type {_cls(seq)}", "expected nn.Sequential of Dense")
    denses = list(seq)
    if not denses:
        raise _refuse(owner, "empty network")
    return _dense_layers(denses, [f"{prefix}.{i}" for i in range(len(denses))], owner, names)


def _dense_layers(denses, prefixes, owner: str, names: _Names):
    torch = _torch()
    layers = []
    n = len(denses)
    for i, (dense, prefix) in enumerate(zip(denses, prefixes)):
        if _is(dense, "ResidualBlock"):
            raise _refuse(owner, "residual=True", "residual blocks are not supported")
        if not _is(dense, "Dense"):
            raise _refuse(owner, f"layer {i} of type {_cls(dense)}", "expected Dense")
        if getattr(dense, "use_batchnorm", False) or hasattr(dense, "batchnorm"):
            raise _refuse(owner, "use_batchnorm=True", "batch normalisation is not supported")
        linear = dense.linear
        if not isinstance(linear, torch.nn.Linear):
            raise _refuse(owner, f"layer {i} linear of type {_cls(linear)}")
        act = getattr(dense, "activation", None)
        if i == n - 1:
            if not _is_identity(act):
                raise _refuse(owner, f"activation {_act_name(act)} on the output layer",
                              "the last layer must be linear")
            act_name = "identity"
        else:
            if not _is_silu(act):
                raise _refuse(owner, f"activation={_act_name(act)}", "only SiLU is supported")
            act_name = "silu"
        weight = names(f"{prefix}.linear.weight", (linear.out_features, linear.in_features))
        bias = (names(f"{prefix}.linear.bias", (linear.out_features,))
                if linear.bias is not None else None)
        if layers and layers[-1]["out"] != linear.in_features:
            raise _refuse(owner, f"layer {i} input width {linear.in_features} does not match "
                                 f"the previous output width {layers[-1]['out']}")
        layers.append({"weight": weight, "bias": bias, "in": int(linear.in_features),
                       "out": int(linear.out_features), "activation": act_name})
    return layers


# --------------------------------------------------------------------------------------
# representation


def _radial_basis(rb, names: _Names, n_rbf_expected: int):
    prefix = "representation.radial_basis"
    torch = _torch()
    if _exactly(rb, "BesselRBF"):
        w = rb.bessel_weights
        info = {"type": "bessel", "n_rbf": int(rb.n_rbf),
                "trainable": isinstance(w, torch.nn.Parameter) or bool(w.requires_grad),
                "cutoff": _scalar(rb.cutoff), "prefactor": _scalar(rb.prefactor),
                "tensors": {"bessel_weights": names(f"{prefix}.bessel_weights", (rb.n_rbf,)),
                            "prefactor": names(f"{prefix}.prefactor", ())}}
    elif _exactly(rb, "GaussianRBF") or _exactly(rb, "GaussianRBFCentered"):
        kind = "gaussian" if _exactly(rb, "GaussianRBF") else "gaussian_centered"
        info = {"type": kind, "n_rbf": int(rb.n_rbf), "cutoff": _scalar(rb.cutoff),
                "trainable": isinstance(rb.widths, torch.nn.Parameter) or bool(rb.widths.requires_grad),
                "tensors": {"offsets": names(f"{prefix}.offsets", (rb.n_rbf,)),
                            "widths": names(f"{prefix}.widths", (rb.n_rbf,))}}
    elif _exactly(rb, "ExponentialDecayRBF"):
        if tuple(rb.prefactor.shape) != ():
            raise _refuse("ExponentialDecayRBF", f"prefactor of shape {list(rb.prefactor.shape)}",
                          "expected a scalar")
        r0_shape = tuple(rb.r0.shape)
        if r0_shape not in ((rb.n_rbf,), ()) or (r0_shape == () and rb.n_rbf != 1):
            raise _refuse("ExponentialDecayRBF", f"r0 of shape {list(r0_shape)}")
        info = {"type": "exponential_decay", "n_rbf": int(rb.n_rbf), "cutoff": _scalar(rb.cutoff),
                "trainable": isinstance(rb.r0, torch.nn.Parameter) or bool(rb.r0.requires_grad),
                "tensors": {"r0": names(f"{prefix}.r0"),
                            "prefactor": names(f"{prefix}.prefactor", ())}}
    else:
        raise _refuse(f"radial basis {_cls(rb)}", "type",
                      "supported: BesselRBF, GaussianRBF, GaussianRBFCentered, ExponentialDecayRBF")
    info["formula"] = FORMULAS[info["type"]]
    if info["n_rbf"] != n_rbf_expected:
        raise _refuse(f"radial basis {_cls(rb)}", f"n_rbf={info['n_rbf']}",
                      f"Cace.n_radial_func is {n_rbf_expected}")
    return info


def _cutoff_fn(fc):
    if _exactly(fc, "PolynomialCutoff"):
        info = {"type": "polynomial", "p": _scalar(fc.p), "cutoff": _scalar(fc.cutoff)}
    elif _exactly(fc, "CosineCutoff"):
        info = {"type": "cosine", "cutoff": _scalar(fc.cutoff)}
    elif _exactly(fc, "MollifierCutoff"):
        info = {"type": "mollifier", "cutoff": _scalar(fc.cutoff), "eps": _scalar(fc.eps)}
    else:
        raise _refuse(f"cutoff function {_cls(fc)}", "type",
                      "supported: PolynomialCutoff, CosineCutoff, MollifierCutoff")
    info["formula"] = FORMULAS[info["type"]]
    return info


def _symmetrizer(sym, max_l: int, max_nu: int, l_list):
    if not _exactly(sym, "Symmetrizer"):
        raise _refuse(f"symmetrizer {_cls(sym)}", "type", "Cace uses Symmetrizer")
    if int(sym.max_nu) != max_nu or int(sym.max_l) != max_l:
        raise _refuse("Symmetrizer", f"max_nu={sym.max_nu}, max_l={sym.max_l}",
                      f"Cace has max_nu={max_nu}, max_l={max_l}")
    if getattr(sym, "indice_dict_allnu", None) is None:
        sym._get_indices_allnu()
    # The symmetrizer indexes A by its own l_list_indices; it must agree with the angular order.
    l_index = {tuple(int(x) for x in v): i for i, v in enumerate(l_list)}
    own = getattr(sym, "l_list_indices", None)
    if own is not None and {tuple(k): int(v) for k, v in own.items()} != l_index:
        raise _refuse("Symmetrizer", "l_list_indices", "differ from the AngularComponent order")

    def integral(x):
        x = float(x) if not isinstance(x, int) else x
        if isinstance(x, float) and x.is_integer():
            return int(x)
        return x

    table = [[[[0], 1]]]
    nu_of_feature = [1]
    for nu in range(2, max_nu + 1):
        groups = sym.indice_dict_allnu.get(nu, {})
        for _key, terms in groups.items():
            entry = []
            for term in terms:
                indices, prefactor = term[0], term[-1]
                indices = [int(i) for i in indices]
                if len(indices) != nu:
                    raise _refuse("Symmetrizer", f"a nu={nu} term with {len(indices)} factors")
                entry.append([indices, integral(prefactor)])
            table.append(entry)
            nu_of_feature.append(nu)
    return {"n_sym": len(table), "nu_of_feature": nu_of_feature, "table": table}


def _message_passing(rep, names: _Names, max_l: int, n_ang: int, n_radial_basis: int,
                     n_channels: int, n_sym: int):
    layers = []
    present = {"M": False, "Ar": False, "Bchi": False}
    coef_shape = (n_radial_basis, n_channels)
    groups = max_l + 1
    for t, triple in enumerate(rep.message_passing_list):
        triple = list(triple)
        if len(triple) != 3:
            raise _refuse(f"Cace.message_passing_list[{t}]", f"{len(triple)} entries", "expected 3")
        mem, ar, bchi = triple
        prefix = f"representation.message_passing_list.{t}"
        layer = {"M": None, "Ar": None, "Bchi": None}
        if mem is not None:
            if not _exactly(mem, "NodeMemory"):
                raise _refuse(f"message passing layer {t} slot 0 ({_cls(mem)})", "type",
                              "supported: NodeMemory")
            if len(mem.memory_coef) != groups:
                raise _refuse("NodeMemory", f"{len(mem.memory_coef)} memory_coef groups")
            layer["M"] = {"memory_coef": [names(f"{prefix}.0.memory_coef.{g}", coef_shape)
                                          for g in range(groups)]}
            present["M"] = True
        if ar is not None:
            if not _exactly(ar, "MessageAr"):
                raise _refuse(f"message passing layer {t} slot 1 ({_cls(ar)})", "type",
                              "supported: MessageAr (MessageArMLP is not used by Cace)")
            if len(ar.prefactor) != groups or len(ar.invr0) != groups:
                raise _refuse("MessageAr", "number of angular groups")
            layer["Ar"] = {"prefactor": [names(f"{prefix}.1.prefactor.{g}", coef_shape)
                                         for g in range(groups)],
                           "invr0": [names(f"{prefix}.1.invr0.{g}", coef_shape)
                                     for g in range(groups)]}
            present["Ar"] = True
        if bchi is not None:
            if not _exactly(bchi, "MessageBchi"):
                raise _refuse(f"message passing layer {t} slot 2 ({_cls(bchi)})", "type",
                              "supported: MessageBchi (MessageBA is not used by Cace)")
            owner = f"MessageBchi (layer {t}) hnet"
            if getattr(bchi, "residual", False):
                raise _refuse(owner, "residual=True")
            if getattr(bchi, "use_batchnorm", False):
                raise _refuse(owner, "use_batchnorm=True")
            hnet = _dense_stack(getattr(bchi, "hnet", None), f"{prefix}.2.hnet", owner, names)
            shared_l = getattr(bchi, "shared_l", True)
            shared_channels = getattr(bchi, "shared_channels", True) if hasattr(bchi, "shared_l") else True
            nl = 1 if shared_l else groups
            n_out = hnet[-1]["out"]
            nc = 1 if shared_channels else n_channels
            if n_out != nl * nc:
                raise _refuse(owner, f"output width {n_out}",
                              f"expected nl*nc = {nl}*{nc} for shared_l={shared_l}, "
                              f"shared_channels={shared_channels}")
            n_in = hnet[0]["in"]
            if n_in != n_radial_basis * n_sym * n_channels:
                raise _refuse(owner, f"input width {n_in}",
                              f"expected n_radial_basis*n_sym*n_channels = "
                              f"{n_radial_basis * n_sym * n_channels}")
            l_matrix = None
            if not shared_l:
                l_matrix = names(f"{prefix}.2.l_matrix", (groups, n_ang))
            layer["Bchi"] = {"shared_channels": bool(shared_channels), "shared_l": bool(shared_l),
                             "nl": nl, "nc": nc, "n_in": n_in, "hnet": hnet, "l_matrix": l_matrix}
            present["Bchi"] = True
        layers.append(layer)
    types = [k for k in ("M", "Ar", "Bchi") if present[k]]
    return {"types": types, "layers": layers}


def _representation(rep, state, names: _Names):
    if rep is None:
        raise _refuse("NeuralNetworkPotential", "representation=None")
    if not _exactly(rep, "Cace"):
        raise _refuse(f"representation {_cls(rep)}", "type", "only Cace is supported")
    if getattr(rep, "charge_spin_key", None) is not None:
        raise _refuse("Cace", f"charge_spin_key={rep.charge_spin_key!r}",
                      "charge/spin embeddings are not supported")
    if not _exactly(rep.node_onehot, "NodeEncoder"):
        raise _refuse(f"node encoder {_cls(rep.node_onehot)}", "type",
                      "only the one-hot NodeEncoder is supported")
    if not _exactly(rep.edge_coding, "EdgeEncoder"):
        raise _refuse(f"edge encoder {_cls(rep.edge_coding)}", "type",
                      "only EdgeEncoder is supported")
    if not _exactly(rep.angular_basis, "AngularComponent"):
        raise _refuse(f"angular basis {_cls(rep.angular_basis)}", "type",
                      "only the CPU AngularComponent is supported")
    if not _exactly(rep.radial_transform, "SharedRadialLinearTransform"):
        raise _refuse(f"radial transform {_cls(rep.radial_transform)}", "type")
    if getattr(rep.radial_transform, "channel_dim", None) is None:
        raise _refuse("SharedRadialLinearTransform", "channel_dim=None")

    zs = [int(z) for z in rep.zs]
    index_map = state["representation.node_onehot.index_map"].detach().cpu().long().tolist()
    expect = [zs.index(z) if z in zs else -1 for z in range(max(zs) + 1)]
    if index_map != expect:
        raise _refuse("NodeEncoder", "index_map does not match Cace.zs")

    max_l, max_nu = int(rep.max_l), int(rep.max_nu)
    T = int(rep.num_message_passing)
    if len(rep.message_passing_list) != T:
        raise _refuse("Cace", f"num_message_passing={T} but {len(rep.message_passing_list)} layers")
    K = int(rep.n_atom_basis)
    C = K * K
    if int(rep.n_edge_channels) != C:
        raise _refuse("Cace", f"n_edge_channels={rep.n_edge_channels}", "expected n_atom_basis^2")
    nz = len(zs)
    n_rbf = int(rep.n_radial_func)
    M = int(rep.n_radial_basis)

    l_list = [[int(x) for x in v] for v in rep.l_list]
    n_ang = (max_l + 1) * (max_l + 2) * (max_l + 3) // 6
    if len(l_list) != n_ang:
        raise _refuse("Cace", f"l_list of length {len(l_list)}", f"expected {n_ang}")
    groups = rep.radial_transform.angular_dim_groups.detach().cpu().long().tolist()
    sizes = [(l + 1) * (l + 2) // 2 for l in range(max_l + 1)]
    starts = [sum(sizes[:l]) for l in range(max_l + 1)]
    if groups != [[s, s + n] for s, n in zip(starts, sizes)]:
        raise _refuse("SharedRadialLinearTransform", f"angular_dim_groups={groups}")
    for l in range(max_l + 1):
        for v in l_list[groups[l][0]:groups[l][1]]:
            if sum(v) != l:
                raise _refuse("AngularComponent", "l_list is not grouped by l")

    embed_receiver = rep.node_embedding_receiver is not rep.node_embedding_sender
    for which in ("sender", "receiver"):
        emb = getattr(rep, f"node_embedding_{which}")
        if not _exactly(emb, "NodeEmbedding"):
            raise _refuse(f"node_embedding_{which} {_cls(emb)}", "type")
    emb_s = names("representation.node_embedding_sender.embedding_weights", (nz, K))
    emb_r = names("representation.node_embedding_receiver.embedding_weights", (nz, K))

    rt_weights = [names(f"representation.radial_transform.weights.{g}", (n_rbf, M, C))
                  for g in range(max_l + 1)]
    if len(rep.radial_transform.weights) != max_l + 1:
        raise _refuse("SharedRadialLinearTransform", f"{len(rep.radial_transform.weights)} weight groups")

    radial = _radial_basis(rep.radial_basis, names, n_rbf)
    cutoff_fn = _cutoff_fn(rep.cutoff_fn)
    # The buffers the cutoff function and the radial basis read must be exported too.
    names("representation.cutoff_fn.cutoff", ())
    if cutoff_fn["type"] == "polynomial":
        names("representation.cutoff_fn.p", ())
    if cutoff_fn["type"] == "mollifier":
        names("representation.cutoff_fn.eps", ())

    sym = _symmetrizer(rep.symmetrizer, max_l, max_nu, l_list)
    S = sym["n_sym"]
    mp = _message_passing(rep, names, max_l, n_ang, M, C, S)

    mp_norm = float(rep.mp_norm_factor)
    directed = bool(getattr(rep.edge_coding, "directed", True))
    info = {
        "zs": zs,
        "cutoff": float(rep.cutoff),
        "n_atom_basis": K,
        "n_channels": C,
        "embed_receiver_nodes": bool(embed_receiver),
        "max_l": max_l,
        "max_nu": max_nu,
        "num_message_passing": T,
        "n_radial_func": n_rbf,
        "n_radial_basis": M,
        "avg_num_neighbors": 1.0 / mp_norm ** 2,
        "mp_norm_factor": mp_norm,
        "radial_basis": radial,
        "cutoff_fn": cutoff_fn,
        "edge_encoder": {"type": "EdgeEncoder", "directed": directed,
                         "channel_index": CHANNEL_INDEX[directed]},
        "node_embedding": {"sender": emb_s, "receiver": emb_r, "shape": [nz, K]},
        "angular": {"lxlylz": l_list, "l_groups": groups},
        "radial_transform": {"weights": rt_weights, "shape": [n_rbf, M, C]},
        "symmetrizer": sym,
        "message_passing": mp,
        "node_feats_shape": ["n_atoms", M, S, C, T + 1],
        "n_features": M * S * C * (T + 1),
    }
    return info


# --------------------------------------------------------------------------------------
# output modules


def _atomwise(head, h: int, names: _Names, n_features: int):
    owner = f"output_modules[{h}] Atomwise"
    feature_key = getattr(head, "feature_key", None) or "node_feats"
    if feature_key != "node_feats":
        raise _refuse(owner, f"feature_key={feature_key!r}", "only 'node_feats' is supported")
    if getattr(head, "residual", False):
        raise _refuse(owner, "residual=True")
    if getattr(head, "use_batchnorm", False):
        raise _refuse(owner, "use_batchnorm=True")
    if getattr(head, "post_process", None) is not None:
        raise _refuse(owner, "post_process", "post-processing functions are not supported")
    if int(head.n_out) != 1:
        raise _refuse(owner, f"n_out={head.n_out}", "only n_out=1 is supported (no multi-head output)")
    aggregation = getattr(head, "aggregation_mode", "sum")
    if aggregation != "sum":
        raise _refuse(owner, f"aggregation_mode={aggregation!r}", "only 'sum' is supported")
    if not _is_silu(head.activation):
        raise _refuse(owner, f"activation={_act_name(head.activation)}", "only SiLU is supported")
    if getattr(head, "outnet", None) is None:
        raise _refuse(owner, "outnet is None (lazy layers were never built)",
                      "run one forward pass before saving")
    outnet = _dense_stack(head.outnet, f"output_modules.{h}.outnet", owner, names)
    if outnet[0]["in"] != n_features:
        raise _refuse(owner, f"n_in={outnet[0]['in']}", f"the representation gives {n_features} features")
    if outnet[-1]["out"] != 1:
        raise _refuse(owner, f"output width {outnet[-1]['out']}")
    add_linear = bool(getattr(head, "add_linear_nn", False))
    linear = None
    if add_linear:
        lin = getattr(head, "linear_nn", None)
        if lin is None:
            raise _refuse(owner, "add_linear_nn=True but linear_nn is None")
        layer = _dense_layers([lin], [f"output_modules.{h}.linear_nn"], owner + " linear_nn", names)[0]
        if layer["in"] != n_features or layer["out"] != 1:
            raise _refuse(owner, f"linear_nn of shape {layer['in']}->{layer['out']}")
        linear = layer
    biases = [l["bias"] is not None for l in outnet] + ([linear["bias"] is not None] if linear else [])
    if len(set(biases)) != 1:
        raise _refuse(owner, "bias on some layers only")
    return {
        "module_index": h,
        "type": "Atomwise",
        "feature_key": "node_feats",
        "n_in": outnet[0]["in"],
        "n_out": 1,
        "n_layers": len(outnet),
        "n_hidden": [l["out"] for l in outnet[:-1]],
        "activation": "silu",
        "bias": biases[0],
        "residual": False,
        "use_batchnorm": False,
        "add_linear_nn": add_linear,
        "aggregation_mode": "sum",
        "output_key": head.output_key,
        "per_atom_output_key": getattr(head, "per_atom_output_key", None),
        "outnet": outnet,
        "linear_nn": linear,
    }


def _ewald(mod, h: int):
    owner = f"output_modules[{h}] EwaldPotential"
    exponent = getattr(mod, "exponent", 1)
    if exponent != 1:
        raise _refuse(owner, f"exponent={exponent}", "only electrostatics (exponent=1) is supported")
    if getattr(mod, "external_field", None) is not None:
        raise _refuse(owner, "external_field", "external electric fields are not supported")
    if getattr(mod, "charge_neutral_lambda", None) is not None:
        raise _refuse(owner, "charge_neutral_lambda", "the charge-neutrality penalty is not supported")
    if getattr(mod, "static_Nk", None) is not None:
        raise _refuse(owner, "static_Nk", "a fixed k-grid is not supported")
    if getattr(mod, "aggregation_mode", "sum") != "sum":
        raise _refuse(owner, f"aggregation_mode={mod.aggregation_mode!r}")
    return {
        "module_index": h,
        "type": "EwaldPotential",
        "feature_key": mod.feature_key,
        "output_key": mod.output_key,
        "dl": float(mod.dl),
        "sigma": float(mod.sigma),
        "exponent": 1,
        "k_sq_max": float(mod.k_sq_max),
        "norm_factor": float(mod.norm_factor),
        "remove_self_interaction": bool(mod.remove_self_interaction),
    }


def _outputs(model, names: _Names, n_features: int, energy_key_override: Optional[str]):
    heads, feature_add, ewald, forces = [], [], [], []
    for h, mod in enumerate(model.output_modules):
        if _exactly(mod, "Atomwise"):
            heads.append(_atomwise(mod, h, names, n_features))
        elif _exactly(mod, "EwaldPotential"):
            ewald.append(_ewald(mod, h))
        elif _exactly(mod, "FeatureAdd"):
            feature_add.append({"module_index": h, "type": "FeatureAdd",
                                "feature_keys": list(mod.feature_keys), "output_key": mod.output_key})
        elif _exactly(mod, "Forces"):
            forces.append({"module_index": h, "energy_key": mod.energy_key,
                           "forces_key": mod.forces_key, "stress_key": mod.stress_key,
                           "virials_key": getattr(mod, "virial_key", None),
                           "calc_forces": bool(mod.calc_forces), "calc_stress": bool(mod.calc_stress)})
        else:
            raise _refuse(f"output_modules[{h}] {_cls(mod)}", "type",
                          "supported output modules: Atomwise, EwaldPotential, FeatureAdd, Forces")
    if len(ewald) > 1:
        raise _refuse("EwaldPotential", f"{len(ewald)} Ewald modules", "at most one is supported")
    if len(forces) > 1:
        raise _refuse("Forces", f"{len(forces)} Forces modules", "at most one is supported")
    if not heads:
        raise _refuse("NeuralNetworkPotential", "no Atomwise output module")

    # Which module produces which output, in evaluation order.
    produced: Dict[str, str] = {}
    for entry in sorted(heads + ewald + feature_add, key=lambda e: e["module_index"]):
        if entry["type"] == "Atomwise":
            outs = [entry["output_key"]] + ([entry["per_atom_output_key"]]
                                            if entry["per_atom_output_key"] else [])
        elif entry["type"] == "EwaldPotential":
            q = [x for x in heads if x["per_atom_output_key"] == entry["feature_key"]]
            if not q or q[0]["module_index"] > entry["module_index"]:
                raise _refuse(f"output_modules[{entry['module_index']}] EwaldPotential",
                              f"feature_key={entry['feature_key']!r}",
                              "it must be the per_atom_output_key of an earlier Atomwise head")
            outs = [entry["output_key"]]
        else:
            for key in entry["feature_keys"]:
                if key not in produced or produced[key] == "per_atom":
                    raise _refuse(f"output_modules[{entry['module_index']}] FeatureAdd",
                                  f"feature_keys contains {key!r}",
                                  "only totals produced by earlier Atomwise, Ewald or FeatureAdd "
                                  "modules can be added")
            outs = [entry["output_key"]]
        for i, key in enumerate(outs):
            produced[key] = "per_atom" if (entry["type"] == "Atomwise" and i == 1) else "total"

    forces_info = forces[0] if forces else None
    if energy_key_override is not None:
        energy_key = energy_key_override
    elif forces_info is not None:
        energy_key = forces_info["energy_key"]
    else:
        raise _refuse("NeuralNetworkPotential", "no Forces output module",
                      "the potential-energy output is unknown; pass --energy-key")
    if produced.get(energy_key) != "total":
        raise _refuse("NeuralNetworkPotential", f"energy key {energy_key!r}",
                      "it is not a total produced by an Atomwise, EwaldPotential or FeatureAdd module")
    return heads, (ewald[0] if ewald else None), feature_add, forces_info, energy_key


# --------------------------------------------------------------------------------------
# top level


def _check_top(model):
    name = _cls(model)
    if name == "CombinePotential":
        raise _refuse("CombinePotential", "top-level model",
                      "ensembles / combined potentials are not supported; export each "
                      "NeuralNetworkPotential separately")
    if name != "NeuralNetworkPotential":
        raise _refuse(f"top-level model {name}", "type", "only NeuralNetworkPotential is supported")
    if getattr(model, "do_postprocessing", False) and len(getattr(model, "postprocessors", []) or []) > 0:
        raise _refuse("NeuralNetworkPotential", "postprocessors with do_postprocessing=True")
    for i, mod in enumerate(getattr(model, "input_modules", []) or []):
        if not _exactly(mod, "Preprocess"):
            raise _refuse(f"input_modules[{i}] {_cls(mod)}", "type", "only Preprocess is supported")


def build_export(model, atomic_energies: Optional[Dict[str, float]] = None,
                 source: Optional[str] = None,
                 energy_key: Optional[str] = None) -> Tuple[Dict[str, np.ndarray], dict]:
    """Return (tensors as float64 numpy arrays keyed by state_dict key, metadata dict)."""
    _check_top(model)
    state = model.state_dict()
    names = _Names(state)
    rep = _representation(model.representation, state, names)
    heads, ewald, feature_add, forces, energy_key = _outputs(model, names, rep["n_features"], energy_key)

    outputs = getattr(model, "model_outputs", None)
    if outputs is None:
        model.collect_outputs()
        outputs = model.model_outputs
    output_keys = sorted(set(outputs))

    meta = {"format_version": FORMAT_VERSION, "units": dict(UNITS)}
    meta.update(rep)
    meta["heads"] = heads
    meta["ewald"] = ewald
    meta["feature_add"] = feature_add
    meta["forces"] = forces
    meta["energy_key"] = energy_key
    meta["output_keys"] = output_keys
    meta["atomic_energies"] = atomic_energies if atomic_energies else None
    meta["atomic_energies_note"] = ATOMIC_ENERGIES_NOTE
    meta["source"] = source if source is not None else "upstream CACE model, converted to float64 by cace-export"

    tensors = {}
    for key, value in state.items():
        array = value.detach().cpu()
        if array.is_complex():
            raise _refuse("state_dict", f"complex tensor {key}")
        tensors[key] = array.double().numpy().astype("<f8", copy=True)
        if not np.all(np.isfinite(tensors[key])):
            raise _refuse("state_dict", f"tensor {key} holds NaN or infinite values")
    _check_names_exist(meta, tensors)
    return tensors, meta


def _check_names_exist(meta, tensors):
    """Every tensor name the metadata mentions must be stored."""
    missing = []

    def walk(x, key=None):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, str) and key in ("weight", "bias", "weights", "memory_coef", "prefactor",
                                            "invr0", "l_matrix", "sender", "receiver",
                                            "bessel_weights", "offsets", "widths", "r0"):
            if x not in tensors:
                missing.append(x)

    for section in ("radial_basis", "node_embedding", "radial_transform", "message_passing", "heads"):
        walk(meta[section])
    if missing:
        raise UnsupportedModel(f"internal error: metadata names tensors that are not stored: {missing}")


def metadata_string(meta: dict) -> str:
    return json.dumps(meta)


def export_model(model, out_path: str, atomic_energies: Optional[Dict[str, float]] = None,
                 source: Optional[str] = None, energy_key: Optional[str] = None) -> dict:
    tensors, meta = build_export(model, atomic_energies=atomic_energies, source=source,
                                 energy_key=energy_key)
    write_safetensors(out_path, tensors, {"cace": metadata_string(meta)})
    return meta
