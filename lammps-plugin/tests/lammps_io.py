"""LAMMPS files for the tests: data files from Structures, input blocks that record energy,
virial and per-atom quantities at full precision, and parsers for what they write."""
import re
from pathlib import Path

import numpy as np

from lammps_run import NKTV2P, Failure, run_lammps
from structures import MASSES, SYMBOLS


def num(x):
    """Shortest text that reads back as the same float64."""
    return repr(float(x))


def type_map(numbers):
    """One LAMMPS type per distinct element, in increasing atomic number.
    Returns (types [n], symbols per type, masses per type)."""
    zs = sorted(set(int(z) for z in numbers))
    types = np.array([zs.index(int(z)) + 1 for z in numbers])
    return types, [SYMBOLS[z] for z in zs], [MASSES[z] for z in zs]


def write_data(path, s, types=None, masses=None, pad=10.0):
    """Writes Structure s as an atom_style atomic data file. Periodic cells must already be in
    restricted-triclinic form (structures.restricted_triclinic); open structures get a box
    `pad` Angstrom larger than the atoms on every side. Returns the element symbol per type
    (for pair_coeff) when types is None. Atom IDs are 1..N."""
    symbols = None
    if types is None:
        types, symbols, masses = type_map(s.numbers)
    ntypes = len(masses)
    lines = ["LAMMPS data file written by lammps-plugin/tests", "", f"{s.natoms} atoms",
             f"{ntypes} atom types", ""]
    if s.periodic:
        c = s.cell
        if abs(c[0, 1]) + abs(c[0, 2]) + abs(c[1, 2]) != 0.0:
            raise ValueError(f"{s.name}: cell is not in restricted-triclinic form")
        for k, axis in enumerate("xyz"):
            lines.append(f"0 {num(c[k, k])} {axis}lo {axis}hi")
        tilts = (c[1, 0], c[2, 0], c[2, 1])
        if any(tilts):
            lines.append(f"{num(tilts[0])} {num(tilts[1])} {num(tilts[2])} xy xz yz")
    else:
        lo, hi = s.positions.min(0) - pad, s.positions.max(0) + pad
        for k, axis in enumerate("xyz"):
            lines.append(f"{num(lo[k])} {num(hi[k])} {axis}lo {axis}hi")
    lines += ["", "Masses", ""] + [f"{t + 1} {num(m)}" for t, m in enumerate(masses)]
    lines += ["", "Atoms # atomic", ""]
    for i, (t, p) in enumerate(zip(types, s.positions)):
        lines.append(f"{i + 1} {int(t)} {num(p[0])} {num(p[1])} {num(p[2])}")
    Path(path).write_text("\n".join(lines) + "\n")
    return symbols


def measure_block(label, results="results.txt", dump=None, run="run 0", thermo_extra=""):
    """Input lines that run `run` and then append one line 'RESULT <label> key value ...' to
    `results` (energy, volume, global virial W in eV from compute pressure NULL virial) and, with
    `dump`, write id, type, x, forces, pe/atom, stress/atom and centroid/stress/atom sorted by id.
    `thermo_extra`: more thermo columns (computes used after the run must be invoked in it)."""
    w = " ".join(f"w{k} $(c_cace_pv[{k}]*vol/{NKTV2P}:%.17g)" for k in range(1, 7))
    text = ("compute cace_pea all pe/atom\n"
            "compute cace_sa all stress/atom NULL virial\n"
            "compute cace_csa all centroid/stress/atom NULL virial\n"
            "compute cace_pv all pressure NULL virial\n"
            f"thermo_style custom step pe vol c_cace_pv[*] {thermo_extra}\n"
            f"{run}\n"
            f'print "RESULT {label} step $(step) pe $(pe:%.17g) vol $(vol:%.17g) {w}" '
            f"append {results} screen no\n")
    if dump:
        text += (f"write_dump all custom {dump} id type x y z fx fy fz c_cace_pea c_cace_sa[*] "
                 "c_cace_csa[*] modify sort id format float %.17g\n")
    return text


def evaluate(wd, name, setup, nprocs=1, run="run 0", after="", thermo_extra=""):
    """Runs input `setup` (a system with its pair style) followed by `run` and returns
    (RESULT entry, dump frame) of the final state; `after` is appended to the input."""
    wd = Path(wd)
    (wd / f"{name}.results").unlink(missing_ok=True)
    text = setup + measure_block(name, results=f"{name}.results", dump=f"{name}.dump", run=run,
                                 thermo_extra=thermo_extra)
    run_lammps(wd, text + after, nprocs=nprocs, name=f"in.{name}")
    results = read_results(wd / f"{name}.results")
    if name not in results:
        raise Failure(f"{name}: LAMMPS wrote no result")
    return results[name], read_dump(wd / f"{name}.dump")


def read_results(path):
    """{label: {key: float}} from the RESULT lines of a results file (missing file: {})."""
    out = {}
    path = Path(path)
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "RESULT":
            out[words[1]] = {k: float(v) for k, v in zip(words[2::2], words[3::2])}
    return out


def virial_of(result):
    """LAMMPS-order virial [xx, yy, zz, xy, xz, yz] (eV) from a RESULT entry."""
    return np.array([result[f"w{k}"] for k in range(1, 7)])


def read_dump(path):
    """Last snapshot of a LAMMPS text dump as {column: array}, rows in file order, plus
    'box' (the ITEM: BOX BOUNDS lines) and 'timestep'."""
    return read_dump_frames(path)[-1]


def read_dump_frames(path):
    """Every snapshot of a LAMMPS text dump, as for read_dump."""
    frames, lines, i = [], Path(path).read_text().splitlines(), 0
    while i < len(lines):
        if not lines[i].startswith("ITEM: TIMESTEP"):
            i += 1
            continue
        step = int(lines[i + 1])
        n = int(lines[i + 3])
        box = [[float(v) for v in lines[i + 5 + k].split()] for k in range(3)]
        cols = lines[i + 8].split()[2:]
        rows = np.array([[float(v) for v in l.split()] for l in lines[i + 9:i + 9 + n]])
        rows = rows.reshape(n, len(cols))
        frame = {c: rows[:, k] for k, c in enumerate(cols)}
        frame.update(timestep=step, box=box)
        frames.append(frame)
        i += 9 + n
    if not frames:
        raise Failure(f"no snapshot in dump {path}")
    return frames


def columns(frame, names):
    return np.column_stack([frame[n] for n in names])


def forces_of(frame):
    return columns(frame, ["fx", "fy", "fz"])


def thermo_table(log):
    """The thermo output blocks of a LAMMPS log: a list of {column: array}, one per run."""
    blocks, lines, i = [], log.splitlines(), 0
    while i < len(lines):
        words = lines[i].split()
        if words[:1] == ["Step"]:
            rows = []
            i += 1
            while i < len(lines) and re.match(r"^\s*-?\d", lines[i]):
                try:
                    rows.append([float(v) for v in lines[i].split()])
                except ValueError:
                    break
                if len(rows[-1]) != len(words):
                    rows.pop()
                    break
                i += 1
            blocks.append({w: np.array([r[k] for r in rows]) for k, w in enumerate(words)})
        else:
            i += 1
    return blocks
