"""Studies of the recipe for a folder of images (issue 25, docs/results/recipe_width.md).

`recipe-width` asks what the recipe's TARGET_IMAGES should be: at equal minutes, is a wider R3GAN that sees fewer
images better than a narrower one that sees more? Every arm is the recipe's own run for 60 single-thread minutes on
CIFAR-10 at 32 px with its widths fixed (`gankit describe --data cifar10 --minutes 60 --set model.widths=[...]`):
the run's length is the measured rate times the minutes, and lr, EMA, gamma and checkpoints follow that length by
the recipe's rules. Evaluation is outside the minutes (equal training compute).
"""
from __future__ import annotations

from typing import Any

from ..recipe.plan import CHECKPOINT_S, gamma_rule, lr_rule, widths_for
from .experiment import EXPERIMENTS, Experiment, Method

# Real images per second of the recipe's full step (D with R1 + R2, then G) at 32 px, batch 32, class-conditional,
# one thread, on the 2-core reference machine with the background runs paused (2026-12-03), the mean of two runs of
#   python scripts/equal_minutes.py --minutes 60 --threads 1 --steps 10 --preset r3gan-recipe --set data.resolution=32
#       --set model.widths=[W,W,W/2,W/4] --set model.groups=[...] --set model.cond=true
# The two runs differed by up to 15% (W64: 41.9 and 50.4); each arm's length is within that of equal minutes.
RATES_32PX_1T = {32: (53.46 + 49.48) / 2, 64: (41.92 + 50.42) / 2, 128: (23.55 + 23.79) / 2, 256: (9.01 + 10.54) / 2}
WIDTH_MINUTES = 60


def recipe_arm(base: int, img_per_s: float, minutes: float, resolution: int = 32, batch: int = 32) -> dict[str, Any]:
    """The keys the recipe sets for a run of `minutes` at `img_per_s` (gankit.recipe.plan's rules), as --set values."""
    images = img_per_s * minutes * 60
    kimg = round(images / 1000, 1)
    widths, groups = widths_for(resolution, base)
    gamma, lr = gamma_rule(resolution, batch), lr_rule(images)
    return {"model.widths": widths, "model.groups": groups, "train.batch": batch, "train.kimg": kimg,
            "train.horizon_kimg": kimg, "train.snapshot_kimg": round(kimg / 4, 2), "train.log_kimg": round(kimg / 50, 2),
            "train.checkpoint_kimg": round(img_per_s * CHECKPOINT_S / 1000, 1), "train.lr": lr, "train.lr_final": lr / 5,
            "train.ema_kimg": round(images / 20_000, 2), "loss.gamma": gamma, "loss.gamma_final": gamma / 10}


_CIFAR32 = {"data.name": "folder", "data.subdir": "train", "data.resolution": 32, "data.xflip": True,
            "model.cond": True, "train.aug_p": 0.0, "train.metrics": "fid,kid", "train.eval_n": 1000,
            "train.tensorboard": False}
EXPERIMENTS.register("recipe-width")(Experiment(
    f"The recipe's widths at equal minutes: R3GAN on CIFAR-10 (JPEG copy, conditional, 32 px) at base widths 32 to 256 "
    f"for {WIDTH_MINUTES} single-thread minutes each (images = measured rate x minutes), FID/KID on 1000 samples at 4 "
    "snapshots, 2 seeds",
    {"32px": ("r3gan-recipe", _CIFAR32)},
    [Method(f"w{w}", recipe_arm(w, r, WIDTH_MINUTES)) for w, r in RATES_32PX_1T.items()],
    ["fid", "kid_mean"], seeds=[42, 43], plot=("kid_mean", "fid"), curves=("fid", "kid_mean")))
