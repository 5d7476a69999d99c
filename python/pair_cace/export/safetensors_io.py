"""Minimal safetensors reader and writer (F64 tensors only), with no dependency on the
`safetensors` package.

Layout (docs/model-format.md, section 1): an unsigned 64-bit little-endian header length N,
N bytes of UTF-8 JSON, then the raw tensor data. The writer produces the same bytes as the
reference `safetensors` implementation for an all-F64 file: compact JSON with
``__metadata__`` first and the tensors sorted by name, the header padded with spaces to a
multiple of 8 bytes, and the tensor data packed in that order with no gaps.
"""

from __future__ import annotations

import json
import struct
from typing import Dict, Mapping, Tuple

import numpy as np

from ..atomic import atomic_write

__all__ = ["write_safetensors", "read_safetensors", "read_header", "atomic_write"]

_MAX_HEADER = 100 * 1024 * 1024


def write_safetensors(path: str, tensors: Mapping[str, np.ndarray],
                      metadata: Mapping[str, str] | None = None) -> None:
    """Write `tensors` (converted to little-endian float64, C order) and `metadata`
    (a mapping of str to str) to `path`, atomically (see `atomic_write`)."""
    header: Dict[str, object] = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise ValueError("'__metadata__' cannot be a tensor name")
        # (np.ascontiguousarray would turn a 0-d scalar into shape [1])
        array = np.array(tensors[name], dtype="<f8", order="C", copy=True)
        data = array.tobytes(order="C")
        header[name] = {"dtype": "F64", "shape": [int(s) for s in array.shape],
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)

    def write(f):
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for data in blobs:
            f.write(data)

    atomic_write(path, write)


def read_header(path: str) -> Tuple[dict, int]:
    """Return (header JSON object, byte offset of the data block)."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER:
            raise ValueError(f"{path}: implausible safetensors header length {n}")
        raw = f.read(n)
        if len(raw) != n:
            raise ValueError(f"{path}: truncated safetensors header")
    return json.loads(raw.decode("utf-8")), 8 + n


def read_safetensors(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Return (tensors as float64 numpy arrays, raw `__metadata__` mapping)."""
    header, start = read_header(path)
    metadata = header.pop("__metadata__", {}) or {}
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    tensors = {}
    dtypes = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "I32": "<i4"}
    for name, info in header.items():
        a, b = info["data_offsets"]
        if info["dtype"] not in dtypes:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        if not 0 <= a <= b <= len(data):
            raise ValueError(f"{path}: tensor {name} data offsets out of range")
        array = np.frombuffer(data[a:b], dtype=dtypes[info["dtype"]])
        tensors[name] = array.astype(np.float64).reshape(info["shape"])
    return tensors, metadata
