"""The ResNet GAN lineage: SNGAN (Miyato et al. 2018), SAGAN (Zhang et al. 2019) and BigGAN (Brock et al. 2019).

G: Linear(z -> 4x4xC), up-blocks [BN, ReLU, 2x nearest, conv3x3, BN, ReLU, conv3x3] + 1x1 shortcut, then BN,
ReLU, conv3x3 to RGB, tanh. D: down-blocks [(ReLU), conv3x3, ReLU, conv3x3, avg-pool] + 1x1 shortcut, ReLU,
global sum pooling, a linear output plus a class projection. The three papers differ only in how the class
(and z) reach G's batch norms, which `model.shared_dim` and `model.hier` choose:
- SNGAN/SAGAN conditional: a gain and bias per class (categorical conditional BN);
- BigGAN: gain 1 + W_g y and bias W_b y from y = [shared class embedding, z chunk] (hierarchical latents).
Self-attention (SAGAN) sits after the G block and D block whose output is `model.attn_res` pixels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ProjectionHead, SelfAttention, width_at
from .progressive import check_levels


class ClassEmbedding(nn.Module):
    """One-hot rows -> learned vectors (nn.Embedding on one-hot input); not spectrally normalised, as in BigGAN."""

    def __init__(self, num_classes: int, dim: int, init: float | None = None) -> None:
        super().__init__()
        self.zero_init = init == 0  # SNGAN's per-class gain/bias tables start at 0 (identity conditioning)
        self.weight = nn.Parameter(torch.zeros(num_classes, dim) if self.zero_init else torch.randn(num_classes, dim))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return c.to(self.weight.dtype) @ self.weight


class CondBatchNorm(nn.Module):
    """BN without affine, then x * (1 + gain(y)) + bias(y) (BigGAN's ccbn); plain affine BN when cond_dim = 0.

    per_class: y is one-hot and gain/bias are per-class tables starting at gain 1, bias 0 (SNGAN's
    categorical conditional BN); otherwise they are linear maps of y, orthogonally initialised (BigGAN)."""

    def __init__(self, channels: int, cond_dim: int, per_class: bool = False) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=cond_dim == 0)
        self.gain = self.bias = None
        if cond_dim:
            if per_class:
                self.gain, self.bias = ClassEmbedding(cond_dim, channels, 0), ClassEmbedding(cond_dim, channels, 0)
            else:
                self.gain, self.bias = nn.Linear(cond_dim, channels, bias=False), nn.Linear(cond_dim, channels, bias=False)
                nn.init.orthogonal_(self.gain.weight)
                nn.init.orthogonal_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = self.bn(x)
        if self.gain is None:
            return h
        return h * (1 + self.gain(y))[:, :, None, None] + self.bias(y)[:, :, None, None]


def _conv(cin: int, cout: int, k: int, gain: float = 1.0) -> nn.Conv2d:
    """Conv with bias, Xavier-uniform weights (SNGAN's GlorotUniform; gain sqrt 2 in the residual branch)."""
    m = nn.Conv2d(cin, cout, k, padding=k // 2)
    nn.init.xavier_uniform_(m.weight, gain)
    nn.init.zeros_(m.bias)
    return m


class GBlock(nn.Module):
    """Up-block: conv3x3(ReLU(BN(conv3x3(up(ReLU(BN(x))))))) + conv1x1(up(x))."""

    def __init__(self, cin: int, cout: int, cond_dim: int, per_class: bool) -> None:
        super().__init__()
        self.bn1, self.bn2 = CondBatchNorm(cin, cond_dim, per_class), CondBatchNorm(cout, cond_dim, per_class)
        self.conv1, self.conv2 = _conv(cin, cout, 3, math.sqrt(2)), _conv(cout, cout, 3, math.sqrt(2))
        self.shortcut = _conv(cin, cout, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """Down-block: pool(conv3x3(ReLU(conv3x3(ReLU(x))))) + shortcut. The first block has no leading ReLU and pools
    its input before the shortcut conv (SNGAN's OptimizedBlock); later ones conv then pool."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1, self.conv2 = _conv(cin, cout, 3, math.sqrt(2)), _conv(cout, cout, 3, math.sqrt(2))
        self.shortcut = _conv(cin, cout, 1) if cin != cout or down else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        s = x
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.shortcut is not None:
            if self.first and self.down:
                s = self.shortcut(F.avg_pool2d(s, 2))
            else:
                s = self.shortcut(s)
                s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class ResNetGenerator(nn.Module):
    """z (and a one-hot class) -> image in [-1, 1]; widths from 4x4 upward, one up-block per doubling."""

    def __init__(self, resolution: int, channels: int, z_dim: int, widths: list[int], num_classes: int = 0,
                 shared_dim: int = 0, hier: bool = False, attn_res: int = 0) -> None:
        super().__init__()
        n = check_levels(resolution, 8, "resnet")  # up-blocks: 4 -> 8 -> ... -> resolution
        w = [width_at(widths, i) for i in range(n + 1)]
        self.num_classes, self.hier = num_classes, hier
        self.chunk = z_dim // (n + 1) if hier else z_dim  # BigGAN: one z chunk for the stem and one per block
        if self.chunk < 1:
            raise ValueError(f"model.hier splits z into {n + 1} chunks; model.z_dim={z_dim} is too small")
        self.z_dim = self.chunk * (n + 1) if hier else z_dim
        self.shared = ClassEmbedding(num_classes, shared_dim) if num_classes and shared_dim else None
        per_class = bool(num_classes) and not shared_dim
        cond_dim = (shared_dim if shared_dim else num_classes) if num_classes else 0
        cond_dim += self.chunk if hier else 0
        self.linear = nn.Linear(self.chunk, 16 * w[0])
        nn.init.xavier_uniform_(self.linear.weight)
        self.blocks = nn.ModuleList(GBlock(w[i], w[i + 1], cond_dim, per_class) for i in range(n))
        self.attn = nn.ModuleDict({str(8 * 2**i): SelfAttention(w[i + 1]) for i in range(n) if 8 * 2**i == attn_res})
        self.out = nn.Sequential(nn.BatchNorm2d(w[-1]), nn.ReLU(), _conv(w[-1], channels, 3), nn.Tanh())

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes and c is None:
            raise ValueError("this generator is class-conditional: pass one-hot classes c")
        chunks = z.split(self.chunk, 1) if self.hier else (z,)
        y = None if not self.num_classes else (self.shared(c) if self.shared is not None else c.to(z.dtype))
        h = self.linear(chunks[0]).view(z.shape[0], -1, 4, 4)
        for i, block in enumerate(self.blocks):
            yi = y if not self.hier else (chunks[i + 1] if y is None else torch.cat([y, chunks[i + 1]], 1))
            h = block(h, yi)
            key = str(h.shape[-1])
            if key in self.attn:
                h = self.attn[key](h)
        return self.out(h)


def default_d_widths(resolution: int, widths: list[int], final_res: int) -> list[int]:
    """D's widths mirroring G's (widths from 4x4 upward): one block per halving to final_res, plus one that keeps it."""
    outs = []
    res = resolution
    while res > final_res:
        res //= 2
        outs.append(res)
    outs.append(max(res, 1))
    return [width_at(widths, int(round(math.log2(max(r, 4) / 4)))) for r in outs]


class ResNetDiscriminator(nn.Module):
    """image (and a one-hot class, by projection) -> one logit; widths_d per block from the input side.

    The first log2(resolution / final_res) blocks halve the resolution, the rest keep it (SNGAN and BigGAN
    at 32x32: 128 x 4 with final_res 8; BigGAN at 128x128: ch x [1, 2, 4, 8, 16, 16] with final_res 4)."""

    def __init__(self, resolution: int, channels: int, widths_d: list[int], num_classes: int = 0,
                 final_res: int = 4, attn_res: int = 0) -> None:
        super().__init__()
        downs = int(round(math.log2(resolution / final_res)))
        if final_res < 1 or final_res * 2**downs != resolution or downs > len(widths_d):
            raise ValueError(f"resnet D: {len(widths_d)} blocks (model.widths_d) cannot bring {resolution} pixels down "
                             f"to model.d_final_res={final_res} by halving; give at least {max(downs, 1)} widths")
        self.num_classes = num_classes
        blocks, attn, res, cin = [], {}, resolution, channels
        for j, w in enumerate(widths_d):
            blocks.append(DBlock(cin, w, down=j < downs, first=j == 0))
            res, cin = res // 2 if j < downs else res, w
            if res == attn_res and not attn:  # after the first block that reaches attn_res
                attn[str(j)] = SelfAttention(w)
        self.blocks = nn.ModuleList(blocks)
        self.attn = nn.ModuleDict(attn)
        self.head = ProjectionHead(cin, num_classes)
        nn.init.xavier_uniform_(self.head.linear.weight)

    def features(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """ReLU then global sum pooling of the last block [N, C] (the head's input; for feature matching)."""
        h = x
        for j, block in enumerate(self.blocks):
            h = block(h)
            if str(j) in self.attn:
                h = self.attn[str(j)](h)
        return F.relu(h).sum((2, 3))

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, c), c)
