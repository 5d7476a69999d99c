#!/usr/bin/env python3
"""The comparison table of docs/canonical.md from the reports compare.sh wrote.

    table.py OUT
"""
import re
import sys
from pathlib import Path


def parse(path):
    text = path.read_text()
    lam = re.search(r"lambda ([0-9.e+-]+) \(absolute", text).group(1)
    kappa = float(re.search(r"condition number of the scaled system: ([0-9.e+-]+)", text).group(1))
    solver = re.search(r"^solver (\w+)", text, re.M).group(1)
    validation = text.split("validation errors:")[1]
    row = re.search(r"^  all\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", validation, re.M)
    e_rmse, f_rmse, v_rmse = float(row.group(3)), float(row.group(5)), float(row.group(7))
    return solver, float(lam), kappa, e_rmse, f_rmse, v_rmse


out = Path(sys.argv[1])
print("| system | basis | solver | λ (relative) | κ(scaled normal matrix + λI) | E RMSE (meV/atom) | F RMSE (eV/Å) | V RMSE (meV/atom) |")
print("|---|---|---|---|---|---|---|---|")
for system in ("si", "gan"):
    for lam in ("1e-10", "1e-8", "1e-7", "1e-6", "1e-4", "1e-2"):
        for basis in ("self", "canonical"):
            path = out / f"{system}-{basis}-{lam}.txt"
            if not path.exists() or "validation errors:" not in path.read_text():
                continue
            solver, lam_value, kappa, e, f, v = parse(path)
            # qr reports kappa of [A; sqrt(lambda) I]; the normal matrix's is its square
            normal = kappa ** 2 if solver == "qr" else kappa ** 2
            print(f"| {'Si (SW)' if system == 'si' else 'GaN (SW)'} | {basis} | {solver} | {lam_value:.1e} | {normal:.2e} | {e:.3f} | {f:.4f} | {v:.2f} |")
