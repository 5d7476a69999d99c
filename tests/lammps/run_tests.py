"""Runs the LAMMPS regression tests of pair_style cace (called by tests/lammps/run.sh).

Prints one line per test, 'PASS <name>' or 'FAIL <name>: <why>', 'SKIPPED <name>: <why>' for
tests that cannot run here, and a closing summary; exits 1 if any test failed.

  run.sh [--keep] [--list] [SUBSTRING ...]    only tests whose name contains a SUBSTRING
Runs happen in a temporary directory, removed at the end unless --keep or a test failed.
"""
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.dont_write_bytecode = True    # no __pycache__ in the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))

import lammps_run  # noqa: E402
import synthetic_model  # noqa: E402
from lammps_run import Failure, Skip  # noqa: E402

MODULES = ["test_bad_input", "test_masses", "test_reference", "test_consistency", "test_roundtrip",
           "test_styles", "test_dynamics", "test_nve"]


class Context:
    """What tests share: a scratch directory, the reference data (if present) and synthetic
    model files."""

    def __init__(self, scratch):
        self.scratch = Path(scratch)
        self.reference = lammps_run.REFERENCE if lammps_run.REFERENCE.is_dir() else None
        self._models = {}

    def workdir(self, name):
        d = self.scratch / name.replace("/", "_").replace(" ", "_")
        d.mkdir(parents=True, exist_ok=True)
        return d

    def require_reference(self):
        if self.reference is None:
            raise Skip(f"{lammps_run.REFERENCE} not found (upstream reference data)")
        return self.reference

    # Synthetic models (elements Al, Cu; cutoff 4 A):
    #   "mp_lr": one message-passing layer (M, Ar, Bchi) and an Ewald long-range term
    #   "mp":    one message-passing layer, no long range
    #   "sr":    no message passing, no long range (evaluated atom by atom)
    #   "mp_e0": like "mp", with per-element reference energies E0 (Al -1.25, Cu -3.5 eV)
    SYNTHETIC = {"mp_lr": dict(layers=1, ewald=True, seed=11),
                 "mp": dict(layers=1, seed=12),
                 "sr": dict(seed=13),
                 "mp_e0": dict(layers=1, seed=12, atomic_energies={13: -1.25, 29: -3.5})}

    def synthetic(self, kind):
        if kind not in self._models:
            path = self.workdir("models") / f"synthetic_{kind}.safetensors"
            synthetic_model.write_model(path, [13, 29], **self.SYNTHETIC[kind])
            self._models[kind] = path
        return self._models[kind]


def collect(selected):
    tests = []
    for modname in MODULES:
        module = __import__(modname)
        prefix = modname[len("test_"):]
        for fn in module.TESTS:
            name = f"{prefix}/{fn.__name__.removeprefix('test_')}"
            if not selected or any(s in name for s in selected):
                tests.append((name, fn))
    return tests


def main(argv):
    keep = "--keep" in argv
    selected = [a for a in argv if not a.startswith("--")]
    tests = collect(selected)
    if "--list" in argv:
        print("\n".join(name for name, _ in tests))
        return 0
    t_start = time.monotonic()
    try:
        lammps_run.check_build()
    except Failure as e:
        print(f"FAIL build: {e}")
        return 1
    counts = {"PASS": 0, "FAIL": 0, "SKIPPED": 0}

    def report(status, name, why="", seconds=None):
        counts[status] += 1
        line = f"{status} {name}"
        if why:
            line += f": {' '.join(str(why).split())}"
        if seconds is not None:
            line += f" ({seconds:.1f} s)"
        print(line, flush=True)

    scratch = tempfile.mkdtemp(prefix="cace-lammps-tests-")
    ctx = Context(scratch)
    if ctx.reference is None:
        print(f"SKIPPED note: {lammps_run.REFERENCE} not found: the upstream reference "
              "comparisons are SKIPPED; the synthetic-model checks still run", flush=True)
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            sub = fn(ctx)
        except Skip as e:
            report("SKIPPED", name, e)
            continue
        except Failure as e:
            report("FAIL", name, e, time.monotonic() - t0)
            continue
        except Exception as e:    # a bug in the test itself still shows up as a FAIL line
            where = traceback.extract_tb(e.__traceback__)[-1]
            report("FAIL", name, f"{type(e).__name__}: {e} (at {Path(where.filename).name}:"
                   f"{where.lineno})", time.monotonic() - t0)
            continue
        seconds = time.monotonic() - t0
        if not sub:
            report("PASS", name, seconds=seconds)
            continue
        for subname, problem in sub:    # grouped tests: one line per case
            report("FAIL" if problem else "PASS", f"{name}/{subname}", problem)
        print(f"# {name}: {len(sub)} cases in {seconds:.1f} s", flush=True)
    total = time.monotonic() - t_start
    keep = keep or counts["FAIL"] > 0    # inputs and logs of failed runs, for a look
    print(f"lammps tests: {counts['PASS']} passed, {counts['FAIL']} failed, "
          f"{counts['SKIPPED']} skipped in {total:.0f} s"
          + (f" (inputs and logs kept in {scratch})" if keep else ""))
    if not keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
