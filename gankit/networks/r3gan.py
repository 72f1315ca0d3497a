"""R3GAN generator and discriminator, Config E (Huang et al. 2024), exact to the authors' code; with
expansion 1/4 and one group per conv, the roadmap's Config D (1-3-1 bottleneck ResNets, paper sec. 3).

Stages are derived from the resolution: stage i works at 4 * 2^i pixels and takes
widths[min(i, len(widths) - 1)]; G runs them low to high resolution, D high to low.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .conv_grad import Conv2d
from .layers import LRELU_GAIN, BiasedActivation, Downsample2x, Upsample2x, conv, linear, width_at


class ResidualBlock(nn.Module):
    """y = x + W3(act(W2(act(W1 x)))): 1x1 C->eC, grouped 3x3 eC->eC, 1x1 eC->C initialised to 0."""

    def __init__(self, channels: int, groups: int, expansion: float, num_blocks: int) -> None:
        super().__init__()
        hidden = _hidden(channels, expansion)
        gain = LRELU_GAIN * num_blocks ** (-1 / 4)  # Fix-up: L^(-1/(2m-2)) with m = 3 layers
        self.conv1 = conv(channels, hidden, 1, gain=gain)
        self.act1 = BiasedActivation(hidden)
        self.conv2 = conv(hidden, hidden, 3, groups=groups, gain=gain)
        self.act2 = BiasedActivation(hidden)
        self.conv3 = conv(hidden, channels, 1, gain=0.0)  # zero init: a fresh block is the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv3(self.act2(self.conv2(self.act1(self.conv1(x)))))


def _hidden(channels: int, expansion: float) -> int:
    """A residual block's hidden width: channels * expansion (2: Config E's inverted bottleneck; 1/4: Config D)."""
    return max(1, int(round(channels * expansion)))


class UpTransition(nn.Module):
    """G transition: 1x1 conv only where the width changes, then 2x bilinear upsampling."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = conv(cin, cout, 1) if cin != cout else nn.Identity()
        self.up = Upsample2x(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.proj(x))


class DownTransition(nn.Module):
    """D transition: 2x bilinear downsampling, then a 1x1 conv only where the width changes."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.down = Downsample2x(cin)
        self.proj = conv(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.down(x))


class GenerativeBasis(nn.Module):
    """Learned constant (C, 4, 4) ~ N(0, 1), scaled per channel by Linear(z -> C)."""

    def __init__(self, z_dim: int, channels: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, 4, 4))
        self.linear = linear(z_dim, channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.basis.unsqueeze(0) * self.linear(z).view(z.shape[0], -1, 1, 1)


class DiscriminativeBasis(nn.Module):
    """Depthwise 4x4 conv (valid, 4x4 -> 1x1), flatten, bias-free Linear(C -> out)."""

    def __init__(self, channels: int, out: int) -> None:
        super().__init__()
        self.basis = Conv2d(channels, channels, 4, groups=channels, bias=False)
        nn.init.normal_(self.basis.weight, 0.0, 1 / 4)  # MSR: fan_in = 1 * 4 * 4
        self.linear = linear(channels, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.basis(x).flatten(1))


def stage_plan(resolution: int, widths: list[int], groups: list[int]) -> list[tuple[int, int]]:
    """(width, groups) of each stage from 4x4 up to `resolution`; checks the resolution."""
    k = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 4 or 2**k != resolution:
        raise ValueError(f"resolution {resolution} is not a power of two >= 4; use 4, 8, 16, 32, ...")
    if len(widths) != len(groups):
        raise ValueError(f"model.widths has {len(widths)} entries but model.groups has {len(groups)}")
    n = k - 1
    return [(width_at(widths, i), width_at(groups, i)) for i in range(n)]


def _check_groups(plan: list[tuple[int, int]], expansion: float) -> None:
    for width, g in plan:
        if _hidden(width, expansion) % g:
            raise ValueError(f"groups {g} does not divide the block's hidden width {_hidden(width, expansion)}; "
                             "choose model.groups dividing width * expansion")


BF16_STAGES = 4  # the authors' train.py: FP16Stages = the top 3 of 4 stages (CIFAR-10), the top 4 of 5 or 7 (FFHQ)


def bf16_stages(n: int) -> int:
    """How many of n stages run in bf16 under train.precision=bf16: the highest-resolution min(n - 1, 4), as the
    authors' presets choose (never the 4x4 stage; G's last stages, D's first, the mirror image)."""
    return min(n - 1, BF16_STAGES)


def _bf16(x: torch.Tensor, enabled: bool) -> torch.autocast:
    """bf16 autocast on x's device when enabled (R3GAN: high-resolution stages in bf16, the 4x4 head in float32)."""
    return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=enabled)


class Generator(nn.Module):
    """z (and a one-hot class) -> image in about [-1, 1]; no tanh, as in the reference."""

    def __init__(self, resolution: int, channels: int, z_dim: int, widths: list[int],
                 groups: list[int], blocks: int = 2, expansion: float = 2,
                 num_classes: int = 0, class_embed_dim: int = 64) -> None:
        super().__init__()
        plan = stage_plan(resolution, widths, groups)
        _check_groups(plan, expansion)
        self.z_dim, self.num_classes, self.resolution, self.channels = z_dim, num_classes, resolution, channels
        self.bf16 = False  # train.precision=bf16 sets it: the bf16_stages(n) highest-resolution stages under bf16 autocast
        total_blocks = blocks * len(plan)
        self.embed = linear(num_classes, class_embed_dim) if num_classes else None
        self.basis = GenerativeBasis(z_dim + (class_embed_dim if num_classes else 0), plan[0][0])
        stages: list[nn.Module] = []
        prev = plan[0][0]
        for i, (width, g) in enumerate(plan):
            layers: list[nn.Module] = [UpTransition(prev, width)] if i > 0 else []
            layers += [ResidualBlock(width, g, expansion, total_blocks) for _ in range(blocks)]
            stages.append(nn.Sequential(*layers))
            prev = width
        self.stages = nn.ModuleList(stages)
        self.to_rgb = conv(prev, channels, 1)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if c is None:
                raise ValueError("this generator is class-conditional: pass one-hot classes c")
            z = torch.cat([z, self.embed(c.to(z.dtype))], dim=1)
        x = self.basis(z)
        first = len(self.stages) - bf16_stages(len(self.stages))
        for i, stage in enumerate(self.stages):  # the 4x4 (and, beyond 5 stages, low-resolution) stages in float32
            with _bf16(x, self.bf16 and i >= first):
                x = stage(x)
        with _bf16(x, self.bf16 and len(self.stages) > 1):
            return self.to_rgb(x).float()


class Discriminator(nn.Module):
    """image (and a one-hot class) -> one logit per sample; projection head when conditional."""

    def __init__(self, resolution: int, channels: int, widths: list[int], groups: list[int],
                 blocks: int = 2, expansion: float = 2, num_classes: int = 0) -> None:
        super().__init__()
        plan = stage_plan(resolution, widths, groups)[::-1]  # high resolution first
        _check_groups(plan, expansion)
        self.num_classes = num_classes
        self.bf16 = False  # train.precision=bf16 sets it: the bf16_stages(n) highest-resolution stages under bf16 autocast
        total_blocks = blocks * len(plan)
        self.from_rgb = conv(channels, plan[0][0], 1)
        stages: list[nn.Module] = []
        for i, (width, g) in enumerate(plan):
            layers: list[nn.Module] = [ResidualBlock(width, g, expansion, total_blocks) for _ in range(blocks)]
            if i + 1 < len(plan):
                layers.append(DownTransition(width, plan[i + 1][0]))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        last = plan[-1][0]
        self.head = DiscriminativeBasis(last, last if num_classes else 1)  # E = last width
        self.embed = linear(num_classes, last, gain=1 / math.sqrt(last)) if num_classes else None

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        k = bf16_stages(len(self.stages))
        with _bf16(x, self.bf16 and k > 0):
            x = self.from_rgb(x)
        for i, stage in enumerate(self.stages):  # bf16 when enabled on the first k, never the 4x4 stage and head
            with _bf16(x, self.bf16 and i < k):
                x = stage(x.float() if i == k else x)
        h = self.head(x.float())
        if self.embed is not None:
            if c is None:
                raise ValueError("this discriminator is class-conditional: pass one-hot classes c")
            return (h * self.embed(c.to(h.dtype))).sum(dim=1)  # projection, no unconditional term
        return h.view(-1)
