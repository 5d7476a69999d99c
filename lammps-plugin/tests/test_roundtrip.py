"""State that leaves LAMMPS and comes back must give the same energy, forces and virial:
write_restart/read_restart (pair_style and pair_coeff re-issued: the style stores nothing in
restart files), write_data/read_data, and rerun of a dump. Synthetic message-passing +
long-range model, so these run without the reference data; the two sides use different MPI
rank counts."""
from compare import Checks
from lammps_io import evaluate, thermo_table, write_data
from lammps_run import PLUGIN, preamble, run_lammps
from structures import synthetic_crystal

MD = ("velocity all create 100 4242 mom yes dist gaussian\n"
      "timestep 0.001\nfix nve all nve\nthermo 10\n")
REL = 1e-12


def _setup(synthetic, wd):
    elements = write_data(wd / "start.data", synthetic_crystal())
    return preamble("start.data", synthetic("mp_lr"), elements)


def test_restart(tmp_path, synthetic):
    wd = tmp_path
    model = synthetic("mp_lr")
    before = evaluate(wd, "written", _setup(synthetic, wd) + MD + "run 30\nwrite_restart md.restart\n",
                      nprocs=2)
    after = evaluate(wd, "read", f"plugin load {PLUGIN}\nread_restart md.restart\n"
                     f"pair_style cace\npair_coeff * * {model} Al Cu\n", nprocs=1)
    c = Checks()
    c.that(after[0]["step"] == 30, f"restart did not carry the timestep: {after[0]['step']}")
    c.same_evaluation("restart (np 2 -> serial)", after, before, REL)
    c.done()


def test_data_file(tmp_path, synthetic):
    wd = tmp_path
    model = synthetic("mp_lr")
    before = evaluate(wd, "written", _setup(synthetic, wd) + MD + "run 30\n", nprocs=1,
                      after="write_data md.data\n")
    after = evaluate(wd, "read", preamble("md.data", model, ["Al", "Cu"]), nprocs=2)
    c = Checks()
    c.same_evaluation("write_data/read_data (serial -> np 2)", after, before, REL)
    c.done()


def test_rerun(tmp_path, synthetic):
    wd = tmp_path
    model = synthetic("mp_lr")
    thermo = ("compute pv all pressure NULL virial\n"
              "thermo_style custom step pe c_pv[*]\nthermo_modify format float %.17g\n")
    run_lammps(wd, _setup(synthetic, wd) + MD + thermo +
               "dump d all custom 10 md.dump id type x y z\n"
               "dump_modify d format float %.17g\nrun 50\n", nprocs=2, name="in.md")
    md = thermo_table((wd / "log.in.md").read_text())[-1]
    rerun = run_lammps(wd, preamble("start.data", model, ["Al", "Cu"]) + thermo +
                       "thermo 10\nrerun md.dump dump x y z box yes\n", nprocs=1, name="in.rerun")
    again = thermo_table(rerun.log)[-1]
    c = Checks()
    steps, md_steps = [int(v) for v in again["Step"]], [int(v) for v in md["Step"]]
    c.that(steps == md_steps == [0, 10, 20, 30, 40, 50],
           f"rerun steps {steps} != md steps {md_steps}")
    if not c.problems:
        c.close("rerun energies", again["PotEng"], md["PotEng"], REL, 1e-12)
        for k in range(1, 7):
            c.close(f"rerun virial pressure {k}", again[f"c_pv[{k}]"], md[f"c_pv[{k}]"], 1e-10,
                    1e-6)
        c.that(abs(md["PotEng"][-1] - md["PotEng"][0]) > 1e-3,
               "the MD run did not change the energy: the rerun check would be vacuous")
    c.done()

