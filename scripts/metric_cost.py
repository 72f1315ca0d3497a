"""What a study's metrics cost: the in-loop snapshot metrics and the final metric, in seconds, per configuration.

    python scripts/metric_cost.py runs/experiments/cifar10-cpu
    python scripts/metric_cost.py docs/results/cifar10_cpu/cells      # shipped cells: the run's files beside result.json

Reads every finished cell under EXPERIMENT_DIR (a `gankit experiment` folder, or shipped cells):

- in-loop: a snapshot's metrics line in run/metrics.jsonl carries its seconds (snapshot_s) since 2026-12-07. In
  older logs it is written when its metrics are done, and training reached the snapshot's image count at the last
  log line's time plus the images since that line at its logged img/s; the difference is the snapshot's metrics plus
  its sample grid (a few dozen images through G, a fraction of a second). The first snapshot also extracts the run's
  reference (eval_n training images), so it is reported apart.
- final: final.json's `seconds` (gankit/lab/final.py), per metric and stage (generate, extract, reference, score;
  the first three are shared by the metrics of one eval, so they count once). The reference stage reads the cache, or extracts the whole training set where the cache lacked it (the first
  cell measured): it is given apart, as its median and its largest, beside the rest's median.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from gankit.lab.experiment import cell_run, finished_cells
from gankit.run import MetricsLog, run_time


def snapshot_seconds(metrics_jsonl: Path) -> list[float]:
    """Seconds of each snapshot's metrics, in order (gankit.run.run_time: snapshot_s where the log records it, else
    its line's time minus the end of the training before it); a snapshot with no log line before it is skipped."""
    return run_time(MetricsLog.read(metrics_jsonl)).snapshots


def _join(values: set) -> str:
    return ", ".join(str(v) for v in sorted(values, key=str))


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.0f}" if values else "-"


def report(root: Path) -> str:
    lines = ["| configuration | cells | training threads | first snapshot's metrics, s (median) | later snapshots' metrics, s "
             "(median) | final metric without its reference, s (median, cells measured) | its reference, s (median / "
             "largest) | the final's threads (? where final.json predates the record) |", "|" + "---|" * 8]
    for name, homes in finished_cells(root).items():
        first, later, final, reference, threads, final_threads = [], [], [], [], set(), set()
        for home in homes:
            run = cell_run(home)  # a study's cell, or a shipped one (files flat)
            secs = snapshot_seconds(run / "metrics.jsonl")
            first += secs[:1]
            later += secs[1:]
            if (home / "final.json").is_file():
                record = json.loads((home / "final.json").read_text())
                per_metric = list(record["seconds"].values())  # generate/extract/reference are shared: the same
                shared = per_metric[0]  # in every metric's dict; each metric adds only its own score
                final.append(shared.get("generate", 0) + shared.get("extract", 0) + sum(m.get("score", 0) for m in per_metric))
                reference.append(shared.get("reference", 0))
                final_threads.add(record.get("threads") or "?")
            if (run / "run.json").is_file():
                threads.add(json.loads((run / "run.json").read_text()).get("threads"))
        fin = (f"{_fmt(final)}, {len(final)} | {_fmt(reference)} / {max(reference):.0f} | {_join(final_threads)}" if final
               else f"- (0 of {len(homes)} measured) | - | -")
        lines.append(f"| {name} | {len(homes)} | {_join(threads)} | {_fmt(first)} | {_fmt(later)} | {fin} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="an experiment folder (OUT/NAME)")
    print(report(ap.parse_args().root), end="")


if __name__ == "__main__":
    main()
