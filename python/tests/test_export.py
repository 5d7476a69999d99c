"""Tests of cace-export.

Tests that need upstream CACE (torch, ase, matscipy and the `cace` package, e.g. a checkout
on PYTHONPATH or in $CACE_UPSTREAM) are skipped with a reason when it cannot be imported.
The comparison with the trained water model also needs $CACE_UPSTREAM (for
benchmark/best_model.pth) and the shared reference files (../shared/reference relative to
the repository root). The --check tests need the Swift `cace` binary
(`swift build -c release --product cace`).
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(PYTHON_DIR)
REFERENCE_DIR = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "reference"))
UPSTREAM_DIR = os.environ.get("CACE_UPSTREAM")

if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)
if UPSTREAM_DIR and os.path.isdir(os.path.join(UPSTREAM_DIR, "cace")) and UPSTREAM_DIR not in sys.path:
    sys.path.insert(0, UPSTREAM_DIR)

from pair_cace.export import cli  # noqa: E402
from pair_cace.export.check import compare, find_cace_binary  # noqa: E402
from pair_cace.export.e0 import E0Error, e0_for_model, load_e0_file, parse_e0_args  # noqa: E402
from pair_cace.export.safetensors_io import read_header, read_safetensors, write_safetensors  # noqa: E402


def _upstream_missing_reason():
    try:
        import torch  # noqa: F401
    except ImportError as err:
        return f"PyTorch is not importable ({err}); pip install torch (CPU wheel)"
    try:
        import ase  # noqa: F401
        import matscipy  # noqa: F401
    except ImportError as err:
        return f"ase/matscipy are not importable ({err}); pip install ase matscipy"
    try:
        import cace  # noqa: F401
        from cace.representations import Cace  # noqa: F401
    except ImportError as err:
        return (f"upstream CACE is not importable ({err}); set CACE_UPSTREAM to a checkout of "
                "github.com/BingqingCheng/cace or put it on PYTHONPATH")
    return None


UPSTREAM_REASON = _upstream_missing_reason()
needs_upstream = pytest.mark.skipif(UPSTREAM_REASON is not None, reason=str(UPSTREAM_REASON))

CACE_BINARY = find_cace_binary()
needs_binary = pytest.mark.skipif(
    CACE_BINARY is None,
    reason="no Swift `cace` binary (run `swift build -c release --product cace` in the repository, "
           "or set CACE_BINARY)")


def _meta(path):
    tensors, metadata = read_safetensors(path)
    return tensors, json.loads(metadata["cace"])


# ----------------------------------------------------------------------------------------
# No upstream needed


def test_safetensors_roundtrip(tmp_path):
    tensors = {"b.scalar": np.float64(2.5), "a.matrix": np.arange(6, dtype=np.float32).reshape(2, 3),
               "c.int": np.array([0, -1, 7], dtype=np.int64)}
    path = tmp_path / "x.safetensors"
    write_safetensors(str(path), tensors, {"cace": json.dumps({"k": 1})})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header, start = read_header(str(path))
    assert list(header)[0] == "__metadata__"
    assert list(header)[1:] == ["a.matrix", "b.scalar", "c.int"]
    assert header["b.scalar"]["shape"] == []
    assert all(v["dtype"] == "F64" for k, v in header.items() if k != "__metadata__")
    back, meta = read_safetensors(str(path))
    assert json.loads(meta["cace"]) == {"k": 1}
    assert back["b.scalar"].shape == () and back["b.scalar"] == 2.5
    np.testing.assert_array_equal(back["a.matrix"], np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(back["c.int"], [0, -1, 7])
    assert len(raw) == start + 8 * (6 + 1 + 3)


def test_e0_parsing():
    assert parse_e0_args(["H=-13.6", "O=-432.1"]) == {1: -13.6, 8: -432.1}
    assert parse_e0_args(["1=-13.6,8=-432.1"]) == {1: -13.6, 8: -432.1}
    assert parse_e0_args(["cu=1e-3", "Zn=-2"]) == {29: 1e-3, 30: -2.0}
    for bad, message in [(["H"], "ELEMENT=ENERGY"), (["Hx=-1"], "unknown element"),
                         (["H=abc"], "not a number"), (["H=nan"], "finite"),
                         (["H=-1", "1=-2"], "more than once"), (["0=-1"], "out of range"),
                         ([], "no ELEMENT=ENERGY")]:
        with pytest.raises(E0Error, match=message):
            parse_e0_args(bad)


def test_e0_file(tmp_path):
    path = tmp_path / "e0.json"
    path.write_text(json.dumps({"H": -187.6043857100553, "8": -93.80219285502734}))
    assert load_e0_file(str(path)) == {1: -187.6043857100553, 8: -93.80219285502734}
    path.write_text("[1, 2]")
    with pytest.raises(E0Error, match="JSON object"):
        load_e0_file(str(path))
    path.write_text("{not json")
    with pytest.raises(E0Error, match="not valid JSON"):
        load_e0_file(str(path))
    with pytest.raises(E0Error, match="e0-file"):
        load_e0_file(str(tmp_path / "missing.json"))


def test_e0_for_model():
    assert e0_for_model({8: -2.0, 1: -1.0}, [1, 8]) == {"1": -1.0, "8": -2.0}
    assert list(e0_for_model({8: -2.0, 1: -1.0}, [8, 1])) == ["8", "1"]
    assert e0_for_model({1: -1.0}, [1, 8]) == {"1": -1.0}
    with pytest.raises(E0Error, match=r"C \(Z=6\).*does not know"):
        e0_for_model({1: -1.0, 6: -3.0}, [1, 8])


def test_cli_rejects_bad_e0(tmp_path, capsys):
    model = tmp_path / "m.pth"
    model.write_bytes(b"")
    with pytest.raises(SystemExit) as exc:
        cli.main([str(model), str(tmp_path / "out.safetensors"), "--e0", "H=oops"])
    assert exc.value.code == 2
    assert "not a number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main([str(model), str(tmp_path / "out.safetensors"), "--e0", "H=-1", "--e0-file", "x.json"])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_compare_flags_differences():
    from ase import Atoms

    atoms = Atoms("H2", positions=[[0, 0, 0], [0, 0, 1]])
    ref = [{"energy": -1.0, "forces": np.array([[0, 0, 1.0], [0, 0, -1.0]]), "stress": None}]
    ok = [{"energy": -1.0 + 1e-12, "forces": ref[0]["forces"] + 1e-12, "stress": None}]
    bad = [{"energy": -1.0, "forces": ref[0]["forces"] + [[0, 0, 1e-4], [0, 0, 0]], "stress": None}]
    assert compare(ref, ok, [atoms], 1e-8).passed
    result = compare(ref, bad, [atoms], 1e-6)
    assert not result.passed and result.max_force_rel == pytest.approx(1e-4)


# ----------------------------------------------------------------------------------------
# Upstream needed


def _export(model, path, **kwargs):
    from pair_cace.export.exporter import export_model

    return export_model(model, str(path), **kwargs)


@needs_upstream
def test_water_model_matches_reference(tmp_path, capsys):
    if not UPSTREAM_DIR:
        pytest.skip("CACE_UPSTREAM is not set (needed for benchmark/best_model.pth)")
    pth = os.path.join(UPSTREAM_DIR, "benchmark", "best_model.pth")
    if not os.path.isfile(pth):
        pytest.skip(f"{pth} does not exist")
    reference = os.path.join(REFERENCE_DIR, "water_trained", "model.safetensors")
    if not os.path.isfile(reference):
        pytest.skip(f"shared reference {reference} is absent")

    ref_tensors, ref_meta = _meta(reference)
    out = tmp_path / "water.safetensors"
    assert cli.main([pth, str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    tensors, meta = _meta(str(out))

    # Metadata: every field equal, except the free-text provenance.
    assert set(meta) == set(ref_meta)
    for key in ref_meta:
        if key == "source":
            continue
        assert meta[key] == ref_meta[key], f"metadata field {key} differs"
    # Tensors: the same keys, shapes and values (float32 -> float64 is exact).
    assert sorted(tensors) == sorted(ref_tensors)
    for key, value in ref_tensors.items():
        assert tensors[key].shape == value.shape, key
        np.testing.assert_array_equal(tensors[key], value, err_msg=key)

    # With the reference's provenance text the file is byte-identical.
    out2 = tmp_path / "water2.safetensors"
    assert cli.main([pth, str(out2), "--source", ref_meta["source"]]) == 0
    assert out2.read_bytes() == open(reference, "rb").read()


@needs_upstream
@pytest.mark.parametrize("case", ["rand_1el_l2_nu2_mp0", "rand_3el_l3_nu3_mp1_MArBchi",
                                  "rand_3el_l2_nu4_mp2_Bchi_gauss_cos",
                                  "rand_2el_l3_nu4_mp1_MAr_expdecay_mollifier"])
def test_reference_random_models_reproduced(case, tmp_path):
    """Rebuild each random reference architecture with upstream from its config, load the
    reference weights, export: the file must be byte-identical to the reference."""
    import torch
    from upstream_models import build_model

    reference = os.path.join(REFERENCE_DIR, case, "model.safetensors")
    if not os.path.isfile(reference):
        pytest.skip(f"shared reference {reference} is absent")
    ref_tensors, ref_meta = _meta(reference)
    config = json.loads(ref_meta["source"].split(" config ", 1)[1])
    model = build_model(config)
    state = model.state_dict()
    assert sorted(state) == sorted(ref_tensors)
    model.load_state_dict({k: torch.tensor(v, dtype=state[k].dtype).reshape(state[k].shape)
                           for k, v in ref_tensors.items()})
    out = tmp_path / "model.safetensors"
    meta = _export(model, out, source=ref_meta["source"])
    for key in ref_meta:
        assert meta[key] == ref_meta[key], f"metadata field {key} differs"
    assert out.read_bytes() == open(reference, "rb").read()


RANDOM_CONFIGS = {
    "MArBchi_bessel_poly": dict(seed=11, zs=[1, 6, 8], cutoff=4.5, n_atom_basis=3, n_rbf=6,
                                n_radial_basis=5, max_l=3, max_nu=3, nmp=1,
                                mp_types=["M", "Ar", "Bchi"], embed_receiver=True, rbf="bessel",
                                rbf_trainable=True, cutoff_fn=["polynomial", 5], avg_nn=12.0,
                                head={"n_hidden": [12, 6], "bias": True, "add_linear_nn": True}),
    "Bchi2_gauss_cos": dict(seed=12, zs=[13, 29], cutoff=5.0, n_atom_basis=2, n_rbf=5,
                            n_radial_basis=4, max_l=2, max_nu=3, nmp=2, mp_types=["Bchi"],
                            embed_receiver=False, rbf="gaussian", rbf_trainable=True,
                            cutoff_fn=["cosine"], avg_nn=20.0,
                            bchi_args={"shared_channels": False, "shared_l": False},
                            head={"n_hidden": [8, 8], "bias": True, "add_linear_nn": False}),
    "MAr_expdecay_mollifier_nu4": dict(seed=13, zs=[8, 1], cutoff=4.2, n_atom_basis=2, n_rbf=4,
                                       n_radial_basis=3, max_l=3, max_nu=4, nmp=1,
                                       mp_types=["M", "Ar"], embed_receiver=True, rbf="expdecay",
                                       rbf_trainable=False, cutoff_fn=["mollifier"], avg_nn=8.0,
                                       head={"n_hidden": [8], "bias": False, "add_linear_nn": True}),
    "undirected_gausscentered_Bchi_hidden": dict(
        seed=14, zs=[14, 6], cutoff=4.0, n_atom_basis=2, n_rbf=4, n_radial_basis=4, max_l=2,
        max_nu=2, nmp=1, mp_types=["M", "Bchi"], embed_receiver=True, directed=False,
        rbf="gaussian_centered", rbf_trainable=False, cutoff_fn=["polynomial", 6], avg_nn=10.0,
        bchi_args={"n_layers": 2, "n_hidden": [6], "shared_channels": False},
        head={"n_hidden": [10, 5], "bias": True, "add_linear_nn": False}),
}


def _relative_diffs(text):
    energy = float(re.search(r"largest energy difference: \S+ eV \(relative (\S+)\)", text).group(1))
    force = float(re.search(r"largest force difference: +\S+ eV/Angstrom \(relative to the largest "
                            r"force (\S+)\)", text).group(1))
    return energy, force


def _write_structures(path, cfg):
    import ase.io
    from upstream_models import small_structures

    ase.io.write(str(path), small_structures(cfg["zs"], cfg["cutoff"], seed=cfg["seed"]),
                 format="extxyz")


@needs_upstream
@needs_binary
@pytest.mark.parametrize("name", sorted(RANDOM_CONFIGS))
def test_check_random_models(name, tmp_path, capsys):
    import torch
    from upstream_models import build_model

    cfg = RANDOM_CONFIGS[name]
    model = build_model(cfg)
    pth = tmp_path / "model.pth"
    torch.save(model, str(pth))
    xyz = tmp_path / "structures.xyz"
    _write_structures(xyz, cfg)
    out = tmp_path / "model.safetensors"
    code = cli.main(["--check", str(pth), str(xyz), "--cace", CACE_BINARY, "--out", str(out),
                     "--tolerance", "1e-8"])
    text = capsys.readouterr().out
    print(text)
    assert code == 0, text
    energy_rel, force_rel = _relative_diffs(text)
    assert energy_rel <= 1e-8 and force_rel <= 1e-8
    _, meta = _meta(str(out))
    assert meta["num_message_passing"] == cfg["nmp"]
    assert meta["message_passing"]["types"] == [t for t in ("M", "Ar", "Bchi") if t in cfg["mp_types"]]
    assert meta["edge_encoder"]["directed"] == cfg.get("directed", True)


@needs_upstream
@needs_binary
def test_check_with_e0(tmp_path, capsys):
    import torch
    from upstream_models import build_model

    cfg = RANDOM_CONFIGS["MAr_expdecay_mollifier_nu4"]
    model = build_model(cfg)
    pth = tmp_path / "model.pth"
    torch.save(model, str(pth))
    xyz = tmp_path / "structures.xyz"
    _write_structures(xyz, cfg)
    out = tmp_path / "model.safetensors"
    code = cli.main(["--check", str(pth), str(xyz), "--e0", "H=-13.6", "O=-432.1", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    _, meta = _meta(str(out))
    assert meta["atomic_energies"] == {"8": -432.1, "1": -13.6}
    assert list(meta["atomic_energies"]) == ["8", "1"]  # the model's element order


@needs_upstream
def test_e0_stored_and_checked(tmp_path, capsys):
    import torch
    from upstream_models import build_model

    model = build_model(RANDOM_CONFIGS["MAr_expdecay_mollifier_nu4"])
    pth = tmp_path / "model.pth"
    torch.save(model, str(pth))
    out = tmp_path / "m.safetensors"
    e0 = tmp_path / "e0.json"
    e0.write_text(json.dumps({"H": -187.6043857100553}))
    assert cli.main([str(pth), str(out), "--e0-file", str(e0)]) == 0
    captured = capsys.readouterr()
    assert "no reference energy for O" in captured.err
    _, meta = _meta(str(out))
    assert meta["atomic_energies"] == {"1": -187.6043857100553}
    assert cli.main([str(pth), str(out), "--e0", "H=-1", "C=-2"]) == 2
    assert "does not know" in capsys.readouterr().err


# ---- unsupported options ----------------------------------------------------------------

SMALL = dict(seed=5, zs=[1, 8], cutoff=4.0, n_atom_basis=2, n_rbf=4, n_radial_basis=3, max_l=2,
             max_nu=2, nmp=1, mp_types=["M", "Ar", "Bchi"], embed_receiver=False, rbf="bessel",
             cutoff_fn=["polynomial", 6], head={"n_hidden": [6], "bias": True, "add_linear_nn": True})


def _mutations():
    """(id, mutate(model) -> model, expected message regex)."""
    def head(m):
        return m.output_modules[0]

    def set_attr(get, attr, value):
        def mutate(m):
            setattr(get(m), attr, value)
            return m
        return mutate

    def combine(m):
        from cace.models import CombinePotential
        return CombinePotential([m, m], [{"CACE_energy": "CACE_energy"}, {"CACE_energy": "CACE_energy"}])

    def switch(m):
        from cace.modules import SwitchFunction
        m.representation.cutoff_fn = SwitchFunction(1.0, 4.0)
        return m

    def element_encoder(m):
        from cace.modules import ElementEncoder
        m.representation.node_onehot = ElementEncoder()
        return m

    def inter_intra(m):
        from cace.modules import EdgeEncoder_InterIntra
        m.representation.edge_coding = EdgeEncoder_InterIntra()
        return m

    def ar_mlp(m):
        from cace.modules import MessageArMLP
        m.representation.message_passing_list[0][1] = MessageArMLP(cutoff=4.0, max_l=2,
                                                                   radial_embedding_dim=3, channel_dim=4)
        return m

    def ewald(exponent=1, **kw):
        def mutate(m):
            from cace.modules import EwaldPotential
            m.output_modules[0].per_atom_output_key = "q"
            m.output_modules.insert(1, EwaldPotential(exponent=exponent, **kw))
            return m
        return mutate

    def two_ewald(m):
        from cace.modules import EwaldPotential
        m.output_modules[0].per_atom_output_key = "q"
        m.output_modules.insert(1, EwaldPotential())
        m.output_modules.insert(1, EwaldPotential())
        return m

    def polarization(m):
        from cace.modules import Polarization
        m.output_modules.insert(1, Polarization())
        return m

    def postprocess(m):
        from cace.modules import Transform
        m.postprocessors.append(Transform())
        m.do_postprocessing = True
        return m

    def bchi_residual(m):
        m.representation.message_passing_list[0][2].residual = True
        return m

    def lazy(m):
        m.output_modules[0].outnet = None
        return m

    def silu_off(m):
        import torch
        head(m).activation = torch.tanh
        return m

    return [
        ("CombinePotential", combine, r"CombinePotential: top-level model"),
        ("postprocessors", postprocess, r"NeuralNetworkPotential: postprocessors"),
        ("charge_spin_key", set_attr(lambda m: m.representation, "charge_spin_key", "spin"),
         r"Cace: charge_spin_key='spin'"),
        ("ElementEncoder", element_encoder, r"node encoder ElementEncoder"),
        ("EdgeEncoder_InterIntra", inter_intra, r"edge encoder EdgeEncoder_InterIntra"),
        ("SwitchFunction", switch, r"cutoff function SwitchFunction"),
        ("MessageArMLP", ar_mlp, r"MessageArMLP"),
        ("Bchi residual", bchi_residual, r"MessageBchi \(layer 0\) hnet: residual=True"),
        ("Atomwise residual", set_attr(head, "residual", True), r"Atomwise: residual=True"),
        ("Atomwise batchnorm", set_attr(head, "use_batchnorm", True), r"Atomwise: use_batchnorm=True"),
        ("Atomwise post_process", set_attr(head, "post_process", abs), r"Atomwise: post_process"),
        ("Atomwise n_out", set_attr(head, "n_out", 2), r"Atomwise: n_out=2"),
        ("Atomwise avg", set_attr(head, "aggregation_mode", "avg"), r"Atomwise: aggregation_mode='avg'"),
        ("Atomwise feature_key", set_attr(head, "feature_key", "node_feats_A"),
         r"Atomwise: feature_key='node_feats_A'"),
        ("Atomwise activation", silu_off, r"Atomwise: activation=tanh"),
        ("lazy outnet", lazy, r"Atomwise: outnet is None"),
        ("Ewald exponent 6", ewald(exponent=6), r"EwaldPotential: exponent=6"),
        ("Ewald external field", ewald(external_field=0.1), r"EwaldPotential: external_field"),
        ("Ewald charge_neutral_lambda", ewald(charge_neutral_lambda=1.0),
         r"EwaldPotential: charge_neutral_lambda"),
        ("two Ewald", two_ewald, r"EwaldPotential: 2 Ewald modules"),
        ("Polarization", polarization, r"output_modules\[1\] Polarization: type"),
    ]


@needs_upstream
@pytest.mark.parametrize("case", _mutations(), ids=lambda c: c[0])
def test_unsupported_options_refused(case):
    from pair_cace.export.exporter import UnsupportedModel, build_export
    from upstream_models import build_model

    _name, mutate, message = case
    model = mutate(build_model(SMALL))
    with pytest.raises(UnsupportedModel, match=message) as exc:
        build_export(model)
    assert str(exc.value).startswith("unsupported model: ")


@needs_upstream
def test_unsupported_option_cli_message(tmp_path, capsys):
    import torch
    from upstream_models import build_model

    model = build_model(SMALL)
    model.output_modules[0].residual = True
    pth = tmp_path / "model.pth"
    torch.save(model, str(pth))
    out = tmp_path / "out.safetensors"
    assert cli.main([str(pth), str(out)]) == 2
    err = capsys.readouterr().err
    assert "unsupported model: output_modules[0] Atomwise: residual=True" in err
    assert not out.exists()


@needs_upstream
def test_lazy_bchi_never_run_refused():
    """A model whose lazily built layers never ran cannot be exported."""
    import torch
    from cace.models import NeuralNetworkPotential
    from cace.modules import Atomwise, BesselRBF, Forces, PolynomialCutoff
    from cace.representations import Cace
    from pair_cace.export.exporter import UnsupportedModel, build_export

    torch.set_default_dtype(torch.float64)
    rep = Cace(zs=[1], n_atom_basis=2, cutoff=3.0, radial_basis=BesselRBF(3.0, 4),
               cutoff_fn=PolynomialCutoff(3.0), max_l=1, max_nu=2, num_message_passing=1,
               type_message_passing=["Bchi"])
    model = NeuralNetworkPotential(representation=rep, output_modules=[
        Atomwise(n_layers=2, n_hidden=[4], output_key="E"), Forces(energy_key="E")])
    with pytest.raises(UnsupportedModel, match=r"MessageBchi \(layer 0\) hnet: network was never built"):
        build_export(model)


@needs_upstream
def test_console_script_entry_point(tmp_path):
    """`python -m cace_export` (the same entry point as the `cace-export` script)."""
    import torch
    from upstream_models import build_model

    model = build_model(SMALL)
    pth = tmp_path / "model.pth"
    torch.save(model, str(pth))
    out = tmp_path / "out.safetensors"
    env = dict(os.environ)
    paths = [PYTHON_DIR] + ([UPSTREAM_DIR] if UPSTREAM_DIR else []) + [p for p in sys.path if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    proc = subprocess.run([sys.executable, "-m", "cace_export", str(pth), str(out), "--e0", "H=-1.5"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    _, meta = _meta(str(out))
    assert meta["atomic_energies"] == {"1": -1.5}
    assert meta["format_version"] == 1 and meta["zs"] == [1, 8]


@needs_upstream
def test_check_fails_on_disagreement(tmp_path, capsys, monkeypatch):
    """--check exits 1 when `cace evaluate` disagrees (here: a faked evaluator)."""
    import torch
    from pair_cace.export import check
    from upstream_models import build_model

    cfg = RANDOM_CONFIGS["MAr_expdecay_mollifier_nu4"]
    model = build_model(cfg)
    pth = tmp_path / "model.pth"
    torch.save(model, str(pth))
    xyz = tmp_path / "structures.xyz"
    _write_structures(xyz, cfg)

    def fake_evaluate(binary, model_path, xyz_path):
        import ase.io
        frames = check.normalise_frames(ase.io.read(xyz_path, index=":"))
        ref = check.upstream_evaluate(torch.load(str(pth), weights_only=False), frames,
                                      "CACE_energy", "CACE_forces", "stress")
        for r in ref:
            r["energy"] *= 1 + 1e-5
        return ref

    monkeypatch.setattr(check, "swift_evaluate", fake_evaluate)
    assert cli.main(["--check", str(pth), str(xyz), "--cace", "/nonexistent/cace"]) == 1
    text = capsys.readouterr().out
    assert "FAIL" in text
    energy_rel, force_rel = _relative_diffs(text)
    assert energy_rel == pytest.approx(1e-5, rel=1e-3) and force_rel < 1e-12
