"""Summarise finished architecture runs as the Markdown table of docs/results/archs.md, with each family's grids.

    python scripts/archs_report.py RUN_DIR_OR_STUDY [...] [--out docs/results]

Each argument is a `gankit train` run folder or a study folder (`gankit experiment archs-digits` writes
OUT/archs-digits/<dataset>/<family>/default/seed<S>/run): every run under it is read. Runs are grouped by preset; a
group's row gives mean +- sample std over its seeds (nothing is re-measured: config.json, run.json and
metrics.jsonl). Parameter counts are run.json's, as the trainer counted them. The last grid of each group's first
seed is copied to OUT/archs/<preset>.png.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path


def summarise(run: Path) -> dict:
    """One finished run: its preset, network, recipe, speed and mode snapshots."""
    cfg = json.loads((run / "config.json").read_text())
    info = json.loads((run / "run.json").read_text())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [r for r in records if "loss_d" in r]
    snaps = [r for r in records if "modes" in r]
    if not train or not snaps:
        sys.exit(f"{run}: no training records or no mode snapshots in metrics.jsonl; is the run finished?")
    grids = sorted(run.glob("samples-*-channels.png")) or sorted(run.glob("samples-*.png"))
    return {"preset": cfg["preset"], "arch": cfg["model"]["arch"], "kimg": train[-1]["kimg"],
            "minutes": (train[-1]["time"] - train[0]["time"]) / 60, "threads": info["threads"],
            "img_per_s": sum(r["img_per_s"] for r in train[1:]) / max(len(train) - 1, 1),
            "g_params": info["g_params"], "d_params": info["d_params"], "loss": cfg["loss"]["name"],
            "regs": "+".join(cfg["loss"]["regularizers"]) or "-", "seed": cfg["train"]["seed"],
            "modes": [r["modes"] for r in snaps], "kl": snaps[-1]["modes_kl"],
            "hq": snaps[-1].get("modes_hq_fraction", math.nan), "fid": snaps[-1].get("fid", math.nan),
            "grid": grids[-1] if grids else None}


def runs_under(path: Path) -> list[Path]:
    """path itself if it is a run folder, else every run folder below it (a study), in a fixed order."""
    if (path / "run.json").exists():
        return [path]
    found = sorted(p.parent for p in path.rglob("run.json") if (p.parent / "metrics.jsonl").exists())
    if not found:
        sys.exit(f"{path}: no run folder (one with run.json and metrics.jsonl) in it or below it")
    return found


def mean_sd(values: list[float]) -> str:
    """"m +- s" (sample std, n - 1) over the finite values; "m" for one value; NaNs counted, never dropped."""
    finite = [v for v in values if math.isfinite(v)]
    nan = f" ({len(values) - len(finite)} NaN)" if len(finite) < len(values) else ""
    if not finite:
        return "-" + nan
    m = sum(finite) / len(finite)
    if len(finite) == 1:
        return f"{m:.4g}{nan}"
    s = math.sqrt(sum((v - m) ** 2 for v in finite) / (len(finite) - 1))
    return f"{m:.4g} +- {s:.3g}{nan}"


def table(rows: list[dict]) -> tuple[str, list[tuple[str, dict]]]:
    """The Markdown table (one row per preset, in the order first seen) and each preset's first run."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["preset"], []).append(r)
    lines = ["| preset | arch | loss (regularizers) | G / D params | kimg | seeds | minutes (threads) | img/s | "
             "modes at each snapshot (mean) | modes, last | reverse KL, last | hq share, last | FID (digits), last |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for preset, rs in groups.items():
        r0 = rs[0]
        snaps = min(len(r["modes"]) for r in rs)
        modes = ", ".join(f"{sum(r['modes'][i] for r in rs) / len(rs):.0f}" for i in range(snaps))
        lines.append(
            f"| `{preset}` | {r0['arch']} | {r0['loss']} ({r0['regs']}) | {r0['g_params'] / 1e3:.0f}k / "
            f"{r0['d_params'] / 1e3:.0f}k | {r0['kimg']:.0f} | {len(rs)} | "
            f"{sum(r['minutes'] for r in rs) / len(rs):.1f} ({r0['threads']}) | "
            f"{sum(r['img_per_s'] for r in rs) / len(rs):.0f} | {modes} | {mean_sd([r['modes'][-1] for r in rs])} | "
            f"{mean_sd([r['kl'] for r in rs])} | {mean_sd([r['hq'] for r in rs])} | {mean_sd([r['fid'] for r in rs])} |")
    return "\n".join(lines), [(p, rs[0]) for p, rs in groups.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    args = ap.parse_args()
    rows = [summarise(r) for path in args.runs for r in runs_under(path)]
    md, firsts = table(rows)
    (args.out / "archs").mkdir(parents=True, exist_ok=True)
    grids = []
    for preset, r in firsts:
        if r["grid"] is not None:
            shutil.copyfile(r["grid"], args.out / "archs" / f"{preset}.png")
            grids.append(f"**{preset}** (seed {r['seed']}, {r['kimg']:.0f} kimg)\n\n![{preset}](archs/{preset}.png)")
    print(md + "\n\n" + "\n\n".join(grids))


if __name__ == "__main__":
    main()
