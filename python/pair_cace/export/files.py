"""Checks of the files cace-export reads and writes, done before any work (and without
PyTorch) so that a wrong path or a damaged model is reported as one line naming the file.

`InputError(path, problem)` is the user-facing error: the command line prints it as
``cace-export: error: <path>: <problem>`` and exits with status 2.
"""

from __future__ import annotations

import os
import pickletools
import struct
import zipfile

__all__ = ["InputError", "check_model_file", "check_output_path", "check_input_file", "one_line"]

ZIP_MAGIC = b"PK\x03\x04"   # torch.save's default (zip) format
PICKLE_PROTO = 0x80         # pickle PROTO opcode: torch.save's legacy format starts with it

# torch.save's legacy format is five pickles (magic number, protocol version, system info,
# the object, the storage keys) followed by the raw storage bytes.
_LEGACY_PICKLES = 5


class InputError(Exception):
    """A file given on the command line cannot be used; `problem` says why."""

    def __init__(self, path: str, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def one_line(err: BaseException) -> str:
    """The exception's message on a single line (its type name if it has none)."""
    text = " ".join(str(err).split())
    return text or type(err).__name__


def check_input_file(path: str) -> None:
    """`path` must be an existing, readable regular file."""
    if not os.path.lexists(path):
        raise InputError(path, "no such file")
    if os.path.isdir(path):
        raise InputError(path, "is a directory, not a file")
    if not os.path.exists(path):
        raise InputError(path, "is a broken symbolic link")
    if not os.path.isfile(path):
        raise InputError(path, "is not a regular file")
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror or one_line(err)})") from None


def check_model_file(path: str) -> str:
    """Check that `path` looks like a file written by torch.save and is complete, as far as
    that can be told without PyTorch. Returns "zip" or "pickle"; raises InputError."""
    check_input_file(path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror or one_line(err)})") from None
    if not head:
        raise InputError(path, "empty file, not a PyTorch model")
    if head.startswith(ZIP_MAGIC):
        _check_zip(path)
        return "zip"
    if head[0] == PICKLE_PROTO:
        _check_pickles(path)
        return "pickle"
    if _looks_like_safetensors(path, head):
        raise InputError(path, "is a safetensors file (an exported model?), not a PyTorch .pth "
                               "model saved with torch.save")
    raise InputError(path, "not a PyTorch model file: neither a zip archive (torch.save format) "
                           f"nor a pickle (it starts with bytes {head[:4].hex(' ')})")


def _check_zip(path: str) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                raise InputError(path, "zip archive without a data.pkl entry, not a model saved "
                                       "with torch.save")
            bad = zf.testzip()
    except zipfile.BadZipFile as err:
        message = one_line(err)
        if "not a zip file" in message.lower():
            # zipfile found no end-of-archive record, the usual sign of a cut-short file.
            raise InputError(path, "truncated or corrupt zip archive: it starts like one "
                                   "(torch.save format) but has no end-of-archive "
                                   "record") from None
        raise InputError(path, f"truncated or corrupt zip archive ({message})") from None
    except (OSError, EOFError, ValueError, NotImplementedError) as err:
        raise InputError(path, f"truncated or corrupt zip archive ({one_line(err)})") from None
    if bad is not None:
        raise InputError(path, f"corrupt zip archive: entry {bad} fails its CRC check")


def _check_pickles(path: str) -> None:
    """Walk the opcodes (without executing them) of the leading pickles; a pickle that ends
    before its STOP opcode means the file was cut short."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            for _ in range(_LEGACY_PICKLES):
                start = f.tell()
                first = f.read(1)
                if not first or first[0] != PICKLE_PROTO:
                    break  # end of file, or the raw storage data of the legacy format
                f.seek(start)
                try:
                    for _op in pickletools.genops(f):
                        pass
                except ValueError as err:
                    if f.tell() >= size:
                        raise InputError(path, "truncated pickle: the file ends in the middle "
                                               f"of the data ({one_line(err)})") from None
                    raise InputError(path, f"corrupt pickle ({one_line(err)})") from None
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror or one_line(err)})") from None


def _looks_like_safetensors(path: str, head: bytes) -> bool:
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= os.path.getsize(path) - 8 and head[8:9] == b"{"


def check_output_path(path: str, input_paths=()) -> None:
    """`path` must be somewhere a new file can be written: not a directory, in an existing,
    writable directory, and not one of the input files."""
    if path == "" or path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise InputError(path, "is a directory; give the output file name")
    real = os.path.realpath(path)  # a symbolic link: the file it names is (re)written
    if os.path.exists(real) and not os.path.isfile(real):
        raise InputError(path, "exists and is not a regular file")
    shown = os.path.dirname(path) or "."
    parent = os.path.dirname(real)
    if not os.path.exists(parent):
        raise InputError(path, f"cannot write the output: directory {shown} does not exist")
    if not os.path.isdir(parent):
        raise InputError(path, f"cannot write the output: {shown} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(path, f"cannot write the output: directory {shown} is not writable")
    if os.path.exists(real):
        for other in input_paths:
            try:
                if other and os.path.samefile(real, other):
                    raise InputError(path, "is also an input file; choose another output file")
            except OSError:
                continue
