"""Tables and figures for docs/results/r3gan_claims.md from finished run directories.

    python scripts/claims_report.py --out docs/results/r3gan_claims --name default RUN_DIR [RUN_DIR ...]

For each run: its preset, images, wall time (first to last log line of metrics.jsonl, snapshots
included), machine (run.json) and the snapshot metrics (modes, reverse KL, high-quality share) at every
snapshot, as a markdown table on stdout; NAME-curves.png (the metrics against kimg) and NAME-samples.png
(the training images, then each run's last EMA grid) in --out.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gankit.lab.plots import plot_curves, plot_samples  # noqa: E402
from gankit.run import MetricsLog  # noqa: E402


def describe(run: Path) -> dict:
    """What one run did: preset, seed, images, minutes, threads, and its snapshots."""
    cfg = json.loads((run / "config.json").read_text())
    info = json.loads((run / "run.json").read_text())
    log = MetricsLog.read(run / "metrics.jsonl")
    times = [r["time"] for r in log if "time" in r]
    snaps = [r for r in log if "modes" in r]
    return {"run": run, "preset": cfg["preset"], "seed": cfg["train"]["seed"], "kimg": snaps[-1]["kimg"] if snaps else 0,
            "minutes": (times[-1] - times[0]) / 60 if len(times) > 1 else 0.0, "threads": info["threads"],
            "device": info["device"], "snaps": snaps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    ap.add_argument("--name", required=True, help="prefix of the PNGs")
    ap.add_argument("--metrics", default="modes,modes_kl,modes_hq_fraction")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [describe(r) for r in args.runs]
    print("| run | preset | seed | kimg | minutes (threads) | modes at each snapshot | reverse KL, last | high-quality share at each snapshot |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["snaps"]
        print(f"| `{r['run'].name}` | `{r['preset']}` | {r['seed']} | {r['kimg']:g} | {r['minutes']:.1f} ({r['threads']}) | "
              + ", ".join(f"{x['modes']:.0f}" for x in s) + f" | {s[-1]['modes_kl']:.3f} | "
              + ", ".join(f"{x['modes_hq_fraction']:.3f}" for x in s) + " |")
    groups: dict = {}
    for r in rows:  # runs of one preset are its seeds
        groups.setdefault((args.name, r["preset"]), []).append(r["run"])
    for path in plot_curves(tuple(args.metrics.split(",")), groups, args.out):
        path.rename(args.out / f"{args.name}-curves.png")
    for path in plot_samples(groups, args.out):
        path.rename(args.out / f"{args.name}-samples.png")
    print(f"\nwrote {args.out / (args.name + '-curves.png')} and {args.out / (args.name + '-samples.png')}", file=sys.stderr)


if __name__ == "__main__":
    main()
