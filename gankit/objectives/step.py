"""One discriminator step and one generator step: the GAN objective, separate from the loop.

Statistics come back as detached 0-dim tensors (no device sync per step); the loop reads them
when it logs. The loop calls d_step then g_step (each with its own real batch and fresh z, as in R3GAN) and
steps the optimizers; these functions only compute losses and call backward().
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..augment import AugmentConfig, augment
from .losses import Loss, mode_coverage
from .regularizers import Regularizer, interpolates


def one_hot(labels: Optional[torch.Tensor], num_classes: int) -> Optional[torch.Tensor]:
    """Class labels -> one-hot float rows, or None for unconditional networks."""
    return F.one_hot(labels, num_classes).float() if num_classes and labels is not None else None


def _maybe_augment(x: torch.Tensor, p: float, cfg: AugmentConfig, rng: torch.Generator, noise: float = 0.0) -> torch.Tensor:
    """What D sees: augmented images (p > 0), plus instance noise N(0, noise^2) (Sonderby et al. 2016) when noise > 0."""
    x = augment(x, p, cfg, rng) if p > 0 and x.ndim == 4 else x
    return x + noise * torch.randn(x.shape, generator=rng).to(x) if noise > 0 else x


def d_step(G: nn.Module, D: nn.Module, loss: Loss, regs: dict[str, Regularizer], real: torch.Tensor,
           c: Optional[torch.Tensor], z: torch.Tensor, gamma: float, aug_p: float,
           aug_cfg: AugmentConfig, rng: torch.Generator, weight: float = 1.0,
           reg_weights: Optional[dict[str, float]] = None, noise: float = 0.0) -> dict[str, torch.Tensor]:
    """D loss + weighted penalties on (real i, fake i) pairs; penalties w.r.t. pre-augmentation images.

    A penalty's weight is reg_weights[name] when given, else gamma / 2 (R3GAN eq. 5). Interpolate
    penalties are taken on eps * real + (1 - eps) * fake, not augmented, with eps drawn from rng.

    backward() runs on weight * mean: weight = micro-batch / global batch makes the gradients of all
    micro-batches on all ranks sum to the global batch's mean gradient. Returned stats are plain means.
    """
    with torch.no_grad():
        fake = G(z, c)
    needs = {r.on for r in regs.values() if r.grad}
    real = real.detach().requires_grad_("real" in needs)
    fake = fake.detach().requires_grad_("fake" in needs)
    real_logits = D(_maybe_augment(real, aug_p, aug_cfg, rng, noise), c)
    fake_logits = D(_maybe_augment(fake, aug_p, aug_cfg, rng, noise), c)
    adv = loss.d(real_logits, fake_logits)
    stats = {"loss_d": adv.mean().detach(), "logit_real": real_logits.mean().detach(),
             "logit_fake": fake_logits.mean().detach()}
    total = _add_penalties(adv, D, regs, real, fake, real_logits, fake_logits, c, rng, gamma, reg_weights, stats)
    (total.mean() * weight).backward()
    stats["logit_gap"] = stats["logit_real"] - stats["logit_fake"]
    if real_logits.ndim == 2:  # several heads (MMA-GAN): each head's mean activation on real and generated data
        for k, (r, f) in enumerate(zip(torch.sigmoid(real_logits.detach()).mean(0), torch.sigmoid(fake_logits.detach()).mean(0))):
            stats[f"head{k}_real"], stats[f"head{k}_fake"] = r, f
    return stats


def _add_penalties(total: torch.Tensor, D: nn.Module, regs: dict[str, Regularizer], real: torch.Tensor,
                   fake: Optional[torch.Tensor], real_logits: Optional[torch.Tensor], fake_logits: Optional[torch.Tensor],
                   c: Optional[torch.Tensor], rng: torch.Generator, gamma: float,
                   reg_weights: Optional[dict[str, float]], stats: dict[str, torch.Tensor]) -> torch.Tensor:
    """total + each penalty times its weight (reg_weights[name], else gamma / 2); each penalty's mean into stats."""
    for name, reg in regs.items():
        if reg.on == "interp":
            images = interpolates(real, fake, rng)
            logits = D(images, c)
        else:
            images, logits = (real, real_logits) if reg.on == "real" else (fake, fake_logits)
        penalty = reg.fn(images, logits) if reg.grad else reg.fn(images, logits, lambda x: D(x, c), rng)
        w = reg_weights[name] if reg_weights and name in reg_weights else gamma / 2
        total = total + w * penalty  # R3GAN eq. 5: L + gamma/2 (R1 + R2); WGAN-GP: L + lambda GP
        stats[name] = penalty.mean().detach()
    return total


def reg_step(G: nn.Module, D: nn.Module, regs: dict[str, Regularizer], real: torch.Tensor, c: Optional[torch.Tensor],
             z: torch.Tensor, aug_p: float, aug_cfg: AugmentConfig, rng: torch.Generator, weight: float,
             reg_weights: dict[str, float], noise: float = 0.0) -> dict[str, torch.Tensor]:
    """D's penalties alone on (real i, fake i) pairs, backward of weight * mean of their weighted sum: StyleGAN2's
    separate lazy regularization step (its training loop's Dreg phase). D sees only the images a penalty needs."""
    needs = {r.on for r in regs.values()}
    grads = {r.on for r in regs.values() if r.grad}
    fake = None
    if needs & {"fake", "interp"}:
        with torch.no_grad():
            fake = G(z, c)
        fake = fake.detach().requires_grad_("fake" in grads)
    real = real.detach().requires_grad_("real" in grads)
    real_logits = D(_maybe_augment(real, aug_p, aug_cfg, rng, noise), c) if "real" in needs else None
    fake_logits = D(_maybe_augment(fake, aug_p, aug_cfg, rng, noise), c) if "fake" in needs else None
    stats: dict[str, torch.Tensor] = {}
    total = _add_penalties(torch.zeros(real.shape[0], device=real.device), D, regs, real, fake, real_logits,
                           fake_logits, c, rng, 0.0, reg_weights, stats)
    (total.mean() * weight).backward()
    return stats


def unrolled_adam(params: dict[str, torch.Tensor], grads: list[torch.Tensor], moments: dict[str, tuple], lr: float,
                  betas: tuple[float, float], eps: float) -> tuple[dict[str, torch.Tensor], dict[str, tuple]]:
    """One differentiable Adam step (Kingma & Ba 2015, Algorithm 1, torch.optim.Adam's form): new params and moments.

    moments: name -> (exp_avg, exp_avg_sq, step). The graph through the gradients is kept, so a loss on the new
    params differentiates through the step (Metz et al. 2017 unroll D's Adam this way)."""
    b1, b2 = betas
    out, new = {}, {}
    for (name, w), g in zip(params.items(), grads):
        m, v, t = moments[name]
        m, v, t = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g, t + 1
        denom = v.clamp_min(1e-38).sqrt() / math.sqrt(1 - b2**t) + eps  # clamp: no inf gradient of sqrt at v = 0
        out[name], new[name] = w - (lr / (1 - b1**t)) * m / denom, (m, v, t)
    return out, new


def adam_moments(D: nn.Module, opt: Optional[torch.optim.Optimizer]) -> tuple[dict[str, tuple], tuple[float, float], float]:
    """D's Adam state as unrolled_adam takes it (zeros at step 0 before D's first step), its betas and eps."""
    group = opt.param_groups[0] if opt is not None else {"betas": (0.0, 0.99), "eps": 1e-8}
    moments = {}
    for name, p in D.named_parameters():
        st = opt.state.get(p, {}) if opt is not None else {}
        moments[name] = (st["exp_avg"].detach(), st["exp_avg_sq"].detach(), int(st["step"])) if st else (
            torch.zeros_like(p), torch.zeros_like(p), 0)
    return moments, tuple(map(float, group["betas"])), float(group["eps"])


def g_step(G: nn.Module, D: nn.Module, loss: Loss, real: torch.Tensor, c: Optional[torch.Tensor],
           z: torch.Tensor, aug_p: float, aug_cfg: AugmentConfig, rng: torch.Generator,
           weight: float = 1.0, noise: float = 0.0, unroll: int = 0, unroll_lr: float = 0.0,
           feature_matching: bool = False, d_opt: Optional[torch.optim.Optimizer] = None) -> dict[str, torch.Tensor]:
    """G loss on fresh z (and a fresh real batch for relativistic losses); D's parameters frozen; backward of weight * mean.

    unroll = K > 0 (Metz et al. 2017, eqs. 4-6): G's loss is taken against D after K differentiable steps of the
    optimiser D trains with, Adam from D's current moments and step count (d_opt; as their code unrolls Adam), at
    step size unroll_lr, on this batch (adversarial loss only); G's gradient flows through those steps and D's own
    parameters and moments are not changed. Without d_opt, Adam from zero moments (unit tests).
    """
    D.requires_grad_(False)
    try:
        fake = G(z, c)
        if feature_matching:  # Salimans et al. 2016, sec. 3.1: ||E f(x) - E f(G(z))||^2, a batch-level objective
            f_real = D.features(_maybe_augment(real.detach(), aug_p, aug_cfg, rng, noise), c).mean(0)
            f_fake = D.features(_maybe_augment(fake, aug_p, aug_cfg, rng, noise), c).mean(0)
            fm = (f_real - f_fake).square().sum()
            (fm * weight).backward()
            return {"loss_g": fm.detach()}
        if unroll > 0:
            params = {n: p.detach().requires_grad_(True) for n, p in D.named_parameters()}
            moments, betas, eps = adam_moments(D, d_opt)
            for _ in range(unroll):
                d_loss = loss.d(functional_call(D, params, (_maybe_augment(real.detach(), aug_p, aug_cfg, rng, noise), c)),
                                functional_call(D, params, (_maybe_augment(fake, aug_p, aug_cfg, rng, noise), c))).mean()
                grads = torch.autograd.grad(d_loss, list(params.values()), create_graph=True)  # keeps d theta_D / d theta_G
                params, moments = unrolled_adam(params, grads, moments, unroll_lr, betas, eps)

            def disc(x: torch.Tensor) -> torch.Tensor:
                return functional_call(D, params, (x, c))
        else:
            def disc(x: torch.Tensor) -> torch.Tensor:
                return D(x, c)
        fake_logits = disc(_maybe_augment(fake, aug_p, aug_cfg, rng, noise))
        real_logits = disc(_maybe_augment(real.detach(), aug_p, aug_cfg, rng, noise)) if loss.g_needs_real else None
        adv = loss.g(real_logits, fake_logits)
        (adv.mean() * weight).backward()
    finally:
        D.requires_grad_(True)
    return {"loss_g": adv.mean().detach()}


BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@contextmanager
def batch_stats_frozen(module: nn.Module) -> Iterator[None]:
    """Forward passes inside run in the module's training mode (batch statistics) but leave its BatchNorm running
    statistics as they were: a frozen D's state is not moved by a G-side term."""
    saved = {name: b.clone() for name, b in module.named_buffers() if name.rsplit(".", 1)[-1] in BN_BUFFERS}
    try:
        yield
    finally:
        with torch.no_grad():
            for name, b in module.named_buffers():
                if name in saved:
                    b.copy_(saved[name])


def div_step(G: nn.Module, D: nn.Module, z: torch.Tensor, lam: float, tau: float, weight: float = 1.0,
             aug_p: float = 0.0, aug_cfg: Optional[AugmentConfig] = None, rng: Optional[torch.Generator] = None,
             noise: float = 0.0) -> dict[str, torch.Tensor]:
    """MMA-GAN's mode-coverage term on its own batch z (Z_div, M samples): backward of weight * lam * L_div, D frozen.

    L_div = sum_k max(0, tau - A_k) with A_k the mean of sigmoid(D_k(G(z))) over the batch (losses.mode_coverage).
    D sees the samples as in the adversarial term (augmentation at aug_p, instance noise); its BatchNorm statistics
    are left as they were. (MMA-GAN's heads are unconditional: no class input.)"""
    D.requires_grad_(False)
    try:
        with batch_stats_frozen(D):  # restored after the backward, which needs the buffers' versions intact
            x = G(z)
            if aug_cfg is not None and rng is not None:
                x = _maybe_augment(x, aug_p, aug_cfg, rng, noise)
            l_div, a = mode_coverage(D(x), tau)
            (l_div * lam * weight).backward()
    finally:
        D.requires_grad_(True)
    return {"l_div": l_div.detach(), **{f"head{k}_div": v for k, v in enumerate(a.detach())}}
