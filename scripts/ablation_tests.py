"""Every configuration of an experiment against a reference one, per metric, from results.csv: the difference of
means with a bootstrap 95% interval, Welch's t-test and the Mann-Whitney U test.

    python scripts/ablation_tests.py runs/experiments/r3gan-ablation --ref rpgan+r1+r2
    python scripts/ablation_tests.py runs/experiments/mma-ring8 --ref dcgan
    python scripts/ablation_tests.py runs/experiments/mma-grid25 --ref "mma-gan K16 lambda0.0"

A configuration is a method with its swept values ("mma-gan K16 lambda0.5"); --ref names one. Prints a markdown
table: per configuration and metric the mean +- sample std over the seeds that finished, the difference to the
reference with a percentile-bootstrap 95% interval (10,000 resamples of each arm's seeds, seed 0), and the two-sided
p-values of Welch's t-test and of Mann-Whitney's U (exact where scipy can, no normality assumed; mode counts tie
often). Seeds that diverged or failed are counted in their own column, never averaged; NaN values are counted.
With --mde each comparison also gives the minimum detectable difference: the true difference Welch's test (two-sided
0.05) would find with 80% power at these seeds' spread, (t_0.975 + t_0.80 on Welch's degrees of freedom) x the
standard error. A "no difference" verdict claims no more than that.
"""
from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
from scipy import stats

def config_name(row: dict, params: list[str]) -> str:
    return " ".join([row["method"], *(f"{p}{row[p]}" for p in params if row.get(p, "") != "")])


def bootstrap_diff(v: list[float], ref: list[float], n: int = 10000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of mean(v) - mean(ref), resampling each arm's seeds with replacement."""
    rng = np.random.default_rng(seed)
    a = rng.choice(np.asarray(v), (n, len(v))).mean(1)
    b = rng.choice(np.asarray(ref), (n, len(ref))).mean(1)
    lo, hi = np.percentile(a - b, [2.5, 97.5])
    return float(lo), float(hi)


def min_detectable(v: list[float], ref: list[float], alpha: float = 0.05, power: float = 0.8) -> float:
    """The difference of means Welch's two-sided test at `alpha` detects with `power`: (t_{1-alpha/2} + t_power)
    x SE on the Welch-Satterthwaite degrees of freedom, SE = sqrt(s1^2/n1 + s2^2/n2) with sample variances."""
    a, b = np.var(v, ddof=1) / len(v), np.var(ref, ddof=1) / len(ref)
    if a + b == 0:
        return 0.0
    df = (a + b) ** 2 / (a ** 2 / (len(v) - 1) + b ** 2 / (len(ref) - 1))
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * math.sqrt(a + b))


def compare(v: list[float], ref: list[float], mde: bool = False) -> str:
    """'diff [lo, hi], p_t, p_U' of v against ref (both with at least 2 values), with mde the detectable difference."""
    d = sum(v) / len(v) - sum(ref) / len(ref)
    lo, hi = bootstrap_diff(v, ref)
    p_t = stats.ttest_ind(v, ref, equal_var=False).pvalue
    p_u = stats.mannwhitneyu(v, ref, alternative="two-sided").pvalue
    fmt = lambda p: f"{p:.2g}" if math.isfinite(p) else "-"  # noqa: E731  (a constant pair: t is undefined)
    out = f"{d:+.3g} [{lo:+.3g}, {hi:+.3g}], p_t {fmt(p_t)}, p_U {fmt(p_u)}"
    return out + (f", MDE {min_detectable(v, ref):.3g}" if mde else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="the experiment's folder (holds results.csv)")
    ap.add_argument("--ref", required=True, help="the reference configuration, e.g. dcgan or 'mma-gan K16 lambda0'")
    ap.add_argument("--metrics", default="modes,modes_kl,modes_hq_fraction")
    ap.add_argument("--dataset", help="only this dataset's cells (an experiment over several datasets)")
    ap.add_argument("--mde", action="store_true", help="also the minimum detectable difference (80%% power, 0.05)")
    args = ap.parse_args()
    with open(args.root / "results.csv") as f:
        reader = csv.DictReader(f)
        metrics = args.metrics.split(",")
        cols = list(reader.fieldnames or [])
        params = cols[cols.index("method") + 1:cols.index("seed")]  # the swept values sit between method and seed
        rows = [r for r in reader if not args.dataset or r["dataset"] == args.dataset]
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(config_name(r, params), []).append(r)
    if args.ref not in by:
        raise SystemExit(f"no configuration {args.ref!r} in {args.root / 'results.csv'}; it has {', '.join(by)}")

    def values(name: str, m: str) -> list[float]:
        return [float(r[m]) for r in by[name] if r["status"] == "ok" and r[m] and math.isfinite(float(r[m]))]

    print("| configuration | seeds ok / run | " + " | ".join(f"{m}: mean +- std; vs {args.ref}: diff [95% CI], p"
                                                         for m in metrics) + " |")
    print("|---|---|" + "---|" * len(metrics))
    for name, rs in by.items():
        ok = [r for r in rs if r["status"] == "ok"]
        cells = []
        for m in metrics:
            v, ref = values(name, m), values(args.ref, m)
            nan = f" ({len(ok) - len(v)} NaN)" if len(ok) > len(v) else ""  # counted and shown, never dropped silently
            if not v:
                cells.append("-" + nan)
                continue
            mean = sum(v) / len(v)
            std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
            cell = f"{mean:.4g} +- {std:.2g}"
            if name != args.ref and len(v) > 1 and len(ref) > 1:
                cell += "; " + compare(v, ref, args.mde)
            cells.append(cell + nan)
        print(f"| {name} | {len(ok)} / {len(rs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
