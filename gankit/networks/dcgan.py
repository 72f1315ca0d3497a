"""DCGAN (Radford et al. 2016), as in PyTorch's reference example, with optional progressive growing (PGGAN).

G: z -> ConvT 4x4 -> [ConvT 4x4 stride 2, BN, ReLU] per doubling -> ConvT stride 2 to RGB, tanh.
D: Conv 4x4 stride 2 from RGB, LeakyReLU 0.2 -> [Conv 4x4 stride 2, BN, LeakyReLU] per halving -> 4x4 -> logit.
All convolutions are bias-free, weights N(0, 0.02), BN gains N(1, 0.02) (the paper, sec. 4). At 64x64 with
z = 100 and widths 512, 256, 128, 64 it is PyTorch's example network, 3,576,704 / 2,765,568 parameters.
pggan=True gives PGGAN's layers (Karras et al. 2018, sec. 4): the equalized learning rate (weights N(0, 1), scaled
at run time by He's constant sqrt(2 / fan_in)) in G and D, pixelwise feature normalisation after each of G's
convolutions (and on z) instead of batch norm, leaky ReLU 0.2 in G, no batch norm in D and a linear to-RGB.
Width i is the width at 4 * 2^i pixels; G's last layer upsamples once more, so widths run up to resolution / 2.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from .layers import MinibatchStdDev, ProjectionHead, SelfAttention, width_at
from .progressive import Growing, check_levels, grow_discriminate, grow_generate, levels_for


class PixelNorm(nn.Module):
    """b = a / sqrt(mean over channels of a^2 + 1e-8) at every pixel (PGGAN, eq. in sec. 4.2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()


class EqualizedScale(nn.Module):
    """Parametrization w -> w * gain / sqrt(fan_in): the stored weights stay N(0, 1), so Adam's steps are the same
    relative size in every layer (PGGAN sec. 4.1); fan_in = input channels x kernel area, as their get_weight."""

    def __init__(self, fan_in: int, gain: float = math.sqrt(2.0)) -> None:
        super().__init__()
        self.scale = gain / math.sqrt(fan_in)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.scale


def equalize(module: nn.Module) -> nn.Module:
    """Every conv and dense layer of module with weights N(0, 1) and the equalized-learning-rate scale: He's gain
    sqrt(2) on the convs, 1 on the dense output layers (the logit and the class projection), as PGGAN's D ends in
    dense(fmaps=1, gain=1)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.weight
            if isinstance(m, nn.Linear):
                fan_in, gain = w.shape[1], 1.0
            else:
                fan_in = (w.shape[0] if isinstance(m, nn.ConvTranspose2d) else w.shape[1]) * w.shape[2] * w.shape[3]
                gain = math.sqrt(2.0)
            with torch.no_grad():
                w.normal_(0.0, 1.0)
            parametrize.register_parametrization(m, "weight", EqualizedScale(fan_in, gain))
    return module


def dcgan_init(module: nn.Module) -> nn.Module:
    """Radford et al. 2016, sec. 4: conv weights N(0, 0.02); batch-norm gains N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


class DCGANGenerator(Growing):
    """z (and a one-hot class, concatenated to z) -> image in [-1, 1]; level i outputs 8 * 2^i pixels."""

    def __init__(self, resolution: int, channels: int, z_dim: int, widths: list[int], num_classes: int = 0,
                 attn_res: int = 0, progressive: bool = False, pggan: bool = False) -> None:
        super().__init__(check_levels(resolution, 8, "dcgan"))
        self.z_dim, self.num_classes, self.resolution, self.pggan = z_dim, num_classes, resolution, pggan
        stages: list[nn.Module] = []
        for i in range(self.levels):
            w = width_at(widths, i)
            cin, k, stride, pad = (z_dim + num_classes, 4, 1, 0) if i == 0 else (width_at(widths, i - 1), 4, 2, 1)
            conv = nn.ConvTranspose2d(cin, w, k, stride, pad, bias=False)
            layers = [conv, nn.LeakyReLU(0.2), PixelNorm()] if pggan else [conv, nn.BatchNorm2d(w), nn.ReLU()]
            if attn_res == 4 * 2**i:
                layers.append(SelfAttention(w))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.to_rgb = nn.ModuleDict({str(8 * 2**i): nn.ConvTranspose2d(width_at(widths, i), channels, 4, 2, 1, bias=False)
                                     for i in range(self.levels) if progressive or i == self.levels - 1})
        equalize(self) if pggan else dcgan_init(self)

    def _rgb(self, level: int, x: torch.Tensor) -> torch.Tensor:
        y = self.to_rgb[str(8 * 2**level)](x)
        return y if self.pggan else torch.tanh(y)  # PGGAN's to-RGB is linear

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            if c is None:
                raise ValueError("this generator is class-conditional: pass one-hot classes c")
            z = torch.cat([z, c.to(z.dtype)], 1)
        if self.pggan:  # PGGAN normalises the latent too
            z = PixelNorm()(z[:, :, None, None])[:, :, 0, 0]
        return grow_generate(z[:, :, None, None], self.stages, self._rgb, self.level, self.alpha, self.resolution)


class DCGANDiscriminator(Growing):
    """image (and a one-hot class, by projection on the 4x4 features) -> one logit per sample ([N, K] with K heads)."""

    def __init__(self, resolution: int, channels: int, widths: list[int], num_classes: int = 0, norm: str = "batch",
                 attn_res: int = 0, mbstd_group: int = 0, progressive: bool = False, heads: int = 1,
                 pggan: bool = False) -> None:
        super().__init__(check_levels(resolution, 8, "dcgan"))
        if norm not in ("batch", "none"):
            raise ValueError(f"model.d_norm '{norm}' is unknown; use batch or none")
        self.num_classes = num_classes
        n = self.levels  # from_rgb j reads R / 2^j pixels and gives features at half that; block j halves again

        def w_res(res: int) -> int:
            return width_at(widths, levels_for(res) - 1)

        res = [resolution >> j for j in range(n)]
        self.from_rgb = nn.ModuleDict({str(r): nn.Sequential(nn.Conv2d(channels, w_res(r // 2), 4, 2, 1, bias=False),
                                                             nn.LeakyReLU(0.2))
                                       for r in res if progressive or r == resolution})
        blocks: list[nn.Module] = []
        for j in range(n - 1):
            r = res[j] // 2
            layers: list[nn.Module] = [SelfAttention(w_res(r))] if attn_res == r else []
            layers += [nn.Conv2d(w_res(r), w_res(r // 2), 4, 2, 1, bias=False)]
            layers += [nn.BatchNorm2d(w_res(r // 2))] if norm == "batch" and not pggan else []
            blocks.append(nn.Sequential(*layers, nn.LeakyReLU(0.2)))
        self.blocks = nn.ModuleList(blocks)
        self.mbstd = MinibatchStdDev(mbstd_group) if mbstd_group else nn.Identity()
        self.head = ProjectionHead((w_res(4) + (1 if mbstd_group else 0)) * 16, num_classes, bias=False, heads=heads)
        self.resolution = resolution
        equalize(self) if pggan else dcgan_init(self)

    def _from_rgb(self, j: int, x: torch.Tensor) -> torch.Tensor:
        return self.from_rgb[str(self.resolution >> j)](x)

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        return grow_discriminate(x, self.blocks, self._from_rgb, self.level, self.alpha, self.levels)

    def features(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The 4x4 features, flattened [N, C * 16] (for feature matching)."""
        return self._trunk(x).flatten(1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.mbstd(self._trunk(x)).flatten(1), c)
