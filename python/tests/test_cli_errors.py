"""User errors of cace-export (issue 12, item 8): a bad input model or output path is
reported as one line, ``cace-export: error: <file>: <problem>``, with exit status 2, no
traceback, and no output file left behind.

Everything here runs without PyTorch (the files are checked before torch is imported); the
few cases only torch can see are skipped when it is absent.
"""

from __future__ import annotations

import io
import os
import pickle
import random
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)

if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

from pair_cace.export.safetensors_io import read_safetensors, write_safetensors  # noqa: E402


def run_cli(*args, hide_torch_dir=None):
    """Run `python -m pair_cace.export ARGS` (what the `cace-export` script runs)."""
    env = dict(os.environ)
    paths = ([hide_torch_dir] if hide_torch_dir else []) + [PYTHON_DIR] + [p for p in sys.path if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return subprocess.run([sys.executable, "-m", "pair_cace.export", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def assert_one_line_error(proc, path, *problem):
    """Exit 2 and exactly one stderr line naming `path` and every word of `problem`."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), proc.stderr
    line = lines[0]
    assert line.startswith(f"cace-export: error: {path}: "), line
    for words in problem:
        assert words in line, line
    assert proc.stdout == ""
    return line


def _pickle_bytes():
    return pickle.dumps({"weights": list(range(300)), "name": "x" * 200}, protocol=2)


def _zip_bytes():
    """A small zip laid out like torch.save's (<name>/data.pkl, <name>/version)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/data.pkl", _pickle_bytes())
        zf.writestr("model/version", "3\n")
        zf.writestr("model/data/0", bytes(range(256)) * 8)
    return buf.getvalue()


@pytest.fixture
def valid_model(tmp_path):
    """A file that passes the format checks (a complete pickle); it is never loaded, since
    the output-path errors are found first."""
    path = tmp_path / "model.pth"
    path.write_bytes(_pickle_bytes())
    return path


def _listing(directory):
    return sorted(os.listdir(directory))


# ----------------------------------------------------------------------------------------
# the input model


def test_random_bytes_are_not_a_model(tmp_path):
    model = tmp_path / "random.pth"
    data = bytes(random.Random(12).randrange(256) for _ in range(512))
    model.write_bytes(b"\x13\x37" + data)  # neither b"PK\x03\x04" nor the pickle PROTO 0x80
    out = tmp_path / "out.safetensors"
    before = _listing(tmp_path)
    line = assert_one_line_error(run_cli(model, out), model, "not a PyTorch model file")
    assert "neither a zip archive" in line and "nor a pickle" in line
    assert not out.exists() and _listing(tmp_path) == before


def test_empty_file(tmp_path):
    model = tmp_path / "empty.pth"
    model.write_bytes(b"")
    out = tmp_path / "out.safetensors"
    assert_one_line_error(run_cli(model, out), model, "empty file")
    assert not out.exists()


def test_text_file(tmp_path):
    model = tmp_path / "notes.pth"
    model.write_text("this is not a model\n")
    out = tmp_path / "out.safetensors"
    assert_one_line_error(run_cli(model, out), model, "not a PyTorch model file")
    assert not out.exists()


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.05])
def test_truncated_zip(tmp_path, fraction):
    data = _zip_bytes()
    model = tmp_path / "truncated.pth"
    model.write_bytes(data[:int(len(data) * fraction)])
    out = tmp_path / "out.safetensors"
    before = _listing(tmp_path)
    assert_one_line_error(run_cli(model, out), model, "truncated", "zip archive")
    assert not out.exists() and _listing(tmp_path) == before


def test_corrupt_zip_member(tmp_path):
    data = bytearray(_zip_bytes())
    i = data.index(bytes(range(256)))  # inside model/data/0
    data[i + 100] ^= 0xFF
    model = tmp_path / "flipped.pth"
    model.write_bytes(bytes(data))
    out = tmp_path / "out.safetensors"
    assert_one_line_error(run_cli(model, out), model, "corrupt zip archive", "model/data/0")
    assert not out.exists()


def test_zip_that_is_not_a_torch_file(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hello")
    model = tmp_path / "archive.pth"
    model.write_bytes(buf.getvalue())
    out = tmp_path / "out.safetensors"
    assert_one_line_error(run_cli(model, out), model, "without a data.pkl")
    assert not out.exists()


@pytest.mark.parametrize("fraction", [0.5, 0.02])
def test_truncated_pickle(tmp_path, fraction):
    data = _pickle_bytes()
    model = tmp_path / "legacy.pth"
    model.write_bytes(data[:int(len(data) * fraction)])
    out = tmp_path / "out.safetensors"
    before = _listing(tmp_path)
    assert_one_line_error(run_cli(model, out), model, "truncated pickle")
    assert not out.exists() and _listing(tmp_path) == before


def test_safetensors_given_as_model(tmp_path):
    model = tmp_path / "exported.safetensors"
    write_safetensors(str(model), {"a": np.zeros(3)}, {"cace": "{}"})
    out = tmp_path / "out.safetensors"
    assert_one_line_error(run_cli(model, out), model, "safetensors file", "not a PyTorch")
    assert not out.exists()


def test_missing_model(tmp_path):
    model = tmp_path / "nothere.pth"
    out = tmp_path / "out.safetensors"
    assert_one_line_error(run_cli(model, out), model, "no such file")
    assert not out.exists()


def test_model_is_a_directory(tmp_path):
    model = tmp_path / "models"
    model.mkdir()
    out = tmp_path / "out.safetensors"
    assert_one_line_error(run_cli(model, out), model, "is a directory")
    assert not out.exists()


def test_torch_missing(tmp_path, valid_model):
    """A well-formed file but no torch: say that torch is needed and how to get it."""
    hide = tmp_path / "hide"
    (hide / "torch").mkdir(parents=True)
    (hide / "torch" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    out = tmp_path / "out.safetensors"
    line = assert_one_line_error(run_cli(valid_model, out, hide_torch_dir=str(hide)),
                                 valid_model, "needs the torch package")
    assert "pip install torch" in line
    assert not out.exists()


def test_legacy_torch_file_truncated_in_storage_data(tmp_path):
    """Cut inside the raw tensor bytes of torch's legacy format: only torch.load sees it."""
    torch = pytest.importorskip("torch")
    full = tmp_path / "full.pth"
    torch.save({"w": torch.arange(1000, dtype=torch.float64)}, str(full),
               _use_new_zipfile_serialization=False)
    data = full.read_bytes()
    model = tmp_path / "legacy.pth"
    model.write_bytes(data[:len(data) - 100])
    out = tmp_path / "out.safetensors"
    assert_one_line_error(run_cli(model, out), model, "truncated")
    assert not out.exists()


# ----------------------------------------------------------------------------------------
# the output path


def test_output_is_a_directory(tmp_path, valid_model):
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    assert_one_line_error(run_cli(valid_model, outdir), outdir, "is a directory")
    assert _listing(outdir) == []


def test_output_with_trailing_slash(tmp_path, valid_model):
    out = str(tmp_path / "newdir") + "/"
    assert_one_line_error(run_cli(valid_model, out), out, "is a directory")
    assert not os.path.exists(out)


def test_output_under_missing_directory(tmp_path, valid_model):
    out = tmp_path / "missing" / "out.safetensors"
    assert_one_line_error(run_cli(valid_model, out), out,
                          f"directory {tmp_path / 'missing'} does not exist")
    assert not (tmp_path / "missing").exists()


def test_output_under_a_file(tmp_path, valid_model):
    out = tmp_path / "model.pth" / "out.safetensors"
    assert_one_line_error(run_cli(valid_model, out), out, "is not a directory")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can write to any directory")
def test_output_directory_not_writable(tmp_path, valid_model):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        out = locked / "out.safetensors"
        assert_one_line_error(run_cli(valid_model, out), out, "is not writable")
        assert _listing(locked) == []
    finally:
        locked.chmod(0o755)


def test_output_directory_not_writable_message(tmp_path, monkeypatch):
    """The same check in-process (also as root, by pretending access() says no)."""
    from pair_cace.export.files import InputError, check_output_path

    out = tmp_path / "out.safetensors"
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(InputError) as exc:
        check_output_path(str(out))
    assert str(exc.value) == f"{out}: cannot write the output: directory {tmp_path} is not writable"


def test_output_is_the_input(tmp_path, valid_model):
    before = valid_model.read_bytes()
    assert_one_line_error(run_cli(valid_model, valid_model), valid_model, "also an input file")
    assert valid_model.read_bytes() == before


def test_check_output_under_missing_directory(tmp_path, valid_model):
    xyz = tmp_path / "s.xyz"
    xyz.write_text("1\n\nH 0 0 0\n")
    out = tmp_path / "missing" / "out.safetensors"
    assert_one_line_error(run_cli("--check", valid_model, xyz, "--out", out, "--cace", "/bin/true"),
                          out, "does not exist")


def test_check_structures_missing(tmp_path, valid_model):
    xyz = tmp_path / "nothere.xyz"
    assert_one_line_error(run_cli("--check", valid_model, xyz, "--cace", "/bin/true"),
                          xyz, "no such file")


# ----------------------------------------------------------------------------------------
# the output is written atomically


def test_failed_write_leaves_old_file_and_no_partial_file(tmp_path, monkeypatch):
    out = tmp_path / "model.safetensors"
    write_safetensors(str(out), {"a": np.arange(4.0)}, {"cace": "{}"})
    old = out.read_bytes()

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left"):
        write_safetensors(str(out), {"b": np.arange(1000.0)}, {"cace": "{}"})
    assert out.read_bytes() == old
    assert _listing(tmp_path) == ["model.safetensors"]

    new = tmp_path / "new.safetensors"
    with pytest.raises(OSError):
        write_safetensors(str(new), {"b": np.arange(1000.0)}, {"cace": "{}"})
    assert not new.exists()
    assert _listing(tmp_path) == ["model.safetensors"]


def test_write_replaces_and_keeps_usual_permissions(tmp_path):
    out = tmp_path / "model.safetensors"
    write_safetensors(str(out), {"a": np.arange(4.0)}, {"cace": "{}"})
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
    out.chmod(0o640)
    write_safetensors(str(out), {"b": np.arange(3.0)}, {"cace": "{}"})
    tensors, _ = read_safetensors(str(out))
    assert list(tensors) == ["b"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert _listing(tmp_path) == ["model.safetensors"]


def test_write_through_symlink_updates_target(tmp_path):
    real = tmp_path / "real.safetensors"
    write_safetensors(str(real), {"a": np.arange(2.0)}, {})
    link = tmp_path / "link.safetensors"
    link.symlink_to(real)
    write_safetensors(str(link), {"b": np.arange(2.0)}, {})
    assert link.is_symlink()
    assert list(read_safetensors(str(real))[0]) == ["b"]


def _fake_export(monkeypatch):
    """Stand-ins for torch.load and the conversion, so the CLI's write path runs without torch
    and upstream CACE."""
    from pair_cace.export import exporter

    meta = {"format_version": 1, "zs": [1, 8], "cutoff": 5.0, "n_features": 4,
            "energy_key": "CACE_energy", "atomic_energies": None}
    monkeypatch.setattr(exporter, "load_model", lambda path: object())
    monkeypatch.setattr(exporter, "build_export",
                        lambda model, **kw: ({"w": np.arange(1000.0)}, dict(meta)))


def test_cli_writes_output(tmp_path, valid_model, monkeypatch, capsys):
    from pair_cace.export import cli

    _fake_export(monkeypatch)
    out = tmp_path / "out.safetensors"
    assert cli.main([str(valid_model), str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    tensors, _ = read_safetensors(str(out))
    np.testing.assert_array_equal(tensors["w"], np.arange(1000.0))
    assert _listing(tmp_path) == ["model.pth", "out.safetensors"]


def test_cli_write_failure_leaves_nothing(tmp_path, valid_model, monkeypatch, capsys):
    """A write that fails part-way (here: the disk fills up) is one line, and neither a partial
    output nor a temporary file remains; an existing output is left as it was."""
    from pair_cace.export import cli

    _fake_export(monkeypatch)

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    out = tmp_path / "out.safetensors"
    assert cli.main([str(valid_model), str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"cace-export: error: {out}: cannot write the output (No space left on device)\n"
    assert captured.out == ""
    assert _listing(tmp_path) == ["model.pth"]

    out.write_bytes(b"previous model")
    assert cli.main([str(valid_model), str(out)]) == 2
    assert out.read_bytes() == b"previous model"
    assert _listing(tmp_path) == ["model.pth", "out.safetensors"]
