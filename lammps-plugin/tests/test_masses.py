"""Element order in pair_coeff vs the atom types' masses. A data file whose types are in another
order than the element symbols of pair_coeff runs without complaint but simulates the wrong
chemistry; pair_style cace warns (once, on rank 0, at init) when a type's mass is more than 5 %
from the standard atomic weight of the element it is mapped to. Checked: swapped elements warn,
a correct order does not, masses set after pair_coeff are seen, the 5 % threshold, no repeated
warning on later runs, and the water example of the README (examples/bench) is consistent."""
import re
import subprocess
import sys

import pytest

import synthetic_model
from lammps_io import write_data
from lammps_run import PLUGIN, ROOT, Failure, run_lammps
from structures import fcc_crystal

WARNING = re.compile(r"WARNING: Atom type (\d+) is mapped to (\w+) \(([\d.]+) g/mol\) but has mass "
                     r"(\S+): check the element order in pair_coeff")


def _warnings(run):
    """(type, element, standard mass, type mass) of each mass warning in the log file, which
    rank 0 alone writes (the screen output of mpirun may interleave)."""
    return [(int(t), el, m0, m) for t, el, m0, m in WARNING.findall(run.log)]


def _deck(model, elements, middle="", runs="run 0\n"):
    return (f"plugin load {PLUGIN}\nunits metal\natom_style atomic\nboundary p p p\n"
            f"read_data ok.data\npair_style cace\npair_coeff * * {model} {elements}\n{middle}"
            f"velocity all create 300.0 4928459\nfix 1 all nve\nthermo 1\n{runs}")


def _setup(wd, synthetic):
    elements = write_data(wd / "ok.data", fcc_crystal([13, 29], reps=(2, 2, 2), seed=3))
    assert elements == ["Al", "Cu"]    # masses 26.982 and 63.546 in the data file
    return wd, synthetic("sr")


@pytest.mark.parametrize("n", (1, 2), ids=lambda n: f"np{n}")
def test_swapped_elements_warn(tmp_path, synthetic, n):
    """pair_coeff Cu Al for a data file with types 1 = Al, 2 = Cu: one warning per type, on
    rank 0 only, and none again in later runs (the masses did not change)."""
    wd, model = _setup(tmp_path, synthetic)
    expected = [(1, "Cu", "63.55", "26.982"), (2, "Al", "26.98", "63.546")]
    run = run_lammps(wd, _deck(model, "Cu Al", runs="run 0\nrun 3\nrun 2\n"), nprocs=n,
                     name=f"in.swapped.{n}", timeout=120)
    got = _warnings(run)
    if got != expected:
        raise Failure(f"np {n}: expected the warnings {expected} once each, got {got}")


@pytest.mark.parametrize("n", (1, 2), ids=lambda n: f"np{n}")
def test_correct_order_is_silent(tmp_path, synthetic, n):
    wd, model = _setup(tmp_path, synthetic)
    run = run_lammps(wd, _deck(model, "Al Cu", runs="run 0\nrun 3\n"), nprocs=n,
                     name=f"in.ok.{n}", timeout=120)
    if _warnings(run) or "is mapped to" in run.output:
        raise Failure(f"np {n}: a correct element order gave a mass warning: {_warnings(run)}")


def test_mass_after_pair_coeff(tmp_path, synthetic):
    """Masses given after pair_coeff (mass command) are checked at the next init, a changed
    mass is checked again, and only a difference of more than 5 % warns (Al: 26.982 g/mol)."""
    wd, model = _setup(tmp_path, synthetic)
    runs = ("mass 1 63.546\nrun 0\n"      # Cu's mass for an Al type: warns
            "mass 1 29.0\nrun 0\n"        # 7.5 % above Al: warns
            "mass 1 28.0\nrun 0\n"        # 3.8 % above Al: silent
            "mass 1 2.0\nmass 2 63.0\nrun 0\n")    # type 1 warns, type 2 (Cu, 0.9 % off) not
    run = run_lammps(wd, _deck(model, "Al Cu", runs=runs), name="in.later", timeout=120)
    got = [(t, m) for t, _, _, m in _warnings(run)]
    expected = [(1, "63.546"), (1, "29"), (1, "2")]
    if got != expected:
        raise Failure(f"expected warnings for (type, mass) {expected}, got {got}")


def _water_xyz(path):
    """8 water molecules in a periodic 8 A box, hydrogens first (like the reference frames)."""
    hs, os_ = [], []
    for i in range(8):
        o = [1.0 + 4.0 * (i & 1), 1.0 + 4.0 * ((i >> 1) & 1), 1.0 + 4.0 * (i >> 2)]
        os_.append(o)
        hs += [[o[0] + 0.96, o[1], o[2]], [o[0] - 0.24, o[1] + 0.93, o[2]]]
    rows = [("H", p) for p in hs] + [("O", p) for p in os_]
    path.write_text(f"{len(rows)}\nLattice=\"8.0 0 0 0 8.0 0 0 0 8.0\" "
                    "Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n"
                    + "".join(f"{s} {p[0]} {p[1]} {p[2]}\n" for s, p in rows))


def test_water_example_consistent(tmp_path):
    """The README's water input (pair_coeff * * water.safetensors O H, 'types: 1 = O, 2 = H'),
    the data files of examples/bench/make_structures.py and examples/bench/in.bench agree: the
    example runs without a mass warning."""
    wd = tmp_path
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"^pair_coeff\s+\* \* water\.safetensors ([A-Za-z ]+?)\s*$", readme, re.M)
    if not m:
        raise Failure("README.md has no 'pair_coeff * * water.safetensors ...' line")
    elements = m.group(1).split()
    t = re.search(r"types: (1 = \w+(?:, \d = \w+)*)", readme)
    if t:
        said = [w.split(" = ")[1] for w in t.group(1).split(", ")]
        if said != elements:
            raise Failure(f"README.md says types {said} but its pair_coeff line maps {elements}")
    _water_xyz(wd / "water.xyz")
    subprocess.run([sys.executable, str(ROOT / "examples/bench/make_structures.py"),
                    str(wd / "water.xyz"), str(wd), "1"], check=True, capture_output=True)
    data = (wd / "water_x1.data").read_text()
    header = re.search(r"types: (.*)", data.splitlines()[0]).group(1).split()
    if header != elements:
        raise Failure(f"make_structures.py writes types {header}, the README maps {elements}")
    model = synthetic_model.write_model(wd / "water.safetensors", [1, 8], seed=21)
    variables = (f"variable plugin string {PLUGIN}\nvariable data string water_x1.data\n"
                 f"variable model string {model}\nvariable elements string \"{' '.join(elements)}\"\n"
                 "variable steps index 2\n")
    bench = (ROOT / "examples/bench/in.bench").read_text()
    run = run_lammps(wd, variables + bench, name="in.bench", timeout=120)
    if _warnings(run):
        raise Failure(f"the water example gives mass warnings: {_warnings(run)}")

