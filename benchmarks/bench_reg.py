"""What R1/R2 cost per training step: every step (R3GAN), lazy every 4 and 16 D steps (StyleGAN2's trick), and the
finite-difference estimate r1_fd/r2_fd (no double backward), timed in the real training loop, side by side.

    python benchmarks/bench_reg.py [--rounds 2] [--intervals 6] [--threads 2]

Each variant trains `gankit.train` in this process for --intervals log intervals of 16 steps (so a lazy interval of
16 is whole in each), metrics off; ms/step is the median over rounds of the mean over intervals (the first interval,
with its warm-up, dropped). Rounds interleave the variants so drift hits them alike. Prints one JSON line per
measurement and a markdown table. Run it on a quiet machine: anything else running skews every figure.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gankit.presets import resolve  # noqa: E402
from gankit.training.loop import train  # noqa: E402

VARIANTS = {"every step": {}, "lazy 4": {"loss.reg_interval": 4}, "lazy 16": {"loss.reg_interval": 16},
            "fd": {"loss.regularizers": "r1_fd,r2_fd"}}
SETTINGS = {"stacked digits (r3gan-digits)": "r3gan-digits", "25-Gaussian grid (mlp-grid25)": "mlp-grid25"}


def time_variant(preset: str, sets: dict, intervals: int, threads: int) -> float:
    """ms per step of `preset` with `sets`, in the real loop (mean over all log intervals but the first)."""
    batch = resolve(preset).train.batch
    kimg = 16 * batch / 1000
    cfg = resolve(preset, {**sets, "train.kimg": kimg * intervals, "train.log_kimg": kimg, "train.snapshot_kimg": kimg * intervals,
                           "train.metrics": "none", "train.tensorboard": False, "train.threads": threads})
    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, Path(tmp) / "run", progress=lambda line: None)
        lines = [json.loads(ln) for ln in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    rates = [r["img_per_s"] for r in lines if "img_per_s" in r][1:]
    return 1000 * batch / statistics.fmean(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--intervals", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the digits setting (the grid's preset: 1)")
    args = ap.parse_args()
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        for setting, preset in SETTINGS.items():
            threads = 1 if preset.startswith("mlp") else args.threads
            for name, sets in VARIANTS.items():
                ms = time_variant(preset, sets, args.intervals, threads)
                times.setdefault((setting, name), []).append(ms)
                print(json.dumps({"round": r, "setting": setting, "variant": name, "threads": threads,
                                  "ms_per_step": round(ms, 2)}), flush=True)
    print("\n| setting | variant | ms/step (median of rounds) | speed-up vs every step |\n|---|---|---|---|")
    for setting in SETTINGS:
        ref = statistics.median(times[(setting, "every step")])
        for name in VARIANTS:
            ms = statistics.median(times[(setting, name)])
            print(f"| {setting} | {name} | {ms:.1f} | {ref / ms:.2f}x |")


if __name__ == "__main__":
    main()
