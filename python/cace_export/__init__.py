"""The exporter's former import name, kept for scripts and `python -m cace_export`: the code
is in `pair_cace.export`. `cace_export.cli`, `cace_export.exporter` and the other submodules
are the very modules of `pair_cace.export` (monkeypatching one patches the other)."""

import sys as _sys

from pair_cace import export as _export
from pair_cace.export import check, cli, e0, exporter, files, safetensors_io  # noqa: F401
from pair_cace.export import *  # noqa: F401,F403
from pair_cace.export import __all__, __version__  # noqa: F401

for _name in ("check", "cli", "e0", "exporter", "files", "safetensors_io"):
    _sys.modules[f"{__name__}.{_name}"] = getattr(_export, _name)
del _name
