"""Figures of a collected experiment: final metrics per configuration, learning curves, and sample sheets.

Each reads only what the cells left on disk (summary rows, each run's metrics.jsonl and sample PNGs), so
`gankit experiment NAME --collect-only` redraws them all.
"""
from __future__ import annotations

import math
from pathlib import Path

from ..files import write_png
from ..run import MetricsLog, load_run_config
from .plot import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_final(plot: tuple[str, str], summary: list[dict], root: Path) -> None:
    """Per dataset: each configuration's mean (x, y) with sample-std bars; methods in their own colours."""
    plt = _pyplot()
    x, y = plot
    def finite(r: dict) -> bool:
        return math.isfinite(r.get(x, math.nan)) and math.isfinite(r.get(y, math.nan))

    for ds in dict.fromkeys(r["dataset"] for r in summary if finite(r)):  # a dataset with no finished cell: no plot
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for i, method in enumerate(dict.fromkeys(r["method"] for r in summary)):
            rows = [r for r in summary if r["dataset"] == ds and r["method"] == method and finite(r)]
            if rows:
                ax.errorbar([r[x] for r in rows], [r[y] for r in rows], xerr=[r[x + "_std"] for r in rows],
                            yerr=[r[y + "_std"] for r in rows], fmt="o", color=f"C{i}", label=method, alpha=0.8)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{ds}: mean +- sample std over seeds")
        ax.legend(fontsize=8)
        save_figure(fig, root / f"{ds}.png")


def snapshot_curves(run: Path, metric: str, minutes: float = 0.0) -> list[tuple[float, float]]:
    """(kimg, value) of one run's snapshots that logged `metric`; minutes > 0: (share of the run's own length x
    minutes, value), the time axis of an equal-time study, whose every run is its arm's rate times the minutes."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    scale = 1.0
    if minutes > 0:
        scale = minutes / float(load_run_config(run).train.kimg)
    return [(float(r["kimg"]) * scale, float(r[metric])) for r in MetricsLog.read(path) if metric in r]


def needs_log_axis(ends: list[float], ratio: float = 4.0) -> bool:
    """Whether runs ending at these kimg differ in length by more than `ratio` (then a log kimg axis)."""
    return bool(ends) and min(ends) > 0 and max(ends) > ratio * min(ends)


def plot_curves(metrics: tuple[str, ...], groups: dict[tuple, list[Path]], root: Path,
                minutes: float = 0.0) -> list[Path]:
    """Per dataset: one panel per metric, each configuration's mean over seeds against kimg over its seeds' own lines;
    a seed that stopped early (diverged) ends its line where it stopped. groups: (dataset, label) -> run dirs.
    Where the configurations' runs differ in length by more than 4x (WGAN-GP at several times the images), kimg is on
    a log axis so the short runs stay readable. minutes > 0: against the declared training minutes instead
    (snapshot_curves), a linear axis."""
    plt = _pyplot()
    written = []
    for ds in dict.fromkeys(k[0] for k in groups):
        # one metric per panel, stacked: each panel as wide as the page that shows it
        fig, axes = plt.subplots(len(metrics), 1, figsize=(9, 3.6 * len(metrics)), squeeze=False)
        for ax, metric in zip(axes[:, 0], metrics):
            ends = []  # where each run's curve ends
            for i, ((d, label), runs) in enumerate(groups.items()):
                if d != ds:
                    continue
                by_kimg: dict[float, list[float]] = {}
                for run in runs:
                    pts = snapshot_curves(run, metric, minutes)  # read once per run and metric
                    if pts:
                        ax.plot(*zip(*pts), color=f"C{i}", alpha=0.35, lw=1, marker="o", ms=2)
                        ends.append(max(k for k, _ in pts))
                    for k, v in pts:
                        by_kimg.setdefault(round(k, 3), []).append(v)
                ks = sorted(by_kimg)
                if ks:
                    ax.plot(ks, [sum(by_kimg[k]) / len(by_kimg[k]) for k in ks], color=f"C{i}", lw=2, label=label)
            if minutes > 0:
                ax.set_xlabel("training minutes (declared: the run's images over its arm's measured rate)")
            else:
                if needs_log_axis(ends):
                    ax.set_xscale("log")
                ax.set_xlabel("kimg (real images shown to D)" + (", log scale" if ax.get_xscale() == "log" else ""))
            ax.set_ylabel(metric)
            ax.grid(alpha=0.3)
        if axes[0][0].get_legend_handles_labels()[0]:
            axes[0][0].legend(fontsize=8)
        written.append(save_figure(fig, root / f"{ds}-curves.png", f"{ds}: mean over seeds (thick), each seed (thin)"))
    return written


def last_samples(run: Path) -> Path | None:
    """The newest snapshot grid of a run (the channel-by-channel one for stacked digits)."""
    for pattern in ("samples-*-channels.png", "samples-*.png"):
        found = sorted(p for p in run.glob(pattern) if pattern.endswith("channels.png") or "-channels" not in p.name)
        if found:
            return found[-1]
    return None


def plot_samples(groups: dict[tuple, list[Path]], root: Path, scale: float = 0.75, max_width: int = 2400) -> list[Path]:
    """Per dataset, one PNG: the training images' grid, then each configuration's last EMA grid (its first seed
    that has one), each under a caption, side by side in rows up to max_width pixels; the grids keep their pixels
    (scaled by `scale`), so digits stay legible."""
    import json

    from PIL import Image, ImageDraw

    written = []
    for ds in dict.fromkeys(k[0] for k in groups):
        rows: list[tuple[str, Path]] = []
        for (d, label), runs in groups.items():
            png = next((p for p in map(last_samples, runs) if p is not None), None) if d == ds else None
            if png is None:
                continue
            run = png.parent
            if not rows:
                reals = run / ("reals-channels.png" if (run / "reals-channels.png").exists() else "reals.png")
                if reals.exists():
                    rows.append(("training images", reals))
            seed = json.loads((run / "config.json").read_text())["train"]["seed"] if (run / "config.json").exists() else "?"
            images = int(png.stem.split("-")[1])
            rows.append((f"{label}: EMA generator, seed {seed}, after {images:,} images", png))
        if not rows:
            continue
        tiles = []
        for caption, png in rows:
            with Image.open(png) as im:
                im = im.convert("RGB")
                im = im.resize((int(im.width * scale), int(im.height * scale)), Image.NEAREST)
            tile = Image.new("RGB", (im.width, im.height + 22), "white")
            tile.paste(im, (0, 22))
            ImageDraw.Draw(tile).text((4, 4), caption, fill="black")
            tiles.append(tile)
        w, h = max(t.width for t in tiles), max(t.height for t in tiles)
        cols = max(1, min(len(tiles), max_width // w))  # side by side, as many per row as fit max_width
        sheet = Image.new("RGB", (w * cols, h * -(-len(tiles) // cols)), "white")
        for i, tile in enumerate(tiles):
            sheet.paste(tile, ((i % cols) * w, (i // cols) * h))
        path = root / f"{ds}-samples.png"
        write_png(path, sheet, optimize=True)
        written.append(path)
    return written
