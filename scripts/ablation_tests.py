"""Welch's t-test of every configuration of an experiment against a reference one, per metric, from results.csv.

    python scripts/ablation_tests.py runs/experiments/r3gan-ablation --ref rpgan+r1+r2
    python scripts/ablation_tests.py runs/experiments/r3gan-reg-cost --ref r1r2-every-step --dataset grid25

Prints a markdown table: per method and metric the mean +- sample std over the seeds that finished, the
difference to the reference and the two-sided p-value of Welch's t-test (unequal variances). Seeds that
diverged or failed are counted in their own column, never averaged.
"""
from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

from scipy import stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="the experiment's folder (holds results.csv)")
    ap.add_argument("--ref", required=True, help="the reference method's name")
    ap.add_argument("--metrics", default="modes,modes_kl,modes_hq_fraction")
    ap.add_argument("--dataset", help="only this dataset's cells (an experiment over several datasets)")
    args = ap.parse_args()
    rows = [r for r in csv.DictReader(open(args.root / "results.csv")) if not args.dataset or r["dataset"] == args.dataset]
    metrics = args.metrics.split(",")
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["method"], []).append(r)
    if args.ref not in by:
        raise SystemExit(f"no method {args.ref!r} in {args.root / 'results.csv'}; it has {', '.join(by)}")

    def values(method: str, m: str) -> list[float]:
        return [float(r[m]) for r in by[method] if r["status"] == "ok" and r[m] and math.isfinite(float(r[m]))]

    print("| method | seeds ok / run | " + " | ".join(f"{m} (p vs {args.ref})" for m in metrics) + " |")
    print("|---|---|" + "---|" * len(metrics))
    for method, rs in by.items():
        cells = []
        for m in metrics:
            v, ref = values(method, m), values(args.ref, m)
            ok = [r for r in by[method] if r["status"] == "ok"]
            nan = f" ({len(ok) - len(v)} NaN)" if len(ok) > len(v) else ""  # counted and shown, never dropped silently
            if not v:
                cells.append("-" + nan)
                continue
            mean = sum(v) / len(v)
            std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
            cell = f"{mean:.4g} +- {std:.2g}"
            if method != args.ref and len(v) > 1 and len(ref) > 1:
                p = stats.ttest_ind(v, ref, equal_var=False).pvalue
                cell += f" (p {p:.2g})" if math.isfinite(p) else " (p -)"
            cell += nan
            cells.append(cell)
        ok = sum(r["status"] == "ok" for r in rs)
        print(f"| {method} | {ok} / {len(rs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
