"""k-NN manifold metrics: precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Real set X [N, D], fake set Y [M, D]. r_k(x) is the Euclidean distance from x to its k-th nearest
neighbour in its own set, the point itself excluded. A point is "inside" a sample's ball when its
distance is <= the radius for precision/recall (NVlabs' improved-precision-recall code) and < the radius for
density/coverage (Naeem et al.'s prdc code); the two differ only on ties, e.g. a set scored against itself. Distances are float64, computed in batch x batch blocks so the full N x M
(or N x N) matrix is never held at once.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ...errors import GankitError
from .fid import _as_features, _same_dim


def _dist(a: Tensor, b: Tensor) -> Tensor:
    """Exact pairwise Euclidean distances (no |a|^2 + |b|^2 - 2ab cancellation)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _check_k(k: int, batch: int) -> tuple[int, int]:
    """Validated (k, batch)."""
    if int(k) < 1:
        raise GankitError(f"k must be >= 1, got {k}; pass a positive neighbourhood size")
    if int(batch) < 1:
        raise GankitError(f"batch must be >= 1, got {batch}; pass a positive block size")
    return int(k), int(batch)


def knn_radii(x: Tensor, k: int, batch: int = 1024) -> Tensor:
    """Distance [N] from each row of x [N, D] to its k-th nearest other row of x (self excluded)."""
    n = x.shape[0]
    if n <= k:
        raise GankitError(f"k-NN radius with k={k} needs more than {k} samples, got {n}; lower k or pass more samples")
    radii = torch.empty(n, dtype=torch.float64)
    for i in range(0, n, batch):
        rows = x[i:i + batch]
        best = torch.full((rows.shape[0], k), float("inf"), dtype=torch.float64)
        for j in range(0, n, batch):
            d = _dist(rows, x[j:j + batch])
            lo, hi = max(i, j), min(i + rows.shape[0], j + d.shape[1])
            if lo < hi:  # this block holds some rows' self-distances: drop them
                idx = torch.arange(lo, hi)
                d[idx - i, idx - j] = float("inf")
            best = torch.cat([best, d], 1).topk(k, dim=1, largest=False).values
        radii[i:i + rows.shape[0]] = best[:, k - 1]
    return radii


def _cross(real: Tensor, fake: Tensor, r_real: Tensor, r_fake: Tensor | None, batch: int) -> dict:
    """One blocked pass over real x fake distances, accumulating all four statistics' per-sample parts."""
    n, m = real.shape[0], fake.shape[0]
    fake_in_real = torch.zeros(m, dtype=torch.bool)      # precision: fake inside some real ball
    real_in_fake = torch.zeros(n, dtype=torch.bool)      # recall: real inside some fake ball
    fake_ball_count = torch.zeros(m, dtype=torch.float64)  # density: # real balls strictly containing each fake
    real_nn_fake = torch.full((n,), float("inf"), dtype=torch.float64)  # coverage: nearest fake to each real
    for i in range(0, n, batch):
        rr = r_real[i:i + batch, None]
        for j in range(0, m, batch):
            d = _dist(real[i:i + batch], fake[j:j + batch])
            inside = d <= rr
            fake_in_real[j:j + batch] |= inside.any(0)
            fake_ball_count[j:j + batch] += (d < rr).sum(0)
            if r_fake is not None:
                real_in_fake[i:i + batch] |= (d <= r_fake[None, j:j + batch]).any(1)
            real_nn_fake[i:i + batch] = torch.minimum(real_nn_fake[i:i + batch], d.min(1).values)
    return {"fake_in_real": fake_in_real, "real_in_fake": real_in_fake,
            "fake_ball_count": fake_ball_count, "real_nn_fake": real_nn_fake}


def _radii(x: Tensor, k: int, batch: int, memo: dict | None) -> Tensor:
    """knn_radii(x, k), kept in `memo` (a Collected's knn) when one is given: the same features give the same radii."""
    if memo is None:
        return knn_radii(x, k, batch)
    if k not in memo:
        memo[k] = knn_radii(x, k, batch)
    return memo[k]


def precision_recall(real: Tensor, fake: Tensor, k: int = 3, batch: int = 1024, real_knn: dict | None = None,
                     fake_knn: dict | None = None) -> dict:
    """Improved precision and recall (Kynkaanniemi et al. 2019, eqs. 1-2): share of fakes in the real k-NN manifold and
    vice versa. real_knn / fake_knn: memos of each set's radii by k (a reference kept across snapshots)."""
    k, batch = _check_k(k, batch)
    x, y = _as_features(real, "real", 1), _as_features(fake, "fake", 1)
    _same_dim(x, y, "real", "fake")
    r_real, r_fake = _radii(x, k, batch, real_knn), _radii(y, k, batch, fake_knn)
    c = _cross(x, y, r_real, r_fake, batch)
    return {"precision": float(c["fake_in_real"].double().mean()), "recall": float(c["real_in_fake"].double().mean())}


def density_coverage(real: Tensor, fake: Tensor, k: int = 5, batch: int = 1024, real_knn: dict | None = None) -> dict:
    """Density and coverage (Naeem et al. 2020, eqs. 3-4): mean # real k-NN balls per fake / k, share of real balls
    holding a fake. real_knn: a memo of the real set's radii by k."""
    k, batch = _check_k(k, batch)
    x, y = _as_features(real, "real", 1), _as_features(fake, "fake", 1)
    _same_dim(x, y, "real", "fake")
    r_real = _radii(x, k, batch, real_knn)
    c = _cross(x, y, r_real, None, batch)
    density = float(c["fake_ball_count"].sum()) / (k * y.shape[0])
    coverage = float((c["real_nn_fake"] < r_real).double().mean())
    return {"density": density, "coverage": coverage}


__all__ = ["density_coverage", "knn_radii", "precision_recall"]
