"""Progressive growing (Karras et al. 2018, PGGAN): the schedule, and the fade-in shared by the networks that grow.

A growing network keeps every resolution's layers from the start; `level` says how many of them are
in use and `alpha` how far the newest one has faded in. Both are pure functions of images seen
(`growth`), so a resumed run is at the same point. G always returns full-resolution images (its
current output enlarged by nearest neighbour) and D average-pools its input to its current
resolution, so data, losses and metrics never change shape.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def growth(images: float, grow_images: float, levels: int) -> tuple[int, float]:
    """(level, alpha) at `images` seen: level 0 for one phase, then per level a fade-in phase (alpha 0 -> 1)
    and a stabilisation phase (alpha 1), each `grow_images` long (PGGAN sec. 3, 600k images each)."""
    if levels <= 1 or grow_images <= 0:
        return max(levels - 1, 0), 1.0
    phase = images / grow_images - 1.0  # phases after the first
    if phase < 0:
        return 0, 1.0
    level = int(phase // 2) + 1
    if level >= levels:
        return levels - 1, 1.0
    return level, min(phase - 2 * (level - 1), 1.0)


def set_growth(module: nn.Module, level: int, alpha: float) -> None:
    """Point every growing network inside `module` at (level, alpha)."""
    for m in module.modules():
        if isinstance(m, Growing):
            m.level, m.alpha = int(level), float(alpha)


class Growing(nn.Module):
    """Base of networks that grow: `levels` resolutions, current `level` and fade-in `alpha` (full size by default)."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        self.levels, self.level, self.alpha = levels, levels - 1, 1.0


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Nearest-neighbour enlargement or average-pool reduction by powers of two to `size` pixels."""
    if x.shape[-1] > size:
        return F.avg_pool2d(x, x.shape[-1] // size)
    if x.shape[-1] < size:
        return F.interpolate(x, scale_factor=size // x.shape[-1], mode="nearest")
    return x


def fade_reals(x: torch.Tensor, level: int, alpha: float, levels: int) -> torch.Tensor:
    """Real images as the growing G would show them: pooled to the level's resolution and, while it fades in,
    blended with their half-resolution copy (PGGAN, appendix A.1); returned at full size."""
    res = x.shape[-1] >> (levels - 1 - level)
    xr = _resize(x, res)
    if alpha < 1 and level > 0:
        xr = torch.lerp(_resize(_resize(xr, res // 2), res), xr, alpha)
    return _resize(xr, x.shape[-1])


Layer = Callable[[torch.Tensor], torch.Tensor]
Head = Callable[[int, torch.Tensor], torch.Tensor]  # (level or block index, input) -> output


def grow_generate(x: torch.Tensor, stages: Sequence[Layer], to_rgb: Head, level: int, alpha: float,
                  full: int) -> torch.Tensor:
    """Run stages 0..level, the level's to-RGB and, while fading, the lerp with the previous level's upsampled
    output (PGGAN fig. 2); nearest-enlarged to `full` pixels."""
    prev = x
    for i in range(level + 1):
        prev, x = x, stages[i](x)
    img = to_rgb(level, x)
    if alpha < 1 and level > 0:
        img = torch.lerp(_resize(to_rgb(level - 1, prev), img.shape[-1]), img, alpha)
    return _resize(img, full)


def grow_discriminate(x: torch.Tensor, blocks: Sequence[Layer], from_rgb: Head, level: int, alpha: float,
                      levels: int) -> torch.Tensor:
    """D's growing input side: blocks[j] maps resolution R/2^j to R/2^(j+1); at `level` the first block used is
    j0 = levels - 1 - level. While fading, from_rgb of the half-resolution input is blended in after block j0."""
    j0 = levels - 1 - level
    size = x.shape[-1] >> j0
    xr = _resize(x, size)
    h = from_rgb(j0, xr)
    if j0 < len(blocks):
        h = blocks[j0](h)
        if alpha < 1 and level > 0:
            h = torch.lerp(from_rgb(j0 + 1, _resize(xr, size // 2)), h, alpha)
    for j in range(j0 + 1, len(blocks)):
        h = blocks[j](h)
    return h


def levels_for(resolution: int, lowest: int = 4) -> int:
    """Number of resolutions lowest, 2 lowest, ..., resolution."""
    return int(round(math.log2(resolution / lowest))) + 1


def check_levels(resolution: int, lowest: int, arch: str) -> int:
    """levels_for(resolution, lowest), or a ValueError naming the family when resolution is not lowest * 2^k."""
    levels = levels_for(resolution, lowest) if resolution >= lowest else 0
    if levels < 1 or lowest * 2 ** (levels - 1) != resolution:
        raise ValueError(f"{arch} needs a power-of-two resolution >= {lowest}, got {resolution}")
    return levels
