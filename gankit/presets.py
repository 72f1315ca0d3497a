"""Named presets: plain dicts of config overrides, in the one registry pattern.

The r3gan-* presets without a suffix of ours follow the R3GAN paper's configurations
(../shared/R3GAN-REFERENCE.md); the others are gankit's own, sized for a CPU or StackedMNIST.
"""
from __future__ import annotations

from typing import Any

from .config import Config, apply_overrides, flatten, validate_ranges
from .registry import Registry

PRESETS = Registry("preset")

# R3GAN's augmentation (the authors' train.py): ADA's 'bgc' plus cutout, with every colour transform at
# 0.5 x p where ADA's plain 'bgc' uses 1 x p; the geometric ones and cutout at 1 x p.
R3GAN_AUGMENT = {"brightness": 0.5, "contrast": 0.5, "lumaflip": 0.5, "hue": 0.5, "saturation": 0.5}
# R3GAN's numerics: bf16 stages on CUDA (float32 on the CPU, where gankit measured bf16 slower at small widths),
# TF32 off for float32 matmuls and convolutions, as the authors' loop sets it.
R3GAN_TRAIN = {"precision": "auto", "tf32": False}


def _r3gan(widths: list[int], groups: list[int], resolution: int, classes: int, batch: int,
           gamma: float, aug_p: float, ema_kimg: float, horizon_kimg: float) -> dict[str, Any]:
    """An official R3GAN configuration (Config E): gamma falls 10x, lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99."""
    return {
        "aug": R3GAN_AUGMENT,
        "model": {"arch": "r3gan", "widths": widths, "groups": groups, "cond": classes > 0},
        "data": {"name": "folder", "resolution": resolution, "xflip": True, "classes": classes},
        "loss": {"name": "rpgan", "regularizers": ["r1", "r2"], "gamma": gamma, "gamma_final": gamma / 10},
        "train": {"batch": batch, "kimg": horizon_kimg, "horizon_kimg": horizon_kimg, "aug_p": aug_p,
                  "ema_kimg": ema_kimg, "lr": 2e-4, "lr_final": 5e-5, "beta2": 0.9, "beta2_final": 0.99,
                  "eval_n": 10000, **R3GAN_TRAIN},
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
    "aug": R3GAN_AUGMENT,
    "model": {"arch": "r3gan", "widths": [256] * 4, "groups": [32] * 4},
    "data": {"name": "stackedmnist", "resolution": 32},
    "loss": {"gamma": 0.1, "gamma_final": 0.01},
    "train": {"batch": 256, "kimg": 5000, "aug_p": 0.0, "ema_kimg": 100, "eval_n": 26000, "snapshot_kimg": 250,
              **R3GAN_TRAIN},
})

# gankit's own CPU presets on stacked digits (16x16, 1000 modes): the default main job and a longer one, one recipe
# at two budgets. Config E blocks at widths 64/32/16 with group size 16, as in the paper; the recipe was tuned for a
# budget of minutes on 2 CPU cores (docs/results/r3gan_claims.md): a high learning rate, 2e-3 -> 4e-4 (10x the old
# preset's), gamma 1 -> 0.1 (the paper's 10x fall), EMA half-life ramping to 10k images, batch 32.
_DIGITS_R3GAN = {
    "aug": R3GAN_AUGMENT,
    "model": {"arch": "r3gan", "widths": [64, 32, 16], "groups": [8, 4, 2]},
    "data": {"name": "stacked-digits", "resolution": 16},
    "loss": {"gamma": 1.0, "gamma_final": 0.1},
}
_DIGITS_R3GAN_TRAIN = {"batch": 32, "aug_p": 0.0, "ema_kimg": 10, "eval_n": 10000, "lr": 2e-3, "lr_final": 4e-4,
                       **R3GAN_TRAIN}
PRESETS.register("r3gan-digits")({**_DIGITS_R3GAN, "train": {**_DIGITS_R3GAN_TRAIN, "kimg": 180}})  # about 10 minutes
PRESETS.register("r3gan-digits-long")({**_DIGITS_R3GAN, "train": {**_DIGITS_R3GAN_TRAIN, "kimg": 750,
                                                                  "snapshot_kimg": 50}})  # about 40 minutes

# StackedMNIST at 32x32 on the CPU (about half an hour): real MNIST digits, modes counted by the shipped MNIST classifier.
PRESETS.register("r3gan-stackedmnist-cpu")({
    "aug": R3GAN_AUGMENT,
    "model": {"arch": "r3gan", "widths": [64, 64, 32, 16], "groups": [8, 8, 4, 2]},
    "data": {"name": "stackedmnist", "resolution": 32},
    "loss": {"gamma": 1.0, "gamma_final": 0.1},
    "train": {**_DIGITS_R3GAN_TRAIN, "kimg": 200, "snapshot_kimg": 40, "eval_n": 26000},  # 26k samples, as PacGAN counts
})

# Smallest R3GAN that trains: for smoke tests and trying the command line.
PRESETS.register("r3gan-tiny")({
    "aug": R3GAN_AUGMENT,
    "model": {"arch": "r3gan", "widths": [16, 8], "groups": [2, 2], "blocks": 1},
    "data": {"name": "stacked-digits", "resolution": 8, "size": 2000},
    "loss": {"gamma": 0.1, "gamma_final": 0.01},
    "train": {"batch": 16, "kimg": 0.128, "aug_p": 0.2, "ema_kimg": 0.05, "eval_n": 256, "grid": 16, **R3GAN_TRAIN},
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

# R3GAN's roadmap (paper sec. 3, Table 2) at FFHQ-256, 5M images, so the ablation can be rerun. A is StyleGAN2
# (paper256: widths 512 x4, 256, 128, 64; 8 mapping layers; lr 2.5e-3, batch 64, R1 gamma 1 every 16 steps,
# EMA 20 kimg; path-length regularization is not implemented), B strips it (style none, no mapping, noise,
# mixing, mbstd, equalized lr or lazy R1; z = 64; lr 5e-5), C adds RpGAN + R2, D swaps in 1-3-1 bottleneck
# ResNets 3x as wide (hidden C/4), E is Config E with C's recipe. Parameter counts match Table 2 (tests).
_PAPER256 = [512] * 4 + [256, 128, 64]
_ROADMAP_TRAIN = {"batch": 64, "kimg": 5000, "horizon_kimg": 5000, "lr": 5e-5, "lr_final": 5e-5, "beta2": 0.99,
                  "beta2_final": 0.99, "ema_kimg": 20, "aug_p": 0.0, "eval_n": 10000, **R3GAN_TRAIN}
_ROADMAP_DATA = {"name": "folder", "resolution": 256, "xflip": True}
_ROADMAP_B = {"arch": "stylegan", "z_dim": 64, "widths": _PAPER256, "mapping_layers": 0, "style": "none",
              "noise": False, "style_mixing": 0.0, "equalized_lr": False, "mbstd_group": 0}
PRESETS.register("r3gan-roadmap-a")({
    "model": {"arch": "stylegan", "z_dim": 512, "w_dim": 512, "widths": _PAPER256, "mapping_layers": 8, "mbstd_group": 8},
    "data": _ROADMAP_DATA,
    "loss": {"name": "nonsaturating", "regularizers": ["r1"], "gamma": 1.0, "gamma_final": 1.0, "reg_interval": 16},
    "train": {**_ROADMAP_TRAIN, "lr": 2.5e-3, "lr_final": 2.5e-3},
})
PRESETS.register("r3gan-roadmap-b")({
    "model": _ROADMAP_B, "data": _ROADMAP_DATA, "train": _ROADMAP_TRAIN,
    "loss": {"name": "nonsaturating", "regularizers": ["r1"], "gamma": 1.0, "gamma_final": 1.0},
})
_ROADMAP_LOSS = {"name": "rpgan", "regularizers": ["r1", "r2"], "gamma": 1.0, "gamma_final": 1.0}
PRESETS.register("r3gan-roadmap-c")({"aug": R3GAN_AUGMENT, "model": _ROADMAP_B, "data": _ROADMAP_DATA, "train": _ROADMAP_TRAIN, "loss": _ROADMAP_LOSS})
PRESETS.register("r3gan-roadmap-d")({
    "aug": R3GAN_AUGMENT,
    "model": {"arch": "r3gan", "widths": [3 * w for w in _PAPER256], "groups": [1] * 7, "expansion": 0.25},
    "data": _ROADMAP_DATA, "train": _ROADMAP_TRAIN, "loss": _ROADMAP_LOSS,
})
PRESETS.register("r3gan-roadmap-e")({
    "aug": R3GAN_AUGMENT,
    "model": {"arch": "r3gan", "widths": [768] * 4 + [384, 192, 96], "groups": [96] * 4 + [48, 24, 12]},
    "data": _ROADMAP_DATA, "train": _ROADMAP_TRAIN, "loss": _ROADMAP_LOSS,
})

# The fixed part of the recipe for a folder of images (`gankit train --data DIR`, gankit/recipe): R3GAN's loss, blocks,
# augmentation pipeline and numerics on folder data. The recipe adds widths, resolution, batch, length, lr, EMA and
# gamma from the data and the minutes; a study that freezes a recipe declares those on top of this preset.
PRESETS.register("r3gan-recipe")({
    "aug": R3GAN_AUGMENT,
    "model": {"arch": "r3gan", "blocks": 2, "expansion": 2.0},
    "data": {"name": "folder"},
    "loss": {"name": "rpgan", "regularizers": ["r1", "r2"]},
    "train": {**R3GAN_TRAIN, "batch": 32, "beta2": 0.9, "beta2_final": 0.99},  # batch: the recipe's smallest
})

# The classic architectures at their papers' sizes (data: an image folder, or --data), with their papers' recipes.
_CONST = {"beta2": 0.999, "beta2_final": 0.999, "ema_kimg": 0.0, "aug_p": 0.0}  # no schedule ramps, no EMA
PRESETS.register("dcgan-cifar10")({  # Radford et al. 2016: Adam 2e-4, beta1 0.5, batch 128, z = 100
    "model": {"arch": "dcgan", "z_dim": 100, "widths": [256, 128, 64]},
    "data": {"name": "folder", "resolution": 32},
    "loss": {"name": "nonsaturating", "regularizers": []},
    "train": {**_CONST, "batch": 128, "kimg": 10000, "lr": 2e-4, "lr_final": 2e-4, "beta1": 0.5},
})
PRESETS.register("sngan-cifar10")({  # Miyato et al. 2018, ResNet on CIFAR: hinge, SN D, n_dis 5, Adam (0, 0.9)
    "model": {"arch": "resnet", "z_dim": 128, "widths": [256] * 4, "widths_d": [128] * 4, "d_final_res": 8,
              "spectral_norm": True},
    "data": {"name": "folder", "resolution": 32},
    "loss": {"name": "hinge", "regularizers": []},
    "train": {**_CONST, "batch": 64, "kimg": 32000, "lr": 2e-4, "lr_final": 2e-4, "beta2": 0.9, "beta2_final": 0.9,
              "n_critic": 5},
})
PRESETS.register("biggan-cifar10")({  # Brock et al. 2019's ingredients at CIFAR size: ch 64, shared embedding, hier z
    "model": {"arch": "resnet", "z_dim": 128, "widths": [256] * 4, "widths_d": [256] * 4, "d_final_res": 8,
              "cond": True, "shared_dim": 128, "hier": True, "spectral_norm": True, "spectral_norm_g": True,
              "ortho_init": True},
    "data": {"name": "folder", "resolution": 32, "classes": 10},
    "loss": {"name": "hinge", "regularizers": []},
    "train": {**_CONST, "batch": 50, "kimg": 25000, "lr": 2e-4, "lr_final": 2e-4, "n_critic": 4, "ema_kimg": 20},
})
PRESETS.register("biggan-imagenet128")({  # BigGAN 128: ch 96, attention at 64, z 120, G lr 1e-4, D 4e-4, 2 D steps
    "model": {"arch": "resnet", "z_dim": 120, "widths": [1536, 1536, 768, 384, 192, 96],
              "widths_d": [96, 192, 384, 768, 1536, 1536], "d_final_res": 4, "attn_res": 64, "cond": True,
              "shared_dim": 128, "hier": True, "spectral_norm": True, "spectral_norm_g": True, "ortho_init": True},
    "data": {"name": "folder", "resolution": 128, "classes": 1000},
    "loss": {"name": "hinge", "regularizers": [], "ortho_beta": 1e-4},
    "train": {**_CONST, "batch": 2048, "kimg": 300000, "lr": 1e-4, "lr_final": 1e-4, "lr_d_ratio": 4.0, "n_critic": 2,
              "ema_kimg": 20},
})

# The same families on stacked digits (16x16, 1000 modes), sized for a few CPU minutes each (docs/results/archs.md).
_DIGITS = {"name": "stacked-digits", "resolution": 16}
_DIGITS_TRAIN = {**_CONST, "batch": 64, "kimg": 100, "lr": 2e-4, "lr_final": 2e-4, "eval_n": 10000}
PRESETS.register("dcgan-digits")({
    "model": {"arch": "dcgan", "z_dim": 64, "widths": [128, 64]}, "data": _DIGITS,
    "loss": {"name": "nonsaturating", "regularizers": []}, "train": {**_DIGITS_TRAIN, "beta1": 0.5},
})
# PGGAN's layers on DCGAN's convs, grown 8 -> 16 pixels, minibatch stddev in D, and PGGAN's recipe (Karras et al. 2018,
# sec. A.1): WGAN-GP (lambda 10) with eps_drift 0.001, Adam lr 0.001 and betas (0, 0.99), G's weights averaged with
# decay 0.999 per step at their batch of 16: a half-life of ln 0.5 / ln 0.999 = 693 steps = 11.1k images, kept in
# images at DCGAN's batch of 64 used here
PRESETS.register("pggan-digits")({
    "model": {"arch": "dcgan", "z_dim": 64, "widths": [128, 64], "progressive": True, "mbstd_group": 4, "pggan": True},
    "data": _DIGITS,
    "loss": {"name": "wasserstein", "regularizers": ["wgan_gp"], "lambda_gp": 10.0, "drift": 0.001},
    "train": {**_DIGITS_TRAIN, "lr": 1e-3, "lr_final": 1e-3, "beta1": 0.0, "beta2": 0.99, "beta2_final": 0.99,
              "ema_kimg": 11.1, "ema_ramp": False, "grow_kimg": 25},
})
PRESETS.register("sngan-digits")({
    "model": {"arch": "resnet", "z_dim": 64, "widths": [64] * 3, "widths_d": [64] * 3, "d_final_res": 4,
              "spectral_norm": True}, "data": _DIGITS,
    "loss": {"name": "hinge", "regularizers": []}, "train": {**_DIGITS_TRAIN, "beta2": 0.9, "beta2_final": 0.9, "n_critic": 2},
})
PRESETS.register("biggan-digits")({  # unconditional here (stacked digits' 1000 labels are its modes): hier z, SN in G and D
    "model": {"arch": "resnet", "z_dim": 60, "widths": [64] * 3, "widths_d": [64] * 3, "d_final_res": 4, "hier": True,
              "attn_res": 8, "spectral_norm": True, "spectral_norm_g": True, "ortho_init": True}, "data": _DIGITS,
    "loss": {"name": "hinge", "regularizers": []}, "train": {**_DIGITS_TRAIN, "n_critic": 2, "ema_kimg": 1},
})
PRESETS.register("stylegan-digits")({
    "model": {"arch": "stylegan", "z_dim": 64, "w_dim": 64, "widths": [64, 32, 32], "mapping_layers": 8,
              "mbstd_group": 4}, "data": _DIGITS,
    "loss": {"name": "nonsaturating", "regularizers": ["r1"], "gamma": 0.1, "gamma_final": 0.1},
    "train": {**_DIGITS_TRAIN, "lr": 2e-3, "lr_final": 2e-3, "beta2": 0.99, "beta2_final": 0.99, "ema_kimg": 1},
})

DEFAULT_PRESET = "r3gan-digits"


def resolve(preset: str, overrides: dict[str, Any] | None = None) -> Config:
    """The preset's config with `overrides` ({"train.kimg": "10", ...}) applied on top."""
    spec = PRESETS.get(preset)
    cfg = apply_overrides(apply_overrides(Config(preset=preset), flatten(spec)), overrides or {})
    validate_ranges(cfg)
    return cfg
