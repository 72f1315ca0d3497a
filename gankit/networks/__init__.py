"""Network families, registered by name: each builds (G, D) for a data shape and class count."""
from __future__ import annotations

from torch import nn

from ..config import ModelConfig
from ..errors import GankitError
from ..registry import Registry
from .mlp import MLPDiscriminator, MLPGenerator
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
    D = MLPDiscriminator(shape[0], cfg.hidden, cfg.depth, num_classes)
    return G, D


def build_networks(cfg: ModelConfig, shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module]:
    """Look up cfg.arch and build (G, D); num_classes = 0 for unconditional networks."""
    return NETWORKS.get(cfg.arch)(cfg, tuple(shape), num_classes)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
