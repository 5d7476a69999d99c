"""What every example does at the end: save its figure as PNG in the output folder and print
the summary (one JSON line, which the tests read)."""
import json
import os
import sys
import time

import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location("pair_cace_atomic", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python", "pair_cace", "atomic.py"))
_atomic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_atomic)  # pair_cace/atomic.py of this checkout: files are written whole or not at all
atomic_write = _atomic.atomic_write


def save_and_report(fig, out, name, summary, start):
    """Writes `fig` to out/name.png, adds the path and the run time to `summary`, prints both."""
    fig.tight_layout()
    png = os.path.join(out, f"{name}.png")
    atomic_write(png, lambda f: fig.savefig(f, format="png", dpi=100))
    summary.update(png=png, seconds=round(time.perf_counter() - start, 1))
    print(f"wrote {png} ({summary['seconds']} s)")
    print(json.dumps(summary))
