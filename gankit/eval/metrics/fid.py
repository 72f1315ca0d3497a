"""Frechet Inception Distance (Heusel et al. 2017, eq. 6) and FID-infinity (Chong & Forsyth 2020).

Everything here is a pure function of feature arrays (any extractor): tensors in, Python floats out,
all arithmetic in float64 on the CPU. FID between Gaussians N(mu1, S1) and N(mu2, S2) is
  |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr (S1 S2)^(1/2).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ...errors import GankitError


def _as_features(x, name: str, min_rows: int = 2) -> Tensor:
    """`x` as a finite float64 CPU tensor [N, D] with N >= min_rows, else GankitError."""
    t = torch.as_tensor(x).detach().to(device="cpu", dtype=torch.float64)
    if t.dim() != 2:
        raise GankitError(f"{name} must be a 2-D [N, D] feature array, got shape {tuple(t.shape)}; flatten each sample's features")
    bad = int((~torch.isfinite(t)).any(1).sum())
    if bad:
        raise GankitError(f"{name} has {bad} of {t.shape[0]} rows with NaN/Inf features; fix the generator or extractor output before scoring")
    if t.shape[0] < min_rows:
        raise GankitError(f"{name} has {t.shape[0]} samples, need at least {min_rows}; pass more samples")
    return t


def _same_dim(a: Tensor, b: Tensor, na: str, nb: str) -> None:
    """GankitError when the feature dimensions of a [N, D] and b [M, D'] differ."""
    if a.shape[1] != b.shape[1]:
        raise GankitError(f"{na} has feature dim {a.shape[1]} but {nb} has {b.shape[1]}; use the same feature extractor for both")


class RunningMoments:
    """Streaming float64 mean and unbiased covariance of D-dim features (Chan et al. 1979 pairwise merge)."""

    def __init__(self) -> None:
        self.n = 0
        self._mean: Tensor | None = None
        self._m2: Tensor | None = None  # sum of outer products of deviations from the running mean

    def update(self, feats: Tensor) -> None:
        """Add a batch of features [B, D]; merges the batch's (n, mean, M2) into the running ones."""
        x = _as_features(feats, "batch", min_rows=0)
        b = x.shape[0]
        if self._mean is not None and x.shape[1] != self._mean.shape[0]:
            raise GankitError(f"batch has feature dim {x.shape[1]} but earlier batches had {self._mean.shape[0]}; use one feature extractor")
        if b == 0:
            return
        bmean = x.mean(0)
        xc = x - bmean
        bm2 = xc.T @ xc
        if self._mean is None:
            self.n, self._mean, self._m2 = b, bmean, bm2
            return
        n = self.n + b
        delta = bmean - self._mean
        self._m2 = self._m2 + bm2 + torch.outer(delta, delta) * (self.n * b / n)
        self._mean = self._mean + delta * (b / n)
        self.n = n

    @property
    def mean(self) -> Tensor:
        """Mean [D] of all features seen (float64)."""
        if self._mean is None:
            raise GankitError("no features seen yet; call update() with at least one batch first")
        return self._mean.clone()

    @property
    def cov(self) -> Tensor:
        """Unbiased covariance [D, D] (divides by N - 1) of all features seen (float64)."""
        if self._m2 is None or self.n < 2:
            raise GankitError(f"covariance needs at least 2 samples, have {self.n}; feed more features")
        return self._m2 / (self.n - 1)

    def state_dict(self) -> dict:
        """{"n", "mean", "m2"} as tensors, so reference statistics can be cached and reloaded."""
        if self._mean is None:
            raise GankitError("no features seen yet; call update() before state_dict()")
        return {"n": torch.tensor(self.n, dtype=torch.int64), "mean": self._mean.clone(), "m2": self._m2.clone()}

    def load_state_dict(self, state: dict) -> None:
        """Restore from state_dict()'s output."""
        try:
            n, mean, m2 = int(state["n"]), torch.as_tensor(state["mean"]), torch.as_tensor(state["m2"])
        except KeyError as e:
            raise GankitError(f"moment state lacks key {e}; pass the dict from RunningMoments.state_dict()") from None
        d = mean.shape[0] if mean.dim() == 1 else -1
        if d < 0 or tuple(m2.shape) != (d, d) or n < 1:
            raise GankitError(f"moment state is malformed (n={n}, mean {tuple(mean.shape)}, m2 {tuple(m2.shape)}); recompute the statistics")
        self.n = n
        self._mean = mean.to(device="cpu", dtype=torch.float64).clone()
        self._m2 = m2.to(device="cpu", dtype=torch.float64).clone()


def _check_moments(mu1, s1, mu2, s2) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The four moments as float64 CPU tensors with matching shapes [D], [D, D], else GankitError."""
    out = [torch.as_tensor(t).detach().to(device="cpu", dtype=torch.float64) for t in (mu1, s1, mu2, s2)]
    mu1, s1, mu2, s2 = out
    d = mu1.shape[0] if mu1.dim() == 1 else -1
    if d < 1 or tuple(mu2.shape) != (d,) or tuple(s1.shape) != (d, d) or tuple(s2.shape) != (d, d):
        raise GankitError(
            f"moment shapes disagree: mu1 {tuple(mu1.shape)}, s1 {tuple(s1.shape)}, mu2 {tuple(mu2.shape)}, "
            f"s2 {tuple(s2.shape)}; expected [D], [D, D], [D], [D, D] from one feature extractor")
    if not all(bool(torch.isfinite(t).all()) for t in out):
        raise GankitError("moments contain NaN/Inf; recompute them from finite features")
    return mu1, s1, mu2, s2


def _trace_sqrt_product(s1: Tensor, s2: Tensor) -> float:
    """tr (S1 S2)^(1/2) from the eigenvalues of S1 S2."""
    # S1 S2 is similar to S1^(1/2) S2 S1^(1/2), which is PSD, so in exact arithmetic its eigenvalues are
    # real and >= 0. But S1 S2 itself is not symmetric, so the general (non-symmetric) eigensolver works
    # in complex arithmetic and rounding leaves eigenvalues near zero (rank-deficient or ill-conditioned
    # covariances, e.g. N < D) with tiny negative real parts and tiny imaginary parts (complex pairs).
    # Those are noise of order eps * |S1| |S2|: keep the real part and clamp it at 0 before the sqrt.
    # Eigenvalues below max|ev| * D * eps (numpy's matrix_rank tolerance) are numerically zero: with N <= D
    # samples there are D - N + 1 of them, and their rounding noise (about 1e-13 |S|^2) would add ~1e-6 each after the sqrt.
    return float(_null_clamped(torch.linalg.eigvals(s1 @ s2).real).sqrt().sum())


def _null_clamped(ev: Tensor) -> Tensor:
    """Real eigenvalues with negatives and those below max|ev| * D * eps set to 0."""
    tol = float(ev.abs().max()) * ev.numel() * torch.finfo(torch.float64).eps
    return torch.where(ev > tol, ev, torch.zeros_like(ev))


def _sqrt_psd(s: Tensor) -> Tensor:
    """Symmetric PSD square root via eigh, eigenvalues clamped at 0."""
    w, v = torch.linalg.eigh((s + s.T) / 2)
    return (v * w.clamp_min(0.0).sqrt()) @ v.T


def fid_from_moments(mu1, s1, mu2, s2) -> float:
    """FID = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr (S1 S2)^(1/2) (Heusel et al. 2017, eq. 6), eig route."""
    mu1, s1, mu2, s2 = _check_moments(mu1, s1, mu2, s2)
    diff = mu1 - mu2
    return float(diff @ diff + torch.trace(s1) + torch.trace(s2)) - 2.0 * _trace_sqrt_product(s1, s2)


def fid_from_moments_symmetric(mu1, s1, mu2, s2) -> float:
    """FID with tr (S1^(1/2) S2 S1^(1/2))^(1/2) (eigh only) in place of tr (S1 S2)^(1/2); a cross-check."""
    mu1, s1, mu2, s2 = _check_moments(mu1, s1, mu2, s2)
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    tr_sqrt = float(_null_clamped(torch.linalg.eigvalsh((m + m.T) / 2)).sqrt().sum())
    diff = mu1 - mu2
    return float(diff @ diff + torch.trace(s1) + torch.trace(s2)) - 2.0 * tr_sqrt


def fid(feats1: Tensor, feats2: Tensor) -> float:
    """FID between two feature sets [N, D] and [M, D] (sample means, unbiased covariances)."""
    a, b = _as_features(feats1, "feats1"), _as_features(feats2, "feats2")
    _same_dim(a, b, "feats1", "feats2")
    return fid_from_moments(a.mean(0), torch.cov(a.T).reshape(a.shape[1], a.shape[1]),
                            b.mean(0), torch.cov(b.T).reshape(b.shape[1], b.shape[1]))


def fid_infinity(fids: list[float], ns: list[int]) -> float:
    """FID-infinity (Chong & Forsyth 2020, sec. 3): least-squares line FID_N = a + b / N, returns a."""
    if len(fids) != len(ns):
        raise GankitError(f"got {len(fids)} FID values but {len(ns)} sample counts; pass one N per FID")
    if len(fids) < 2:
        raise GankitError(f"FID-infinity needs FIDs at >= 2 sample counts, got {len(fids)}; evaluate more N")
    if any(int(n) <= 0 for n in ns):
        raise GankitError(f"sample counts must be positive, got {list(ns)}; pass the N each FID used")
    if len({int(n) for n in ns}) < 2:
        raise GankitError(f"FID-infinity needs >= 2 distinct sample counts, got {sorted(set(int(n) for n in ns))}; vary N")
    y = torch.tensor([float(f) for f in fids], dtype=torch.float64)
    if not bool(torch.isfinite(y).all()):
        raise GankitError(f"FID values contain NaN/Inf ({list(fids)}); recompute them")
    x = 1.0 / torch.tensor([float(n) for n in ns], dtype=torch.float64)
    xc, yc = x - x.mean(), y - y.mean()
    slope = float((xc * yc).sum() / (xc * xc).sum())
    return float(y.mean()) - slope * float(x.mean())


__all__ = ["RunningMoments", "fid", "fid_from_moments", "fid_from_moments_symmetric", "fid_infinity"]
