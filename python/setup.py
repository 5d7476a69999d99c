"""setuptools build step of pair-cace: build_py also builds the Swift library libcace_capi.so
(swift build -c release --product cace_capi, see swift_build.py) and puts it in the package,
with _build_info.json (the source fingerprint scripts/test.sh compares). The metadata is in
pyproject.toml."""

import json
import os
import shutil
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py as _build_py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swift_build  # noqa: E402


class build_py(_build_py):
    """Python files as usual, plus the Swift library and the build record."""

    def run(self):
        super().run()
        try:
            # the fingerprint first: a source edited during the build makes it stale, not wrong
            info = swift_build.build_info()
            library = swift_build.build_library(log=lambda line: print(line, flush=True))
        except swift_build.SwiftBuildError as err:
            sys.exit(str(err))
        targets = [os.path.join(self.build_lib, "pair_cace")]
        if getattr(self, "editable_mode", False):   # pip install -e: the package is the source directory
            targets.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pair_cace"))
        for directory in targets:
            os.makedirs(directory, exist_ok=True)
            shutil.copyfile(library, os.path.join(directory, swift_build.LIBRARY))
            with open(os.path.join(directory, swift_build.BUILD_INFO), "w") as f:
                json.dump(info, f, indent=1)

    def get_outputs(self, include_bytecode=1):
        extra = [os.path.join(self.build_lib, "pair_cace", name)
                 for name in (swift_build.LIBRARY, swift_build.BUILD_INFO)]
        return super().get_outputs(include_bytecode) + extra


class BinaryDistribution(Distribution):
    """The wheel holds a native library: tag it for this platform and Python, not py3-none-any."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": build_py}, distclass=BinaryDistribution)
