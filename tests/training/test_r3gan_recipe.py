"""The R3GAN presets resolve to the authors' recipe: augmentation multipliers, precision, TF32, metric protocol."""
from __future__ import annotations

import pytest
import torch

from gankit.augment import AUGMENTS, AugmentConfig, augment
from gankit.errors import GankitError
from gankit import networks
from gankit.networks import precision_for, resolve_precision
from gankit.presets import PRESETS, resolve
from gankit.eval.protocols import PROTOCOLS, dataset_labels

R3GAN_PRESETS = [p for p in PRESETS.names() if p.startswith("r3gan-") and p not in ("r3gan-roadmap-a", "r3gan-roadmap-b")]
COLOUR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
# The authors' train.py: colour transforms at 0.5 x p, everything else at 1 x p (../shared/R3GAN-REFERENCE.md).
AUTHORS = {name: 0.5 if name in COLOUR else 1.0 for name in AUGMENTS}


def _share_that_changes(name: str, size: int) -> float:
    """Of the images a transform fires on, the share it changes: ADA's x-flip, rotate90 and luma flip pick
    uniformly among options that include the identity; an integer shift, uniform over a span of size / 4
    pixels and rounded, is zero on both axes with probability (1 / span)^2 (1/16 at size 16)."""
    if name in ("xflip", "lumaflip"):
        return 0.5
    if name == "rotate90":
        return 0.75
    if name == "xint":
        span = 2 * 0.125 * size  # uniform width in pixels
        return 1 - (1.0 / span) ** 2
    return 1.0


@pytest.mark.parametrize("preset", ["r3gan-cifar10", "r3gan-ffhq256", "r3gan-digits"])
def test_firing_rate_of_each_transform_is_p_times_the_authors_multiplier(preset: str) -> None:
    """Each transform alone, with the preset's multiplier, changes a share p * multiplier * (share that changes)
    of 6000 RGB images; with ADA's plain 'bgc' (colour at 1 x p) the colour rates would double and fail."""
    cfg = resolve(preset).aug
    p, n, size = 0.8, 6000, 16
    x = torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(5))
    for i, name in enumerate(AUGMENTS):
        alone = AugmentConfig(**{**cfg.__dict__, **{k: 0.0 for k in AUGMENTS}, name: getattr(cfg, name)})
        y = augment(x, p, alone, torch.Generator().manual_seed(100 + i))
        rate = (y != x).flatten(1).any(1).double().mean().item()
        expected = p * AUTHORS[name] * _share_that_changes(name, size)
        assert abs(rate - expected) < 0.025, f"{name}: fired on {rate:.3f} of the images, expected {expected:.3f}"


@pytest.mark.parametrize("preset", R3GAN_PRESETS)
def test_r3gan_presets_resolve_to_the_authors_numerics_and_augmentation(preset: str, monkeypatch) -> None:
    monkeypatch.setattr(networks, "cpu_has_bf16", lambda: True)  # a CPU with bf16 dot products, as the reference's AMX
    cfg = resolve(preset)
    assert {k: getattr(cfg.aug, k) for k in AUGMENTS} == AUTHORS
    assert cfg.train.tf32 is False
    assert cfg.train.precision == "auto"
    arch = cfg.model.arch
    assert precision_for(cfg, "cuda") == ("bf16" if arch == "r3gan" else "fp32")
    # on the CPU, bf16 where it measured faster (docs/benchmarks.md): every stage above 4x4 at least 32 wide
    assert precision_for(cfg, "cpu") == ("bf16" if preset in CPU_BF16 else "fp32")


# The presets whose stages above 4x4 are all >= 32 wide; the CPU presets (digits, stackedmnist-cpu, tiny) have 16-wide
# high-resolution stages, where bf16 measured slower (r3gan-digits 90 vs 74 ms, r3gan-stackedmnist-cpu 226 vs 210 ms).
CPU_BF16 = {"r3gan-cifar10", "r3gan-cifar10-uncond", "r3gan-ffhq64", "r3gan-ffhq256", "r3gan-imagenet32",
            "r3gan-imagenet64", "r3gan-stackedmnist", "r3gan-roadmap-d", "r3gan-roadmap-e",
            "r3gan-recipe"}  # the recipe base: Config's default widths until the recipe sets its own


def test_cpu_precision_follows_the_narrowest_stage_above_4x4(monkeypatch) -> None:
    """Stage 0 (4x4) stays float32 and does not count; the widest or a lower-resolution stage does not decide."""
    monkeypatch.setattr(networks, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto", "r3gan", "cpu", [32, 32, 32]) == "bf16"
    assert resolve_precision("auto", "r3gan", "cpu", [256, 256, 16]) == "fp32"
    assert resolve_precision("auto", "r3gan", "cpu", []) == "fp32"
    assert resolve_precision("auto", "dcgan", "cpu", [256]) == "fp32"
    cfg = resolve("r3gan-digits", {"model.widths": "[16,64,64]", "model.groups": "[1,4,4]"})  # 4x4 narrow, others wide
    assert precision_for(cfg, "cpu") == "bf16"
    cfg = resolve("r3gan-digits", {"model.widths": "[64,64,64,16]", "model.groups": "[4,4,4,1]"})  # a 32x32 entry unused
    assert precision_for(cfg, "cpu") == "bf16"  # at 16x16 only stages 0-2 exist


def test_precision_auto_is_float32_on_a_cpu_without_bf16_dot_products(monkeypatch) -> None:
    """Without AVX512-BF16 or AMX torch emulates bf16 (7-10x slower than float32 on an AVX2 EPYC): auto keeps float32
    however wide the stages, and an explicit bf16 is kept."""
    monkeypatch.setattr(networks, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", "r3gan", "cpu", [256, 256, 256]) == "fp32"
    assert precision_for(resolve("r3gan-cifar10"), "cpu") == "fp32"
    assert resolve_precision("bf16", "r3gan", "cpu", [256]) == "bf16"
    assert resolve_precision("auto", "r3gan", "cuda") == "bf16"  # the GPU's choice does not depend on the CPU


def test_precision_auto_is_float32_for_families_without_bf16_stages() -> None:
    assert resolve_precision("auto", "dcgan", "cuda") == "fp32"
    assert resolve_precision("bf16", "r3gan", "cpu") == "bf16"  # an explicit choice is kept
    assert resolve_precision("fp32", "r3gan", "cuda") == "fp32"


def test_fid50k_full_is_the_papers_protocol() -> None:
    p = PROTOCOLS.get("fid50k_full")
    assert (p.metric, p.n_gen, p.full, p.labels) == ("fid", 50000, True, "dataset")
    with pytest.raises(GankitError, match="valid metric protocol names: .*fid50k_full"):
        PROTOCOLS.get("fid50k")


def test_protocol_labels_follow_the_datasets_label_distribution() -> None:
    """A set with 90% of class 0 and 10% of class 1 gives about that share of each, not the cycled 50/50."""
    from gankit.data.digits import TensorImages

    labels = torch.tensor([0] * 900 + [1] * 100)
    ds = TensorImages(torch.zeros(1000, 1, 4, 4, dtype=torch.uint8), labels, 2)
    drawn = dataset_labels(ds, 20000, seed=0)
    assert drawn.shape == (20000,)
    assert abs(drawn.double().mean().item() - 0.1) < 0.01
    assert torch.equal(drawn, dataset_labels(ds, 20000, seed=0))  # seeded


def test_tf32_follows_the_config_on_cuda_and_is_untouched_on_cpu() -> None:
    """set_numerics is what train() calls: the R3GAN presets turn TF32 off for matmuls and cuDNN on CUDA."""
    from gankit.training.loop import set_numerics

    m, c = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        assert set_numerics(resolve("r3gan-cifar10"), torch.device("cuda")) == "bf16"
        assert torch.backends.cuda.matmul.allow_tf32 is False and torch.backends.cudnn.allow_tf32 is False
        assert set_numerics(resolve("r3gan-cifar10", {"train.tf32": "true"}), torch.device("cuda")) == "bf16"
        assert torch.backends.cuda.matmul.allow_tf32 is True and torch.backends.cudnn.allow_tf32 is True
        torch.backends.cuda.matmul.allow_tf32 = False
        assert set_numerics(resolve("r3gan-cifar10", {"train.tf32": "true"}), torch.device("cpu")) == \
            ("bf16" if networks.cpu_has_bf16() else "fp32")  # 768 wide: bf16 where the CPU has bf16 dot products
        assert torch.backends.cuda.matmul.allow_tf32 is False  # the CPU leaves CUDA's flags alone
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = m, c


@pytest.mark.parametrize("precision, bf16", [("bf16", True), ("auto", False)])
def test_g_ema_samples_in_gs_precision_as_the_authors(tmp_path, precision: str, bf16: bool) -> None:
    """The authors' G_ema is a copy of G with the same bf16 stages; so are the loaded generator's, and run.json
    records what train.precision resolved to on this device (auto: float32 on the CPU)."""
    import json

    from gankit.run import load_generator
    from gankit.training.loop import train

    cfg = resolve("r3gan-tiny", {"train.kimg": "0.032", "train.metrics": "none", "train.precision": precision,
                                 "train.tensorboard": "false"})
    out = train(cfg, tmp_path / "run", progress=lambda m: None)
    assert json.loads((out / "run.json").read_text())["precision"] == ("bf16" if bf16 else "fp32")
    assert load_generator(out).bf16 is bf16


def test_an_auto_run_keeps_the_precision_it_started_in_on_another_machine(tmp_path, monkeypatch) -> None:
    """A run started where auto gave bf16 (a GPU, an AMX CPU) samples and resumes in bf16 on a CPU where auto gives
    float32, with a warning, and plans its memory for bf16; an explicit precision is taken as set. Written here as
    run.json saying bf16."""
    import json

    from gankit.run import load_generator, run_precision
    from gankit.training import loop
    from gankit.training.loop import train

    planned: list[str] = []
    plan = loop.plan_micro_batch
    monkeypatch.setattr(loop, "plan_micro_batch", lambda *a: planned.append(a[-1]) or plan(*a))

    cfg = resolve("r3gan-tiny", {"train.kimg": "0.032", "train.metrics": "none", "train.tensorboard": "false"})
    out = train(cfg, tmp_path / "run", progress=lambda m: None)
    assert json.loads((out / "run.json").read_text())["precision"] == "fp32"  # r3gan-tiny's 16-wide stages: auto = fp32
    info = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**info, "precision": "bf16"}))
    with pytest.warns(UserWarning, match="trained in bf16 .* stays bf16 here, where auto would give fp32"):
        assert load_generator(out).bf16 is True
    assert run_precision(out, resolve("r3gan-tiny", {"train.precision": "fp32"}), "cpu") == "fp32"
    assert run_precision(tmp_path / "none", cfg, "cpu") == "fp32"  # no run yet: this machine's choice
    with pytest.warns(UserWarning, match="stays bf16"):
        train(resolve("r3gan-tiny", {"train.kimg": "0.064", "train.metrics": "none", "train.tensorboard": "false"}),
              out, progress=lambda m: None)
    assert json.loads((out / "run.json").read_text())["precision"] == "bf16"  # the resumed half trained in bf16 too
    assert planned == ["fp32", "bf16"]  # the resumed half's micro-batch was planned for bf16's activations


def test_set_bf16_switches_only_families_with_bf16_stages() -> None:
    """train.precision reaches R3GAN's stages (registered bf16=True) and no other family: a DCGAN gets no flag it
    would ignore. Catches a switch that skips the capability check, or one that never sets the flag."""
    from gankit.networks import build_networks, set_bf16

    for preset, has in [("r3gan-tiny", True), ("dcgan-digits", False)]:
        cfg = resolve(preset)
        G, D = build_networks(cfg.model, (3, 16, 16), 0)
        set_bf16(cfg.model.arch, True, G, D)
        assert all(getattr(m, "bf16", None) is (True if has else None) for m in (G, D)), preset
        set_bf16(cfg.model.arch, False, G, D)
        assert all(getattr(m, "bf16", None) is (False if has else None) for m in (G, D)), preset
