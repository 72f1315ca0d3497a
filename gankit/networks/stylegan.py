"""A StyleGAN-style generator and discriminator in pure PyTorch (Karras et al. 2019, 2020; layout of stylegan2-ada-pytorch).

G: mapping network (normalised z ++ class embedding -> `mapping_layers` equalized FC layers at learning-rate
multiplier 0.01) -> w; synthesis from a learned 4x4 constant, two 3x3 convs per resolution, each styled by
an affine map of w (modulated/demodulated weights, StyleGAN2; or AdaIN after the conv, StyleGAN), plus
per-layer noise with a learned strength, and output skips (to-RGB at every resolution, summed upsampled).
Training mixes two latents' styles at a random layer; psi-truncation pulls w towards its running mean.
D: StyleGAN2's residual D (sqrt(1/2)-scaled skips) ending in minibatch stddev, conv, FC and the output.
With style "none" (no mapping, modulation or noise) and a z-scaled constant stem it is R3GAN's roadmap
Config B: StyleGAN2 stripped. Resampling is the [1,3,3,1] filter (upsample before, downsample before a conv).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Downsample2x, MinibatchStdDev, ProjectionHead, Upsample2x, width_at
from .progressive import Growing, check_levels, grow_discriminate, grow_generate
from .r3gan import GenerativeBasis

SQRT2 = math.sqrt(2)


def _act(x: torch.Tensor, bias: torch.Tensor | None, lrelu: bool, gain: float = 1.0) -> torch.Tensor:
    """StyleGAN's bias_act: (x + b), then leaky ReLU 0.2 times sqrt 2 when lrelu, times gain."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, 0.2) * (SQRT2 * gain) if lrelu else (x * gain if gain != 1 else x)


class EqLinear(nn.Linear):
    """FC layer with equalized learning rate: weights N(0, 1/lr_mul^2) used as w * lr_mul / sqrt(fan_in), bias * lr_mul
    (Karras et al. 2018, sec. 4.1). Not equalized: N(0, 1/fan_in) weights used as they are."""

    def __init__(self, cin: int, cout: int, bias: bool = True, lr_mul: float = 1.0, bias_init: float = 0.0,
                 lrelu: bool = False, equalized: bool = True) -> None:
        super().__init__(cin, cout, bias)
        std = 1.0 if equalized else 1 / math.sqrt(cin)
        nn.init.normal_(self.weight, 0.0, std / lr_mul)
        if bias:
            nn.init.constant_(self.bias, bias_init / lr_mul)
        self.weight_gain = lr_mul * (1 / math.sqrt(cin) if equalized else 1.0)
        self.lr_mul, self.lrelu = lr_mul, lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.lr_mul if self.bias is not None else None
        return _act(x @ (self.weight * self.weight_gain).t(), b, self.lrelu)


class EqConv(nn.Conv2d):
    """'Same' conv with equalized learning rate; optionally modulated by per-sample styles s (StyleGAN2 eq. 1) and
    demodulated (eq. 3), as one grouped conv over the batch."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True, lrelu: bool = False, equalized: bool = True) -> None:
        super().__init__(cin, cout, k, padding=k // 2, bias=bias)
        nn.init.normal_(self.weight, 0.0, 1.0 if equalized else 1 / math.sqrt(cin * k * k))
        if bias:
            nn.init.zeros_(self.bias)
        self.weight_gain = 1 / math.sqrt(cin * k * k) if equalized else 1.0
        self.lrelu = lrelu
        self.fused = True  # modulated: one grouped conv with per-sample weights (StyleGAN2's fused modconv); export: False

    def forward(self, x: torch.Tensor, gain: float = 1.0, styles: torch.Tensor | None = None, demodulate: bool = True,
                noise: torch.Tensor | None = None) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if styles is None:
            y = F.conv2d(x, w, padding=self.padding)
        elif not self.fused:  # the same modulation without per-sample weights (no batch-sized groups: exportable)
            y = F.conv2d(x * styles[:, :, None, None], w, padding=self.padding)
            if demodulate:  # sum_ik (s_i w_oik)^2 = (w^2 summed over k) @ s^2
                y = y * (styles.square() @ w.square().sum((2, 3)).T + 1e-8).rsqrt()[:, :, None, None]
        else:
            n = x.shape[0]
            w = w[None] * styles[:, None, :, None, None]  # w'_ijk = s_i w_ijk
            if demodulate:
                w = w * (w.square().sum((2, 3, 4)) + 1e-8).rsqrt()[:, :, None, None, None]  # w'' = w' / sqrt(sum w'^2 + eps)
            y = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, *w.shape[2:]), padding=self.padding, groups=n)
            y = y.reshape(n, -1, *y.shape[2:])
        if noise is not None:
            y = y + noise
        return _act(y, self.bias, self.lrelu, gain)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """normalise(z) ++ normalise(embed(c)) -> FC layers (leaky ReLU, lr multiplier) -> w; tracks w_avg (beta 0.995)."""

    def __init__(self, z_dim: int, num_classes: int, w_dim: int, layers: int, lr_mul: float = 0.01,
                 equalized: bool = True) -> None:
        super().__init__()
        self.embed = EqLinear(num_classes, w_dim, equalized=equalized) if num_classes else None
        dims = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.fc = nn.Sequential(*[EqLinear(dims[i], dims[i + 1], lr_mul=lr_mul, lrelu=True, equalized=equalized)
                                  for i in range(layers)])
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, psi: float = 1.0, update_avg: bool = False) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            x = torch.cat([x, normalize_2nd_moment(self.embed(c.to(z.dtype)))], 1)
        w = self.fc(x)
        if update_avg:
            self.w_avg.copy_(w.detach().mean(0).lerp(self.w_avg, 0.995))
        return self.w_avg.lerp(w, psi) if psi != 1 else w  # truncation: w_avg + psi (w - w_avg)


class SynthesisLayer(nn.Module):
    """conv3x3 (upsampling first when up) styled by w: modconv (StyleGAN2) or AdaIN after it (StyleGAN), or plain;
    then per-layer noise times a learned strength (initially 0), bias, leaky ReLU."""

    def __init__(self, cin: int, cout: int, w_dim: int, res: int, style: str, noise: bool, up: bool,
                 equalized: bool) -> None:
        super().__init__()
        self.style = style
        self.up = Upsample2x(cin) if up else None
        self.conv = EqConv(cin, cout, 3, lrelu=True, equalized=equalized)
        if style != "none":
            self.affine = EqLinear(w_dim, cin if style == "modconv" else 2 * cout, equalized=equalized)
            nn.init.constant_(self.affine.bias, 1.0)  # styles start at 1
            if style == "adain":
                with torch.no_grad():
                    self.affine.bias[cout:] = 0.0  # AdaIN's bias half starts at 0
        if noise:
            self.register_buffer("noise_const", torch.randn(res, res))
            self.noise_strength = nn.Parameter(torch.zeros(()))
        self.noise = noise

    def forward(self, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        x = self.up(x) if self.up is not None else x
        noise = None
        if self.noise:
            res = x.shape[-1]
            shape = (x.shape[0], 1, res, res)
            base = torch.randn(shape, device=x.device, dtype=x.dtype) if self.training else self.noise_const.to(x.dtype)
            noise = base * self.noise_strength
        if self.style == "modconv":
            return self.conv(x, styles=self.affine(w), noise=noise)
        y = self.conv(x, noise=noise)
        if self.style == "adain":  # AdaIN (Huang & Belongie 2017): y_s (x - mu) / sigma + y_b per channel
            scale, bias = self.affine(w).chunk(2, 1)
            y = F.instance_norm(y) * scale[:, :, None, None] + bias[:, :, None, None]
        return y


class ToRGB(nn.Module):
    """1x1 conv to image channels, modulated but not demodulated by w in modconv mode; linear output."""

    def __init__(self, cin: int, channels: int, w_dim: int, style: str, equalized: bool) -> None:
        super().__init__()
        self.conv = EqConv(cin, channels, 1, equalized=equalized)
        self.affine = EqLinear(w_dim, cin, bias_init=1.0, equalized=equalized) if style == "modconv" else None

    def forward(self, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        if self.affine is None:
            return self.conv(x)
        return self.conv(x, styles=self.affine(w), demodulate=False)  # EqConv applies the weight gain


class StyleGenerator(Growing):
    """z (and a one-hot class) -> image; forward(z, c, psi) applies psi-truncation (psi = 1: none)."""

    def __init__(self, resolution: int, channels: int, z_dim: int, widths: list[int], num_classes: int = 0,
                 w_dim: int = 512, mapping_layers: int = 8, mapping_lr: float = 0.01, style: str = "modconv",
                 noise: bool = True, style_mixing: float = 0.9, equalized: bool = True, progressive: bool = False) -> None:
        super().__init__(check_levels(resolution, 4, "stylegan"))
        if style not in ("modconv", "adain", "none"):
            raise ValueError(f"model.style '{style}' is unknown; use modconv, adain or none")
        if (style == "none") != (mapping_layers == 0):
            raise ValueError("model.style=none goes with model.mapping_layers=0 (R3GAN's Config B: z scales a learned "
                             "constant), and modconv/adain need a mapping network: set both")
        self.z_dim, self.num_classes, self.resolution, self.channels = z_dim, num_classes, resolution, channels
        self.style_mixing, self.progressive = style_mixing, progressive
        w = [width_at(widths, i) for i in range(self.levels)]
        if style == "none":  # Config B: constant scaled by Linear(z ++ class embedding), as R3GAN's stem
            self.mapping = None
            self.embed = nn.Linear(num_classes, 64, bias=False) if num_classes else None
            self.const = GenerativeBasis(z_dim + (64 if num_classes else 0), w[0])
        else:
            self.mapping = MappingNetwork(z_dim, num_classes, w_dim, mapping_layers, mapping_lr, equalized)
            self.const = nn.Parameter(torch.randn(w[0], 4, 4))
        layers = []
        for i in range(self.levels):
            res = 4 * 2**i
            convs = [] if i == 0 else [SynthesisLayer(w[i - 1], w[i], w_dim, res, style, noise, True, equalized)]
            convs.append(SynthesisLayer(w[i], w[i], w_dim, res, style, noise, False, equalized))
            layers.append(nn.ModuleList(convs))
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.ModuleList(ToRGB(w[i], channels, w_dim, style, equalized) for i in range(self.levels))
        self.num_ws = 2 * self.levels  # one w per conv and one for the last to-RGB
        self.img_up = Upsample2x(channels)

    def ws(self, z: torch.Tensor, c: torch.Tensor | None, psi: float = 1.0) -> torch.Tensor | None:
        """Per-layer latents [N, num_ws, w_dim]; in training, style mixing swaps a random suffix for another z's."""
        if self.mapping is None:
            return None
        w = self.mapping(z, c, psi, update_avg=self.training)
        ws = w[:, None].repeat(1, self.num_ws, 1)
        if self.training and self.style_mixing > 0 and torch.rand(()) < self.style_mixing:
            cut = int(torch.randint(1, self.num_ws, ()))  # StyleGAN sec. 3.1: styles after `cut` from z2
            ws[:, cut:] = self.mapping(torch.randn_like(z), c)[:, None]
        return ws

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, psi: float = 1.0) -> torch.Tensor:
        if self.num_classes and c is None:
            raise ValueError("this generator is class-conditional: pass one-hot classes c")
        return self.synthesis(self.ws(z, c, psi), z, c)

    def synthesis(self, ws: torch.Tensor | None, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The image for per-layer latents ws (style none: for z, which scales the constant)."""
        def w_at(k: int) -> torch.Tensor | None:
            return None if ws is None else ws[:, k]

        if self.mapping is None:
            x = self.const(torch.cat([z, self.embed(c.to(z.dtype))], 1) if self.embed is not None else z)
        else:
            x = self.const[None].expand(z.shape[0], -1, -1, -1)

        def stage(i: int) -> Callable[[torch.Tensor], torch.Tensor]:
            def run(h: torch.Tensor) -> torch.Tensor:
                for j, layer in enumerate(self.layers[i]):
                    h = layer(h, w_at(max(0, 2 * i - 1) + j))
                return h
            return run

        if self.progressive:  # PGGAN fade-in between the last two to-RGB outputs
            return grow_generate(x, [stage(i) for i in range(self.levels)],
                                 lambda i, h: self.to_rgb[i](h, w_at(2 * i + 1)), self.level, self.alpha, self.resolution)
        img = None
        for i in range(self.levels):  # output skips (StyleGAN2 fig. 7b): img = up(img) + to_rgb(x)
            x = stage(i)(x)
            rgb = self.to_rgb[i](x, w_at(2 * i + 1))
            img = rgb if img is None else self.img_up(img) + rgb
        return img


class DBlock(nn.Module):
    """StyleGAN2's residual D block: (conv3x3 -> down + conv3x3) * sqrt(1/2) + down + conv1x1 (no bias) * sqrt(1/2)."""

    def __init__(self, cin: int, cout: int, equalized: bool) -> None:
        super().__init__()
        self.conv0 = EqConv(cin, cin, 3, lrelu=True, equalized=equalized)
        self.down = Downsample2x(cin)
        self.conv1 = EqConv(cin, cout, 3, lrelu=True, equalized=equalized)
        self.skip = EqConv(cin, cout, 1, bias=False, equalized=equalized)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(self.down(x), gain=math.sqrt(0.5))
        return y + self.conv1(self.down(self.conv0(x)), gain=math.sqrt(0.5))


class StyleDiscriminator(Growing):
    """image (and a one-hot class, by projection) -> one logit; widths from 4x4 upward."""

    def __init__(self, resolution: int, channels: int, widths: list[int], num_classes: int = 0, mbstd_group: int = 4,
                 equalized: bool = True, progressive: bool = False) -> None:
        super().__init__(check_levels(resolution, 4, "stylegan"))
        self.num_classes, self.resolution = num_classes, resolution
        w = {4 * 2**i: width_at(widths, i) for i in range(self.levels)}
        res = [resolution >> j for j in range(self.levels)]
        self.from_rgb = nn.ModuleDict({str(r): EqConv(channels, w[r], 1, lrelu=True, equalized=equalized)
                                       for r in res if progressive or r == resolution})
        self.blocks = nn.ModuleList(DBlock(w[r], w[r // 2], equalized) for r in res[:-1])
        self.mbstd = MinibatchStdDev(mbstd_group) if mbstd_group else nn.Identity()
        self.conv = EqConv(w[4] + (1 if mbstd_group else 0), w[4], 3, lrelu=True, equalized=equalized)
        self.fc = EqLinear(w[4] * 16, w[4], lrelu=True, equalized=equalized)
        self.head = ProjectionHead(w[4], num_classes)
        self.head.linear = EqLinear(w[4], 1, equalized=equalized)

    def features(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The epilogue's FC features [N, C] (the output layer's input; for feature matching)."""
        h = grow_discriminate(x, self.blocks, lambda j, xr: self.from_rgb[str(self.resolution >> j)](xr),
                              self.level, self.alpha, self.levels)
        return self.fc(self.conv(self.mbstd(h)).flatten(1))

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, c), c)
