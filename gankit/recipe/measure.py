"""Timed training steps of a candidate config on this machine: what the recipe sizes the run with.

The step is the loop's own (training.loop.train_step: D with its penalties, G, Adam, EMA, augmentation) on random
images of the run's shape, so data loading is left out: the folder sets the recipe makes are held decoded in memory.
"""
from __future__ import annotations

import copy
import statistics
import time

import torch

from ..config import Config
from ..data import Dataset, InfiniteLoader
from ..distributed import resolve_device
from ..networks import build_networks, set_bf16
from ..objectives import build_objective


class _Noise(Dataset):
    """Random uint8 images of a shape, with labels: a stand-in dataset for timing only."""

    def __init__(self, shape: tuple[int, ...], classes: int, n: int = 256) -> None:
        g = torch.Generator().manual_seed(0)
        self.shape, self.num_classes = shape, classes
        self.images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
        self.labels = torch.randint(0, max(classes, 1), (n,), generator=g)

    def __len__(self) -> int:
        return len(self.images)

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[idx], self.labels[idx]


def images_per_second(cfg: Config, classes: int, steps: int = 3, warmup: int = 1) -> float:
    """Real images per second of cfg's full training step, on its device and threads: the median of `steps` timed
    steps after `warmup` untimed ones (the median: one step slowed by another process does not set the run's length)."""
    from ..training.loop import set_numerics, train_step
    from ..training.state import TrainState

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    shape = (3, cfg.data.resolution, cfg.data.resolution)
    torch.manual_seed(0)
    G, D = build_networks(cfg.model, shape, classes if cfg.model.cond else 0)
    fmt = torch.channels_last if cfg.train.channels_last else torch.preserve_format
    G, D = G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)
    set_bf16(cfg.model.arch, set_numerics(cfg, device) == "bf16", G, D)
    adam = lambda m: torch.optim.Adam(m.parameters(), lr=cfg.train.lr, betas=(0.0, 0.9))  # noqa: E731
    obj = build_objective(cfg)
    s = TrainState(G, copy.deepcopy(G).requires_grad_(False), D, adam(G), adam(D),
                   InfiniteLoader(_Noise(shape, classes), cfg.train.batch), torch.Generator().manual_seed(1),
                   torch.Generator().manual_seed(2), device, objective=obj)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        train_step(s, cfg, obj, classes if cfg.model.cond else 0, fmt, G)
    sync()
    rates = []
    for _ in range(steps):
        t0, images = time.perf_counter(), s.images
        train_step(s, cfg, obj, classes if cfg.model.cond else 0, fmt, G)
        sync()
        rates.append((s.images - images) / (time.perf_counter() - t0))
    return statistics.median(rates)


def eval_images_per_second(device: str = "auto", n: int = 8) -> float | None:
    """Generated images per second through the FID Inception network here (None where its weights are not installed)."""
    from ..errors import GankitError
    from ..eval.metrics.inception import load_inception, tf_resize

    try:
        net, _, _ = load_inception(device=resolve_device(device))
    except GankitError:
        return None
    x = torch.rand(n, 3, 32, 32, device=next(net.parameters()).device) * 2 - 1
    with torch.no_grad():
        net(tf_resize(x))  # warm-up at the timed batch size (oneDNN builds its kernels per shape)
        t0 = time.perf_counter()
        net(tf_resize(x))
        if x.device.type == "cuda":
            torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)
