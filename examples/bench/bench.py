#!/usr/bin/env python3
"""Runs every speed comparison of BENCHMARKS.md in one go and writes the table.

usage: bench.py ROOT OUTDIR TABLE.md [--quick]     (called by examples/bench/run.sh)
Structures come from ../shared/reference; with CACE_UPSTREAM=<upstream checkout> upstream CACE is
timed on the same structures in the same run (otherwise its figures are quoted from
../shared/notes/upstream-speed.md). --quick skips the 98304-atom and message-passing runs.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location("pair_cace_atomic", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python", "pair_cace", "atomic.py"))
_atomic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_atomic)  # pair_cace/atomic.py of this checkout: files are written whole or not at all
write_text = _atomic.write_text

ROOT, OUT, TABLE = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
QUICK = "--quick" in sys.argv
REF = ROOT.parent / "shared" / "reference"
CACE = ROOT / ".build" / "release" / "cace"
LMP, PLUGIN = ROOT / "build" / "lmp", ROOT / "build" / "caceplugin.so"
# Upstream float32, one thread, this machine (../shared/notes/upstream-speed.md), us/atom/evaluation.
UPSTREAM_NOTES = {("sr_ef", 192): 1118, ("sr_ef", 1536): 1182, ("full", 192): 1190, ("full", 1536): 1623,
                  ("full", 6144): 3838}
rows, upstream = [], {}


def structures(source, reps):
    subprocess.run([sys.executable, str(ROOT / "examples/bench/make_structures.py"), str(source), str(OUT), *reps],
                   check=True, stdout=subprocess.DEVNULL)
    return {r: OUT / f"{Path(source).stem}_x{r}" for r in reps}


def add(model, atoms, tool, precision, layout, us, rss=None):
    rows.append(dict(model=model, atoms=atoms, tool=tool, precision=precision, layout=layout, us=us, rss=rss))
    print(f"  {model:34s} {atoms:6d} {tool:15s} {precision:6s} {layout:6s} {us:9.1f} us/atom"
          + (f"  {rss:.0f} MB" if rss else ""), flush=True)


def cli(model, stem, threads=1, precision="double"):
    """One `cace benchmark` run: a job for `interleaved`."""
    atoms = int(Path(f"{stem}.xyz").read_text().split("\n", 1)[0])
    repeat = max(3, min(25, 200_000 // atoms))    # medians of about a second of work: small boxes are noisy
    cmd = [str(CACE), "benchmark", str(REF / model / "model.safetensors"), f"{stem}.xyz", "--threads", str(threads),
           "--precision", precision, "--repeat", str(repeat), "--format", "json"]

    def run():
        j = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        return j["us_per_atom"], j["peak_rss_mb"]
    return dict(model=model, atoms=atoms, tool="cace benchmark", precision=precision, layout=f"{threads}x1", run=run)


def lammps(model, stem, ranks=1, precision="double", steps=None):
    """One LAMMPS `run` of examples/bench/in.bench: a job for `interleaved`."""
    data = Path(f"{stem}.data")
    elements = re.search(r"types: (.*)", data.read_text().splitlines()[0]).group(1)
    atoms = int(re.search(r"^(\d+) atoms", data.read_text(), re.M).group(1))
    steps = steps or max(20, min(400, 150_000 // atoms))
    log = OUT / f"log.{model}.{data.stem}.np{ranks}.{precision}"
    # every rank reports its own peak RSS (GNU time's %M, KB) on stderr
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), "/usr/bin/time", "-f",
           "PEAK_RSS_KB %M", str(LMP), "-in", str(ROOT / "examples/bench/in.bench"), "-var", "plugin", str(PLUGIN),
           "-var", "data", str(data), "-var", "model", str(REF / model / "model.safetensors"), "-var", "elements",
           elements, "-var", "precision", precision, "-var", "steps", str(steps), "-log", str(log), "-screen", "none"]

    def run():
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"LAMMPS failed ({' '.join(cmd)}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
        rate = float(re.findall(r"Performance:.*?([\d.]+) timesteps/s", log.read_text())[-1])
        # mpirun occasionally drops a rank's last stderr line: then that run has no RSS figure
        reports = [int(v) for v in re.findall(r"PEAK_RSS_KB (\d+)", out.stderr)]
        return 1e6 / (rate * atoms), (max(reports) / 1024 if reports else None)
    return dict(model=model, atoms=atoms, tool="LAMMPS run", precision=precision, layout=f"1x{ranks}", run=run)


def interleaved(jobs, rounds=5):
    """Runs the jobs of one comparison in turn, `rounds` times, and adds each one's median.

    This machine's speed drifts by 10-30 % over minutes (other load on the VM): runs of the
    rows compared with each other (double and single, one and two ranks) alternate, so a slow
    spell hits both sides of a ratio instead of one."""
    results = [[] for _ in jobs]
    for _ in range(rounds):
        for job, result in zip(jobs, results):
            result.append(job["run"]())
    for job, result in zip(jobs, results):
        times = sorted(t for t, _ in result)
        peaks = [m for _, m in result if m]
        add(job["model"], job["atoms"], job["tool"], job["precision"], job["layout"], times[len(times) // 2],
            max(peaks) if peaks else None)


def time_upstream(stems):
    checkout = os.environ.get("CACE_UPSTREAM")
    if not checkout:
        print("  upstream: CACE_UPSTREAM not set, quoting ../shared/notes/upstream-speed.md")
        return
    env = dict(os.environ, PYTHONPATH=checkout + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, str(ROOT / "examples/bench/upstream_time.py"),
                          str(Path(checkout) / "benchmark/best_model.pth"), *[f"{s}.xyz" for s in stems]],
                         check=True, capture_output=True, text=True, env=env).stdout
    for line in out.splitlines():
        j = json.loads(line)
        upstream[(j["variant"], j["atoms"])] = j["us_per_atom"]
        name = "water_sr (upstream sr_ef)" if j["variant"] == "sr_ef" else "water_trained (upstream full)"
        add(name, j["atoms"], "upstream PyTorch", "float32", "1x1", j["us_per_atom"])


def main():
    start = time.time()
    water = structures(REF / "water_sr/liquid64_frame0.xyz", ["1", "2", "4x4x2", "4", "8"])
    print("water, short range (water_sr)")
    # One set of runs for every size, precision and (at 1536 atoms) thread count: the flatness,
    # precision and thread ratios all come from runs that alternate.
    interleaved([cli("water_sr", water[r], threads=t, precision=p) for r in ["1", "2", "4", "8"][: 3 if QUICK else 4]
                 for p in ("double", "single") for t in ((1, 2) if r == "2" else (1,))])
    for r in ["1", "2"]:
        interleaved([lammps("water_sr", water[r], 1), lammps("water_sr", water[r], 2),
                     lammps("water_sr", water[r], 1, "single")])
    if not QUICK:
        interleaved([lammps("water_sr", water["8"], 1, steps=10)], rounds=1)
    print("water with its long-range term (water_trained)")
    for r in ["1", "2", "4x4x2"]:
        jobs = [cli("water_trained", water[r]), cli("water_trained", water[r], precision="single")]
        if r == "2":
            jobs.append(cli("water_trained", water[r], threads=2))
        interleaved(jobs)
    interleaved([lammps("water_trained", water["2"], 1), lammps("water_trained", water["2"], 2),
                 lammps("water_trained", water["2"], 1, "single")])
    if not QUICK:
        print("message-passing reference models (alloy_bulk replicated 3x3x3)")
        for model in ["rand_2el_l3_nu4_mp1_MAr_expdecay_mollifier", "rand_3el_l3_nu3_mp1_MArBchi",
                      "rand_3el_l2_nu4_mp2_Bchi_gauss_cos"]:
            stem = structures(REF / model / "alloy_bulk.xyz", ["3"])["3"]
            interleaved([cli(model, stem)], rounds=1)
            interleaved([lammps(model, stem, ranks) for ranks in (1, 2)], rounds=1)
    print("upstream CACE")
    time_upstream([water["1"], water["2"], water["4x4x2"]])
    write_table(time.time() - start)


def write_table(seconds):
    up = {k: upstream.get(k, v) for k, v in UPSTREAM_NOTES.items()} | upstream
    source = "timed in this run" if upstream else "quoted from ../shared/notes/upstream-speed.md"
    load = open("/proc/loadavg").read().split()[:3]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = ["## The run", "",
             "Each comparison's runs alternate (for example LAMMPS double 1 rank, double 2 ranks, single 1 rank,",
             "five times over; the water_sr CLI runs of every size, precision and thread count in one set) and",
             "each row is the median of its runs: this machine's speed drifts by 10-30 % over minutes, and",
             "alternating puts a slow spell on both sides of a ratio. Precision single covers the per-atom",
             "features and the periodic Ewald sum's per-(atom, k) terms.", "",
             f"Machine: {os.cpu_count()} cores, {cpu}; load average at the end: {' '.join(load)}; "
             f"{seconds / 60:.1f} min. Upstream figures {source}.", "",
             "| model | atoms | tool | precision | threads x ranks | us/atom/step | vs upstream | peak RSS MB |",
             "|---|---:|---|---|---|---:|---:|---:|"]
    for r in rows:
        variant = "sr_ef" if r["model"] == "water_sr" else "full" if r["model"] == "water_trained" else None
        base = up.get((variant, r["atoms"])) if r["tool"] != "upstream PyTorch" else None
        speedup = f"{base / r['us']:.1f}x" if base and r["layout"] == "1x1" else ""
        rss = f"{r['rss']:.0f}" if r["rss"] else ""
        lines.append(f"| {r['model']} | {r['atoms']} | {r['tool']} | {r['precision']} | {r['layout']} | "
                     f"{r['us']:.1f} | {speedup} | {rss} |")
    lines += ["", "Ratios from the rows above:"]

    def us(model, atoms, tool="cace benchmark", precision="double", layout="1x1"):
        return next((r["us"] for r in rows if (r["model"], r["atoms"], r["tool"], r["precision"], r["layout"])
                     == (model, atoms, tool, precision, layout)), None)

    for model in ("water_sr", "water_trained"):
        for atoms in (192, 1536, 6144, 12288, 98304):
            d, s = us(model, atoms), us(model, atoms, precision="single")
            if d and s:
                lines.append(f"- {model}, {atoms} atoms: single precision {d / s:.2f}x faster than double")
    sr = [us("water_sr", n) for n in (192, 1536, 12288, 98304) if us("water_sr", n)]
    if sr:
        lines.append(f"- water_sr cost per atom from 192 to {[192, 1536, 12288, 98304][len(sr) - 1]} atoms: "
                     f"max/min = {max(sr) / min(sr):.2f}")
    for model in ("water_sr", "water_trained"):
        for atoms in (192, 1536):
            d, s = us(model, atoms, "LAMMPS run"), us(model, atoms, "LAMMPS run", "single")
            if d and s:
                lines.append(f"- {model}, {atoms} atoms in LAMMPS: single precision {d / s:.2f}x faster than double")
        one, two = us(model, 1536), us(model, 1536, layout="2x1")
        if one and two:
            lines.append(f"- {model}, 1536 atoms: 2 threads {one / two:.2f}x faster than 1")
        one, two = us(model, 1536, "LAMMPS run"), us(model, 1536, "LAMMPS run", layout="1x2")
        if one and two:
            lines.append(f"- {model}, 1536 atoms in LAMMPS: 2 MPI ranks {one / two:.2f}x faster than 1")
    lines += targets(us, up)
    write_text(TABLE, "\n".join(lines) + "\n")
    print("\n".join(lines))


def targets(us, up):
    """The table of issue 5's targets, each judged from this run's rows (None where a row is missing)."""
    def ratio(a, b):
        return a / b if a and b else None

    def fmt(values, digits=2):
        return " / ".join(f"{v:.{digits}f}" if v else "–" for v in values)

    def met(values, ok):
        return "yes" if values and all(v is not None and ok(v) for v in values) else "**no**"

    sizes = (192, 1536, 12288, 98304)
    sr = [us("water_sr", n) for n in sizes]
    vs_sr = [ratio(up.get(("sr_ef", n)), us("water_sr", n)) for n in (192, 1536)]
    vs_sr_lmp = [ratio(up.get(("sr_ef", n)), us("water_sr", n, "LAMMPS run")) for n in (192, 1536)]
    vs_full = [ratio(up.get(("full", n)), us("water_trained", n)) for n in (192, 1536, 6144)]
    flat = [ratio(max(sr), min(sr))] if all(sr) else [None]
    single = ([ratio(us("water_sr", n), us("water_sr", n, precision="single")) for n in sizes]
              + [ratio(us("water_sr", n, "LAMMPS run"), us("water_sr", n, "LAMMPS run", "single")) for n in (192, 1536)]
              + [ratio(us("water_trained", n), us("water_trained", n, precision="single")) for n in (192, 1536, 6144)]
              + [ratio(us("water_trained", 1536, "LAMMPS run"), us("water_trained", 1536, "LAMMPS run", "single"))])
    threads = [ratio(us(m, 1536), us(m, 1536, layout="2x1")) for m in ("water_sr", "water_trained")]
    ranks = [ratio(us(m, 1536, "LAMMPS run"), us(m, 1536, "LAMMPS run", layout="1x2"))
             for m in ("water_sr", "water_trained")]
    big = next((r["rss"] for r in rows if (r["model"], r["atoms"], r["tool"]) == ("water_sr", 98304, "LAMMPS run")), None)
    mp = [r["rss"] for r in rows if r["model"].startswith("rand_") and r["rss"]]
    lmp = [us("water_sr", n, "LAMMPS run") for n in (192, 1536)]
    return [
        "", "## Against the targets of issue 5", "",
        "| target | figures from the run above | met |", "|---|---|---|",
        f"| water_sr, float64, 1 thread: ≤ 1/10 of upstream at 192 and 1536 atoms | {fmt(vs_sr, 1)}x upstream | "
        f"{met(vs_sr, lambda v: v >= 10)} |",
        f"| the same in LAMMPS (per atom-step) | {fmt(vs_sr_lmp, 1)}x | {met(vs_sr_lmp, lambda v: v >= 10)} |",
        f"| water_trained (Ewald) ≥ 10x upstream at 192, 1536, 6144 atoms | {fmt(vs_full, 1)}x | "
        f"{met(vs_full, lambda v: v >= 10)} |",
        f"| flat cost (within 15 %) from 192 to 98304 atoms (water_sr, CLI, double) | max/min {fmt(flat)} | "
        f"{met(flat, lambda v: v <= 1.15)} |",
        f"| 98304-atom water `run 10`, one rank, < 1 GB peak RSS | {big:.0f} MB | {met([big], lambda v: v < 1024)} |"
        if big else "| 98304-atom water `run 10`, one rank, < 1 GB peak RSS | not run (--quick) | **no** |",
        f"| message-passing models: report memory | {min(mp):.0f}–{max(mp):.0f} MB at 2916 atoms (rows above) | reported |"
        if mp else "| message-passing models: report memory | not run (--quick) | **no** |",
        f"| precision single ≥ 1.6x double | water_sr CLI {fmt(single[:4])} (192 … 98304 atoms), LAMMPS {fmt(single[4:6])} "
        f"(192, 1536); water_trained CLI {fmt(single[6:9])} (192, 1536, 6144), LAMMPS {fmt(single[9:])} (1536) | "
        f"{met(single, lambda v: v >= 1.6)} |",
        "| forces in single within 1e-4 relative of double | tested: PrecisionTests, lammps-plugin/tests test_precision_single | tested |",
        f"| 2 threads ≥ 1.7x at 1536 atoms | {fmt(threads)} (water_sr, water_trained) | {met(threads, lambda v: v >= 1.7)} |",
        f"| 2 MPI ranks ≥ 1.7x | {fmt(ranks)} (water_sr, water_trained, 1536 atoms) | {met(ranks, lambda v: v >= 1.7)} |",
        f"| LAMMPS, one core: water_sr below ML-PACE (272) and SNAP (94–164) for Cu, us/atom-step | "
        f"{fmt(lmp, 1)} (192, 1536 atoms) | {met(lmp, lambda v: v < 94)} |",
        "| every reference test passes in double | `scripts/test.sh` (CI) | tested |",
    ]


if __name__ == "__main__":
    main()
