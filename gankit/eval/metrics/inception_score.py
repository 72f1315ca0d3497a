"""Inception Score (Salimans et al. 2016, sec. 4): exp E_x KL(p(y|x) || p(y)) from any classifier's probabilities."""
from __future__ import annotations

import torch
from torch import Tensor

from ...errors import GankitError


def inception_score(probs: Tensor, splits: int = 10) -> dict:
    """IS over `splits` contiguous chunks of probs [N, C]: per chunk exp(mean_i KL(p(y|x_i) || mean_j p(y|x_j))).

    Chunks are rows [s N // splits, (s + 1) N // splits) as in the original code; returns
    {"mean": mean over chunks, "std": std over chunks with ddof=0 (numpy default, as the original)}.
    """
    p = torch.as_tensor(probs).detach().to(device="cpu", dtype=torch.float64)
    if p.dim() != 2 or p.shape[1] < 1:
        raise GankitError(f"probs must be [N, C] class probabilities, got shape {tuple(p.shape)}; pass softmax outputs")
    n, splits = p.shape[0], int(splits)
    if splits < 1:
        raise GankitError(f"splits must be >= 1, got {splits}; 10 is customary")
    if n < splits:
        raise GankitError(f"probs has {n} samples but splits is {splits}; lower splits or pass more samples")
    bad = int((~torch.isfinite(p)).any(1).sum())
    if bad:
        raise GankitError(f"probs has {bad} of {n} rows with NaN/Inf; fix the classifier output")
    neg = int((p < 0).any(1).sum())
    if neg:
        raise GankitError(f"probs has {neg} of {n} rows with negative entries; pass softmax probabilities, not logits")
    err = (p.sum(1) - 1.0).abs()
    off = int((err > 1e-3).sum())
    if off:
        raise GankitError(f"{off} of {n} probability rows do not sum to 1 (worst off by {float(err.max()):.3g}); apply softmax first")
    scores = torch.empty(splits, dtype=torch.float64)
    for s in range(splits):
        part = p[s * n // splits:(s + 1) * n // splits]
        py = part.mean(0, keepdim=True)
        # xlogy gives 0 * log 0 = 0; where p > 0 the marginal py > 0 too.
        kl = (torch.xlogy(part, part) - torch.xlogy(part, py.expand_as(part))).sum(1)
        scores[s] = torch.exp(kl.mean())
    return {"mean": float(scores.mean()), "std": float(scores.std(correction=0))}


__all__ = ["inception_score"]
