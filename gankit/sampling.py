"""Sampling from a generator, quantisation to uint8, and PNG images of samples (grids, scatters)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from .files import write_png
from .objectives.step import one_hot


def check_truncation(truncation: float) -> None:
    """A z truncation threshold must be > 0, or 0 for off; ValueError names the value otherwise."""
    if not truncation >= 0:
        raise ValueError(f"truncation threshold must be > 0 (0: off), got {truncation}")


def latents(n: int, z_dim: int, seed: int, truncation: float = 0.0) -> torch.Tensor:
    """n standard-normal latents from a fixed seed (the same on every machine).

    truncation > 0: BigGAN's truncation trick (Brock et al. 2019, sec. 3.1): every component with
    |z_i| > truncation is redrawn until none is, i.e. z from the normal truncated to [-t, t]."""
    check_truncation(truncation)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, z_dim, generator=gen)
    if truncation > 0:
        while True:
            out = z.abs() > truncation
            if not out.any():
                break
            z[out] = torch.randn(int(out.sum()), generator=gen)
    return z


def grid_classes(grid: int, num_classes: int) -> tuple[Optional[torch.Tensor], int]:
    """Classes of a snapshot grid of about `grid` samples and its images per row: every class gets whole rows of
    ceil(sqrt(grid)) images, at least one (so 10 classes at grid 64 show as 10 rows of 8); with more classes than two
    rows' worth of images, rows cycle through the classes as far as the grid goes. (None, 0): unconditional."""
    if not num_classes:
        return None, 0
    per_row = int(np.ceil(np.sqrt(grid)))
    if num_classes > 2 * per_row:
        return (torch.arange(grid) // per_row) % num_classes, per_row
    rows_each = max(1, (grid // per_row) // num_classes)
    return torch.arange(num_classes).repeat_interleave(rows_each * per_row), per_row


@torch.no_grad()
def iter_samples(G: nn.Module, n: int, seed: int = 0, classes: Optional[torch.Tensor] = None,
                 batch: int = 256, truncation: float = 0.0, psi: float = 1.0) -> Iterator[torch.Tensor]:
    """n samples of G in batches (float, G's range, on the CPU) from latents(n, G.z_dim, seed, truncation).

    classes: int64 [n] for conditional G (default: 0, 1, 2, ... cycled). psi != 1: StyleGAN's truncation
    w = w_avg + psi (w - w_avg), for generators with a mapping network.
    """
    device = next(G.parameters()).device
    if psi != 1 and getattr(G, "mapping", None) is None:
        raise ValueError(f"psi-truncation needs a generator with a mapping network (model.arch=stylegan); "
                         f"this {type(G).__name__} has none: use the z threshold (truncation) instead")
    kwargs = {"psi": psi} if psi != 1 else {}
    if G.num_classes and classes is None:
        classes = torch.arange(n) % G.num_classes
    z = latents(n, G.z_dim, seed, truncation)
    for i in range(0, n, batch):
        c = one_hot(classes[i:i + batch], G.num_classes) if G.num_classes else None
        yield G(z[i:i + batch].to(device), None if c is None else c.to(device), **kwargs).float().cpu()


def generate(G: nn.Module, n: int, seed: int = 0, classes: Optional[torch.Tensor] = None,
             batch: int = 256, truncation: float = 0.0, psi: float = 1.0) -> torch.Tensor:
    """All n samples of iter_samples at once."""
    out = list(iter_samples(G, n, seed, classes, batch, truncation, psi))
    return torch.cat(out) if out else torch.empty(0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 as (x * 127.5 + 128).clamp(0, 255), the common GAN quantisation."""
    return (x * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def image_grid(images: torch.Tensor, nrow: int = 0, min_cell: int = 64) -> Image.Image:
    """uint8 [N, C, H, W] -> one PIL image; small images are enlarged (nearest).

    One channel shows grey, three RGB; two get a zero blue channel, more than three show the first three.
    """
    if images.shape[1] == 2:
        images = torch.cat([images, torch.zeros_like(images[:, :1])], 1)
    images = images[:, :3]
    n, c, h, w = images.shape
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    ncol = int(np.ceil(n / nrow))
    scale = max(1, -(-min_cell // h))
    pad = 2
    H, W = h * scale + pad, w * scale + pad
    canvas = np.full((ncol * H + pad, nrow * W + pad, c), 255, np.uint8)
    arr = images.permute(0, 2, 3, 1).numpy().repeat(scale, 1).repeat(scale, 2)
    for i in range(n):
        r, q = divmod(i, nrow)
        canvas[pad + r * H: pad + r * H + h * scale, pad + q * W: pad + q * W + w * scale] = arr[i]
    return Image.fromarray(canvas[..., 0] if c == 1 else canvas)


def scatter_image(points: torch.Tensor, reference: Optional[torch.Tensor] = None, size: int = 512,
                  extent: float = 0.0) -> Image.Image:
    """2-D points (black) over reference points (light blue) as a PNG-able picture."""
    pts = points.float().numpy()
    allp = pts if reference is None else np.concatenate([pts, reference.float().numpy()])
    extent = extent or float(np.abs(allp[np.isfinite(allp)]).max(initial=1.0)) * 1.1
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)

    def pix(p: np.ndarray) -> np.ndarray:
        return (p / extent * 0.5 + 0.5) * (size - 1) * np.array([1, -1]) + np.array([0, size - 1])

    for arr, colour in ((reference, (150, 190, 255)), (points, (0, 0, 0))):
        if arr is None:
            continue
        for x, y in pix(arr.float().numpy()[np.isfinite(arr.float().numpy()).all(1)]):
            draw.point((float(x), float(y)), fill=colour)
    return img


def save_samples(samples: torch.Tensor, path: Path, reference: Optional[torch.Tensor] = None,
                 split_channels: bool = False, nrow: int = 0) -> None:
    """Save images ([N, C, H, W] in [-1, 1]) as a grid, or 2-D points as a scatter plot, to a PNG.

    split_channels shows each sample's channels side by side in grey (readable for stacked digits); nrow: images
    per row (0: a square grid).
    """
    if samples.ndim != 4:
        img = scatter_image(samples, reference)
    elif split_channels:
        n, c, h, w = samples.shape
        per_row = max(1, int(np.ceil(np.sqrt(n))))
        img = image_grid(to_uint8(samples).reshape(n * c, 1, h, w), nrow=per_row * c)
    else:
        img = image_grid(to_uint8(samples), nrow=nrow)
    write_png(path, img)
