"""Has each arm of an experiment flattened, what does a real image cost it, and where is it at equal wall time?

    python scripts/study_convergence.py runs/experiments/mma-digits --metric modes --metric fid --wall-ref dcgan

Reads every finished cell's run/metrics.jsonl under EXPERIMENT_DIR (a `gankit experiment` folder). Per configuration
(a method with its swept values, as in results.csv):

- the mean over seeds of each --metric at the last three snapshots (a flat curve changes little across them);
- s per 1k real images: the median over the cell's log lines of 1000 / img_per_s (training only, no snapshot
  metrics; on 1 thread, while other cells shared the cores, so rough);
- with --rate-kimg K: the rates from the log lines up to K kimg only (a stretch whose load was the same for every
  cell, when a continuation later ran beside more processes);
- with --wall-ref CONFIG: the training time of CONFIG's whole run (its kimg x its s per 1k images), and each
  configuration's last snapshot inside that time with its metrics' means (equal wall time, training compute only).
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from gankit.lab.experiment import finished_cells
from gankit.run import MetricsLog


def read_cell(run: Path, rate_kimg: float = float("inf")) -> tuple[list[dict], float]:
    """The cell's snapshot rows (sorted by kimg) and its median seconds per 1k real images (log lines <= rate_kimg)."""
    snaps, rates = {}, []
    for row in MetricsLog.read(run / "metrics.jsonl"):  # skips a line cut off by a kill, as the runner does
        if "img_per_s" in row and row["img_per_s"] > 0:
            if row["kimg"] <= rate_kimg:
                rates.append(1000.0 / row["img_per_s"])
        elif "kimg" in row and "img_per_s" not in row and "event" not in row:  # a snapshot (not a stop or rollback)
            snaps[row["kimg"]] = {**snaps.get(row["kimg"], {}), **row}  # a resumed run may repeat a snapshot
    return [snaps[k] for k in sorted(snaps)], statistics.median(rates) if rates else float("nan")


def configurations(root: Path, rate_kimg: float = float("inf")) -> dict[str, list[tuple[list[dict], float]]]:
    """'method config_id' -> [(snapshots, s per 1k images)] for every finished cell (result.json with status ok)."""
    return {name: [read_cell(cell / "run", rate_kimg) for cell in homes]
            for name, homes in finished_cells(root).items()}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _at(snaps: list[dict], kimg: float) -> dict | None:
    """The last snapshot at or before kimg."""
    inside = [s for s in snaps if s["kimg"] <= kimg + 1e-9]
    return inside[-1] if inside else None


def report(root: Path, metrics: list[str], wall_ref: str | None, rate_kimg: float = float("inf")) -> str:
    confs = configurations(root, rate_kimg)
    head = "| configuration | seeds | " + " | ".join(f"{m} at the last three snapshots" for m in metrics) + \
           " | kimg of those snapshots | s per 1k real images (median, 1 thread" + \
           (f", first {rate_kimg:g} kimg" if rate_kimg != float("inf") else "") + ") |"
    lines = [head, "|" + "---|" * (4 + len(metrics))]
    for name, cells in confs.items():
        kimgs = [s["kimg"] for s in cells[0][0][-3:]]
        cols = []
        at = {k: [r for r in (_at(sn, k) for sn, _ in cells) if r is not None] for k in kimgs}  # each lookup once
        for m in metrics:
            means = [_mean([r[m] for r in at[k] if m in r]) for k in kimgs]
            cols.append(" / ".join(f"{v:.4g}" for v in means))
        rate = statistics.median(r for _, r in cells)
        lines.append(f"| {name} | {len(cells)} | " + " | ".join(cols) + f" | {', '.join(f'{k:.0f}' for k in kimgs)} | {rate:.3g} |")
    if wall_ref:
        if wall_ref not in confs:
            raise SystemExit(f"--wall-ref {wall_ref!r} is not a configuration here; choose one of {sorted(confs)}")
        ref = confs[wall_ref]
        budget = statistics.median(sn[-1]["kimg"] * r for sn, r in ref)
        lines += ["", f"At the training time of {wall_ref}'s whole run ({budget:.0f} s at 1 thread): each "
                  "configuration's last snapshot within that time (means over seeds)", "",
                  "| configuration | kimg reached | " + " | ".join(metrics) + " |", "|" + "---|" * (2 + len(metrics))]
        for name, cells in confs.items():
            rate = statistics.median(r for _, r in cells)
            kimg = budget / rate
            snaps = [_at(sn, kimg) for sn, _ in cells]
            if any(s is None for s in snaps):
                lines.append(f"| {name} | no snapshot within {kimg:.0f} kimg | " + " | ".join("" for _ in metrics) + " |")
                continue
            vals = [_mean([s[m] for s in snaps if m in s]) for m in metrics]
            lines.append(f"| {name} | {snaps[0]['kimg']:.0f} | " + " | ".join(f"{v:.4g}" for v in vals) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="an experiment folder (OUT/NAME)")
    ap.add_argument("--metric", action="append", required=True, help="a snapshot metric (repeatable)")
    ap.add_argument("--wall-ref", help="configuration whose run's training time sets the equal-wall-time column")
    ap.add_argument("--rate-kimg", type=float, default=float("inf"), help="s per 1k images from log lines up to this kimg")
    ap.add_argument("--out", type=Path, help="also write the tables here")
    args = ap.parse_args()
    text = report(args.root, args.metric, args.wall_ref, args.rate_kimg)
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
