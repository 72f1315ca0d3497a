"""The recipe for a user's own images: the survey, the rules, the sizing against a throughput model, the CLI."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit.config import Config
from gankit.errors import GankitError
from gankit.recipe import plan, survey
from gankit.recipe.plan import TARGET_IMAGES, data_resolution, gamma_rule, lr_rule, widths_for

plan_mod = sys.modules["gankit.recipe.plan"]


def make_folder(root: Path, classes: int = 2, per: int = 60, side: int = 40, extra: bool = True) -> Path:
    """classes x per RGB JPEGs of side x (side + 8) px in class folders (classes 0: `per` in the root), plus a note and
    a stray file."""
    rng = np.random.default_rng(0)
    for c in range(max(classes, 1)):
        d = root / f"class{c}" if classes else root
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per):
            Image.fromarray(rng.integers(0, 255, (side, side + 8, 3), dtype=np.uint8)).save(d / f"{i}.jpg")
    if extra:
        (root / "README.txt").write_text("notes")
        (root / "class0" / "stray.bin").write_bytes(b"x")
    return root


def model_rate(cfg: Config, classes: int) -> float:
    """A throughput model: images per second inversely proportional to pixels x base width (for the planner's logic)."""
    return 4e8 / (cfg.data.resolution ** 2 * cfg.model.widths[0] * 4)


# ---------------------------------------------------------------- survey

def test_survey_counts_images_classes_sizes_and_skipped_files(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "data", classes=3, per=40, side=40)
    Image.fromarray(np.zeros((20, 20), np.uint8), "L").save(root / "class1" / "grey.png")
    Image.fromarray(np.zeros((30, 30), np.uint16)).save(root / "class2" / "deep.png")  # 16-bit greyscale
    s = survey(str(root))
    assert s.count == 122 and s.skipped == 2
    assert s.classes == ["class0", "class1", "class2"]
    assert s.short_side == 40 and s.sides == (20, 40)
    assert s.modes["RGB"] == 120 and s.modes["L"] == 1 and sum(s.modes.values()) == 122


def test_survey_refuses_a_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(GankitError, match=r"no images found in .*1 other files skipped"):
        survey(str(tmp_path / "empty"))


# ---------------------------------------------------------------- the rules, worked by hand

def test_widths_halve_above_8px_with_16_channel_groups() -> None:
    assert widths_for(32, 96) == ([96, 96, 48, 24], [12, 12, 6, 3])
    assert widths_for(16, 64) == ([64, 64, 32], [8, 8, 4])  # the gamma sweep's 16 px network
    assert widths_for(128, 32) == ([32, 32, 16, 16, 16, 16], [4, 4, 2, 2, 2, 2])
    assert widths_for(32, 768)[1][0] == 96  # Config E's cardinality at width 768


def test_gamma_lr_and_resolution_rules() -> None:
    # small networks (the measured regime): the measured constant at any resolution
    assert gamma_rule(16, 64) == gamma_rule(32, 16) == gamma_rule(128, 64) == plan_mod.GAMMA_SMALL
    # Config E's width: the paper's presets at their resolutions, log-log between them, held at the ends
    assert [gamma_rule(r, 768) for r in (32, 64, 256)] == [0.05, 2.0, 150.0]
    assert gamma_rule(16, 768) == 0.05 and gamma_rule(512, 1024) == 150.0
    assert gamma_rule(128, 768) == pytest.approx(math.sqrt(2.0 * 150.0))  # halfway from 64 to 256 in log R
    assert gamma_rule(45, 768) == pytest.approx(0.05 * 40 ** (math.log(45 / 32) / math.log(2)))
    # between: halfway from 64 to 768 in log width is the geometric mean of 0.001 and the paper's gamma
    assert gamma_rule(32, math.sqrt(64 * 768)) == pytest.approx(math.sqrt(0.001 * 0.05))
    assert gamma_rule(32, 192) == pytest.approx(0.001 * 50 ** (math.log(3) / math.log(12)))  # 0.00564
    ladder = [gamma_rule(32, b) for b in plan_mod.BASES]
    assert ladder == sorted(ladder) and max(b / a for a, b in zip(ladder, ladder[1:])) < 2  # no jump on the ladder
    assert lr_rule(200_000) == pytest.approx(2e-3)
    assert lr_rule(800_000) == pytest.approx(1e-3)  # 1/sqrt(4)
    assert lr_rule(20_000_000) == pytest.approx(2e-4) and lr_rule(1e9) == pytest.approx(2e-4)
    assert lr_rule(10_000) == pytest.approx(2e-3)
    assert [data_resolution(s) for s in (5, 32, 40, 63, 64, 1000)] == [8, 32, 32, 32, 64, 256]
    # gamma held over the run for the measured small bases (cifar10-cpu-gamma), falling 10x for the paper's widths
    small, wide = (plan_mod.length_rules(185_000, 50.0, 32, 32, base=b) for b in (plan_mod.SMALL_BASE, 768))
    assert small["loss.gamma_final"] == small["loss.gamma"] == pytest.approx(gamma_rule(32, plan_mod.SMALL_BASE))
    assert wide["loss.gamma"] == 0.05 and wide["loss.gamma_final"] == pytest.approx(0.005)


def test_a_longer_run_gets_a_larger_gamma() -> None:
    # 0.001 up to 200k images, 0.0056 from 773.8k (the 4-hour run's length), log-linear in length between, held above
    assert [gamma_rule(32, 64, n) for n in (0, 185_000, 200_000)] == [0.001] * 3
    assert gamma_rule(32, 64, 773_800) == gamma_rule(32, 32, 5e6) == 0.0056
    assert gamma_rule(32, 64, math.sqrt(200_000 * 773_800)) == pytest.approx(math.sqrt(0.001 * 0.0056))
    assert gamma_rule(32, 64, 400_000) == pytest.approx(0.001 * 5.6 ** (math.log(2) / math.log(3.869)))  # 0.00242
    # the larger of the width's and the length's: base 192 already has 0.00564 > 0.0056; Config E keeps the paper's
    assert gamma_rule(32, 192, 773_800) == gamma_rule(32, 192) == pytest.approx(0.00564, abs=1e-5)
    assert gamma_rule(32, 768, 1e7) == 0.05
    assert gamma_rule(32, 96, 773_800) == 0.0056 > gamma_rule(32, 96)  # 0.0019 from the width alone
    long, short = (plan_mod.length_rules(n, 57.0, 32, 64, base=64) for n in (773_800, 185_000))
    assert long["loss.gamma"] == long["loss.gamma_final"] == 0.0056 and short["loss.gamma"] == 0.001
    assert "773,800 images" in plan_mod.gamma_reason(32, 64, 773_800)
    assert plan_mod.gamma_reason(32, 64, 185_000).startswith("base width 64")


# ---------------------------------------------------------------- sizing against a throughput model

def recipe(s, minutes: float, **kw):
    r = plan(s, minutes, "cpu (test)", model_rate, None, **kw)
    return r, r.config()


def test_more_minutes_give_a_wider_network_and_a_longer_run(tmp_path: Path) -> None:
    s = survey(str(make_folder(tmp_path / "d", side=32)))
    widths, kimg = [], []
    for minutes in (30, 120, 480, 1920):
        _, cfg = recipe(s, minutes)
        assert cfg.data.resolution == 32
        widths.append(cfg.model.widths[0])
        kimg.append(cfg.train.kimg)
        # the widest base that shows the target: the next one up would not
        rate = model_rate(cfg, 0)
        assert rate * minutes * 60 >= TARGET_IMAGES
        assert cfg.train.kimg == pytest.approx(rate * minutes * 60 / 1000, abs=0.1)
        assert cfg.train.horizon_kimg == cfg.train.kimg and cfg.train.ema_kimg == pytest.approx(cfg.train.kimg / 20, abs=0.01)
        assert cfg.train.lr == pytest.approx(lr_rule(cfg.train.kimg * 1000), rel=1e-3)
        assert cfg.train.checkpoint_kimg == pytest.approx(rate * 600 / 1000, abs=0.05)  # every 10 minutes
        assert cfg.loss.gamma == pytest.approx(gamma_rule(32, cfg.model.widths[0], cfg.train.kimg * 1000))
        assert cfg.loss.gamma >= (plan_mod.GAMMA_LONG if cfg.train.kimg * 1000 >= plan_mod.LONG_IMAGES else 0.001)
        assert cfg.loss.gamma_final == cfg.loss.gamma / (1 if cfg.model.widths[0] <= plan_mod.SMALL_BASE else 10)
    assert widths == sorted(widths) and widths[0] < widths[-1]
    assert kimg[0] >= TARGET_IMAGES / 1000 - 0.1
    nxt = plan_mod.BASES[plan_mod.BASES.index(widths[0]) + 1]
    assert model_rate(Config(model=type(cfg.model)(widths=[nxt]), data=type(cfg.data)(resolution=32)), 0) * 30 * 60 \
        < TARGET_IMAGES


def test_large_images_are_halved_only_when_the_smallest_network_falls_short(tmp_path: Path) -> None:
    s = survey(str(make_folder(tmp_path / "d", side=130, per=50)))
    r, cfg = recipe(s, 600)
    assert data_resolution(130) == 128
    # 4e8 / (128^2 * 64) = 381 img/s x 36000 s >= target: 128 px stays
    assert cfg.data.resolution == 128
    r, cfg = recipe(s, 10)  # 10 minutes: 381 img/s x 600 s < target at 128; 64: 1526 x 600 = 916k >= target
    assert cfg.data.resolution == 64 and "out of reach" in next(c.reason for c in r.choices if c.key == "data.resolution")


def test_class_folders_make_it_conditional_and_small_sets_get_augmentation(tmp_path: Path) -> None:
    seen = []
    r = plan(survey(str(make_folder(tmp_path / "a", classes=3, per=40))), 60, "cpu", lambda c, k: seen.append(c) or
             model_rate(c, k), None)
    cfg = r.config()
    assert cfg.model.cond and cfg.train.aug_p == plan_mod.AUG_P  # 120 images < 30k
    assert seen and all(c.train.aug_p == plan_mod.AUG_P and c.model.cond for c in seen)  # timed as it will train
    flat = make_folder(tmp_path / "b", classes=0, per=120, extra=False)
    _, cfg = recipe(survey(str(flat)), 60)
    assert not cfg.model.cond
    big = survey(str(flat))
    big.count = plan_mod.AUG_BELOW  # at the threshold: off
    _, cfg = recipe(big, 60)
    assert cfg.train.aug_p == 0.0


def test_train_and_test_split_folders_are_splits_not_classes(tmp_path: Path) -> None:
    """CIFAR-10's layout, train/<class>/ and test/<class>/, as a folder and as a tar: the recipe trains on train/ with its
    10-class-style folders as classes (not 2 classes 'test' and 'train' over both splits), and says so."""
    import tarfile

    root = tmp_path / "splits"
    make_folder(root / "train", classes=3, per=40, extra=False)
    make_folder(root / "test", classes=3, per=10, extra=False)
    with tarfile.open(tmp_path / "splits.tar", "w") as tar:
        for f in sorted(root.rglob("*.jpg")):
            tar.add(f, arcname=str(f.relative_to(root)))
    for path in (root, tmp_path / "splits.tar"):
        s = survey(str(path))
        assert (s.subdir, s.splits, s.classes, s.count) == ("train", ["test", "train"], ["class0", "class1", "class2"], 120)
        r, cfg = recipe(s, 60)
        assert cfg.data.subdir == "train" and cfg.model.cond
        assert "split folders test, train" in next(c.reason for c in r.choices if c.key == "data.subdir")
    assert survey(str(root), "test").count == 30 and not survey(str(root), "test").splits  # an explicit choice stands
    r, cfg = recipe(survey(str(root)), 60, sets={"data.subdir": "test"})
    assert cfg.data.subdir == "test"
    (root / "other").mkdir()  # a third folder that is no split name: they are classes, as before
    make_folder(root / "other", classes=0, per=5, extra=False)
    s = survey(str(root))
    assert s.subdir == "" and s.classes == ["other", "test", "train"] and not s.splits


def test_set_overrides_any_key_and_fixes_what_the_recipe_would_choose(tmp_path: Path) -> None:
    s = survey(str(make_folder(tmp_path / "d", side=32)))
    r, cfg = recipe(s, 60, sets={"model.widths": [48, 48, 24, 12], "model.groups": [6, 6, 3, 1], "train.batch": 64,
                                 "loss.gamma": 3.0, "data.resolution": 32})
    assert cfg.model.widths == [48, 48, 24, 12] and cfg.train.batch == 64 and cfg.loss.gamma == 3.0
    assert all(m["widths"] == [48, 48, 24, 12] and m["batch"] == 64 for m in r.measured)  # the length from the user's net
    assert cfg.train.kimg == pytest.approx(model_rate(cfg, 0) * 3600 / 1000, abs=0.1)
    assert "set by you" in "\n".join(r.lines())
    # as the command line gives them (strings), and widths without groups: the groups follow the widths
    r, cfg = recipe(s, 60, sets={"model.widths": "[48,48,24,12]", "train.batch": "64"})
    assert cfg.model.widths == [48, 48, 24, 12] and cfg.model.groups == [6, 6, 3, 1] and cfg.train.batch == 64
    assert all(m["widths"] == [48, 48, 24, 12] for m in r.measured)


def test_kimg_fixes_the_length_and_what_follows_it(tmp_path: Path) -> None:
    _, cfg = recipe(survey(str(make_folder(tmp_path / "d"))), 60, kimg=800)
    assert cfg.train.kimg == 800 and cfg.train.lr == pytest.approx(1e-3) and cfg.train.ema_kimg == 40


def test_batch_grows_only_while_the_run_keeps_10k_steps(tmp_path: Path) -> None:
    s = survey(str(make_folder(tmp_path / "d", side=8)))
    for kimg, batch in ((300, 32), (640, 64), (1280, 128), (100_000, 512)):
        _, cfg = recipe(s, 60, kimg=kimg)
        assert cfg.train.batch == batch
        # on the CPU, micro-batches of 32 keep memory as at batch 32 (batch 512 at width 768 is killed for memory)
        assert cfg.train.batch_gpu == (32 if batch > 32 else 0)
    gpu = plan(s, 60, "NVIDIA H200", model_rate, None, kimg=100_000).config()
    assert gpu.train.batch == 512 and gpu.train.batch_gpu == 0


def test_bad_minutes_and_too_few_images_are_refused(tmp_path: Path) -> None:
    s = survey(str(make_folder(tmp_path / "d")))
    for bad in (0, -5, math.nan, math.inf):
        with pytest.raises(GankitError, match="--minutes must be a positive number"):
            recipe(s, bad)
    few = survey(str(make_folder(tmp_path / "few", classes=1, per=30, extra=False)))
    with pytest.raises(GankitError, match="holds 30 images; the R3GAN recipe needs at least 100"):
        recipe(few, 60)


def test_in_loop_metrics_follow_the_measured_inception_rate(tmp_path: Path) -> None:
    s = survey(str(make_folder(tmp_path / "d")))
    cfg = plan(s, 60, "cpu", model_rate, 20.0).config()  # 5000 images / 20 img/s = 250 s of 3600: on
    assert cfg.train.metrics == "fid,kid" and cfg.train.eval_n == 1000
    assert cfg.train.kimg == pytest.approx(model_rate(cfg, 0) * (3600 - 250) / 1000, abs=0.1)
    assert plan(s, 10, "cpu", model_rate, 2.0).config().train.metrics == "none"  # 2500 s > 25% of 600 s
    assert plan(s, 60, "cpu", model_rate, None).config().train.metrics == "none"


# ---------------------------------------------------------------- the command line, as a user runs it

def gankit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gankit", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_describe_and_train_a_folder_with_no_preset_then_resume(tmp_path: Path) -> None:
    make_folder(tmp_path / "photos", classes=2, per=60, side=12)
    p = gankit("describe", "--data", "photos", "--minutes", "30", "--set", "train.metrics=none", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "data: 120 images" in p.stdout and "skipped 2 files that are not images" in p.stdout
    assert "measured: 8 px" in p.stdout and "model.widths" in p.stdout and "set by you (--set)" in p.stdout
    p = gankit("train", "--data", "photos", "--kimg", "0.064", "--set", "train.metrics=none", "--set",
               "train.tensorboard=false", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    run = tmp_path / "runs" / "photos"
    cfg, rec = json.loads((run / "config.json").read_text()), json.loads((run / "recipe.json").read_text())
    assert cfg["preset"] == "auto" and cfg["train"]["kimg"] == 0.064 and cfg["model"]["cond"] is True
    assert rec["survey"]["count"] == 120 and rec["measured"]
    p = gankit("train", "--data", "photos", "--set", "train.metrics=none", "--set", "train.tensorboard=false", cwd=tmp_path)
    assert p.returncode == 0 and "already complete" in p.stdout, p.stderr  # resumed with its recipe, not a new one
    p = gankit("train", "--config", "runs/photos/config.json", "--out", "runs/photos", cwd=tmp_path)
    assert p.returncode == 0 and "already complete" in p.stdout, p.stderr  # its config file works as any other
    p = gankit("train", "--data", "photos", "--minutes", "5", cwd=tmp_path)
    assert p.returncode == 2 and "was sized for" in p.stderr and len(p.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "photos", "--minutes", "0"], "--minutes must be a positive number"),
    (["train", "--data", "photos", "--minutes", "x"], "invalid float value"),
    (["train", "--data", "photos", "--minutes", "5", "--kimg", "3"], "both set the run's length"),
    (["train", "--preset", "r3gan-tiny", "--minutes", "5"], "pass --data DIR too"),
    (["train", "--data", "empty"], "no images found in empty"),
    (["describe", "--data", "few"], "holds 3 images"),
])
def test_bad_recipe_input_gets_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    make_folder(tmp_path / "photos", classes=1, per=100, side=8, extra=False)
    (tmp_path / "empty").mkdir()
    make_folder(tmp_path / "few", classes=1, per=3, extra=False)
    p = gankit(*args, cwd=tmp_path)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "runs").exists()  # nothing written


def test_an_mnist_folder_is_pointed_at_the_mnist_presets(tmp_path: Path) -> None:
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    with pytest.raises(GankitError, match="holds MNIST's files: train them with --preset r3gan-stackedmnist-cpu"):
        survey(str(tmp_path / "mnist"))


@pytest.mark.parametrize("preset", ["r3gan-tiny", "dcgan-digits"])
def test_the_timer_runs_the_loops_step_for_any_family(preset: str) -> None:
    """images_per_second is the recipe's and equal_minutes.py's timer: it must run every family's real step."""
    from gankit.presets import resolve
    from gankit.recipe.measure import images_per_second

    rate = images_per_second(resolve(preset, {"train.batch": 8, "train.threads": 1}), 0, steps=2)
    assert math.isfinite(rate) and rate > 0
