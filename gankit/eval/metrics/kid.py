"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", sec. 3 / eq. 2).

Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x . y / d + 1)^3, averaged over random
subsets as clean-fid and torch-fidelity do; float64 throughout.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ...errors import GankitError
from .fid import _as_features, _same_dim


def _mmd2_unbiased(x: Tensor, y: Tensor) -> float:
    """Unbiased MMD^2 of equal-size sets x, y [m, d] under (x . y / d + 1)^3 (Binkowski et al. 2018, eq. 2)."""
    m, d = x.shape
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    off_xx = kxx.sum() - torch.diagonal(kxx).sum()
    off_yy = kyy.sum() - torch.diagonal(kyy).sum()
    return float((off_xx + off_yy) / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m))


def kid(feats1: Tensor, feats2: Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict:
    """KID: mean and std (ddof=0, as torch-fidelity) of unbiased polynomial-kernel MMD^2 over `subsets` random subsets.

    Each subset draws `subset_size` rows without replacement from each set (independently per subset),
    from a torch.Generator seeded with `seed`. Returns {"mean", "std", "subsets"}, where `subsets` counts the
    distinct draws: 1 when subset_size equals both set sizes, since every subset is then the whole set and the
    std over subsets is 0 by construction, not a measured spread (it is no uncertainty of the mean either way).
    """
    a, b = _as_features(feats1, "feats1"), _as_features(feats2, "feats2")
    _same_dim(a, b, "feats1", "feats2")
    if int(subsets) < 1:
        raise GankitError(f"subsets must be >= 1, got {subsets}; pass a positive count (100 is customary)")
    if int(subset_size) < 2:
        raise GankitError(f"subset_size must be >= 2 for the unbiased estimator, got {subset_size}; raise it")
    m = int(subset_size)
    for name, t in (("feats1", a), ("feats2", b)):
        if t.shape[0] < m:
            raise GankitError(f"{name} has {t.shape[0]} samples but subset_size is {m}; lower subset_size or generate more samples")
    if a.shape[0] == m and b.shape[0] == m:
        return {"mean": _mmd2_unbiased(a, b), "std": 0.0, "subsets": 1}
    g = torch.Generator().manual_seed(int(seed))
    vals = torch.empty(int(subsets), dtype=torch.float64)
    for i in range(int(subsets)):
        ia = torch.randperm(a.shape[0], generator=g)[:m]
        ib = torch.randperm(b.shape[0], generator=g)[:m]
        vals[i] = _mmd2_unbiased(a[ia], b[ib])
    return {"mean": float(vals.mean()), "std": float(vals.std(correction=0)), "subsets": int(subsets)}


__all__ = ["kid"]
