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
                       "train.log_kimg", "train.checkpoint_kimg", "train.lr", "train.lr_final", "train.ema_kimg",
                       "loss.gamma", "loss.gamma_final"}  # gamma follows the width above base 64 (the gamma rule)


def test_cifar10_cpu_arms_get_equal_minutes_and_the_same_sizing_rule() -> None:
    """Every arm: kimg = its measured rate x 60 minutes; widths the widest of its ladder that shows the target."""
    from gankit.lab.recipe_studies import CLASSIC_RATES_1T, cifar10_cpu_methods

    ms = {m.name: m for m in cifar10_cpu_methods(60, 150_000)}
    assert [m.preset for m in ms.values()] == [None, "dcgan-cifar10", "sngan-cifar10", "biggan-cifar10"]
    # SNGAN: 8.84, 31.3, 117.8, 333 img/s at 1, 1/2, 1/4, 1/8 of its widths: 150k in an hour needs 41.7 img/s -> 1/4
    assert ms["sngan"].sets["model.widths"] == [64] * 4 and ms["sngan"].sets["model.widths_d"] == [32] * 4
    assert ms["sngan"].sets["train.kimg"] == pytest.approx(117.84 * 3.6, abs=0.1)
    assert ms["dcgan"].sets["model.widths"] == [256, 128, 64]  # 170 img/s: the paper's width shows 611k
    assert ms["biggan"].sets["train.kimg"] == pytest.approx(68.0 * 3.6, abs=0.1)  # 1/4: 245k
    assert ms["r3gan"].sets["model.widths"] == [64, 64, 32, 16]  # W64 166k >= 150k > W128's 85k
    assert ms["r3gan"].sets["train.kimg"] == pytest.approx(RATES_32PX_1T[64] * 3.6, abs=0.1)
    assert ms["r3gan"].sets["loss.gamma_final"] == pytest.approx(ms["r3gan"].sets["loss.gamma"] / 10)  # as it ran
    for m in ms.values():
        if m.preset:
            assert CLASSIC_RATES_1T[m.preset]  # every classic arm is sized from measured rates
    cs = cells(EXPERIMENTS.get("cifar10-cpu"))
    assert {c.seed for c in cs} == {42, 43, 44} and all(c.sets["model.cond"] is True for c in cs)
    assert all(c.sets["train.metrics"] == "fid,kid" and c.sets["data.resolution"] == 32 for c in cs)
