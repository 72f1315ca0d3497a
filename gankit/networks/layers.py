"""Building blocks shared by gankit's networks: MSR/Fix-up initialisation, the biased leaky ReLU,
bias-free convolutions and the [1,3,3,1] low-pass resampling (pure PyTorch upfirdn2d)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .conv_grad import Conv2d, conv2d

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2 / (1 + LRELU_SLOPE**2))  # He gain of leaky ReLU 0.2, about 1.3868


def width_at(widths: list[int], i: int) -> int:
    """Entry i of a per-stage list (stage 0 at 4x4); the last entry repeats for deeper stages."""
    return widths[min(i, len(widths) - 1)]


def msr_init(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """N(0, gain^2 / fan_in) weights with fan_in = in_channels / groups * k * k (He et al. 2015)."""
    w = layer.weight
    fan_in = w.shape[1] * w[0][0].numel()
    with torch.no_grad():
        w.normal_(0.0, gain / math.sqrt(fan_in))
    return layer


class _BiasLrelu(torch.autograd.Function):
    """y = leaky_relu(x + b) with the gradients PyTorch's two ops give, bit for bit, but a cheaper double backward.

    dy/dx = s(y), with s = 1 where y > 0 and the slope elsewhere (y > 0 exactly where x + b > 0). The backward
    gx = g * s(y) is linear in g with s piecewise constant, so its own backward is d g = gg * s(y) and nothing for y:
    PyTorch's leaky_relu_backward instead returns zeros_like for its input's term, a fill and an add per activation
    in every R1/R2 double backward (6-8% of the recipe's step, benchmarks/profile_step.py)."""

    @staticmethod
    def forward(ctx, x, b):  # noqa: ANN001, ANN205
        y = F.leaky_relu(x + b, LRELU_SLOPE)
        ctx.save_for_backward(y)
        ctx.b_shape = b.shape
        return y

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        (y,) = ctx.saved_tensors
        gx = _LreluGrad.apply(g, y)
        return gx, (gx.sum_to_size(ctx.b_shape) if ctx.needs_input_grad[1] else None)


class _LreluGrad(torch.autograd.Function):
    """gx = g * s(y): leaky_relu_backward from the output (the same values where the slope is positive)."""

    @staticmethod
    def forward(ctx, g, y):  # noqa: ANN001, ANN205
        ctx.save_for_backward(y)
        return torch.ops.aten.leaky_relu_backward(g, y, LRELU_SLOPE, False)

    @staticmethod
    def backward(ctx, gg):  # noqa: ANN001, ANN205
        (y,) = ctx.saved_tensors
        return _LreluGrad.apply(gg, y), None  # linear in g; s(y) is constant almost everywhere: no term for y


class BiasedActivation(nn.Module):
    """Leaky ReLU 0.2 after a learned per-channel bias: the only biases in an R3GAN network."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias.to(x.dtype).view((1, -1) + (1,) * (x.ndim - 2))
        if torch.is_grad_enabled() and (x.requires_grad or b.requires_grad) and not torch.jit.is_tracing():
            return _BiasLrelu.apply(x, b)
        return F.leaky_relu(x + b, LRELU_SLOPE)  # sampling, export: the plain ops


def conv(cin: int, cout: int, k: int = 1, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    """Bias-free 'same' convolution with MSR initialisation."""
    return msr_init(Conv2d(cin, cout, k, padding=(k - 1) // 2, groups=groups, bias=False), gain)


def linear(cin: int, cout: int, gain: float = 1.0) -> nn.Linear:
    """Bias-free linear layer with MSR initialisation."""
    return msr_init(nn.Linear(cin, cout, bias=False), gain)


def lowpass_kernel(taps: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)) -> torch.Tensor:
    """The separable 2-D filter outer(f, f) / sum^2: [1,3,3,1]/8 is 2x bilinear interpolation."""
    f = torch.tensor(taps, dtype=torch.float32)
    f = f / f.sum()
    return torch.outer(f, f)


class Upsample2x(nn.Module):
    """upfirdn2d(up=2): zero-insertion, then the low-pass filter with gain 4 (pads 2 before, 1 after)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        k = lowpass_kernel() * 4  # gain up^2 keeps a constant image constant
        self.register_buffer("kernel", k.expand(channels, 1, *k.shape).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # conv_transpose2d(stride 2, padding 1) == zero-insert + pad (2, 1) + 4x4 filter
        if x.dtype == torch.bfloat16 and x.device.type == "cpu":
            # oneDNN has no fast bf16 depthwise transposed convolution on the CPU: 7-9 ms against float32's 0.5-2.5
            # (forward and backward, batch 32, R3GAN G's three upsamplers at the recipe's widths; docs/benchmarks.md)
            y = F.conv_transpose2d(x.float(), self.kernel, stride=2, padding=1, groups=self.channels)
            return y.to(x.dtype)
        return F.conv_transpose2d(x, self.kernel.to(x.dtype), stride=2, padding=1, groups=self.channels)


class Downsample2x(nn.Module):
    """upfirdn2d(down=2): the low-pass filter (pad 1 each side), then keep every second pixel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        k = lowpass_kernel()
        self.register_buffer("kernel", k.expand(channels, 1, *k.shape).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(x, self.kernel.to(x.dtype), stride=2, padding=1, groups=self.channels)


class MinibatchStdDev(nn.Module):
    """Appends one feature: the std of each feature over a group of samples, averaged over features
    (Karras et al. 2018, sec. 3; StyleGAN's group form). Rows [N, F] -> [N, F + 1], maps [N, C, H, W] ->
    [N, C + 1, H, W]; N must divide by the group."""

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n, rest = h.shape[0], h.shape[1:]
        g = min(self.group, n)
        if n % g:
            raise ValueError(f"minibatch stddev: batch {n} is not a multiple of its group {g}; set a batch that divides")
        std = (h.reshape(g, n // g, -1).float().var(0, unbiased=False) + 1e-8).sqrt().mean(1)  # one value per group column
        extra = std.to(h.dtype).repeat(g).view(n, 1, *([1] * (len(rest) - 1)))
        return torch.cat([h, extra.expand(n, 1, *rest[1:])], 1)


class ProjectionHead(nn.Module):
    """Logit = psi(h) + <embed(y), h> (Miyato & Koyama 2018, eq. 3): the unconditional term plus a class projection;
    psi may have several outputs (MMA-GAN's K heads, unconditional)."""

    def __init__(self, features: int, num_classes: int = 0, bias: bool = True, heads: int = 1) -> None:
        super().__init__()
        if heads > 1 and num_classes:
            raise ValueError("a discriminator with several heads (model.heads) is unconditional here; set model.cond=false")
        self.linear = nn.Linear(features, heads, bias=bias)
        self.embed = nn.Linear(num_classes, features, bias=False) if num_classes else None

    def forward(self, h: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """[N] logits, or [N, heads] with several heads."""
        out = self.linear(h)
        out = out.view(-1) if out.shape[1] == 1 else out
        if self.embed is not None:
            if c is None:
                raise ValueError("this discriminator is class-conditional: pass one-hot classes c")
            out = out + (self.embed(c.to(h.dtype)) * h).sum(1)
        return out


class SelfAttention(nn.Module):
    """SAGAN's block (Zhang et al. 2019, eqs. 1-3, BigGAN's form): x + gamma * o, with keys and values
    max-pooled 2x, C/8 query/key and C/2 value channels, gamma starting at 0."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.theta = nn.Conv2d(channels, max(1, channels // 8), 1, bias=False)
        self.phi = nn.Conv2d(channels, max(1, channels // 8), 1, bias=False)
        self.g = nn.Conv2d(channels, max(1, channels // 2), 1, bias=False)
        self.o = nn.Conv2d(max(1, channels // 2), channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        q = self.theta(x).flatten(2)  # [N, C/8, HW]
        k = F.max_pool2d(self.phi(x), 2).flatten(2)  # [N, C/8, HW/4]
        v = F.max_pool2d(self.g(x), 2).flatten(2)  # [N, C/2, HW/4]
        beta = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # [N, HW, HW/4]: eq. 1
        o = (v @ beta.transpose(1, 2)).view(n, -1, h, w)
        return x + self.gamma * self.o(o)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, sec. 3.2: M_i = h_i T in R^{B x C}; o(x_i)_b = sum_j exp(-||M_i,b - M_j,b||_1); appended to h."""

    def __init__(self, features: int, kernels: int, dim: int = 5) -> None:
        super().__init__()
        self.T = nn.Parameter(torch.randn(features, kernels * dim) * 0.1)
        self.kernels, self.dim = kernels, dim

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h @ self.T).view(-1, self.kernels, self.dim)  # [N, B, C]
        dist = (m[:, None] - m[None]).abs().sum(3)  # [N, N, B] L1 distances per kernel
        return torch.cat([h, torch.exp(-dist).sum(1)], 1)  # the sum includes j = i, as in the paper
