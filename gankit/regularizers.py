"""Gradient-penalty regularizers: functions returning one penalty per sample.

Each takes the images the gradient is taken with respect to (before augmentation, with
requires_grad) and D's logits on them; the graph is kept (create_graph) so the penalty trains D.
Their weights (gamma / 2) and which images they use live in the config and the loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .registry import Registry

REGULARIZERS = Registry("regularizer")


@dataclass(frozen=True)
class Regularizer:
    """A per-sample penalty and the images it is taken on: "real" or "fake"."""

    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    on: str


def zero_centered_gp(images: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """||dD(x)/dx||^2 summed over all but the batch axis (Mescheder et al. 2018, eq. 9)."""
    (grad,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
    return grad.square().flatten(1).sum(1)


REGULARIZERS.register("r1")(Regularizer(zero_centered_gp, on="real"))  # R1: on real data
REGULARIZERS.register("r2")(Regularizer(zero_centered_gp, on="fake"))  # R2: on generated data
