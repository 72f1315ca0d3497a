"""Adversarial losses: per-sample functions of D's logits, one signature for all.

`d(real_logits, fake_logits)` and `g(real_logits, fake_logits)` return one value per sample; the
training loop takes the mean and calls backward(). A loss whose G side does not look at real
logits sets `g_needs_real=False`, and the loop then passes None and skips the D pass on reals.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .registry import Registry

LossFn = Callable[[Optional[torch.Tensor], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Loss:
    """A D-side and a G-side per-sample loss."""

    d: LossFn
    g: LossFn
    g_needs_real: bool = True


LOSSES = Registry("loss")


def _rpgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(fake - real)  # R3GAN eq. 2: f(D(y) - D(x)) with f = softplus(-t), paired


def _rpgan_g(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(real - fake)  # the same with the roles of real and fake swapped


def _ns_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real) + F.softplus(fake)  # -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))


def _ns_g(real: Optional[torch.Tensor], fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake)  # Goodfellow et al. 2014, the non-saturating -log sigmoid(D(G(z)))


LOSSES.register("rpgan")(Loss(_rpgan_d, _rpgan_g, g_needs_real=True))
LOSSES.register("nonsaturating")(Loss(_ns_d, _ns_g, g_needs_real=False))
