"""Network families, registered by name: each builds (G, D) for a data shape and class count."""
from __future__ import annotations

import torch
from torch import nn

from ..config import Config, ModelConfig
from ..errors import GankitError
from ..registry import Registry
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLPAutoencoderD, MLPDiscriminator, MLPGenerator
from .progressive import growth, set_growth  # noqa: F401  (public: the growth schedule beside the networks)
from .r3gan import Discriminator, Generator, bf16_stages, stage_plan
from .resnet import ResNetDiscriminator, ResNetGenerator, default_d_widths
from .stylegan import StyleDiscriminator, StyleGenerator

NETWORKS = Registry("network")
PRECISIONS = ("fp32", "bf16", "auto")


CPU_BF16_MIN_WIDTH = 32  # bf16 stages pay on the CPU only where every stage above 4x4 is at least this wide


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 dot products (AVX512-BF16 or AMX). Without them torch emulates bf16: R3GAN's step at
    the recipe's base 64 and 128 measured 7x and 10x slower than float32 (AMD EPYC, AVX2, docs/benchmarks.md)."""
    cpu = getattr(torch, "cpu", None)
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def resolve_precision(precision: str, arch: str, device: torch.device | str, stage_widths: list[int] = ()) -> str:
    """train.precision on this device: "auto" is bf16 for families with bf16 stages (R3GAN's numerics) on CUDA, and on
    a CPU with bf16 dot products (cpu_has_bf16) where every stage above 4x4 (stage_widths) is at least
    CPU_BF16_MIN_WIDTH channels wide; else fp32.
    Measured on the 2-core reference CPU (docs/benchmarks.md): bf16 2.2x faster at width 256, 1.3x at 32 (32x32), and
    slower at the shipped CPU presets (2026-11-27). Since two slow bf16 kernels were replaced (2026-12-05) bf16 also
    measures faster there (1.1x on r3gan-digits); the threshold stays until a 3-seed trained check moves it."""
    if precision != "auto" or not NETWORKS.caps(arch).get("bf16"):
        return "fp32" if precision == "auto" else precision
    if torch.device(device).type == "cuda":
        return "bf16"
    wide = bool(stage_widths) and min(stage_widths) >= CPU_BF16_MIN_WIDTH
    return "bf16" if wide and cpu_has_bf16() else "fp32"


def set_bf16(arch: str, on: bool, *nets: nn.Module) -> None:
    """Switch the bf16 stages of networks of family `arch` (train.precision); families registered without bf16 have none."""
    if NETWORKS.caps(arch).get("bf16"):
        for net in nets:
            net.bf16 = on


def precision_for(cfg: Config, device: torch.device | str) -> str:
    """resolve_precision for a config: the widths of its bf16 stages at the data's resolution (r3gan.stage_plan)."""
    m, widths = cfg.model, []
    if NETWORKS.caps(m.arch).get("bf16"):
        try:
            plan = stage_plan(cfg.data.resolution or 0, m.widths, m.groups)
            widths = [w for w, _ in plan[len(plan) - bf16_stages(len(plan)):]]
        except ValueError:  # a plan R3GAN cannot build: validate_model says why; no bf16 stages to weigh
            pass
    return resolve_precision(cfg.train.precision, m.arch, device, widths)


CPU_MICRO = 32  # the CPU's micro-batch for batch-independent families: images per second are flat above it


def micro_batch_for(cfg: Config, device: torch.device | str, world: int = 1) -> int:
    """train.batch_gpu on this device. As set, except 0 on the CPU for a family whose outputs and penalties are
    per-sample (batch_independent: no batch norm, no minibatch statistics) with a per-process batch above CPU_MICRO:
    then the largest divisor of that batch up to CPU_MICRO. The summed gradients are the same (to rounding) and memory
    stays as at batch 32: R3GAN's CIFAR-10 preset (batch 512, width 768, R1 + R2's double backward) in one pass needs
    more than 24 GiB and was killed by the kernel without a word."""
    per = cfg.train.batch // max(world, 1)
    if cfg.train.batch_gpu or torch.device(device).type != "cpu" or per <= CPU_MICRO \
            or not NETWORKS.caps(cfg.model.arch).get("batch_independent"):
        return cfg.train.batch_gpu
    return max(d for d in range(1, CPU_MICRO + 1) if per % d == 0)


# What each family declares (read by gankit.validate, the one place that refuses configs):
#   data: "images" (square, C x R x R) or "points" (flat); bf16: has bf16 stages (train.precision=bf16);
#   heads: D can have K output heads (MMA-GAN); mbstd / mbdisc: D has a minibatch-stddev / -discrimination layer;
#   progressive: grows (PGGAN); pggan: has PGGAN's layers (model.pggan); features: D.features() for feature matching;
#   autoencoder: D outputs reconstruction errors (BEGAN); unconditional: takes no classes;
#   own_init(cfg): the initialisation model.ortho_init would overwrite, or None; no_spectral_norm: why SN cannot apply;
#   batch_independent: D's outputs and penalties are per-sample, so micro-batches give the same gradients (CPU default).
_FIXUP = ("Fix-up starts each block's last conv at zero, which spectral normalization divides by sigma = 0; R3GAN needs "
          "no normalization (its R1 + R2 does that job): set model.spectral_norm=false")


@NETWORKS.register("r3gan", data="images", bf16=True, batch_independent=True, no_spectral_norm=_FIXUP,
                   own_init=lambda cfg: "Fix-up: zero last convs, L^(-1/4) scaling")
def build_r3gan(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """R3GAN Config E for images of shape (C, R, R); roadmap Config D with expansion 0.25 and groups 1."""
    c, r = shape[0], shape[1]
    G = Generator(r, c, cfg.z_dim, cfg.widths, cfg.groups, cfg.blocks, cfg.expansion,
                  num_classes, cfg.class_embed_dim)
    D = Discriminator(r, c, cfg.widths_d or cfg.widths, cfg.groups, cfg.blocks, cfg.expansion, num_classes)
    return G, D


@NETWORKS.register("dcgan", data="images", heads=True, mbstd=True, progressive=True, pggan=True, features=True)
def build_dcgan(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """DCGAN (Radford et al. 2016); conditional by z ++ one-hot in G and projection in D; optionally progressive."""
    c, r = shape[0], shape[1]
    G = DCGANGenerator(r, c, cfg.z_dim, cfg.widths, num_classes, cfg.attn_res, cfg.progressive, cfg.pggan)
    D = DCGANDiscriminator(r, c, cfg.widths_d or cfg.widths, num_classes, cfg.d_norm, cfg.attn_res, cfg.mbstd_group,
                           cfg.progressive, cfg.heads, cfg.pggan)
    return G, D


@NETWORKS.register("resnet", data="images", features=True)
def build_resnet(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """SNGAN / SAGAN / BigGAN ResNets: conditional BN in G (per class, or BigGAN's shared embedding and
    hierarchical z), projection D, self-attention at model.attn_res."""
    c, r = shape[0], shape[1]
    G = ResNetGenerator(r, c, cfg.z_dim, cfg.widths, num_classes, cfg.shared_dim, cfg.hier, cfg.attn_res)
    widths_d = cfg.widths_d or default_d_widths(r, cfg.widths, cfg.d_final_res)
    D = ResNetDiscriminator(r, c, widths_d, num_classes, cfg.d_final_res, cfg.attn_res)
    return G, D


@NETWORKS.register("stylegan", data="images", mbstd=True, progressive=True, features=True, own_init=lambda cfg: (
    "N(0, 1) weights scaled at run time by the equalized learning rate" if cfg.equalized_lr else None))
def build_stylegan(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """StyleGAN-style G (mapping, styles, noise, mixing, psi-truncation) and StyleGAN2's residual D with minibatch stddev."""
    c, r = shape[0], shape[1]
    G = StyleGenerator(r, c, cfg.z_dim, cfg.widths, num_classes, cfg.w_dim, cfg.mapping_layers, cfg.mapping_lr,
                       cfg.style, cfg.noise, cfg.style_mixing, cfg.equalized_lr, cfg.progressive)
    D = StyleDiscriminator(r, c, cfg.widths_d or cfg.widths, num_classes, cfg.mbstd_group, cfg.equalized_lr,
                           cfg.progressive)
    return G, D


@NETWORKS.register("mlp", data="points", heads=True, mbstd=True, mbdisc=True, features=True)
def build_mlp(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """MLPs for flat data of shape (dim,)."""
    G = MLPGenerator(shape[0], cfg.z_dim, cfg.hidden, cfg.depth, num_classes)
    D = MLPDiscriminator(shape[0], cfg.hidden, cfg.depth, num_classes, cfg.mbstd_group, cfg.mbdisc_kernels, cfg.mbdisc_dim,
                         cfg.heads)
    return G, D


@NETWORKS.register("mlp-ae", data="points", autoencoder=True, unconditional=True)
def build_mlp_ae(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """BEGAN for flat data: the MLP generator and an autoencoder discriminator (outputs reconstruction errors)."""
    return MLPGenerator(shape[0], cfg.z_dim, cfg.hidden, cfg.depth), MLPAutoencoderD(shape[0], cfg.hidden, cfg.depth)


def build_networks(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """Look up cfg.arch and build (G, D); num_classes = 0 for unconditional networks. Check the options against what
    the family declares first (validate.validate_model; `gankit train` does, in validate.validate)."""
    try:
        G, D = NETWORKS.get(cfg.arch)(cfg, tuple(shape), num_classes)
    except ValueError as e:
        raise GankitError(str(e)) from None
    if cfg.ortho_init:  # BigGAN-PyTorch's init_weights('ortho'): every conv, linear and embedding of G and of D
        from .resnet import ClassEmbedding

        for m in [*G.modules(), *D.modules()]:
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
                nn.init.orthogonal_(m.weight)
            elif isinstance(m, ClassEmbedding) and not m.zero_init:  # the shared embedding, not SNGAN's tables
                nn.init.orthogonal_(m.weight)
    if cfg.spectral_norm:
        apply_spectral_norm(D)
    if cfg.spectral_norm_g:
        apply_spectral_norm(G)
    return G, D


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """W / sigma(W) on every Conv2d and Linear weight, sigma by one power iteration per training forward (Miyato et al. 2018, eq. 8)."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.weight.device.type != "meta":
            nn.utils.parametrizations.spectral_norm(m, dim=1 if isinstance(m, nn.ConvTranspose2d) else 0)
    return module


@torch.no_grad()
def spectral_sigmas(module: nn.Module) -> dict[str, float]:
    """Each spectrally normalised layer's current estimate sigma = u^T W v of its raw weight (for the log)."""
    out = {}
    for name, m in module.named_modules():
        param = getattr(getattr(m, "parametrizations", None), "weight", None)
        if param is not None and hasattr(param[0], "_u"):
            w = param.original.flatten(1)
            out[name or "weight"] = float(param[0]._u @ w @ param[0]._v)
    return out


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
