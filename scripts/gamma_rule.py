"""The gamma rule from a gamma sweep's results.csv: per setting the best gamma, and a power law fitted across settings.

    python scripts/gamma_rule.py /tmp/exp/gamma-cifar10 --metric fid --setting 16px=16,32 --setting 32px=32,32 \\
        --setting 16px-b128=16,128
    python scripts/gamma_rule.py /tmp/exp/gamma-digits --metric modes --higher --setting stacked-digits=16,32

Per setting (a dataset label of the sweep) and gamma: the mean of the metric over the seeds that finished, its
sample std, n, and Welch's (Student's, for one arm) t 95% interval of the mean. The best gamma is the argmin (argmax
with --higher) of the means; where it is inside the swept range, the parabola through it and its two neighbours in
log10(gamma) gives a continuous estimate (its vertex). With settings of known resolution R and batch B, the vertices
(or argmins) are fitted as log10 gamma* = log10 C + a log10 R + b log10 B by least squares, beside StyleGAN2-ADA's
heuristic gamma = 0.0002 R^2 / B (a = 2, b = -1).

The constant rule (--constant LABEL,LABEL,...): for each gamma swept in every one of those settings, its shortfall
from each setting's best mean and the worst of them; the rule is the gamma whose worst shortfall is smallest (minimax
regret), with Welch's comparison against each setting's best where both have 2 seeds or more.
"""
from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

from gankit.lab.stats import t_interval


def read(root: Path, metric: str) -> dict[str, dict[float, list[float]]]:
    """{setting: {gamma: [values of the seeds that finished with a finite value]}}; a NaN or a failed seed is left out
    and counted by `counts`."""
    out: dict[str, dict[float, list[float]]] = {}
    with open(root / "results.csv") as f:
        for row in csv.DictReader(f):
            vals = out.setdefault(row["dataset"], {}).setdefault(float(row["gamma"]), [])
            if row["status"] == "ok" and row.get(metric, "") not in ("", "nan") and math.isfinite(float(row[metric])):
                vals.append(float(row[metric]))
    return out


def vertex(x: list[float], y: list[float]) -> float:
    """x of the extremum of the parabola through three points (x in log10 gamma)."""
    a, b, _ = np.polyfit(x, y, 2)
    return float(-b / (2 * a))


def best_gamma(by_gamma: dict[float, list[float]], higher: bool) -> tuple[float, float | None]:
    """(argbest gamma, parabola-vertex gamma or None where the best is at an end of the range or has no neighbours)."""
    gs = sorted(g for g, v in by_gamma.items() if v)
    means = [float(np.mean(by_gamma[g])) for g in gs]
    i = int(np.argmax(means) if higher else np.argmin(means))
    if 0 < i < len(gs) - 1:
        xs = [math.log10(g) for g in gs[i - 1:i + 2]]
        return gs[i], 10 ** vertex(xs, means[i - 1:i + 2])
    return gs[i], None


def fit_power_law(points: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """(C, a, b) of gamma = C R^a B^b from (R, B, gamma) points, least squares in logs; with one batch b is 0."""
    logs = np.array([[1.0, math.log10(r), math.log10(b)] for r, b, _ in points])
    y = np.array([math.log10(g) for _, _, g in points])
    cols = [0, 1, 2] if len({b for _, b, _ in points}) > 1 else [0, 1]
    coef = np.linalg.lstsq(logs[:, cols], y, rcond=None)[0]
    c, a = coef[0], coef[1]
    return 10 ** c, float(a), float(coef[2]) if len(cols) == 3 else 0.0


def constant_rule(data: dict[str, dict[float, list[float]]], labels: list[str],
                  higher: bool) -> list[tuple[float, float, dict[str, float]]]:
    """[(gamma, its worst shortfall, {setting: shortfall})] for the gammas every setting has a mean for, best first:
    a shortfall is how much worse gamma's mean is than the setting's best mean (0 at the best)."""
    sign = -1.0 if higher else 1.0  # shortfalls are positive for worse, whichever way the metric points
    best = {k: min(sign * float(np.mean(v)) for v in data[k].values() if v) for k in labels}
    common = set.intersection(*({g for g, v in data[k].items() if v} for k in labels))
    out = []
    for g in sorted(common):
        gaps = {k: sign * float(np.mean(data[k][g])) - best[k] for k in labels}
        out.append((g, max(gaps.values()), gaps))
    return sorted(out, key=lambda t: (t[1], t[0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="the sweep's folder (holds results.csv)")
    ap.add_argument("--metric", default="fid")
    ap.add_argument("--higher", action="store_true", help="higher is better (modes, hq)")
    ap.add_argument("--setting", action="append", default=[], metavar="LABEL=R,B", help="a setting's resolution, batch")
    ap.add_argument("--constant", default="", metavar="LABEL,LABEL", help="settings for the minimax constant rule")
    args = ap.parse_args()
    data = read(args.root, args.metric)
    known = {k: tuple(map(float, v.split(","))) for k, v in (s.split("=") for s in args.setting)}
    print(f"| setting | gamma | {args.metric} mean +- std (n) | t 95% interval of the mean |\n|---|---|---|---|")
    points = []
    for label, by_gamma in data.items():
        for g in sorted(by_gamma):
            v = by_gamma[g]
            if not v:
                print(f"| {label} | {g:g} | - (0) | - |")
                continue
            sd = float(np.std(v, ddof=1)) if len(v) > 1 else math.nan
            lo, hi = t_interval(v) if len(v) > 1 else (math.nan, math.nan)
            print(f"| {label} | {g:g} | {np.mean(v):.4g} +- {sd:.2g} ({len(v)}) | [{lo:.4g}, {hi:.4g}] |")
        arg, vert = best_gamma(by_gamma, args.higher)
        print(f"| **{label}** | best {arg:g}" + (f", vertex {vert:.3g}" if vert else " (at an end of the range)") + " | | |")
        if label in known:
            r, b = known[label]
            points.append((r, b, vert or arg))
    if len(points) >= 2:
        c, a, b = fit_power_law(points)
        print(f"\nfit: gamma* = {c:.3g} x R^{a:.2f} x B^{b:.2f}   (StyleGAN2-ADA: 0.0002 x R^2 x B^-1)")
        for r, bb, g in points:
            print(f"  R {r:g}, B {bb:g}: measured {g:.3g}, fit {c * r ** a * bb ** b:.3g}, ADA {0.0002 * r * r / bb:.3g}")
    if args.constant:
        from gankit.lab.stats import welch

        labels = args.constant.split(",")
        ranked = constant_rule(data, labels, args.higher)
        print(f"\nconstant rule over {', '.join(labels)}: each gamma's shortfall from each setting's best mean "
              f"({args.metric}), worst first column\n")
        print("| gamma | worst shortfall | " + " | ".join(labels) + " |")
        print("|---" * (len(labels) + 2) + "|")
        for g, worst, gaps in ranked:
            print(f"| {g:g} | {worst:.2f} | " + " | ".join(f"{gaps[k]:.2f}" for k in labels) + " |")
        g = ranked[0][0]
        print(f"\nthe minimax constant: gamma {g:g}; against each setting's best (Welch, {args.metric}):")
        for k in labels:
            means = {h: float(np.mean(v)) for h, v in data[k].items() if v}
            top = (max if args.higher else min)(means, key=means.get)
            a, ref = data[k][g], data[k][top]
            if top == g:
                print(f"  {k}: gamma {g:g} is the best mean")
            elif len(a) > 1 and len(ref) > 1:
                c = welch(a, ref)
                print(f"  {k}: {g:g} minus best {top:g}: {c.diff:+.2f}, 95% [{c.lo:+.2f}, {c.hi:+.2f}], p {c.p:.2f}, "
                      f"minimum detectable {c.mde:.1f}")
            else:
                print(f"  {k}: {g:g} minus best {top:g}: {np.mean(a) - np.mean(ref):+.2f} (fewer than 2 seeds: no test)")


if __name__ == "__main__":
    main()
