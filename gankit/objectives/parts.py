"""The parts methods add around the adversarial game, each a registered factory of (config, game) that returns None
where its method is off. `order` fixes the order of their hooks: G's extra terms add to its gradient in that order."""
from __future__ import annotations

from typing import Any, Optional

import torch

from .. import distributed as dist
from ..config import Config
from .losses import LOSSES
from ..networks.progressive import fade_reals, growth, set_growth
from .regularizers import orthogonal_penalty
from .step import div_step, reg_step
from .base import OBJECTIVE_PARTS, Batch, Part, StepContext


class Growth(Part):
    """PGGAN (Karras et al. 2018): the level and fade-in alpha as a function of images seen, set on G, G_ema and D;
    real batches are faded to the current level."""

    def __init__(self, grow_kimg: float) -> None:
        self.grow_images, self.now = grow_kimg * 1000, None

    def begin(self, ctx: StepContext) -> None:
        s = ctx.s
        self.now = growth(s.images, self.grow_images, s.G.levels)
        if self.now != (s.G.level, s.G.alpha):
            for m in (s.G, s.G_ema, s.D):
                set_growth(m, *self.now)

    def reals(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return fade_reals(x, *self.now, ctx.s.G.levels)

    def after_g(self, ctx: StepContext, stats: dict[str, torch.Tensor]) -> None:
        stats["grow_level"], stats["grow_alpha"] = torch.tensor(float(self.now[0])), torch.tensor(self.now[1])


class SeparateLazyStep(Part):
    """StyleGAN2's lazy regularization (Karras et al. 2020, sec. 3.1 and appendix B; its code's Dreg phase): on every
    k-th minibatch, after D's adversarial step, a D step of its own on the penalties alone, weighted k times, on that
    step's reals and latents. D then takes k + 1 Adam steps per k minibatches, so all of them run at lr c and betas^c
    with c = k / (k + 1), which keeps the optimiser's per-minibatch step and moment decay what they would have been."""

    def __init__(self, game: Any) -> None:
        self.game, self.k, self.stats = game, game.reg_interval, {}

    def begin(self, ctx: StepContext) -> None:
        c = self.k / (self.k + 1)  # StyleGAN2-ADA: mb_ratio = reg_interval / (reg_interval + 1)
        for group in ctx.s.opt_D.param_groups:  # set from the schedule this step (loop.set_optimizers), corrected here
            group["lr"], group["betas"] = group["lr"] * c, tuple(b ** c for b in group["betas"])

    def after_d(self, ctx: StepContext, batches: list[Batch]) -> None:
        s, h = ctx.s, ctx.h
        if s.step % self.k:
            return
        s.opt_D.zero_grad(set_to_none=True)
        weights, self.stats = self.game.penalty_weights(h), {}
        for real, c, z in batches:
            part = reg_step(ctx.G, s.D, self.game.regs, real, c, z, h["aug_p"], ctx.cfg.aug, s.aug_rng,
                            real.shape[0] / ctx.cfg.train.batch, weights, h["noise_std"])
            for name, v in part.items():
                self.stats[name] = self.stats.get(name, 0.0) + v * (real.shape[0] / ctx.per)
        dist.all_reduce_grads(s.D.parameters())
        s.opt_D.step()

    def after_g(self, ctx: StepContext, stats: dict[str, torch.Tensor]) -> None:
        stats.update(self.stats)  # the penalties of this step's separate step, where it had one
        self.stats = {}


class WeightClip(Part):
    """WGAN's weight clipping (Arjovsky et al. 2017, Algorithm 1): D's parameters into [-c, c] after each D step."""

    def __init__(self, c: float) -> None:
        self.c = c

    @torch.no_grad()
    def after_d(self, ctx: StepContext, batches: list[Batch]) -> None:
        for p in ctx.s.D.parameters():
            p.clamp_(-self.c, self.c)


class ReuseLatents(Part):
    """MMA-GAN's Z_adv: G's adversarial term on the latents of the D step before it (the real batch stays fresh)."""

    def g_latents(self, d_batches: list[Batch], g_batches: list[Batch]) -> list[Batch]:
        return [(real, c, z) for (real, c, _), (_, _, z) in zip(g_batches, d_batches)]


class ModeCoverage(Part):
    """MMA-GAN's L_div on a separate batch Z_div of M latents from the shared stream, the same on every rank
    (step.div_step: lambda * sum_k max(0, tau - A_k), D frozen)."""

    def __init__(self, lam: float, tau: float, batch: int) -> None:
        self.lam, self.tau, self.batch = lam, tau, batch

    def after_g(self, ctx: StepContext, stats: dict[str, torch.Tensor]) -> None:
        s, h = ctx.s, ctx.h
        z_div = torch.randn(self.batch, s.G.z_dim, generator=s.rng).to(s.device)
        stats.update(div_step(ctx.G, s.D, z_div, self.lam, self.tau, 1.0 / dist.world(), h["aug_p"], ctx.cfg.aug,
                              s.aug_rng, h["noise_std"]))


class KControl(Part):
    """BEGAN's k_t (Berthelot et al. 2017, eq. 4) after each step, from gamma L(x) of the D step and L(G(z_G)) of the
    generator step, as in the paper, each a global batch mean; k_t is the loss's state, checkpointed."""

    def __init__(self, loss: Any) -> None:
        self.loss = loss

    def after_g(self, ctx: StepContext, stats: dict[str, torch.Tensor]) -> None:
        means = dist.all_reduce_sum(torch.stack([torch.as_tensor(stats["logit_real"]).float(),
                                                 torch.as_tensor(stats["loss_g"]).float()])) / dist.world()
        stats.update({k: torch.tensor(v) for k, v in self.loss.update(*means.tolist()).items()})

    def state_dict(self) -> dict[str, Any]:
        return self.loss.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loss.load_state_dict(state)


class Orthogonal(Part):
    """BigGAN's orthogonal regularization of G (Brock et al. 2019, eq. 3), beta times it once per step; every rank adds
    1 / world of it before the gradient sum."""

    def __init__(self, beta: float) -> None:
        self.beta = beta

    def after_g(self, ctx: StepContext, stats: dict[str, torch.Tensor]) -> None:
        ortho = orthogonal_penalty(ctx.s.G)
        (self.beta * ortho / dist.world()).backward()
        stats["ortho"] = ortho.detach()


@OBJECTIVE_PARTS.register("growth", order=0)
def _growth(cfg: Config, game: Any) -> Optional[Part]:
    return Growth(cfg.train.grow_kimg) if cfg.model.progressive else None


@OBJECTIVE_PARTS.register("separate_lazy_step", order=5)  # before weight clipping: D is clipped after its last step
def _separate_lazy(cfg: Config, game: Any) -> Optional[Part]:
    return SeparateLazyStep(game) if game.separate and game.regs else None


@OBJECTIVE_PARTS.register("weight_clip", order=10)
def _clip(cfg: Config, game: Any) -> Optional[Part]:
    return WeightClip(cfg.loss.clip) if cfg.loss.clip > 0 else None


@OBJECTIVE_PARTS.register("reuse_latents", order=20)
def _reuse(cfg: Config, game: Any) -> Optional[Part]:
    return ReuseLatents() if cfg.train.g_reuse_z else None


@OBJECTIVE_PARTS.register("mode_coverage", order=30)
def _mode_coverage(cfg: Config, game: Any) -> Optional[Part]:
    return ModeCoverage(cfg.loss.mma_lambda, cfg.loss.mma_tau, cfg.loss.mma_batch) if cfg.loss.mma_lambda > 0 else None


@OBJECTIVE_PARTS.register("k_control", order=40)
def _k_control(cfg: Config, game: Any) -> Optional[Part]:
    return KControl(game.loss) if LOSSES.caps(cfg.loss.name).get("k_control") else None


@OBJECTIVE_PARTS.register("orthogonal", order=60)
def _orthogonal(cfg: Config, game: Any) -> Optional[Part]:
    return Orthogonal(cfg.loss.ortho_beta) if cfg.loss.ortho_beta > 0 else None
