"""How long runs took while they ran: for each run folder (or shipped cell folder) holding metrics.jsonl, the wall
minutes (gankit.run.run_time: log intervals, snapshots included, the time between a stop and its resume left out),
the snapshots' metrics, the minutes of training alone (the difference, with any pause or slowdown inside a log
interval), and the images over the median logged rate (what the run needs on the machine as it mostly ran).

    python scripts/run_minutes.py docs/results/cifar10_cpu/cells/cifar10/*/default/seed*

Logs from before 2026-12-07 do not record a snapshot's seconds: run_time estimates them from the last log line's
rate ("est."), so a pause (SIGSTOP) between that line and the snapshot counts as snapshot time there.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from gankit.lab.experiment import cell_run
from gankit.run import MetricsLog, run_time


def minutes(folder: Path) -> dict:
    """Wall, snapshot and training-alone minutes of one run (or a cell folder with run/ inside)."""
    run = cell_run(folder)
    records = MetricsLog.read(run / "metrics.jsonl")
    t = run_time(records)
    return {"images": max(r["images"] for r in records), "wall": t.seconds / 60, "snapshots": t.snapshot_seconds / 60,
            "train": (t.seconds - t.snapshot_seconds) / 60, "stretches": t.stretches, "untimed": t.untimed_snapshots,
            "median": statistics.median(r["img_per_s"] for r in records if r.get("img_per_s", 0) > 0),
            "estimated": t.estimated_snapshots > 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args()
    print("| run | images | wall minutes | snapshot metrics | training alone | median img/s | images at it, minutes | stretches |")
    print("|---|---|---|---|---|---|---|---|")
    for f in args.runs:
        m = minutes(f)
        est = " (est.)" if m["estimated"] else ""
        untimed = f", {m['untimed']} untimed" if m["untimed"] else ""
        print(f"| {f} | {m['images']:,} | {m['wall']:.1f} | {m['snapshots']:.1f}{est}{untimed} | {m['train']:.1f}{est} | "
              f"{m['median']:.1f} | {m['images'] / m['median'] / 60:.1f} | {m['stretches']} |")


if __name__ == "__main__":
    main()
