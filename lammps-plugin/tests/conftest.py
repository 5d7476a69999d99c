"""Fixtures of the LAMMPS tests of pair_style cace (python3 -m pytest lammps-plugin/tests).

  lammps_build   (autouse) build/lmp and build/caceplugin.so exist (CACE_BUILD_DIR overrides
                 build/), else every test errors with "run scripts/build.sh first"
  reference      the upstream reference data ../shared/reference; skips the test when absent
                 (reason: "../shared/reference not found ...", shown by -rs)
  synthetic      synthetic("mp_lr") -> path of a synthetic model file, written once per session
  shared         per-module cache: shared.once(key, fn) runs fn once (one LAMMPS run serving
                 several parametrized cases) and returns its result, or re-raises its error
  note           note(text): a line for the "pair_style cace" section of the closing summary
Working directories are pytest's tmp_path (one per test) and tmp_path_factory (shared runs);
they are removed after a passing session and kept after a failure (pytest.ini).
"""
import sys

sys.dont_write_bytecode = True    # no __pycache__ in the repository

import pytest  # noqa: E402

import lammps_run  # noqa: E402
import synthetic_model  # noqa: E402

# Synthetic models (elements Al, Cu; cutoff 4 A):
#   "mp_lr": one message-passing layer (M, Ar, Bchi) and an Ewald long-range term
#   "mp":    one message-passing layer, no long range
#   "sr":    no message passing, no long range (evaluated atom by atom)
#   "mp_e0": like "mp", with per-element reference energies E0 (Al -1.25, Cu -3.5 eV)
SYNTHETIC = {"mp_lr": dict(layers=1, ewald=True, seed=11),
             "mp": dict(layers=1, seed=12),
             "sr": dict(seed=13),
             "mp_e0": dict(layers=1, seed=12, atomic_energies={13: -1.25, 29: -3.5})}

NOTES = pytest.StashKey[list]()
BASETEMP = pytest.StashKey[object]()


def pytest_configure(config):
    config.stash[NOTES] = []


def pytest_report_header(config):
    missing = lammps_run.check_build()
    lines = [f"lmp: {lammps_run.LMP}, plugin: {lammps_run.PLUGIN}" +
             (" (MISSING: run scripts/build.sh)" if missing else "")]
    if lammps_run.REFERENCE.is_dir():
        lines.append(f"reference data: {lammps_run.REFERENCE}")
    else:
        lines.append(f"NOTE: {lammps_run.REFERENCE_MISSING}")
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    notes = list(config.stash.get(NOTES, []))
    if exitstatus != 0 and BASETEMP in config.stash:
        notes.append(f"inputs, logs and dumps of the failed tests and of the shared runs are "
                     f"kept in {config.stash[BASETEMP]}")
    if notes:
        terminalreporter.section("pair_style cace")
        for line in notes:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def lammps_build(request, tmp_path_factory):
    request.config.stash[BASETEMP] = tmp_path_factory.getbasetemp()
    missing = lammps_run.check_build()
    if missing:
        pytest.fail(missing, pytrace=False)
    return lammps_run.LMP, lammps_run.PLUGIN


@pytest.fixture(scope="session")
def reference():
    """The directory of the upstream reference data; the test is skipped without it."""
    if not lammps_run.REFERENCE.is_dir():
        pytest.skip(lammps_run.REFERENCE_MISSING)
    return lammps_run.REFERENCE


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """synthetic(kind) -> path of the synthetic model `kind` (see SYNTHETIC)."""
    models = {}
    directory = tmp_path_factory.mktemp("models")

    def model(kind):
        if kind not in models:
            path = directory / f"synthetic_{kind}.safetensors"
            synthetic_model.write_model(path, [13, 29], **SYNTHETIC[kind])
            models[kind] = path
        return models[kind]

    return model


class Shared:
    """Results computed once and used by several tests (e.g. one LAMMPS process that evaluates
    every reference structure of one setting). An error is stored and raised again for every
    test that asks for the same key."""

    def __init__(self):
        self._results = {}

    def once(self, key, compute):
        if key not in self._results:
            try:
                self._results[key] = (True, compute())
            except Exception as e:    # noqa: BLE001 - raised again below, for every user
                self._results[key] = (False, (e, e.__traceback__))
        ok, value = self._results[key]
        if not ok:
            error, traceback = value
            raise error.with_traceback(traceback)
        return value


@pytest.fixture(scope="module")
def shared():
    return Shared()


@pytest.fixture(scope="session")
def note(request):
    """note(text): printed now (seen with -s) and in the closing summary."""
    notes = request.config.stash[NOTES]

    def add(text):
        print(text, flush=True)
        notes.append(text)

    return add
