"""ctypes binding of libcace_capi.so (CInterop/include/cace.h), which ships inside this package.

Only the functions the Python side needs are declared. Every call that can fail returns a
status and writes a one-line message, which becomes a `CACEError`.
"""

from __future__ import annotations

import ctypes
import os
import threading

LIBRARY_NAME = "libcace_capi.so"
ABI_VERSION = 6   # CACE_ABI_VERSION of the header these declarations follow
ERROR_LENGTH = 1024

STATUS_NAMES = {1: "io", 2: "format", 3: "unsupported", 4: "argument", 5: "geometry"}


class CACEError(RuntimeError):
    """An error reported by the CACE library: `str(err)` is its one-line message, `status` the
    cace_status code (1 io, 2 format, 3 unsupported, 4 argument, 5 geometry) and `kind` its name."""

    def __init__(self, message: str, status: int = 4):
        super().__init__(message)
        self.status = status
        self.kind = STATUS_NAMES.get(status, "unknown")


class cace_structure(ctypes.Structure):
    _fields_ = [
        ("natoms", ctypes.c_int),
        ("positions", ctypes.c_void_p),
        ("cell", ctypes.c_void_p),
        ("pbc", ctypes.c_int * 3),
        ("atomic_numbers", ctypes.c_void_p),
        ("species", ctypes.c_void_p),
    ]


class cace_committee_spread(ctypes.Structure):
    _fields_ = [
        ("energy_sigma", ctypes.c_double),
        ("atom_energy_sigma", ctypes.c_void_p),
        ("force_deviation", ctypes.c_void_p),
    ]


class cace_structure_result(ctypes.Structure):
    _fields_ = [
        ("include_e0", ctypes.c_int),
        ("energy", ctypes.c_double),
        ("long_range_energy", ctypes.c_double),
        ("virial", ctypes.c_double * 6),
        ("forces", ctypes.c_void_p),
        ("atom_energy", ctypes.c_void_p),
        ("atom_virial", ctypes.c_void_p),
    ]


_lock = threading.Lock()
_library = None


def library_path() -> str:
    """Where libcace_capi.so is: beside this file (the installed package), else in the installed
    pair-cace distribution (when this module was imported from the source tree, python/)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY_NAME)
    if os.path.exists(here):
        return here
    try:
        from importlib import metadata
        candidates = [str(d.locate_file(os.path.join("pair_cace", LIBRARY_NAME)))
                      for d in metadata.distributions() if (d.metadata["Name"] or "").lower() == "pair-cace"]
    except Exception:
        candidates = []
    for installed in candidates:   # a pair_cace.egg-info in python/ (in-tree build) has none
        if os.path.exists(installed):
            return installed
    raise CACEError(f"{LIBRARY_NAME} is not in {os.path.dirname(here)} and pair-cace is not installed with it: "
                    "install the package with `pip install ./python` from the repository root (it builds the "
                    "library with Swift)", 1)


def load():
    """The library, loaded once per process, with the ABI version checked."""
    global _library
    with _lock:
        if _library is not None:
            return _library
        path = library_path()
        try:
            lib = ctypes.CDLL(path)
        except OSError as err:
            raise CACEError(f"cannot load {path}: {err}", 1) from None
        _declare(lib)
        version = lib.cace_abi_version()
        if version != ABI_VERSION:
            raise CACEError(f"{path} has ABI version {version}, but pair_cace was written for {ABI_VERSION}: "
                            "reinstall the package (`pip install ./python`)", 4)
        _library = lib
        return lib


def _declare(lib):
    c_int, c_double, c_char_p, c_void_p, c_size_t = (ctypes.c_int, ctypes.c_double, ctypes.c_char_p,
                                                      ctypes.c_void_p, ctypes.c_size_t)
    signatures = {
        "cace_abi_version": (c_int, []),
        "cace_model_load": (c_int, [c_char_p, ctypes.POINTER(c_void_p), c_char_p, c_size_t]),
        "cace_model_free": (None, [c_void_p]),
        "cace_model_cutoff": (c_double, [c_void_p]),
        "cace_model_num_elements": (c_int, [c_void_p]),
        "cace_model_atomic_number": (c_int, [c_void_p, c_int]),
        "cace_model_num_message_passing": (c_int, [c_void_p]),
        "cace_model_has_long_range": (c_int, [c_void_p]),
        "cace_model_set_threads": (c_int, [c_void_p, c_int, c_char_p, c_size_t]),
        "cace_model_set_precision": (c_int, [c_void_p, c_int, c_char_p, c_size_t]),
        "cace_model_check_boundary": (c_int, [c_void_p, c_int, c_int, c_int, c_char_p, c_size_t]),
        "cace_compute_structure": (c_int, [c_void_p, ctypes.POINTER(cace_structure),
                                           ctypes.POINTER(cace_structure_result), c_char_p, c_size_t]),
        "cace_model_committee_size": (c_int, [c_void_p]),
        "cace_model_set_long_range": (c_int, [c_void_p, c_int, c_double, c_char_p, c_size_t]),
        "cace_compute_committee_spread": (c_int, [c_void_p, ctypes.POINTER(cace_structure),
                                                  ctypes.POINTER(cace_committee_spread), c_char_p, c_size_t]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


def check(status: int, buffer) -> None:
    """Raises the library's error if `status` is not CACE_OK."""
    if status != 0:
        message = buffer.value.decode("utf-8", "replace") or f"CACE library error {status}"
        raise CACEError(message, status)
