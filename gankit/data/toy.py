"""2-D Gaussian mixtures (ring of 8, grid of 25): the mode-collapse benchmarks of VEEGAN / PacGAN."""
from __future__ import annotations

import math

import torch

from ..errors import GankitError
from .base import DATASETS, DataConfig, Dataset

DEFAULT_SIZE = 100_000
MIXTURES = ("ring8", "grid25")


def mixture_centers(name: str) -> torch.Tensor:
    """The float32 [K, 2] mode centers of a named mixture: 'ring8' (radius 2) or 'grid25' ({-4..4}^2)."""
    if name == "ring8":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return (2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)).to(torch.float32)
    if name == "grid25":
        axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        gx, gy = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    raise GankitError(f"unknown 2-D mixture '{name}'; use one of: {', '.join(MIXTURES)}")


class GaussianMixture(Dataset):
    """Points drawn once from an isotropic Gaussian mixture; labels are the drawn mode's index."""

    kind = "points"
    shape = (2,)

    def __init__(self, name: str, size: int, sigma: float, seed: int) -> None:
        if size < 0:
            raise GankitError(f"data.size must be >= 0 (0 = default {DEFAULT_SIZE}), got {size}")
        if not (sigma >= 0 and math.isfinite(sigma)):
            raise GankitError(f"data.sigma must be a finite number >= 0 for '{name}', got {sigma}")
        self.name = name
        self.centers = mixture_centers(name)
        self.sigma = float(sigma)
        self.num_classes = self.num_modes = len(self.centers)
        n = size or DEFAULT_SIZE
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, self.num_modes, (n,), generator=g, dtype=torch.int64)
        noise = torch.randn(n, 2, generator=g, dtype=torch.float32)
        self.points = self.centers[self.labels] + self.sigma * noise

    def __len__(self) -> int:
        return len(self.points)

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Points float32 [B, 2] and their mode index int64 [B]."""
        return self.points[idx], self.labels[idx]

    def describe(self) -> dict:
        return {**super().describe(), "name": self.name, "sigma": self.sigma}


@DATASETS.register("ring8")
def ring8(cfg: DataConfig) -> Dataset:
    """8 Gaussians on a circle of radius 2, std cfg.sigma, cfg.size points (default 100k)."""
    return GaussianMixture("ring8", cfg.size, cfg.sigma, cfg.seed)


@DATASETS.register("grid25")
def grid25(cfg: DataConfig) -> Dataset:
    """25 Gaussians on the grid {-4,-2,0,2,4}^2, std cfg.sigma, cfg.size points (default 100k)."""
    return GaussianMixture("grid25", cfg.size, cfg.sigma, cfg.seed)
