"""`gankit truncation`: the quality-diversity trade-off of the truncation trick (Brock et al. 2019, fig. 2a and sec. 3.1).

Each setting (a z threshold, or StyleGAN's psi) is scored with the same samples' seed and the same
reference features; the table and a quality-vs-diversity plot are written beside each other.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Callable, Optional

from ..errors import GankitError
from ..files import write_atomic, write_figure
from ..sampling import check_truncation
from .evaluate import EvalOptions, Source, evaluate, flatten_results, needs_reference, reference

# (x, y) axes of the plot, first pair whose keys the metrics give: diversity on x, quality on y
AXES = [("is_mean", "fid"), ("pr_recall", "pr_precision"), ("dc_coverage", "dc_density"), ("lpips_div_mean", "fid"),
        ("modes", "fid")]


def sweep(make_src: Callable[[float, float], Source], ref: Optional[Source], opts: EvalOptions, values: list[float],
          kind: str = "truncation") -> list[dict]:
    """One row per value: {kind: value, <flattened metrics>..., "protocol": {...}}; the reference is read once."""
    if kind not in ("truncation", "psi"):
        raise GankitError(f"unknown truncation kind '{kind}'; use truncation or psi")
    if not values:
        raise GankitError("no truncation values given; pass --values, e.g. 2,1,0.5")
    if kind == "truncation":  # every value checked before the reference is read
        try:
            for v in values:
                check_truncation(v)
        except ValueError as e:
            raise GankitError(str(e)) from None
    ref_c = reference(ref, {"features"}, opts) if needs_reference(opts.metrics) and ref is not None else None
    rows = []
    for v in values:
        src = make_src(v, 1.0) if kind == "truncation" else make_src(0.0, v)
        try:
            results = evaluate(src, ref, opts, ref_collected=ref_c)
        except ValueError as e:  # e.g. psi on a generator without a mapping network
            raise GankitError(str(e)) from None
        if opts.progress:
            opts.progress(f"{kind} {v:g}: " + "  ".join(f"{k} {x:.4g}" for k, x in flatten_results(results).items()))
        rows.append({kind: v, **flatten_results(results),
                     "protocol": {m: r["protocol"] for m, r in results.items()}})
    return rows


def write_sweep(rows: list[dict], out: Path, metrics: list[str]) -> list[Path]:
    """truncation.json (with protocols), truncation.csv and truncation.png (quality against diversity) in out."""
    out.mkdir(parents=True, exist_ok=True)
    kind = next(iter(rows[0]))
    keys = [k for k in rows[0] if k != "protocol"]
    write_atomic(out / "truncation.json", json.dumps(rows, indent=1).encode())
    table = io.StringIO(newline="")
    w = csv.writer(table)
    w.writerow(keys)
    w.writerows([[r[k] for k in keys] for r in rows])
    write_atomic(out / "truncation.csv", table.getvalue().encode())
    paths = [out / "truncation.json", out / "truncation.csv"]
    axes = next(((x, y) for x, y in AXES if x in rows[0] and y in rows[0]), None)
    if axes is None and len(keys) >= 3:
        axes = (keys[1], keys[2])
    if axes is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        x, y = axes
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot([r[x] for r in rows], [r[y] for r in rows], "o-")
        for r in rows:
            ax.annotate(f"{r[kind]:g}", (r[x], r[y]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel(f"{x} (diversity)")
        ax.set_ylabel(f"{y} (quality; {'lower' if y.startswith(('fid', 'kid')) else 'higher'} is better)")
        ax.set_title(f"{kind} sweep: {', '.join(metrics)}")
        fig.tight_layout()
        write_figure(out / "truncation.png", fig)
        plt.close(fig)
        paths.append(out / "truncation.png")
    return paths
