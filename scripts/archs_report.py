"""Summarise finished `gankit train` runs as the Markdown table of docs/results/archs.md, with each run's last grid.

    python scripts/archs_report.py RUN_DIR [RUN_DIR ...] [--out docs/results]

Reads each run's config.json, run.json and metrics.jsonl (nothing is re-measured), prints the table and
the grid links, and copies the last samples-*-channels.png (or samples-*.png) to OUT/archs/<preset>.png.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def summarise(run: Path) -> dict:
    cfg = json.loads((run / "config.json").read_text())
    info = json.loads((run / "run.json").read_text())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [r for r in records if "loss_d" in r]
    snaps = [r for r in records if "modes" in r]
    if not train or not snaps:
        sys.exit(f"{run}: no training records or no mode snapshots in metrics.jsonl; is the run finished?")
    grids = sorted(run.glob("samples-*-channels.png")) or sorted(run.glob("samples-*.png"))
    m = cfg["model"]
    return {"preset": cfg["preset"], "arch": m["arch"], "kimg": train[-1]["kimg"],
            "minutes": (train[-1]["time"] - train[0]["time"]) / 60, "threads": info["threads"],
            "img_per_s": sum(r["img_per_s"] for r in train[1:]) / max(len(train) - 1, 1),
            "g_params": info["g_params"], "d_params": info["d_params"], "loss": cfg["loss"]["name"],
            "regs": "+".join(cfg["loss"]["regularizers"]) or "-", "modes": [(r["kimg"], r["modes"], r["modes_kl"]) for r in snaps],
            "grid": grids[-1] if grids else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    args = ap.parse_args()
    rows = [summarise(r) for r in args.runs]
    (args.out / "archs").mkdir(parents=True, exist_ok=True)
    lines = ["| preset | arch | loss | G / D params | kimg | minutes (threads) | img/s | modes (of 1000) at each snapshot | reverse KL, last |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        modes = ", ".join(f"{int(m)}" for _, m, _ in r["modes"])
        lines.append(f"| `{r['preset']}` | {r['arch']} | {r['loss']} ({r['regs']}) | {r['g_params'] / 1e3:.0f}k / "
                     f"{r['d_params'] / 1e3:.0f}k | {r['kimg']:.0f} | {r['minutes']:.1f} ({r['threads']}) | "
                     f"{r['img_per_s']:.0f} | {modes} | {r['modes'][-1][2]:.3f} |")
        if r["grid"] is not None:
            shutil.copyfile(r["grid"], args.out / "archs" / f"{r['preset']}.png")
    table = "\n".join(lines)
    grids = "\n\n".join(f"**{r['preset']}** ({r['modes'][-1][0]:.0f} kimg)\n\n![{r['preset']}](archs/{r['preset']}.png)"
                        for r in rows if r["grid"] is not None)
    print(table + "\n\n" + grids)


if __name__ == "__main__":
    main()
