"""The package installs into a fresh virtual environment from a fresh clone and works outside
the repository (issue 17): `git clone` of this repository's committed state, `python -m venv
--system-site-packages` (numpy and ase come from the running Python's site-packages),
`pip install <clone>/python`, then a small calculation from a directory outside the clone and
the repository, after the clone has been moved away.

The install builds the Swift library in release mode: 1.5 to 2 minutes on 2 cores. To make
reruns fast, the clone is made at a fixed path in a cache directory, with every file's
modification time set to that of the last commit that changed it, and SwiftPM's scratch
directory (PAIR_CACE_SWIFT_SCRATCH) is kept beside it: a rerun of the same commit then
compiles nothing (about 10 s instead of 75-100 s; a clone at a new temporary path rebuilds
everything). The scratch directory is emptied when the commit changes, so no build products
of another commit are reused. The cache is $PAIR_CACE_FRESH_INSTALL_CACHE, else
~/.cache/pair-cace/fresh-install; a lock keeps concurrent runs apart. The venv is new each time.

Marked `fresh_install`: scripts/test.sh runs it with the other tests; `-m "not fresh_install"`
or PAIR_CACE_SKIP_FRESH_INSTALL=1 leaves it out (visibly) of a quick local run. SwiftPM needs
the network the first time (it resolves the package's dependencies into the scratch directory).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))

CALCULATION = r"""
import json, os, sys
import numpy as np
import pair_cace
from ase.build import bulk
from pair_cace import CACECalculator
atoms = bulk("Si", "diamond", 5.43, cubic=True)
atoms.rattle(0.02, seed=1)
atoms.calc = CACECalculator("silicon.safetensors")
forces = atoms.get_forces()
print(json.dumps({"file": pair_cace.__file__, "library": pair_cace.library_path(), "abi": pair_cace.abi_version(),
                  "build": pair_cace.build_info(), "energy": atoms.get_potential_energy(),
                  "fmax": float(np.abs(forces).max()), "stress": atoms.get_stress().tolist(),
                  "prefix": sys.prefix}))
"""


def _cache():
    explicit = os.environ.get("PAIR_CACE_FRESH_INSTALL_CACHE")
    if explicit:
        return os.path.abspath(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pair-cace", "fresh-install")


def _run(command, **kwargs):
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, command))} failed ({proc.returncode}):\n" \
                                 f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc, time.perf_counter() - started


def _restore_modification_times(clone):
    """Every tracked file gets the commit time of the last commit that changed it, so that the
    same commit cloned again looks unchanged to SwiftPM."""
    log, _ = _run(["git", "-C", clone, "log", "--format=@%ct", "--name-only", "--no-renames"], timeout=600)
    stamp, done = None, set()
    for line in log.stdout.splitlines():
        if line.startswith("@"):
            stamp = int(line[1:])
        elif line and line not in done:
            done.add(line)
            path = os.path.join(clone, line)
            if os.path.isfile(path) and not os.path.islink(path):
                os.utime(path, (stamp, stamp))


@pytest.mark.fresh_install
def test_fresh_clone_installs_into_a_fresh_venv(tmp_path):
    if os.environ.get("PAIR_CACE_SKIP_FRESH_INSTALL") == "1":
        pytest.skip("PAIR_CACE_SKIP_FRESH_INSTALL=1: the fresh-clone install test is SKIPPED")
    if not shutil.which("git") or not os.path.exists(os.path.join(REPO_ROOT, ".git")):
        pytest.skip(f"{REPO_ROOT} is not a git checkout (or git is missing): the fresh-clone install test is SKIPPED")
    pytest.importorskip("ase", reason="ase is not installed: the venv takes it from the system site-packages")

    cache = _cache()
    os.makedirs(cache, exist_ok=True)
    clone, scratch = os.path.join(cache, "clone"), os.path.join(cache, "swiftpm")
    venv, elsewhere = tmp_path / "venv", tmp_path / "elsewhere"
    with open(os.path.join(cache, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(clone, ignore_errors=True)
        shutil.rmtree(clone + "-moved", ignore_errors=True)
        _, t_clone = _run(["git", "clone", "-q", REPO_ROOT, clone], timeout=600)
        head = _run(["git", "-C", clone, "rev-parse", "HEAD"], timeout=60)[0].stdout.strip()
        _restore_modification_times(clone)
        built = os.path.join(cache, "built-commit")
        previous = open(built).read().strip() if os.path.exists(built) else None
        if previous != head:   # another commit: start the build afresh
            shutil.rmtree(scratch, ignore_errors=True)
            if os.path.exists(built):
                os.remove(built)
        # what the library must be built from: the clone's sources (this repository's committed state)
        committed = _run([sys.executable, os.path.join(clone, "python", "swift_build.py"), "--fingerprint"],
                         cwd=clone, timeout=600)[0].stdout.strip()
        _, t_venv = _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], timeout=600)
        python = str(venv / "bin" / "python")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "CACE", "PAIR_CACE", "VIRTUAL_ENV"))}
        env["PAIR_CACE_SWIFT_SCRATCH"] = scratch
        _, t_install = _run([python, "-m", "pip", "install", "-q", os.path.join(clone, "python")], env=env,
                            cwd=str(tmp_path), timeout=3600)
        with open(built, "w") as f:
            f.write(head + "\n")

        # the installed package needs neither the clone nor the scratch directory: move the clone away
        elsewhere.mkdir()
        shutil.copy(os.path.join(clone, "examples", "silicon", "silicon.safetensors"), elsewhere)
        os.rename(clone, clone + "-moved")
        env.pop("PAIR_CACE_SWIFT_SCRATCH")
        proc, t_run = _run([python, "-c", CALCULATION], env=env, cwd=str(elsewhere), timeout=600)
        shutil.rmtree(clone + "-moved", ignore_errors=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"fresh install of {head[:10]}: clone {t_clone:.1f} s, venv {t_venv:.1f} s, pip install {t_install:.1f} s "
          f"({'reusing' if previous == head else 'new'} scratch {scratch}), calculation {t_run:.1f} s; {out['file']}")

    assert os.path.realpath(out["prefix"]) == os.path.realpath(str(venv))
    assert os.path.realpath(out["file"]).startswith(os.path.realpath(str(venv)) + os.sep), out["file"]
    assert os.path.dirname(out["library"]) == os.path.dirname(out["file"])
    assert out["abi"] >= 4
    assert out["build"]["fingerprint"] == committed
    assert -35.0 < out["energy"] < -34.0      # 8 atoms of diamond Si, about -4.34 eV/atom with E0
    assert 0 < out["fmax"] < 2 and len(out["stress"]) == 6
    if shutil.which("ldd"):
        needed = subprocess.run(["ldd", out["library"]], capture_output=True, text=True).stdout
        assert "libswiftCore" not in needed and "not found" not in needed, needed
