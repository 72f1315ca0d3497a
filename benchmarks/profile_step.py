"""Where a training step's time goes: torch.profiler over steps of a preset (default: the default job's), the top
operators by self CPU time, and the share of wall time not inside any operator (Python and dispatch).

    python benchmarks/profile_step.py [--preset r3gan-digits] [--steps 10] [--threads 2] [--top 15]
    python benchmarks/profile_step.py --preset r3gan-cifar10 --set model.widths=[256] --set model.groups=[16] \
        --set train.batch=32 --set model.cond=false --precision bf16 --steps 1 --warmup 1 [--pytorch-grads]

The step is the loop's own `train_step` (R1 + R2 every step for the R3GAN presets) on random data of the preset's
shape, after --warmup steps. --pytorch-grads profiles the step as it was before conv_grad (every convolution
differentiated by PyTorch). Prints the profiler's table and one JSON line.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_step import pytorch_grads  # noqa: E402
from gankit.config import parse_set  # noqa: E402
from gankit.data import InfiniteLoader, nominal_shape  # noqa: E402
from gankit.data.base import Dataset  # noqa: E402
from gankit.networks import build_networks, set_bf16  # noqa: E402
from gankit.presets import resolve  # noqa: E402
from gankit.objectives import build_objective  # noqa: E402
from gankit.training.loop import TrainState, train_step  # noqa: E402


class Noise(Dataset):
    """Random uint8 images of a shape (the step's cost does not depend on their content)."""

    def __init__(self, shape: tuple[int, ...], n: int = 4096) -> None:
        self.shape, self.x = shape, torch.randint(0, 256, (n, *shape), dtype=torch.uint8)

    def __len__(self) -> int:
        return len(self.x)

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], torch.zeros(len(idx), dtype=torch.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="r3gan-digits")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--pytorch-grads", action="store_true", help="convolutions differentiated by PyTorch (before conv_grad)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = resolve(args.preset, parse_set(args.set))
    shape = nominal_shape(cfg.data)
    torch.manual_seed(0)
    G, D = build_networks(cfg.model, shape, 0)
    fmt = torch.channels_last if cfg.train.channels_last and len(shape) == 3 else torch.preserve_format
    G, D = G.to(memory_format=fmt), D.to(memory_format=fmt)
    if args.pytorch_grads:
        G, D = pytorch_grads(G), pytorch_grads(D)
    set_bf16(cfg.model.arch, args.precision == "bf16", G, D)
    adam = lambda m: torch.optim.Adam(m.parameters(), lr=cfg.train.lr, betas=(0.0, 0.99))  # noqa: E731
    s = TrainState(G, copy.deepcopy(G).eval().requires_grad_(False), D, adam(G), adam(D),
                   InfiniteLoader(Noise(shape), cfg.train.batch, seed=0), torch.Generator().manual_seed(1),
                   torch.Generator().manual_seed(2), torch.device("cpu"), objective=build_objective(cfg))
    for _ in range(args.warmup):
        train_step(s, cfg, s.objective, 0, fmt, G)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(args.steps):
            train_step(s, cfg, s.objective, 0, fmt, G)
        wall = time.perf_counter() - t0
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.top))
    self_total = sum(e.self_cpu_time_total for e in events) / 1e6
    print(json.dumps({"preset": args.preset, "sets": args.set, "precision": args.precision,
                      "pytorch_grads": args.pytorch_grads, "threads": args.threads, "batch": cfg.train.batch,
                      "ms_per_step_profiled": round(wall / args.steps * 1000, 1),
                      "operator_self_time_share": round(self_total / wall, 3),
                      "outside_operators_share": round(1 - self_total / wall, 3)}))


if __name__ == "__main__":
    main()
