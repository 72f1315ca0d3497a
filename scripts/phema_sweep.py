"""FID against EMA length on a run trained with post-hoc EMA profiles (issue 30 part 2, docs/results/phema_cifar.md).

    python scripts/phema_sweep.py RUN --sigmas 0.025,0.04,0.06,0.09,0.13,0.2 --n 1000 --out DIR

For each sigma_rel: `gankit phema RUN --sigma-rel S` rebuilds G, `gankit eval` scores it (FID on N samples against N
training images, exact features, sample seed 0 for every point, so every point sees the same latents and labels).
Beside them: the EMA the run tracked (its schedule's half-life; its equivalent sigma_rel computed from the schedule)
at seeds 0 and 1 (the sampling noise of one point), and the raw G. Writes DIR/phema.csv and DIR/phema.png; every
command goes to DIR/commands.txt. Resumable: a point already in the CSV is not recomputed.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gankit.run import load_run_config  # noqa: E402
from gankit.training.schedules import ema_beta, schedule  # noqa: E402


def tracked_sigma_rel(run: Path) -> tuple[float, float]:
    """(sigma_rel, final half-life in images) of the EMA the run tracked: the std of its averaging weights over the
    training time, divided by the time (EDM2's definition), from the run's own schedule replayed step by step."""
    cfg = load_run_config(run)
    batch, total = cfg.train.batch, int(round(cfg.train.kimg * 1000))
    steps = total // batch
    w_after = 1.0  # product of the betas after step i, built from the end
    m0 = m1 = m2 = 0.0
    for i in range(steps, 0, -1):
        beta = ema_beta(batch, schedule(cfg, i * batch)["ema_half_life"])
        w = (1 - beta) * w_after  # the weight the end-of-run EMA gives to the weights after step i
        t = i * batch
        m0, m1, m2 = m0 + w, m1 + w * t, m2 + w * t * t
        w_after *= beta
    mean = m1 / m0
    return math.sqrt(max(m2 / m0 - mean * mean, 0.0)) / total, schedule(cfg, total)["ema_half_life"]


def gankit(*args: str, log: Path) -> str:
    cmd = [sys.executable, "-m", "gankit", *args]
    with log.open("a") as f:
        f.write(" ".join(cmd) + "\n")
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)}:\n{p.stderr[-2000:]}")
    return p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--sigmas", default="0.025,0.04,0.06,0.09,0.13,0.2")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--raw", action="store_true", help="also score the raw G (no EMA)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table, log = args.out / "phema.csv", args.out / "commands.txt"
    rows = list(csv.DictReader(table.open())) if table.exists() else []
    done = {(r["g"], r["seed"]) for r in rows}
    sigma_t, half = tracked_sigma_rel(args.run)
    todo = [(f"phema {s}", s, "0") for s in args.sigmas.split(",")]
    todo += [("tracked EMA", f"{sigma_t:.4f}", "0"), ("tracked EMA", f"{sigma_t:.4f}", "1")]
    todo += [("raw G", "", "0")] if args.raw else []
    for g, sigma, seed in todo:
        if (g, seed) in done:
            continue
        t0 = time.time()
        target, extra = args.run, []
        if g.startswith("phema"):
            target = args.out / f"run-phema{sigma}"
            if not target.exists():
                gankit("phema", str(args.run), "--sigma-rel", sigma, "--out", str(target), log=log)
        elif g == "raw G":
            extra = ["--raw"]
        out = gankit("eval", "--run", str(target), "--metrics", "fid", "--n", str(args.n), "--seed", seed, "--json",
                     "--quiet", *extra, log=log)
        fid = json.loads(out)["fid"]["value"]  # {metric: {"value", "protocol", "seconds"}}
        rows.append({"g": g, "sigma_rel": sigma, "seed": seed, "fid": f"{float(fid):.4f}",
                     "seconds": f"{time.time() - t0:.0f}"})
        with table.open("w", newline="") as f:
            w = csv.DictWriter(f, ["g", "sigma_rel", "seed", "fid", "seconds"])
            w.writeheader()
            w.writerows(rows)
        print(rows[-1], flush=True)
    ph = sorted((float(r["sigma_rel"]), float(r["fid"])) for r in rows if r["g"].startswith("phema"))
    tr = [float(r["fid"]) for r in rows if r["g"] == "tracked EMA"]
    raw = [float(r["fid"]) for r in rows if r["g"] == "raw G"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot([p[0] for p in ph], [p[1] for p in ph], "o-", label="post-hoc EMA (rebuilt from the 0.05 and 0.10 profiles)")
    ax.plot([sigma_t] * len(tr), tr, "s", color="C3",
            label=f"the EMA the run tracked (half-life {half / 1000:g}k images at the end; seeds 0, 1)")
    if raw:
        ax.axhline(raw[0], color="gray", ls="--", label="raw G (no EMA)")
    ax.set_xscale("log")
    ax.set_xlabel("sigma_rel (EMA length relative to training time)")
    ax.set_ylabel(f"FID ({args.n} samples vs {args.n} training images)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "phema.png", dpi=120)
    print(f"tracked EMA: sigma_rel {sigma_t:.4f} (half-life {half:g} images at the end)")


if __name__ == "__main__":
    main()
