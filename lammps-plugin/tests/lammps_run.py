"""Running LAMMPS (build/lmp with build/caceplugin.so), serially or under mpirun, and reading
what came out: exit status, ERROR lines, log file."""
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BUILD = Path(os.environ.get("CACE_BUILD_DIR", "build"))
BUILD = BUILD if BUILD.is_absolute() else ROOT / BUILD
LMP = BUILD / "lmp"
PLUGIN = BUILD / "caceplugin.so"
REFERENCE = ROOT.parent / "shared" / "reference"
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
NKTV2P = 1.6021765e6    # LAMMPS metal units: pressure*volume -> eV (force->nktv2p)


# the skip reason of every test that needs the upstream reference data (pytest -rs shows it)
REFERENCE_MISSING = (f"../shared/reference not found ({REFERENCE}): the upstream reference "
                     "comparisons are SKIPPED (they run in CI); the synthetic-model checks still run")


class Failure(AssertionError):
    """A check failed: pytest shows the message as the reason of the failure."""


@dataclass
class Run:
    cmd: list
    returncode: int
    output: str          # stdout + stderr of lmp (or mpirun)
    log: str             # the LAMMPS log file
    seconds: float
    timed_out: bool = False

    @property
    def signalled(self):
        """True if lmp (or a rank under mpirun) died from a signal instead of exiting."""
        if self.returncode < 0 or self.returncode >= 128:
            return True
        text = self.output + self.log
        return bool(re.search(r"exited on signal|Segmentation fault|signal \d+ \(|core dumped"
                              r"|Aborted|terminate called", text))

    def errors(self):
        """The ERROR lines LAMMPS printed (screen and log), without duplicates."""
        lines = []
        for line in (self.output + "\n" + self.log).splitlines():
            line = line.strip()
            if re.match(r"ERROR( on proc \d+)?:", line) and line not in lines:
                lines.append(line)
        return lines

    def summary(self):
        """One line saying why a run failed."""
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s"
        if self.signalled:
            tail = " | ".join(l.strip() for l in self.output.strip().splitlines()[-4:])
            return f"CRASHED (exit status {self.returncode}): {tail[-300:]}"
        errs = self.errors()
        if errs:
            return errs[0]
        tail = " | ".join(l for l in self.output.strip().splitlines()[-3:])
        return f"exit status {self.returncode}: {tail[-300:]}"


def check_build():
    """None if build/lmp and build/caceplugin.so exist, else why not."""
    if not LMP.exists() or not PLUGIN.exists():
        return f"{LMP} or {PLUGIN} is missing: run scripts/build.sh first"
    return None


def run_lammps(workdir, text, nprocs=1, name="in.lmp", timeout=300, check=True):
    """Writes `text` to workdir/name and runs it with -log log.<name>. With check=True a non-zero
    exit is a Failure naming the LAMMPS error."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / name).write_text(text)
    log = workdir / f"log.{name}"
    cmd = [str(LMP), "-in", name, "-log", log.name, "-nocite"]
    if nprocs > 1:
        cmd = MPIRUN + ["-np", str(nprocs)] + cmd
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)    # lmp or mpirun and all its ranks
        out, _ = proc.communicate()
    run = Run(cmd, proc.returncode, out, log.read_text(errors="replace") if log.exists() else "",
              time.monotonic() - t0, timed_out)
    if check and (run.returncode != 0 or timed_out):
        where = "" if nprocs == 1 else f" (np {nprocs})"
        raise Failure(f"LAMMPS run {workdir.name}/{name}{where} failed: {run.summary()}")
    return run


def preamble(data_file, model, elements, boundary="p p p", pair_args="", clear=False):
    """Input lines that set up a system from a data file with pair_style cace."""
    return (("clear\n" if clear else "") +
            f"plugin load {PLUGIN}\n"
            "units metal\n"
            "atom_style atomic\n"
            "atom_modify map array\n"
            f"boundary {boundary}\n"
            f"read_data {data_file}\n"
            f"pair_style cace {pair_args}\n"
            f"pair_coeff * * {model} {' '.join(elements)}\n")
