"""Network families, registered by name: each builds (G, D) for a data shape and class count."""
from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import GankitError
from ..registry import Registry
from .mlp import MLPAutoencoderD, MLPDiscriminator, MLPGenerator
from .r3gan import Discriminator, Generator

NETWORKS = Registry("network")


@NETWORKS.register("r3gan")
def build_r3gan(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """R3GAN Config E for images of shape (C, R, R)."""
    if len(shape) != 3 or shape[1] != shape[2]:
        raise GankitError(f"network 'r3gan' needs square images, the data has shape {tuple(shape)}; "
                          "use model.arch=mlp for 2-D points")
    c, r, _ = shape
    try:
        G = Generator(r, c, cfg.z_dim, cfg.widths, cfg.groups, cfg.blocks, cfg.expansion,
                      num_classes, cfg.class_embed_dim)
        D = Discriminator(r, c, cfg.widths, cfg.groups, cfg.blocks, cfg.expansion, num_classes)
    except ValueError as e:
        raise GankitError(str(e)) from None
    return G, D


@NETWORKS.register("mlp")
def build_mlp(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """MLPs for flat data of shape (dim,)."""
    if len(shape) != 1:
        raise GankitError(f"network 'mlp' needs flat data (points), the data has shape {tuple(shape)}; "
                          "use model.arch=r3gan for images")
    G = MLPGenerator(shape[0], cfg.z_dim, cfg.hidden, cfg.depth, num_classes)
    D = MLPDiscriminator(shape[0], cfg.hidden, cfg.depth, num_classes, cfg.mbstd_group, cfg.mbdisc_kernels, cfg.mbdisc_dim)
    return G, D


@NETWORKS.register("mlp-ae")
def build_mlp_ae(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """BEGAN for flat data: the MLP generator and an autoencoder discriminator (outputs reconstruction errors)."""
    if len(shape) != 1 or num_classes:
        raise GankitError(f"network 'mlp-ae' needs flat unconditional data, got shape {tuple(shape)}, {num_classes} classes")
    return MLPGenerator(shape[0], cfg.z_dim, cfg.hidden, cfg.depth), MLPAutoencoderD(shape[0], cfg.hidden, cfg.depth)


def build_networks(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """Look up cfg.arch and build (G, D); num_classes = 0 for unconditional networks."""
    if cfg.spectral_norm and cfg.arch == "r3gan":
        raise GankitError("model.spectral_norm does not compose with r3gan: Fix-up starts each block's last conv at "
                          "zero, which spectral normalization divides by sigma = 0; R3GAN needs no normalization "
                          "(its R1 + R2 does that job): set model.spectral_norm=false")
    if (cfg.mbstd_group or cfg.mbdisc_kernels) and cfg.arch != "mlp":
        raise GankitError(f"model.mbstd_group / model.mbdisc_kernels are layers of the mlp discriminator; "
                          f"model.arch={cfg.arch} has none (R3GAN drops them): set them to 0")
    if cfg.ortho_init and cfg.arch == "r3gan":
        raise GankitError("model.ortho_init would overwrite r3gan's Fix-up initialisation (zero last convs, "
                          "L^(-1/4) scaling) that makes it trainable without normalization: set model.ortho_init=false")
    G, D = NETWORKS.get(cfg.arch)(cfg, tuple(shape), num_classes)
    if cfg.ortho_init:
        for m in G.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.orthogonal_(m.weight)
    if cfg.spectral_norm:
        apply_spectral_norm(D)
    return G, D


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """W / sigma(W) on every Conv2d and Linear weight, sigma by one power iteration per training forward (Miyato et al. 2018, eq. 8)."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.device.type != "meta":
            nn.utils.parametrizations.spectral_norm(m)
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
