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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="the sweep's folder (holds results.csv)")
    ap.add_argument("--metric", default="fid")
    ap.add_argument("--higher", action="store_true", help="higher is better (modes, hq)")
    ap.add_argument("--setting", action="append", default=[], metavar="LABEL=R,B", help="a setting's resolution, batch")
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


if __name__ == "__main__":
    main()
