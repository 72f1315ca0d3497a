"""Named presets: plain dicts of config overrides, in the one registry pattern.

The r3gan-* presets without a suffix of ours follow the R3GAN paper's configurations
(../shared/R3GAN-REFERENCE.md); the others are gankit's own, sized for a CPU or StackedMNIST.
"""
from __future__ import annotations

from typing import Any

from .config import Config, apply_overrides, flatten
from .registry import Registry

PRESETS = Registry("preset")


def _r3gan(widths: list[int], groups: list[int], resolution: int, classes: int, batch: int,
           gamma: float, aug_p: float, ema_kimg: float, horizon_kimg: float) -> dict[str, Any]:
    """An official R3GAN configuration (Config E): gamma falls 10x, lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99."""
    return {
        "model": {"arch": "r3gan", "widths": widths, "groups": groups, "cond": classes > 0},
        "data": {"name": "folder", "resolution": resolution, "xflip": True, "classes": classes},
        "loss": {"name": "rpgan", "regularizers": ["r1", "r2"], "gamma": gamma, "gamma_final": gamma / 10},
        "train": {"batch": batch, "kimg": horizon_kimg, "horizon_kimg": horizon_kimg, "aug_p": aug_p,
                  "ema_kimg": ema_kimg, "lr": 2e-4, "lr_final": 5e-5, "beta2": 0.9, "beta2_final": 0.99,
                  "eval_n": 10000},
    }


PRESETS.register("r3gan-cifar10")(_r3gan([768] * 4, [96] * 4, 32, 10, 512, 0.05, 0.55, 5000, 20000))
PRESETS.register("r3gan-cifar10-uncond")(_r3gan([768] * 4, [96] * 4, 32, 0, 512, 0.05, 0.55, 5000, 20000))
PRESETS.register("r3gan-ffhq64")(_r3gan([768] * 4 + [384], [96] * 4 + [48], 64, 0, 256, 2.0, 0.3, 500, 20000))
PRESETS.register("r3gan-ffhq256")(_r3gan([768] * 4 + [384, 192, 96], [96] * 4 + [48, 24, 12], 256, 0,
                                         256, 150.0, 0.3, 500, 20000))
PRESETS.register("r3gan-imagenet32")(_r3gan([1536] * 4, [96] * 4, 32, 1000, 4096, 0.5, 0.5, 50000, 200000))
PRESETS.register("r3gan-imagenet64")(_r3gan([1536] * 5, [96] * 5, 64, 1000, 4096, 1.0, 0.4, 50000, 200000))

# gankit's own: StackedMNIST at 32x32 (GPU scale), group size 16 as in the CIFAR configuration.
PRESETS.register("r3gan-stackedmnist")({
    "model": {"arch": "r3gan", "widths": [256] * 4, "groups": [32] * 4},
    "data": {"name": "stackedmnist", "resolution": 32},
    "loss": {"gamma": 0.1, "gamma_final": 0.01},
    "train": {"batch": 256, "kimg": 5000, "aug_p": 0.0, "ema_kimg": 100, "eval_n": 26000},
})

# gankit's own CPU preset, the default main job: stacked sklearn digits at 16x16, 1000 modes.
# Sized for 2 CPU cores and 10 minutes (about 200 img/s); group size 16 as in the paper.
PRESETS.register("r3gan-digits")({
    "model": {"arch": "r3gan", "widths": [64, 32, 16], "groups": [8, 4, 2]},
    "data": {"name": "stacked-digits", "resolution": 16},
    "loss": {"gamma": 0.1, "gamma_final": 0.01},
    "train": {"batch": 32, "kimg": 100, "aug_p": 0.0, "ema_kimg": 10, "eval_n": 10000,
              "lr": 5e-4, "lr_final": 1e-4},
})

# Smallest R3GAN that trains: for smoke tests and trying the command line.
PRESETS.register("r3gan-tiny")({
    "model": {"arch": "r3gan", "widths": [16, 8], "groups": [2, 2], "blocks": 1},
    "data": {"name": "stacked-digits", "resolution": 8, "size": 2000},
    "loss": {"gamma": 0.1, "gamma_final": 0.01},
    "train": {"batch": 16, "kimg": 0.128, "aug_p": 0.2, "ema_kimg": 0.05, "eval_n": 256, "grid": 16},
})

# 2-D mixtures with MLPs and the R3GAN loss (the PacGAN/VEEGAN benchmarks).
for _name in ("grid25", "ring8"):
    PRESETS.register(f"mlp-{_name}")({
        "model": {"arch": "mlp", "z_dim": 2, "hidden": 128, "depth": 3},
        "data": {"name": _name, "sigma": 0.05},
        "loss": {"gamma": 0.1, "gamma_final": 0.001},
        "train": {"batch": 64, "kimg": 960, "aug_p": 0.0, "ema_kimg": 5, "eval_n": 2500,
                  "lr": 1e-3, "lr_final": 1e-5, "grid": 2500, "threads": 1},  # tiny matmuls: 1 thread is fastest
    })

DEFAULT_PRESET = "r3gan-digits"


def resolve(preset: str, overrides: dict[str, Any] | None = None) -> Config:
    """The preset's config with `overrides` ({"train.kimg": "10", ...}) applied on top."""
    spec = PRESETS.get(preset)
    cfg = apply_overrides(Config(preset=preset), flatten(spec))
    return apply_overrides(cfg, overrides or {})
