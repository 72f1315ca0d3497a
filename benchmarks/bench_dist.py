"""Training throughput (img/s) with 1 and with N processes (torchrun, gloo on CPU / NCCL on GPUs) on one machine.

    python benchmarks/bench_dist.py --preset r3gan-digits --kimg 1.28 --procs 1 2
Runs `gankit train` in a fresh temporary directory per process count (no metrics, no TensorBoard) and
prints one JSON line each, with the median img/s of the run's log lines after the first.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="r3gan-digits")
    ap.add_argument("--kimg", type=float, default=1.28)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=0, help="torch threads per process (0: cores / processes)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    for n in args.procs:
        threads = args.threads or max(1, (os.cpu_count() or 1) // n)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            train = ["gankit", "train", "--preset", args.preset, "--kimg", str(args.kimg), "--out", str(out),
                     "--set", f"train.threads={threads}", "--set", "train.metrics=none", "--set", "train.tensorboard=false",
                     "--set", f"train.log_kimg={args.kimg / 10}", *sum((["--set", s] for s in args.set), [])]
            cmd = [sys.executable, "-m", "gankit", *train[1:]] if n == 1 else \
                [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "-m", "gankit", *train[1:]]
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            rates = [json.loads(ln)["img_per_s"] for ln in (out / "metrics.jsonl").read_text().splitlines()
                     if '"img_per_s"' in ln][1:]
            print(json.dumps({"preset": args.preset, "processes": n, "threads_per_process": threads,
                              "img_per_s_median": round(statistics.median(rates), 1), "log_lines": len(rates)}))


if __name__ == "__main__":
    main()
