"""Exporter from upstream CACE (BingqingCheng/cace) PyTorch models to the pair_style cace
interchange format (safetensors, format version 1)."""

from .safetensors_io import read_safetensors, write_safetensors
from .e0 import E0Error, parse_e0_args, load_e0_file

__version__ = "1.0.0"

__all__ = ["read_safetensors", "write_safetensors", "E0Error", "parse_e0_args", "load_e0_file"]
