"""Training on a shared CPU: images per second quiet and beside one busy process, fixed threads against
train.threads=0 (the threads follow the load, gankit/training/cores.py), as real `gankit train` runs.

    python benchmarks/bench_shared.py                      # the default preset and one recipe size, ~4 minutes
    python benchmarks/bench_shared.py --kimg 2 --only default
The competitor is a busy loop this script starts itself and that stops on its own. Run it on a quiet machine: every
other process counts as load. Prints a Markdown table: quiet rate, contended rate and their ratio for each setting.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gankit.training.cores import usable_cores

SETTINGS = {  # name: gankit train arguments
    "default": ["--preset", "r3gan-digits"],
    "recipe-32px": ["--preset", "r3gan-digits", "--set", "data.resolution=32", "--set", "model.widths=[32,32,16,16]",
                    "--set", "model.groups=[4,4,2,2]"],
}


def rate(args: list[str], threads: int, kimg: float, busy: bool) -> tuple[float, str]:
    """Median img/s over a run's log intervals after the first, and the run's own line about the load (if any)."""
    spin = None
    if busy:  # one CPU-bound process that ends by itself
        spin = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 600\nwhile time.time() < end: pass"])
        time.sleep(0.5)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "gankit", "train", *args, "--kimg", str(kimg), "--out", f"{tmp}/run",
                   "--set", f"train.threads={threads}", "--set", "train.metrics=none", "--set", "train.tensorboard=false",
                   "--set", f"train.log_kimg={kimg / 8:g}", "--set", f"train.snapshot_kimg={kimg:g}"]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
            recs = [json.loads(ln) for ln in Path(f"{tmp}/run/metrics.jsonl").read_text().splitlines()]
            rates = [r["img_per_s"] for r in recs if "img_per_s" in r][1:]
            note = next((ln for ln in (p.stdout + p.stderr).splitlines() if "busy machine" in ln), "")
            return statistics.median(rates), note
    finally:
        if spin is not None:
            spin.kill()
            spin.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kimg", type=float, default=4.0, help="length of each run")
    ap.add_argument("--only", choices=list(SETTINGS), help="one setting")
    args = ap.parse_args()
    cores = usable_cores()
    print(f"usable cores {cores}; each setting: quiet, then beside one busy-loop process\n")
    print("| setting | threads | quiet img/s | beside one busy process | ratio |")
    print("|---|---|---|---|---|")
    for name, targs in SETTINGS.items():
        if args.only and name != args.only:
            continue
        for threads, label in ((cores, f"{cores}, fixed (before: what threads=0 ran)"), (0, "0: follows the load")):
            quiet, _ = rate(targs, threads, args.kimg, busy=False)
            busy, note = rate(targs, threads, args.kimg, busy=True)
            print(f"| {name} | {label} | {quiet:.0f} | {busy:.0f} | {busy / quiet:.0%} |", flush=True)
            if note:
                print(f"|  |  |  | the run said: {note.strip()} |  |", flush=True)


if __name__ == "__main__":
    main()
