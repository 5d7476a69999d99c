"""Command line: `cace-export MODEL.pth OUT.safetensors [--e0 H=-13.6 O=-432.1 | --e0-file F]`
and `cace-export --check MODEL.pth STRUCTURES.xyz [--cace PATH]`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import List, Optional

from .e0 import E0Error, SYMBOLS, e0_for_model, load_e0_file, missing_e0, parse_e0_args
from .files import InputError, check_input_file, check_model_file, check_output_path

USAGE = """\
  cace-export MODEL.pth OUT.safetensors [--e0 H=-13.6 O=-432.1 | --e0-file E0.json]
  cace-export --check MODEL.pth STRUCTURES.xyz [--cace PATH] [--out OUT.safetensors]"""

DESCRIPTION = """\
Export an upstream CACE model (a pickled NeuralNetworkPotential saved with torch.save, from
github.com/BingqingCheng/cace) to the pair_style cace interchange format (safetensors, format
version 1; see docs/model-format.md). Every state_dict tensor is stored as float64 under its
key, and the architecture is described in the "cace" metadata entry.

With --check, the model is exported to a temporary file (or --out) and every frame of
STRUCTURES.xyz is evaluated with upstream CACE (float64) and with `cace evaluate`; the largest
energy, force and stress differences are printed, and the exit status is 1 if any exceeds
--tolerance (relative)."""


def _ensure_upstream_importable() -> None:
    """Make `import cace` work from $CACE_UPSTREAM (a checkout of upstream CACE) if needed."""
    try:
        import cace  # noqa: F401
        return
    except ImportError:
        pass
    root = os.environ.get("CACE_UPSTREAM")
    if root and os.path.isdir(os.path.join(root, "cace")):
        sys.path.insert(0, os.path.abspath(root))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cace-export", usage=USAGE, description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL.pth", help="upstream model saved with torch.save(model)")
    p.add_argument("target", metavar="OUT.safetensors|STRUCTURES.xyz",
                   help="output file; with --check, the structures to evaluate (extended XYZ or "
                        "any format ASE reads)")
    e0 = p.add_mutually_exclusive_group()
    e0.add_argument("--e0", nargs="+", metavar="EL=E",
                    help="per-element reference energies to store in the model (added to the "
                         "model energy at inference), e.g. --e0 H=-13.6 O=-432.1; elements by "
                         "symbol or atomic number")
    e0.add_argument("--e0-file", metavar="FILE.json",
                    help='the same as a JSON object, e.g. {"H": -13.6, "O": -432.1}')
    p.add_argument("--source", metavar="TEXT",
                   help="provenance text stored in the metadata (default: names the input file)")
    p.add_argument("--energy-key", metavar="KEY",
                   help="upstream output to use as the potential energy (default: the "
                        "energy_key of the model's Forces module)")
    p.add_argument("--check", action="store_true",
                   help="compare upstream and `cace evaluate` on STRUCTURES instead of only exporting")
    p.add_argument("--cace", metavar="PATH",
                   help="the `cace` binary for --check (default: $CACE_BINARY, then "
                        ".build/release/cace or .build/debug/cace in the repository, then PATH)")
    p.add_argument("--out", metavar="OUT.safetensors",
                   help="with --check: also keep the exported model here")
    p.add_argument("--tolerance", type=float, default=1e-6,
                   help="with --check: largest accepted relative difference (default 1e-6)")
    return p


def _e0(args) -> Optional[dict]:
    if args.e0:
        return parse_e0_args(args.e0)
    if args.e0_file:
        return load_e0_file(args.e0_file)
    return None


def _fail(message: str, status: int = 2) -> int:
    print(f"cace-export: error: {message}", file=sys.stderr)
    return status


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        e0 = _e0(args)
    except E0Error as err:
        parser.exit(2, f"cace-export: error: {err}\n")

    # Every path is checked before the (slow) model load, and the model file's format is
    # sniffed without torch: a wrong path or a damaged file is one line naming it, exit 2.
    try:
        check_model_file(args.model)
        if args.check:
            check_input_file(args.target)
            if args.out:
                check_output_path(args.out, input_paths=(args.model, args.target))
        else:
            check_output_path(args.target, input_paths=(args.model,))
    except InputError as err:
        return _fail(str(err))

    binary = None
    if args.check:
        from .check import find_cace_binary

        binary = find_cace_binary(args.cace)
        if binary is None:
            return _fail("no `cace` binary found for --check; build it with "
                         "`swift build -c release --product cace` in the repository, or pass "
                         "--cace PATH")

    _ensure_upstream_importable()
    from .exporter import UnsupportedModel, build_export, load_model, metadata_string
    from .safetensors_io import write_safetensors

    try:
        model = load_model(args.model)
    except InputError as err:
        return _fail(str(err))
    source = args.source
    if source is None:
        source = f"upstream CACE model {os.path.basename(args.model)}, converted to float64 by cace-export"

    try:
        # First pass: validate and learn the elements, then attach the E0s.
        tensors, meta = build_export(model, source=source, energy_key=args.energy_key)
        if e0:
            meta["atomic_energies"] = e0_for_model(e0, meta["zs"])
            missing = missing_e0(e0, meta["zs"])
            if missing:
                names = ", ".join(SYMBOLS[z] for z in missing)
                print(f"cace-export: warning: no reference energy for {names}; it counts as 0",
                      file=sys.stderr)
    except UnsupportedModel as err:
        return _fail(f"{args.model}: {err}")
    except E0Error as err:
        return _fail(str(err))

    metadata = {"cace": metadata_string(meta)}

    def write(path: str) -> Optional[int]:
        # Atomic: on failure `path` is left as it was, with no partial file.
        try:
            write_safetensors(path, tensors, metadata)
        except OSError as err:
            return _fail(f"{path}: cannot write the output ({err.strerror or err})")
        return None

    if not args.check:
        status = write(args.target)
        if status is not None:
            return status
        print(f"wrote {args.target}: {len(tensors)} tensors, elements "
              f"{' '.join(SYMBOLS[z] for z in meta['zs'])}, cutoff {meta['cutoff']:g}, "
              f"{meta['n_features']} features, energy '{meta['energy_key']}'"
              + (", with E0s" if meta["atomic_energies"] else ""))
        return 0

    from .check import run_check

    with tempfile.TemporaryDirectory(prefix="cace-export-") as tmp:
        out_path = args.out or os.path.join(tmp, "model.safetensors")
        status = write(out_path)
        if status is not None:
            return status
        try:
            result = run_check(model, args.target, meta, out_path, binary, e0=e0,
                               tolerance=args.tolerance)
        except RuntimeError as err:
            print(f"cace-export: check failed: {err}", file=sys.stderr)
            return 1
    return 0 if result.passed else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
