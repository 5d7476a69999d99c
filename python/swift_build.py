"""Builds libcace_capi.so for the Python package (used by setup.py), and tells whether the
installed package is current (used by scripts/test.sh, so that it reinstalls only when needed).

    python3 python/swift_build.py --installed-is-current   # exit 0: installed and up to date

The library is built by SwiftPM in release mode with the Swift runtime linked statically
(`-static-stdlib`: no Swift toolchain is needed at run time), in its own scratch directory
(python/build/swiftpm, never the repository's .build, which developers use).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
LIBRARY = "libcace_capi.so"
BUILD_INFO = "_build_info.json"
DISTRIBUTION = "pair-cace"


class SwiftBuildError(RuntimeError):
    """The Swift library cannot be built; the message says why and what to do."""


def find_swift() -> str:
    """`swift` on PATH, else /opt/swift/usr/bin/swift."""
    found = shutil.which("swift")
    if found:
        return found
    fallback = "/opt/swift/usr/bin/swift"
    if os.access(fallback, os.X_OK):
        return fallback
    raise SwiftBuildError(
        "pair-cace: cannot build libcace_capi.so: the Swift toolchain was not found (no `swift` on PATH "
        "or in /opt/swift/usr/bin). Install Swift 6 (https://www.swift.org/install) and put its usr/bin on "
        "PATH, then run `pip install ./python` again.")


def _source_files(root: str):
    """Everything the installed package is made of, relative to the repository root."""
    # not Package.resolved: git ignores it and SwiftPM writes it during the build, so a fresh
    # clone's installed fingerprint would never match its sources (the library uses no package
    # dependency; the CLI's swift-argument-parser is pinned there)
    yield "Package.swift"
    # the targets in libcace_capi.so (CACECAPI and its dependencies), and the Python code
    for top, suffixes in (("Sources/CACE", (".swift",)), ("Sources/CACEStructures", (".swift",)),
                          ("Sources/CACECAPI", (".swift",)), ("CInterop/include", (".h", ".modulemap")),
                          ("python/pair_cace", (".py",)), ("python/cace_export", (".py",))):
        for directory, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(suffixes):
                    yield os.path.relpath(os.path.join(directory, name), root)
    for name in ("python/pyproject.toml", "python/setup.py", "python/swift_build.py"):
        yield name


def source_fingerprint(root: str = REPO_ROOT) -> str:
    """SHA-256 over the paths and contents of every file that goes into the package."""
    digest = hashlib.sha256()
    for relative in sorted(set(_source_files(root))):
        digest.update(relative.encode() + b"\0")
        with open(os.path.join(root, relative), "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()


def _writable_directory(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


def scratch_directory() -> str:
    """SwiftPM's scratch path: $PAIR_CACE_SWIFT_SCRATCH, else python/build/swiftpm (kept between
    builds, so a rebuild recompiles only what changed), else a directory in the temp dir."""
    explicit = os.environ.get("PAIR_CACE_SWIFT_SCRATCH")
    if explicit:
        return os.path.abspath(explicit)
    default = os.path.join(HERE, "build", "swiftpm")
    if _writable_directory(default):
        return default
    key = hashlib.sha256(REPO_ROOT.encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"pair-cace-swiftpm-{key}")


def build_library(log=print) -> str:
    """Runs `swift build` for the cace_capi product; returns the path of libcace_capi.so."""
    if not os.path.exists(os.path.join(REPO_ROOT, "Package.swift")):
        raise SwiftBuildError(
            f"pair-cace: cannot build libcace_capi.so: {REPO_ROOT} has no Package.swift. Install the package "
            "from a checkout of the repository (`pip install ./python` in its root), not from a copy of "
            "python/ alone.")
    swift = find_swift()
    scratch = scratch_directory()
    command = [swift, "build", "-c", "release", "--product", "cace_capi",
               "--package-path", REPO_ROOT, "--scratch-path", scratch,
               # the Swift runtime inside the library: no toolchain needed where it runs
               "-Xswiftc", "-static-stdlib",
               # as CMakeLists.txt: the soname, and no unloading (the runtime's caches and
               # thread-local destructors must outlive a dlclose)
               "-Xlinker", "-z", "-Xlinker", "nodelete", "-Xlinker", "-soname=" + LIBRARY]
    log("pair-cace: " + " ".join(command))
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as err:
        raise SwiftBuildError(f"pair-cace: cannot run {swift}: {err}") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise SwiftBuildError(f"pair-cace: `swift build` failed (exit status {proc.returncode}):\n{tail}")
    library = os.path.join(scratch, "release", LIBRARY)
    if not os.path.exists(library):
        raise SwiftBuildError(f"pair-cace: `swift build` succeeded but {library} is missing")
    return library


def swift_version(swift: str) -> str:
    try:
        out = subprocess.run([swift, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.splitlines()[0].strip() if out.strip() else "unknown"


def build_info() -> dict:
    return {"fingerprint": source_fingerprint(), "swift": swift_version(find_swift())}


def installed_is_current() -> bool:
    """True if pair-cace is installed with a library and was built from the current sources."""
    try:
        from importlib import metadata
        dist = metadata.distribution(DISTRIBUTION)   # the first on sys.path: the one imported
    except Exception:
        return False
    library = str(dist.locate_file(os.path.join("pair_cace", LIBRARY)))
    info = str(dist.locate_file(os.path.join("pair_cace", BUILD_INFO)))
    if not (os.path.exists(library) and os.path.exists(info)):
        return False
    try:
        with open(info) as f:
            recorded = json.load(f).get("fingerprint")
    except (OSError, ValueError):
        return False
    return recorded == source_fingerprint()


if __name__ == "__main__":
    # not this directory: a pair_cace.egg-info left here by an in-tree build is not an install
    sys.path = [p for p in sys.path if p and os.path.abspath(p) != HERE]
    if sys.argv[1:] == ["--installed-is-current"]:
        sys.exit(0 if installed_is_current() else 1)
    if sys.argv[1:] == ["--fingerprint"]:
        print(source_fingerprint())
        sys.exit(0)
    print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
    sys.exit(2)
