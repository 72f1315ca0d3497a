"""k-NN manifold metrics: precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Real set X [N, D], fake set Y [M, D]. r_k(x) is the Euclidean distance from x to its k-th nearest
neighbour in its own set, the point itself excluded. A point is "inside" a sample's ball when its
distance is <= the radius for precision/recall (NVlabs' improved-precision-recall code) and < the radius for
density/coverage (Naeem et al.'s prdc code); the two differ only on ties, e.g. a set scored against itself. Distances are float64, computed in batch x batch blocks so the full N x M
(or N x N) matrix is never held at once. Every number is that of the exact distance _dist (no |a|^2 + |b|^2 - 2ab
cancellation), but _dist is only evaluated where it matters: the blocks are squared distances by GEMM (3-7x faster),
and a pair within the GEMM's error bound of a radius, or of a row's k-th neighbour, is re-measured by _dist.
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


_EPS = torch.finfo(torch.float64).eps
_SPARE = 8  # neighbours kept beyond k, so that a row's candidates rarely overflow into the full exact scan


def _sq(x: Tensor) -> Tensor:
    return (x * x).sum(1)


def _margin(x: Tensor, y: Tensor) -> float:
    """A bound on |d^2 by GEMM - d^2 of _dist| for any pair of rows of x and y: the GEMM form |a|^2 + |b|^2 - 2ab
    loses at most (2D + 8) u (|a|^2 + |b|^2) in float64, and _dist's own rounding is below that; doubled for safety."""
    big = float(max(_sq(x).max(), _sq(y).max()))
    return (8 * x.shape[1] + 32) * _EPS * 2 * big


def _exact_pairs(a: Tensor, b: Tensor) -> Tensor:
    """_dist of each row pair (a[p], b[p]) [P]: the same kernel as the blocks, one pair at a time."""
    return _dist(a[:, None], b[:, None]).view(-1)


def _knn_radii_exact(x: Tensor, rows: Tensor, k: int, batch: int) -> Tensor:
    """The k-th nearest other row's _dist for the rows of x indexed by `rows`, by a full exact scan (the reference)."""
    n = x.shape[0]
    out = torch.empty(len(rows), dtype=torch.float64)
    for s in range(0, len(rows), batch):
        idx = rows[s:s + batch]
        best = torch.full((len(idx), k), float("inf"), dtype=torch.float64)
        for j in range(0, n, batch):
            d = _dist(x[idx], x[j:j + batch])
            own = (idx >= j) & (idx < j + d.shape[1])
            d[own.nonzero().view(-1), idx[own] - j] = float("inf")
            best = torch.cat([best, d], 1).topk(k, dim=1, largest=False).values
        out[s:s + len(idx)] = best[:, k - 1]
    return out


def knn_radii(x: Tensor, k: int, batch: int = 1024) -> Tensor:
    """Distance [N] from each row of x [N, D] to its k-th nearest other row of x (self excluded), as _dist gives it.

    Squared distances by GEMM find each row's nearest rows fast; only those within the GEMM's error bound of the k-th
    are measured by _dist, so the radius is _dist's exact value (rows whose band overflows take a full exact scan)."""
    n = x.shape[0]
    if n <= k:
        raise GankitError(f"k-NN radius with k={k} needs more than {k} samples, got {n}; lower k or pass more samples")
    keep, margin, sq = min(k + _SPARE, n - 1), _margin(x, x), _sq(x)
    radii = torch.empty(n, dtype=torch.float64)
    overflow = []
    for i in range(0, n, batch):
        rows = x[i:i + batch]
        vals = torch.full((rows.shape[0], keep), float("inf"), dtype=torch.float64)
        idx = torch.zeros((rows.shape[0], keep), dtype=torch.long)
        for j in range(0, n, batch):
            d2 = sq[i:i + batch, None] + sq[None, j:j + batch] - 2.0 * (rows @ x[j:j + batch].T)
            lo, hi = max(i, j), min(i + rows.shape[0], j + d2.shape[1])
            if lo < hi:  # this block holds some rows' self-distances: drop them
                r = torch.arange(lo, hi)
                d2[r - i, r - j] = float("inf")
            cols = torch.arange(j, j + d2.shape[1]).expand(rows.shape[0], -1)
            vals, pick = torch.cat([vals, d2], 1).topk(keep, dim=1, largest=False)
            idx = torch.cat([idx, cols], 1).gather(1, pick)
        band = vals[:, k - 1:k] + 2 * margin  # every row whose _dist can be <= the k-th lies at or below this
        cand = vals <= band
        full = cand[:, -1] & (keep < n - 1)  # the band may reach past the kept rows: scan those rows exactly
        exact = _dist(rows[:, None], x[idx]).view(rows.shape[0], keep)
        exact[~cand] = float("inf")
        radii[i:i + rows.shape[0]] = exact.topk(k, dim=1, largest=False).values[:, k - 1]
        overflow += (full.nonzero().view(-1) + i).tolist()
    if overflow:
        rows = torch.tensor(overflow)
        radii[rows] = _knn_radii_exact(x, rows, k, batch)
    return radii


def _cross(real: Tensor, fake: Tensor, r_real: Tensor, r_fake: Tensor | None, batch: int) -> dict:
    """One blocked pass over real x fake distances, accumulating all four statistics' per-sample parts. Each
    comparison with a radius is decided by GEMM squared distances where they are farther from it than their error
    bound, and by _dist otherwise, so it is the comparison of _dist's value."""
    n, m = real.shape[0], fake.shape[0]
    margin, sq_r, sq_f = _margin(real, fake), _sq(real), _sq(fake)
    r2_real, r2_fake = r_real * r_real, (r_fake * r_fake if r_fake is not None else None)
    fake_in_real = torch.zeros(m, dtype=torch.bool)      # precision: fake inside some real ball (<=)
    real_in_fake = torch.zeros(n, dtype=torch.bool)      # recall: real inside some fake ball (<=)
    fake_ball_count = torch.zeros(m, dtype=torch.float64)  # density: # real balls strictly containing each fake (<)
    real_covered = torch.zeros(n, dtype=torch.bool)      # coverage: some fake strictly inside the real's ball (<)
    for i in range(0, n, batch):
        a, rr, rr2 = real[i:i + batch], r_real[i:i + batch, None], r2_real[i:i + batch, None]
        for j in range(0, m, batch):
            b = fake[j:j + batch]
            d2 = sq_r[i:i + batch, None] + sq_f[None, j:j + batch] - 2.0 * (a @ b.T)
            d = torch.full_like(d2, float("nan"))  # _dist where a comparison is too close to call by d2
            near = (d2 - rr2).abs() <= margin
            rf2 = r2_fake[None, j:j + batch] if r_fake is not None else None
            if rf2 is not None:
                near |= (d2 - rf2).abs() <= margin
            p, q = near.nonzero(as_tuple=True)
            if len(p):
                d[p, q] = _exact_pairs(a[p], b[q])
            close = ~torch.isnan(d)
            in_real = torch.where(close, d <= rr, d2 <= rr2)
            strictly = torch.where(close, d < rr, d2 < rr2)
            fake_in_real[j:j + batch] |= in_real.any(0)
            fake_ball_count[j:j + batch] += strictly.sum(0)
            real_covered[i:i + batch] |= strictly.any(1)
            if rf2 is not None:
                real_in_fake[i:i + batch] |= torch.where(close, d <= r_fake[None, j:j + batch], d2 <= rf2).any(1)
    return {"fake_in_real": fake_in_real, "real_in_fake": real_in_fake,
            "fake_ball_count": fake_ball_count, "real_covered": real_covered}


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
    coverage = float(c["real_covered"].double().mean())  # nearest fake < r  <=>  some fake < r
    return {"density": density, "coverage": coverage}


__all__ = ["density_coverage", "knn_radii", "precision_recall"]
