"""Nothing lost on failure (issue 18): the files the exporter, the examples and the benchmark
scripts write go through pair_cace.atomic (a temporary file renamed into place). Each writer is
killed with SIGKILL half-way through its temporary file (the test hook CACE_TEST_PAUSE_WRITE
stops it there); the previous file must be byte-identical and no partial target may exist.

And the exporter's checkpoint loading: torch.load(weights_only=True) with an allow-list of CACE
and torch.nn classes; a checkpoint that needs more is loaded only after one notice on the
command line that this runs code from it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(PYTHON_DIR)
UPSTREAM_DIR = os.environ.get("CACE_UPSTREAM")
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)
if UPSTREAM_DIR and os.path.isdir(os.path.join(UPSTREAM_DIR, "cace")) and UPSTREAM_DIR not in sys.path:
    sys.path.insert(0, UPSTREAM_DIR)

from pair_cace import atomic  # noqa: E402
from pair_cace.export.safetensors_io import read_safetensors, write_safetensors  # noqa: E402


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PYTHON_DIR] + [p for p in sys.path if p])
    env.update(extra)
    return env


def _temporaries(target):
    directory, name = os.path.split(str(target))
    return [os.path.join(directory, f) for f in os.listdir(directory)
            if f.startswith(f".{name}.") and f.endswith(".tmp")]


def kill_mid_write(command, target, previous, timeout=240):
    """Runs `command` with the pause hook, SIGKILLs it once its temporary file beside `target`
    holds bytes (or once `target` itself changes, which a non-atomic writer would do), and
    returns the temporary files it left. Fails if the process ends first."""
    proc = subprocess.Popen(command, env=_env(**{atomic.PAUSE_VARIABLE: "120"}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            partial = [t for t in _temporaries(target) if os.path.getsize(t) > 0]
            changed = not os.path.exists(target) or open(target, "rb").read() != previous
            if partial or changed:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                assert proc.returncode == -signal.SIGKILL
                return partial
            if proc.poll() is not None:
                pytest.fail(f"the writer ended (status {proc.returncode}) before it could be killed "
                            f"mid-write: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.005)
        pytest.fail("no temporary file appeared")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _old_model(path):
    write_safetensors(str(path), {"old": np.arange(7.0)}, {"cace": '{"old": true}'})
    return path.read_bytes()


# A stand-in for torch.load and the conversion (as in test_cli_errors), so that the exporter's
# command line runs its real write path without torch; 1.6 MB of tensor data.
FAKE_EXPORT = """
import sys
import numpy as np
from pair_cace.export import cli, exporter
meta = {"format_version": 1, "zs": [1, 8], "cutoff": 5.0, "n_features": 4,
        "energy_key": "CACE_energy", "atomic_energies": None}
exporter.load_model = lambda path: object()
exporter.build_export = lambda model, **kw: ({"w": np.arange(200000.0)}, dict(meta))
sys.exit(cli.main(sys.argv[1:]))
"""


def test_export_killed_mid_write_keeps_previous_file(tmp_path):
    model = tmp_path / "model.pth"
    model.write_bytes(__import__("pickle").dumps({"weights": list(range(300))}, protocol=2))
    out = tmp_path / "out.safetensors"
    previous = _old_model(out)
    partial = kill_mid_write([sys.executable, "-c", FAKE_EXPORT, str(model), str(out)], out, previous)
    assert out.read_bytes() == previous
    assert partial, "the writer was killed, but not half-way through its temporary file"
    assert all(os.path.getsize(p) < 1_600_000 for p in partial)
    assert sorted(os.listdir(tmp_path)) == sorted(["model.pth", "out.safetensors"]
                                                  + [os.path.basename(p) for p in partial])
    # The same command without the hook replaces the file (so the kill above was not vacuous).
    for p in partial:
        os.unlink(p)
    done = subprocess.run([sys.executable, "-c", FAKE_EXPORT, str(model), str(out)], env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(read_safetensors(str(out))[0]) == ["w"]
    assert sorted(os.listdir(tmp_path)) == ["model.pth", "out.safetensors"]


WRITERS = {
    "bytes": "from pair_cace.atomic import write_bytes as w; w(sys.argv[1], bytes(range(256)) * 4000)",
    "text": "from pair_cace.atomic import write_text as w; w(sys.argv[1], 'row | 1.0\\n' * 100000)",
    "json": "from pair_cace.atomic import write_json as w; w(sys.argv[1], {'rows': list(range(100000))})",
}


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_table_writers_killed_mid_write_keep_previous_file(kind, tmp_path):
    """What examples/bench (tables, JSON) and the examples (JSON, figures) write through."""
    target = tmp_path / "table.md"
    target.write_text("the previous table\n")
    previous = target.read_bytes()
    command = [sys.executable, "-c", "import sys; " + WRITERS[kind], str(target)]
    partial = kill_mid_write(command, target, previous)
    assert target.read_bytes() == previous and partial
    done = subprocess.run(command, env=_env(), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() != previous


def test_failed_writer_leaves_previous_file(tmp_path):
    target = tmp_path / "summary.json"
    atomic.write_json(target, {"run": 1})
    previous = target.read_bytes()

    def fails(f):
        f.write(b"{\"run\": 2, ")
        raise RuntimeError("the run failed half-way")

    with pytest.raises(RuntimeError):
        atomic.atomic_write(target, fails)
    assert target.read_bytes() == previous
    assert os.listdir(tmp_path) == ["summary.json"]


def test_examples_and_bench_scripts_write_atomically():
    """Every file the example and benchmark scripts write goes through pair_cace.atomic: no
    plain open(..., "w"), write_text, json.dump to a file or savefig to a path remains."""
    import re

    scripts = []
    for folder in ("examples/bench", "examples/python", "examples/silicon", "examples/long-md"):
        directory = os.path.join(REPO_ROOT, folder)
        if os.path.isdir(directory):
            scripts += [os.path.join(directory, f) for f in sorted(os.listdir(directory)) if f.endswith(".py")]
    assert scripts
    plain = re.compile(r"open\([^)]*,\s*[\"'][wa]b?[\"']|\.write_text\(|\.write_bytes\(|json\.dump\(|"
                       r"savefig\(\s*[a-zA-Z_]|ase\.io\.write\(|^\s*write\(")
    offenders = []
    for path in scripts:
        for number, line in enumerate(open(path, encoding="utf-8"), 1):
            if plain.search(line) and "atomic" not in line:
                offenders.append(f"{os.path.relpath(path, REPO_ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# ----------------------------------------------------------------------------------------
# Checkpoint loading


def _upstream_reason():
    try:
        import torch  # noqa: F401
        import cace  # noqa: F401
        from cace.representations import Cace  # noqa: F401
    except ImportError as err:
        return f"needs torch and upstream CACE (CACE_UPSTREAM or PYTHONPATH): {err}"
    return None


needs_upstream = pytest.mark.skipif(_upstream_reason() is not None, reason=str(_upstream_reason()))

SMALL = dict(seed=21, zs=[1, 8], cutoff=4.0, n_atom_basis=2, n_rbf=4, n_radial_basis=3, max_l=2,
             max_nu=2, nmp=1, mp_types=["M", "Ar"], embed_receiver=True, rbf="bessel",
             rbf_trainable=False, cutoff_fn=["polynomial", 6], avg_nn=10.0,
             head={"n_hidden": [4], "bias": True, "add_linear_nn": False})


class Unlisted:
    """A class no allow-list names: a checkpoint holding one cannot be loaded with weights_only."""

    def __init__(self, note):
        self.note = note


@pytest.fixture
def torch_load_calls(monkeypatch):
    """Records the weights_only argument of every torch.load call."""
    import torch

    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    return calls


@needs_upstream
def test_upstream_checkpoint_loads_with_weights_only(tmp_path, capsys, torch_load_calls):
    import torch
    from pair_cace.export import cli
    from upstream_models import build_model

    pth = tmp_path / "model.pth"
    torch.save(build_model(SMALL), str(pth))
    out = tmp_path / "model.safetensors"
    assert cli.main([str(pth), str(out)]) == 0
    captured = capsys.readouterr()
    assert torch_load_calls == [True], torch_load_calls
    assert "runs code" not in captured.err, captured.err
    assert "wrote" in captured.out


@needs_upstream
def test_shipped_upstream_checkpoint_loads_with_weights_only(tmp_path, capsys, torch_load_calls):
    """Upstream's trained water model (with its Ewald module): no code runs to load it."""
    from pair_cace.export import cli

    pth = os.path.join(UPSTREAM_DIR or "", "benchmark", "best_model.pth")
    if not os.path.isfile(pth):
        pytest.skip(f"{pth} does not exist (set CACE_UPSTREAM)")
    assert cli.main([pth, str(tmp_path / "water.safetensors")]) == 0
    assert torch_load_calls == [True]
    assert "runs code" not in capsys.readouterr().err


@needs_upstream
def test_checkpoint_outside_the_allow_list_is_announced_once(tmp_path, torch_load_calls):
    """A checkpoint naming an unlisted class: the safe load refuses, the command line says once
    that loading it runs code from it (naming the class), then exports."""
    import torch
    from upstream_models import build_model

    model = build_model(SMALL)
    model.provenance = Unlisted("made by a test")
    pth = tmp_path / "model.pth"
    torch.save(model, str(pth))
    out = tmp_path / "model.safetensors"
    proc = subprocess.run([sys.executable, "-m", "pair_cace.export", str(pth), str(out)],
                          env=_env(PYTHONPATH=os.pathsep.join([HERE, PYTHON_DIR] + [p for p in sys.path if p])),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if "runs code" in line]
    assert len(notes) == 1, proc.stderr
    assert notes[0].startswith(f"cace-export: note: {pth}: ") and "Unlisted" in notes[0], notes[0]
    assert "weights_only=False" in notes[0]
    assert out.exists()


@needs_upstream
def test_code_in_a_checkpoint_does_not_run_in_the_safe_load(tmp_path, monkeypatch):
    """A pickle whose loading would call os.system: the safe load refuses it before anything
    runs, so the notice comes first (and the test's marker file does not exist before it)."""
    import torch
    from pair_cace.export import exporter

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    pth = tmp_path / "evil.pth"
    torch.save({"x": Payload()}, str(pth))
    seen = []

    def notice(message):
        seen.append((message, marker.exists()))
        raise RuntimeError("refused by the test")

    with pytest.raises(RuntimeError, match="refused by the test"):
        exporter.load_model(str(pth), notice=notice)
    assert len(seen) == 1 and "system" in seen[0][0] and seen[0][1] is False
    assert not marker.exists()
