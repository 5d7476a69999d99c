"""Files written whole or not at all.

`atomic_write(path, write)` calls `write(f)` on a temporary file in the directory of `path`
(`.NAME.XXXXXXXX.tmp`), flushes it to disk and renames it to `path`: a run that fails or is
killed leaves the previous `path` as it was (a killed run may leave its temporary file behind,
never a partial `path`). The exporter, the examples and the benchmark scripts write through it.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time

__all__ = ["atomic_write", "write_bytes", "write_text", "write_json"]

# Test hook (the same variable as the Swift writers'): with CACE_TEST_PAUSE_WRITE=SECONDS the
# writer stops that long after the first half of the temporary file, so that a test can kill
# the process there.
PAUSE_VARIABLE = "CACE_TEST_PAUSE_WRITE"


def _new_file_mode(target: str) -> int:
    """The permissions `open(target, "w")` would give: those of the file it replaces, else
    0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


def _pause() -> float:
    try:
        return float(os.environ.get(PAUSE_VARIABLE, "0"))
    except ValueError:
        return 0.0


def atomic_write(path, write) -> None:
    """Call `write(f)` on a temporary binary file in the directory of `path`, then rename it to
    `path`, so that `path` is either left as it was or holds the complete new contents, never a
    partial file. A symbolic link at `path` keeps pointing to the new file."""
    target = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(target)
    mode = _new_file_mode(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            pause = _pause()
            if pause > 0:
                import io

                buffer = io.BytesIO()
                write(buffer)
                data = buffer.getvalue()
                f.write(data[:len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
                time.sleep(pause)
                f.write(data[len(data) // 2:])
            else:
                write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_bytes(path, data: bytes) -> None:
    """`path` holds `data` afterwards, or is unchanged (see `atomic_write`)."""
    atomic_write(path, lambda f: f.write(data))


def write_text(path, text: str) -> None:
    """`path` holds `text` (UTF-8) afterwards, or is unchanged (see `atomic_write`)."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, value, **options) -> None:
    """json.dump(value) to `path`, whole or not at all (see `atomic_write`)."""
    write_text(path, json.dumps(value, **options))
