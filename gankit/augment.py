"""Differentiable augmentation (ADA-style), applied to real and fake images in both D and G phases.

Modelled on StyleGAN2-ADA's `AugmentPipe` (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data", Appendix B; NVlabs/stylegan2-ada-pytorch, training/augment.py) as used
by R3GAN: 'bgc' (pixel blitting, general geometry, colour) plus cutout, with a scheduled
probability p. Every op is differentiable w.r.t. the images, so G can be trained through it.

Differences from ADA, on purpose:
- Geometry is resampled with one plain bilinear `grid_sample` (reflection padding,
  align_corners=False; the sampling grid is affine_grid's, built with exact pixel centres) instead of ADA's 2x upsample / sym6-wavelet low-pass / downsample
  (upfirdn2d) with explicit reflect padding. It aliases a little more under rotation and
  scaling, but pixel blits (x-flip, 90-degree rotations, integer shifts) stay exact.
- No image-space filtering ('f') or additive noise ('n'): not part of 'bgc' nor of R3GAN's spec.
- The geometric (and colour) step is skipped when every sample's matrix is the identity,
  whereas ADA skips it only when the transform family is disabled.
- Colour for C != 3: ADA's 1-channel rule (the mean row of the 4x4 colour matrix) is applied
  to every channel, i.e. brightness x + b, contrast c * x, luma flip x -> -x; hue and
  saturation are skipped (for grey values they are the identity anyway).
- Note ADA's contrast scales about 0 (mid-grey of [-1, 1] data), not about the image mean.
- Note (as in ADA) x-flip, rotate90 and luma flip, when "applied", pick uniformly among their
  options *including the identity*: with only x-flip on, an image is mirrored with prob p / 2.

Randomness is drawn on the CPU (from `generator` when given), so a call is reproducible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

AUGMENTS: tuple[str, ...] = (
    "xflip", "rotate90", "xint",  # pixel blitting
    "scale", "rotate", "aniso", "xfrac",  # general geometry
    "brightness", "contrast", "lumaflip", "hue", "saturation",  # colour
    "cutout",  # image-space corruption
)


@dataclass
class AugmentConfig:
    """Probability multipliers (each transform fires with prob p * multiplier) and strengths.

    Defaults: ADA's 'bgc' plus cutout (as in R3GAN), with ADA's constants."""

    xflip: float = 1.0
    rotate90: float = 1.0
    xint: float = 1.0
    scale: float = 1.0
    rotate: float = 1.0
    aniso: float = 1.0
    xfrac: float = 1.0
    brightness: float = 1.0
    contrast: float = 1.0
    lumaflip: float = 1.0
    hue: float = 1.0
    saturation: float = 1.0
    cutout: float = 1.0
    xint_max: float = 0.125  # range of integer translation, relative to image size
    scale_std: float = 0.2  # log2 std of isotropic scaling
    rotate_max: float = 1.0  # range of arbitrary rotation, 1 = full circle
    aniso_std: float = 0.2  # log2 std of anisotropic scaling
    xfrac_std: float = 0.125  # std of fractional translation, relative to image size
    brightness_std: float = 0.2  # std of additive brightness
    contrast_std: float = 0.5  # log2 std of contrast
    hue_max: float = 1.0  # range of hue rotation, 1 = full circle
    saturation_std: float = 1.0  # log2 std of saturation
    cutout_size: float = 0.5  # side of the cutout square, relative to image size


# ----------------------------------------------------------------------------- helpers


class _Draw:
    """Random numbers on the CPU (float32) from an optional generator."""

    def __init__(self, n: int, generator: torch.Generator | None) -> None:
        self.n, self.gen = n, generator

    def rand(self, *shape: int) -> torch.Tensor:
        return torch.rand((self.n, *shape), generator=self.gen)

    def randn(self, *shape: int) -> torch.Tensor:
        return torch.randn((self.n, *shape), generator=self.gen)

    def gate(self, prob: float, value: torch.Tensor, default: float) -> torch.Tensor:
        """`value` where a per-sample coin with P(heads) = prob lands heads, else `default`."""
        heads = self.rand(*([1] * (value.ndim - 1))) < prob
        return torch.where(heads, value, torch.full_like(value, default))


def _mat(n: int, size: int, entries: dict[tuple[int, int], torch.Tensor | float]) -> torch.Tensor:
    """[n, size, size] identity with the given (row, col) entries replaced."""
    m = torch.eye(size).repeat(n, 1, 1)
    for (r, c), v in entries.items():
        m[:, r, c] = v
    return m


def _rotate2d(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return _mat(len(cos), 3, {(0, 0): cos, (0, 1): -sin, (1, 0): sin, (1, 1): cos})


# ----------------------------------------------------------------------------- geometry


def _geometric_matrix(d: _Draw, p: float, cfg: AugmentConfig, h: int, w: int) -> torch.Tensor:
    """Per-sample inverse transform G_inv [N, 3, 3]: output pixel -> input pixel, pixel units,
    origin at the image centre. Same order, probabilities and constants as ADA."""
    n = d.n
    g = torch.eye(3).repeat(n, 1, 1)
    if cfg.xflip > 0:  # mirror with i in {0, 1}
        i = d.gate(cfg.xflip * p, torch.floor(d.rand() * 2), 0.0)
        g = g @ _mat(n, 3, {(0, 0): 1 - 2 * i})  # its own inverse
    if cfg.rotate90 > 0:  # k * 90 degrees, k in {0..3}; exact cos/sin from a table
        k = d.gate(cfg.rotate90 * p, torch.floor(d.rand() * 4), 0.0).long()
        g = g @ _rotate2d(torch.tensor([1.0, 0.0, -1.0, 0.0])[k], torch.tensor([0.0, 1.0, 0.0, -1.0])[k])
    if cfg.xint > 0:  # integer translation, uniform in +-xint_max of the size, rounded to pixels
        t = d.gate(cfg.xint * p, (d.rand(2) * 2 - 1) * cfg.xint_max, 0.0)
        g = g @ _mat(n, 3, {(0, 2): -torch.round(t[:, 0] * w), (1, 2): -torch.round(t[:, 1] * h)})
    if cfg.scale > 0:  # isotropic, lognormal
        s = d.gate(cfg.scale * p, torch.exp2(d.randn() * cfg.scale_std), 1.0)
        g = g @ _mat(n, 3, {(0, 0): 1 / s, (1, 1): 1 / s})
    # ADA: pre- and post-rotation each with p_rot so that P(pre OR post) = rotate * p.
    p_rot = 1 - math.sqrt(min(max(1 - cfg.rotate * p, 0.0), 1.0))

    def rotation() -> torch.Tensor:
        theta = d.gate(p_rot, (d.rand() * 2 - 1) * math.pi * cfg.rotate_max, 0.0)
        return _rotate2d(torch.cos(theta), torch.sin(theta))  # inverse of rotation by -theta

    if cfg.rotate > 0:
        g = g @ rotation()
    if cfg.aniso > 0:  # anisotropic: x by s, y by 1/s
        s = d.gate(cfg.aniso * p, torch.exp2(d.randn() * cfg.aniso_std), 1.0)
        g = g @ _mat(n, 3, {(0, 0): 1 / s, (1, 1): s})
    if cfg.rotate > 0:
        g = g @ rotation()
    if cfg.xfrac > 0:  # fractional translation, normal with std xfrac_std of the size
        t = d.gate(cfg.xfrac * p, d.randn(2) * cfg.xfrac_std, 0.0)
        g = g @ _mat(n, 3, {(0, 2): -t[:, 0] * w, (1, 2): -t[:, 1] * h})
    return g


def _apply_geometry(x: torch.Tensor, g_inv: torch.Tensor) -> torch.Tensor:
    """Resample x through G_inv with one bilinear grid_sample (reflection padding)."""
    _, _, h, w = x.shape
    # Pixel units (centred) -> grid_sample's normalised units: with align_corners=False a pixel
    # centre i sits at (2i + 1) / w - 1 = (i - (w - 1) / 2) * 2 / w.
    to_norm = torch.diag(torch.tensor([2.0 / w, 2.0 / h, 1.0]))
    theta = to_norm @ g_inv @ torch.diag(torch.tensor([w / 2.0, h / 2.0, 1.0]))
    # Equivalent to F.affine_grid(theta[:, :2], x.shape, align_corners=False), but with the pixel
    # centres computed exactly (affine_grid's linspace rounds at some sizes, so blits would be
    # off by ~1 ulp instead of exact).
    ys = (torch.arange(h, device=x.device, dtype=x.dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=x.device, dtype=x.dtype) * 2 + 1) / w - 1
    base = torch.stack([xs.expand(h, w), ys.view(h, 1).expand(h, w), torch.ones(h, w, device=x.device, dtype=x.dtype)], -1)
    grid = base.view(1, h * w, 3) @ theta[:, :2, :].transpose(1, 2).to(x.device, x.dtype)  # [N, H*W, 2]
    grid = grid.view(-1, h, w, 2)
    return grid_sample(x, grid)


_BILINEAR, _REFLECTION = 0, 2  # aten's codes for mode="bilinear" and padding_mode="reflection"


class _GridSample(torch.autograd.Function):
    """y = A_grid x: bilinear grid_sample (reflection padding, align_corners=False), linear in x for a fixed grid.
    Its input gradient is again a Function, so R1/R2 (penalties on the pre-augmentation images) can differentiate
    twice: PyTorch's CUDA grid_sampler_2d_backward has no derivative (seen on an H200, 2026-12-04), as in
    StyleGAN2-ADA's grid_sample_gradfix. The grid is drawn, never learned: it gets no gradient."""

    @staticmethod
    def forward(ctx, x, grid):  # noqa: ANN001, ANN205
        ctx.save_for_backward(grid)
        ctx.shape = x.shape
        return torch.grid_sampler_2d(x, grid, _BILINEAR, _REFLECTION, False)

    @staticmethod
    def backward(ctx, gy):  # noqa: ANN001, ANN205
        (grid,) = ctx.saved_tensors
        return _GridSampleT.apply(gy, grid, ctx.shape), None


class _GridSampleT(torch.autograd.Function):
    """gx = A_grid^T gy, the input gradient of _GridSample; its own gradient is A_grid gg (the bilinear form
    <gg, A^T gy> = <A gg, gy>), so the double backward is one more forward grid_sample."""

    @staticmethod
    def forward(ctx, gy, grid, shape):  # noqa: ANN001, ANN205
        ctx.save_for_backward(grid)
        like = gy.new_zeros(shape)  # only its shape matters: no input values enter A^T gy
        gx, _ = torch.ops.aten.grid_sampler_2d_backward(gy, like, grid, _BILINEAR, _REFLECTION, False, [True, False])
        return gx

    @staticmethod
    def backward(ctx, gg):  # noqa: ANN001, ANN205
        (grid,) = ctx.saved_tensors
        return _GridSample.apply(gg, grid), None, None


def grid_sample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """F.grid_sample(x, grid, "bilinear", "reflection", align_corners=False), differentiable twice in x on every device."""
    if grid.requires_grad:
        raise ValueError("augment's grid_sample takes no gradient through the grid")
    return _GridSample.apply(x, grid)


# ----------------------------------------------------------------------------- colour


def _colour_matrix(d: _Draw, p: float, cfg: AugmentConfig, rgb: bool) -> torch.Tensor:
    """Per-sample homogeneous RGB matrix C [N, 4, 4]: colour_in -> colour_out (ADA's order)."""
    n = d.n
    eye = torch.eye(4)
    c = eye.repeat(n, 1, 1)
    v = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)  # luma axis
    vv = torch.outer(v, v)
    if cfg.brightness > 0:  # add b to every channel
        b = d.gate(cfg.brightness * p, d.randn() * cfg.brightness_std, 0.0)
        c = _mat(n, 4, {(0, 3): b, (1, 3): b, (2, 3): b}) @ c
    if cfg.contrast > 0:  # multiply by a lognormal factor (about 0, as ADA)
        k = d.gate(cfg.contrast * p, torch.exp2(d.randn() * cfg.contrast_std), 1.0)
        c = _mat(n, 4, {(0, 0): k, (1, 1): k, (2, 2): k}) @ c
    if cfg.lumaflip > 0:  # Householder reflection of the luma axis, i in {0, 1}
        i = d.gate(cfg.lumaflip * p, torch.floor(d.rand() * 2), 0.0)
        c = (eye - 2 * vv * i.view(n, 1, 1)) @ c
    if rgb and cfg.hue > 0:  # rotation about the luma axis (Rodrigues)
        th = d.gate(cfg.hue * p, (d.rand() * 2 - 1) * math.pi * cfg.hue_max, 0.0).view(n, 1, 1)
        cross = torch.tensor([[0.0, -1, 1, 0], [1, 0, -1, 0], [-1, 1, 0, 0], [0, 0, 0, 0]]) / math.sqrt(3)  # [v]x
        rot = vv + torch.cos(th) * (eye - vv) + torch.sin(th) * cross
        rot[:, 3, 3] = 1.0
        c = rot @ c
    if rgb and cfg.saturation > 0:  # scale the chroma (off-luma) component, lognormal
        s = d.gate(cfg.saturation * p, torch.exp2(d.randn() * cfg.saturation_std), 1.0).view(n, 1, 1)
        c = (vv + (eye - vv) * s) @ c
    return c


def _apply_colour(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    n, ch, h, w = x.shape
    c = c.to(x.device, x.dtype)
    flat = x.reshape(n, ch, h * w)
    if ch == 3:
        out = c[:, :3, :3] @ flat + c[:, :3, 3:]
    else:  # ADA's 1-channel rule, every channel: gain = sum of the mean row, offset = its mean
        row = c[:, :3, :].mean(dim=1)  # [N, 4]
        out = flat * row[:, :3].sum(dim=1).view(n, 1, 1) + row[:, 3].view(n, 1, 1)
    return out.reshape(n, ch, h, w)


# ----------------------------------------------------------------------------- cutout


def _cutout_mask(d: _Draw, p: float, cfg: AugmentConfig, h: int, w: int) -> torch.Tensor:
    """[N, 1, H, W] mask, 0 inside a square of side cutout_size at a uniform centre (ADA)."""
    size = d.gate(cfg.cutout * p, torch.full((d.n,), cfg.cutout_size), 0.0).view(-1, 1, 1)
    centre = d.rand(2)
    ys = ((torch.arange(h) + 0.5) / h).view(1, -1, 1)
    xs = ((torch.arange(w) + 0.5) / w).view(1, 1, -1)
    keep = ((xs - centre[:, 0].view(-1, 1, 1)).abs() >= size / 2) | ((ys - centre[:, 1].view(-1, 1, 1)).abs() >= size / 2)
    return keep.unsqueeze(1)


# ----------------------------------------------------------------------------- entry point


def augment(x: torch.Tensor, p: float | torch.Tensor, cfg: AugmentConfig | None = None,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply each enabled transform to each image independently with probability p * multiplier.

    x: [N, C, H, W]; returns a tensor of the same shape, dtype and device (x itself when p == 0)."""
    if x.ndim != 4:
        raise ValueError(f"augment expects [N, C, H, W] images, got shape {tuple(x.shape)}")
    if generator is not None and generator.device.type != "cpu":
        raise ValueError("augment draws its random numbers on the CPU: pass a CPU torch.Generator")
    p = float(p)
    if p <= 0 or x.shape[0] == 0:
        return x
    cfg = cfg or AugmentConfig()
    n, ch, h, w = x.shape
    d = _Draw(n, generator)
    out = x if x.dtype in (torch.float32, torch.float64) else x.float()

    g_inv = _geometric_matrix(d, p, cfg, h, w)
    if not torch.equal(g_inv, torch.eye(3).expand_as(g_inv)):
        out = _apply_geometry(out, g_inv)

    c = _colour_matrix(d, p, cfg, rgb=ch == 3)
    if not torch.equal(c, torch.eye(4).expand_as(c)):
        out = _apply_colour(out, c)

    if cfg.cutout > 0:
        keep = _cutout_mask(d, p, cfg, h, w)
        if not bool(keep.all()):
            out = out * keep.to(out.device, out.dtype)
    return out.to(x.dtype)
