"""Gradient-penalty regularizers: functions returning one penalty per sample.

Each takes the images the gradient is taken with respect to (before augmentation, with
requires_grad) and D's logits on them; the graph is kept (create_graph) so the penalty trains D.
Estimators without autograd (grad=False) take D itself and an RNG instead, and probe D at nearby points.
Which images they use is part of the registered piece: "real", "fake" or "interp" (random points on
the segments between paired real and fake samples, Gulrajani et al. 2017). Their weights live in the
config: R1/R2 take gamma / 2 on R3GAN's schedule, the interpolate penalties `loss.lambda_gp` (10).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..registry import Registry

REGULARIZERS = Registry("regularizer")


@dataclass(frozen=True)
class Regularizer:
    """A per-sample penalty and the images it is taken on: "real", "fake" or "interp".

    grad=True: fn(images, logits) differentiates the logits w.r.t. the images (a double backward when it trains D).
    grad=False: fn(images, logits, disc, rng) with disc(x) = D's logits on other images x (same labels), no input
    gradient; such estimators need D to see the images as they are (no augmentation, no instance noise) and float32.
    """

    fn: Callable[..., torch.Tensor]
    on: str
    grad: bool = True


def zero_centered_gp(images: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """||dD(x)/dx||^2 summed over all but the batch axis (Mescheder et al. 2018, eq. 9)."""
    (grad,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
    return grad.square().flatten(1).sum(1)


def one_centered_gp(images: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """(||dD(x)/dx|| - 1)^2 per sample: WGAN-GP (Gulrajani et al. 2017, eq. 3), on interpolates."""
    (grad,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square()


FD_STEP = 1e-3  # h: the forward difference's bias is O(h); its float32 rounding error, O(eps / h), is ~1e-4 relative


def fd_squared_directional(images: torch.Tensor, logits: torch.Tensor, disc: Callable[[torch.Tensor], torch.Tensor],
                           rng: torch.Generator) -> torch.Tensor:
    """((D(x + h v) - D(x)) / h)^2 per sample, v a Rademacher direction: E_v[(v . g)^2] = ||g||^2 for g = dD/dx
    (Hutchinson 1989's trace estimator applied to g g^T), so its mean over v is R1/R2 (Mescheder et al. 2018, eq. 9)
    up to O(h), from one extra forward and backward of D and no double backward. Finite differences of a GAN critic
    along directions: Terjek 2020 (Adversarial Lipschitz Regularization); gradient-free estimates from random
    directions: Nesterov & Spokoiny 2017."""
    v = (torch.randint(0, 2, images.shape, generator=rng) * 2 - 1).to(images)
    moved = disc(images.detach() + FD_STEP * v)
    return ((moved - logits).reshape(images.shape[0], -1).sum(1) / FD_STEP).square()  # heads summed, as r1's grad


def interpolates(real: torch.Tensor, fake: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """eps * real + (1 - eps) * fake with eps ~ U(0, 1) per sample (Gulrajani et al. 2017, Algorithm 1)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=rng).to(real)
    return (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)


REGULARIZERS.register("r1")(Regularizer(zero_centered_gp, on="real"))  # R1: on real data
REGULARIZERS.register("r2")(Regularizer(zero_centered_gp, on="fake"))  # R2: on generated data
REGULARIZERS.register("r1_fd")(Regularizer(fd_squared_directional, on="real", grad=False))  # R1, estimated
REGULARIZERS.register("r2_fd")(Regularizer(fd_squared_directional, on="fake", grad=False))  # R2, estimated
REGULARIZERS.register("wgan_gp")(Regularizer(one_centered_gp, on="interp"))  # WGAN-GP, weight loss.lambda_gp
REGULARIZERS.register("gp0_interp")(Regularizer(zero_centered_gp, on="interp"))  # 0-GP (Thanh-Tung et al. 2019)


def orthogonal_penalty(module: torch.nn.Module) -> torch.Tensor:
    """BigGAN's orthogonal regularization (Brock et al. 2019, eq. 3): sum over conv/linear weights of
    ||W W^T * (1 - I)||_F^2, W flattened to [filters, fan_in] (transposed convs: [out, in * k * k]).
    A weight penalty, not a per-sample one: the loop adds loss.ortho_beta times it to G's objective once per step."""
    terms = []
    for m in module.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            w = (m.weight.transpose(0, 1) if isinstance(m, torch.nn.ConvTranspose2d) else m.weight).flatten(1)
            gram = w @ w.T
            terms.append((gram - torch.diag(torch.diagonal(gram))).square().sum())  # off-diagonal entries only
    if not terms:
        raise ValueError(f"{type(module).__name__} has no conv or linear weights to regularize")
    return torch.stack(terms).sum()
