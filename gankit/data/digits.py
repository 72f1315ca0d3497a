"""scikit-learn's bundled 8x8 digits, plain and stacked in RGB (a 1000-mode set that needs no download).

Also holds the two in-memory set classes that MNIST reuses: `TensorImages` (one uint8 tensor) and
`StackedImages` (three single-channel images in R, G, B; the label is the three digits' number).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import GankitError
from .base import DATASETS, DataConfig, Dataset

DEFAULT_STACKED_SIZE = 100_000


def resize_uint8(x: torch.Tensor, resolution: int, antialias: bool = False) -> torch.Tensor:
    """Bilinear resize of uint8 [N, C, H, W] to resolution^2, rounded back to uint8 (in chunks)."""
    out = torch.empty(len(x), x.shape[1], resolution, resolution, dtype=torch.uint8)
    for i in range(0, len(x), 4096):
        y = F.interpolate(x[i : i + 4096].to(torch.float32), size=(resolution, resolution),
                          mode="bilinear", align_corners=False, antialias=antialias)
        out[i : i + 4096] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


class TensorImages(Dataset):
    """A labelled image set held as one uint8 [N, C, H, W] tensor."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 name: str = "") -> None:
        self.images, self.labels, self.name = images, labels.to(torch.int64), name
        self.shape = tuple(images.shape[1:])
        self.num_classes = self.num_modes = num_classes

    def __len__(self) -> int:
        return len(self.images)

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images uint8 [B, C, H, W] and labels int64 [B]."""
        return self.images[idx], self.labels[idx]

    def labels_at(self, idx: torch.Tensor) -> torch.Tensor:
        return self.labels[idx]

    def describe(self) -> dict:
        return {**super().describe(), "name": self.name}


class StackedImages(Dataset):
    """Three single-channel base images in R, G, B; label 100*d_R + 10*d_G + d_B (1000 modes).

    The [size, 3] index triples are drawn once from `seed` at construction; get() composes them,
    so item i is the same for every call and every process.
    """

    num_classes = num_modes = 1000

    def __init__(self, base: torch.Tensor, base_labels: torch.Tensor, size: int, seed: int,
                 name: str = "") -> None:
        if size < 0:
            raise GankitError(f"data.size must be >= 0 (0 = the default) for '{name}', got {size}")
        if base.shape[1] != 1 or int(base_labels.max()) > 9:
            raise GankitError(f"'{name}' needs single-channel base images with digit labels 0..9")
        self.base, self.base_labels, self.name = base, base_labels.to(torch.int64), name
        self.shape = (3, *base.shape[2:])
        g = torch.Generator().manual_seed(seed)
        self.triples = torch.randint(0, len(base), (size, 3), generator=g, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.triples)

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images uint8 [B, 3, H, W] and labels int64 [B] in 0..999."""
        t = self.triples[idx]  # [B, 3]
        x = self.base[t.reshape(-1)].reshape(len(t), 3, *self.base.shape[2:])
        return x, self.labels_at(idx)

    def labels_at(self, idx: torch.Tensor) -> torch.Tensor:
        d = self.base_labels[self.triples[idx]]
        return d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]

    def held_out(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n new triples of the same base images, drawn from `seed`: the same distribution, and (with 1797^3 or
        60,000^3 possible triples) not in a pool of any practical size."""
        pool = StackedImages(self.base, self.base_labels, n, seed, self.name)
        return pool.get(torch.arange(n))

    def describe(self) -> dict:
        return {**super().describe(), "name": self.name, "base_size": len(self.base)}


def load_digits_base(resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 digits as uint8 [1797, 1, R, R] (0..16 scaled to 0..255) and labels int64 [1797].

    R = 8 is native; any larger power of two (16, 32, ...) is bilinear-upsampled once from the
    scaled 8x8 images (float, align_corners=False) and rounded back to uint8.
    """
    if resolution < 8 or resolution & (resolution - 1):
        raise GankitError(f"digits resolution {resolution} is not supported; use 8 (native) or 16 "
                          "(or any larger power of two, bilinear-upsampled)")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    v = torch.as_tensor(bunch.images, dtype=torch.float64)  # [1797, 8, 8], values 0..16
    images = (v * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
    if resolution != 8:
        images = resize_uint8(images, resolution)
    return images, torch.as_tensor(bunch.target, dtype=torch.int64)


@DATASETS.register("digits")
def digits(cfg: DataConfig) -> Dataset:
    """The 1797 sklearn 8x8 digits, 1 channel, labels 0..9 (data.size is not used)."""
    images, labels = load_digits_base(cfg.resolution)
    return TensorImages(images, labels, 10, name="digits")


@DATASETS.register("stacked-digits")
def stacked_digits(cfg: DataConfig) -> Dataset:
    """Three random sklearn digits in R, G, B: 1000 modes, cfg.size items (default 100k)."""
    images, labels = load_digits_base(cfg.resolution)
    return StackedImages(images, labels, cfg.size or DEFAULT_STACKED_SIZE, cfg.seed,
                         name="stacked-digits")
