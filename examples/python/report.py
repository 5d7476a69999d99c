"""What every example does at the end: save its figure as PNG in the output folder and print
the summary (one JSON line, which the tests read)."""
import json
import os
import time


def save_and_report(fig, out, name, summary, start):
    """Writes `fig` to out/name.png, adds the path and the run time to `summary`, prints both."""
    fig.tight_layout()
    png = os.path.join(out, f"{name}.png")
    fig.savefig(png, dpi=100)
    summary.update(png=png, seconds=round(time.perf_counter() - start, 1))
    print(f"wrote {png} ({summary['seconds']} s)")
    print(json.dumps(summary))
