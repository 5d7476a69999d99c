"""Parsing of per-element reference energies (E0s) for `--e0` and `--e0-file`."""

from __future__ import annotations

import json
import math
from typing import Dict, Iterable, Mapping

__all__ = ["E0Error", "parse_e0_args", "load_e0_file", "element_to_z", "e0_for_model"]

# Chemical symbols, index = atomic number.
SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge "
    "As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm "
    "Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U "
    "Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og"
).split()
_Z_OF = {s: z for z, s in enumerate(SYMBOLS) if z > 0}


class E0Error(ValueError):
    """An invalid --e0 / --e0-file specification."""


def element_to_z(token) -> int:
    """'H', 'h' (case-insensitive symbol) or '1' / 1 -> 1."""
    if isinstance(token, bool):
        raise E0Error(f"invalid element {token!r}")
    if isinstance(token, int):
        z = token
    else:
        text = str(token).strip()
        if text.isdigit():
            z = int(text)
        else:
            z = _Z_OF.get(text[:1].upper() + text[1:].lower(), 0)
            if z == 0:
                raise E0Error(f"unknown element {text!r} (use a chemical symbol such as H or an atomic number)")
    if not 1 <= z < len(SYMBOLS):
        raise E0Error(f"atomic number {z} is out of range 1..{len(SYMBOLS) - 1}")
    return z


def _energy(value, where: str) -> float:
    if isinstance(value, bool):
        raise E0Error(f"{where}: {value!r} is not a number")
    try:
        e = float(value)
    except (TypeError, ValueError):
        raise E0Error(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(e):
        raise E0Error(f"{where}: {value!r} is not a finite number")
    return e


def _insert(out: Dict[int, float], z: int, e: float, where: str) -> None:
    if z in out:
        raise E0Error(f"{where}: element {SYMBOLS[z]} (Z={z}) is given more than once")
    out[z] = e


def parse_e0_args(items: Iterable[str]) -> Dict[int, float]:
    """['H=-13.6', 'O=-432.1'] (or '1=-13.6', or comma-separated 'H=-13.6,O=-432.1')
    -> {1: -13.6, 8: -432.1}."""
    out: Dict[int, float] = {}
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise E0Error(f"--e0: {part!r} is not of the form ELEMENT=ENERGY (for example H=-13.6)")
            key, value = part.split("=", 1)
            z = element_to_z(key)
            _insert(out, z, _energy(value, f"--e0 {part}"), "--e0")
    if not out:
        raise E0Error("--e0: no ELEMENT=ENERGY pairs given")
    return out


def parse_e0_mapping(mapping: Mapping, where: str) -> Dict[int, float]:
    if not isinstance(mapping, Mapping):
        raise E0Error(f"{where}: expected a JSON object such as {{\"H\": -13.6, \"O\": -432.1}}")
    out: Dict[int, float] = {}
    for key, value in mapping.items():
        try:
            z = element_to_z(key)
        except E0Error as err:
            raise E0Error(f"{where}: {err}") from None
        _insert(out, z, _energy(value, f"{where}: {key}"), where)
    if not out:
        raise E0Error(f"{where}: no reference energies in the file")
    return out


def load_e0_file(path: str) -> Dict[int, float]:
    """A JSON object mapping element symbols or atomic numbers to energies, e.g.
    {"H": -13.6, "O": -432.1} or {"1": -13.6, "8": -432.1}."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            mapping = json.load(f)
    except OSError as err:
        raise E0Error(f"--e0-file {path}: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise E0Error(f"--e0-file {path}: not valid JSON ({err})") from None
    return parse_e0_mapping(mapping, f"--e0-file {path}")


def e0_for_model(e0: Mapping[int, float], zs) -> Dict[str, float]:
    """Check the E0s against the model's elements and return the metadata object
    {"Z": E0} in the model's element order. Elements of the model without an E0 get none
    (a reader treats them as 0, as upstream's CACECalculator does)."""
    zs = [int(z) for z in zs]
    extra = [z for z in e0 if z not in zs]
    if extra:
        names = ", ".join(f"{SYMBOLS[z]} (Z={z})" for z in extra)
        model = ", ".join(f"{SYMBOLS[z]}" for z in zs)
        raise E0Error(f"reference energy given for {names}, which the model does not know "
                      f"(its elements are {model})")
    return {str(z): float(e0[z]) for z in zs if z in e0}


def missing_e0(e0: Mapping[int, float], zs) -> list:
    return [int(z) for z in zs if int(z) not in e0]
