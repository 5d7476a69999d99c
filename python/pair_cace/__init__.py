"""CACE (Cartesian Atomic Cluster Expansion) potentials from Python on the Swift core of
pair_style cace: libcace_capi.so ships inside this package and is called through its C ABI.

    from pair_cace import CACECalculator      # the ASE calculator (needs ase)
    from pair_cace import Model, CACEError    # a loaded model, and the library's errors
    pair_cace.evaluate(model, frames)         # many structures, one loaded model: arrays
    pair_cace.export                          # the exporter of upstream PyTorch models (cace-export)

The library is loaded on first use, so `pair_cace.export` works without it.
"""

import json as _json
import os as _os

from ._library import CACEError, library_path
from .batch import evaluate
from .model import Model

__version__ = "1.1.0"

__all__ = ["CACECalculator", "CACEError", "Model", "abi_version", "build_info", "evaluate", "library_path"]


def abi_version() -> int:
    """CACE_ABI_VERSION of the shipped library."""
    from . import _library
    return _library.load().cace_abi_version()


def build_info() -> dict:
    """How the shipped library was built: the source fingerprint and the Swift version."""
    path = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "_build_info.json")
    if not _os.path.exists(path):
        path = _os.path.join(_os.path.dirname(library_path()), "_build_info.json")
    with open(path) as f:
        return _json.load(f)


def __getattr__(name):
    if name == "CACECalculator":   # imported on demand: ase is needed only for the calculator
        from .calculator import CACECalculator
        return CACECalculator
    raise AttributeError(f"module 'pair_cace' has no attribute {name!r}")
