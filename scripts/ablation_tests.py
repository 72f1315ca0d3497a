"""Every configuration of an experiment against a reference one, per metric, from results.csv: the difference of
means with Welch's t 95% interval, its p, Holm's correction over every test in the table, and Mann-Whitney's U.

    python scripts/ablation_tests.py runs/experiments/r3gan-ablation --ref rpgan+r1+r2
    python scripts/ablation_tests.py runs/experiments/mma-ring8 --ref dcgan
    python scripts/ablation_tests.py runs/experiments/mma-grid25 --ref "mma-gan K16 lambda0.0"
    python scripts/ablation_tests.py STUDY_A STUDY_B --ref r3gan --only r3gan,r3gan-gamma0.01   # two studies pooled

A configuration is a method with its swept values ("mma-gan K16 lambda0.5"); --ref names one. Prints a markdown
table: per configuration and metric the mean +- sample std over the seeds that finished, the difference to the
reference with Welch's t 95% interval (gankit.lab.stats: unequal variances, Welch-Satterthwaite df; a percentile
bootstrap over 3-10 seeds is far too narrow), Welch's two-sided p, the same p after Holm's correction over all the
tests the table makes (their count is printed under it), and Mann-Whitney's U p (exact where scipy can; mode counts
tie often). Where even the uncorrected test finds nothing the minimum detectable difference (80% power, uncorrected
0.05) stands beside it, as "no difference detected (detectable: x)"; a difference that only the uncorrected test
finds is marked "significant before correction only". Seeds that diverged or failed are counted in their own column, never
averaged; NaN values are counted.
"""
from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

from scipy import stats

from gankit.lab.stats import holm, welch

def config_name(row: dict, params: list[str]) -> str:
    return " ".join([row["method"], *(f"{p}{row[p]}" for p in params if row.get(p, "") != "")])


def min_detectable(v: list[float], ref: list[float]) -> float:
    """The difference of means Welch's two-sided 0.05 test detects with 80% power (gankit.lab.stats.welch)."""
    return welch(v, ref).mde


def _p(p: float) -> str:
    return f"{p:.2g}" if math.isfinite(p) else "-"  # a constant pair: t is undefined


def compare(v: list[float], ref: list[float], p_holm: float) -> str:
    """'diff [lo, hi], p_t (Holm), p_U' of v against ref, and the detectable difference where nothing is found."""
    c = welch(v, ref)
    p_u = stats.mannwhitneyu(v, ref, alternative="two-sided").pvalue
    out = f"{c.diff:+.3g} [{c.lo:+.3g}, {c.hi:+.3g}], p_t {_p(c.p)} (Holm {_p(p_holm)}), p_U {_p(p_u)}"
    if p_holm < 0.05:
        return out
    if c.p < 0.05:  # found by the single test, lost to the correction: neither a finding nor "no difference"
        return out + "; significant before correction only"
    return out + f"; no difference detected (detectable: {c.mde:.3g})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", type=Path, nargs="+", metavar="root",
                    help="the experiment's folder (holds results.csv); several pool their configurations")
    ap.add_argument("--only", help="only these configurations, comma-separated (the reference among them)")
    ap.add_argument("--ref", required=True, help="the reference configuration, e.g. dcgan or 'mma-gan K16 lambda0'")
    ap.add_argument("--metrics", default="modes,modes_kl,modes_hq_fraction")
    ap.add_argument("--dataset", help="only this dataset's cells (an experiment over several datasets)")
    ap.add_argument("--mde", action="store_true", help="(kept for old commands: the detectable difference is always given)")
    args = ap.parse_args()
    metrics = args.metrics.split(",")
    by: dict[str, list[dict]] = {}
    for root in args.roots:
        with open(root / "results.csv") as f:
            reader = csv.DictReader(f)
            cols = list(reader.fieldnames or [])
            params = cols[cols.index("method") + 1:cols.index("seed")]  # the swept values sit between method and seed
            for r in reader:
                if not args.dataset or r["dataset"] == args.dataset:
                    by.setdefault(config_name(r, params), []).append(r)
    if args.only:
        keep = args.only.split(",")
        unknown = [k for k in keep if k not in by]
        if unknown:
            raise SystemExit(f"--only names {', '.join(unknown)}, not in the results; they have {', '.join(by)}")
        by = {k: by[k] for k in keep}
    if args.ref not in by:
        raise SystemExit(f"no configuration {args.ref!r} in {', '.join(str(r / 'results.csv') for r in args.roots)}"
                         f"{' (--only)' if args.only else ''}; it has {', '.join(by)}")

    def values(name: str, m: str) -> list[float]:
        return [float(r[m]) for r in by[name] if r["status"] == "ok" and r[m] and math.isfinite(float(r[m]))]

    tested = [(name, m) for name in by for m in metrics
              if name != args.ref and len(values(name, m)) > 1 and len(values(args.ref, m)) > 1]
    adjusted = dict(zip(tested, holm([welch(values(n, m), values(args.ref, m)).p for n, m in tested])))
    print("| configuration | seeds ok / run | " + " | ".join(f"{m}: mean +- std; vs {args.ref}: diff [Welch 95% CI], p"
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
            if (name, m) in adjusted:
                cell += "; " + compare(v, ref, adjusted[(name, m)])
            cells.append(cell + nan)
        print(f"| {name} | {len(ok)} / {len(rs)} | " + " | ".join(cells) + " |")
    print(f"\nHolm's correction over the {len(tested)} tests of this table (Welch's p; family-wise error 0.05).")


if __name__ == "__main__":
    main()
