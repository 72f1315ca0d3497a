"""recipe-width's arms are the recipe's own runs: each cell's keys equal what plan() sets for that width and rate."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit.lab.experiment import EXPERIMENTS, cells
from gankit.lab.recipe_studies import RATES_32PX_1T, WIDTH_MINUTES
from gankit.recipe import plan, survey


@pytest.mark.parametrize("base", sorted(RATES_32PX_1T))
def test_each_arm_is_the_recipe_at_its_width(tmp_path: Path, base: int) -> None:
    rng = np.random.default_rng(0)
    for c in range(10):  # a 10-class folder of 32 px images, 40 000 per class as far as the recipe knows
        (tmp_path / f"c{c}").mkdir()
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / f"c{c}" / f"{i}.png")
    s = survey(str(tmp_path))
    s.count = 50_000  # CIFAR-10's count: the augmentation threshold reads it
    cell = next(c for c in cells(EXPERIMENTS.get("recipe-width")) if c.method == f"w{base}")
    widths = cell.sets["model.widths"]
    r = plan(s, WIDTH_MINUTES, "cpu, 1 thread", lambda cfg, k: RATES_32PX_1T[base], eval_rate=None,
             sets={"model.widths": widths, "data.resolution": 32})  # fixed: below 500k images the recipe halves it
    got = r.overrides()
    for key in ("train.batch", "train.kimg", "train.horizon_kimg", "train.checkpoint_kimg", "train.lr",
                "train.lr_final", "train.ema_kimg", "loss.gamma", "loss.gamma_final", "model.groups", "model.cond",
                "train.aug_p"):
        assert cell.sets[key] == pytest.approx(got[key]), key
    assert cell.preset == "r3gan-recipe" and cell.sets["train.metrics"] == "fid,kid"


def test_arms_differ_only_in_width_and_what_follows_the_length() -> None:
    cs = [c for c in cells(EXPERIMENTS.get("recipe-width")) if c.seed == 42]
    assert [c.method for c in cs] == [f"w{w}" for w in RATES_32PX_1T]
    kimg = [c.sets["train.kimg"] for c in cs]
    assert kimg == sorted(kimg, reverse=True)  # wider: slower, fewer images in the same minutes
    common = set.intersection(*(set(c.sets) for c in cs))
    varying = {k for k in common if len({str(c.sets[k]) for c in cs}) > 1}
    assert varying <= {"model.widths", "model.groups", "train.kimg", "train.horizon_kimg", "train.snapshot_kimg",
                       "train.log_kimg", "train.checkpoint_kimg", "train.lr", "train.lr_final", "train.ema_kimg"}
