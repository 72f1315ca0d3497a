"""The adversarial game: D's loss and penalties on each D step, G's loss on each G step, over micro-batches."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..config import Config
from ..registry import Registry
from .losses import build_loss
from .regularizers import REGULARIZERS, Regularizer
from .step import d_step, g_step
from .base import Batch, StepContext


LAZY_FORMS = Registry("lazy form")


@dataclass(frozen=True)
class LazyForm:
    """How penalties are taken when loss.reg_interval = k: in D's adversarial step or in a D step of their own."""

    separate: bool
    about: str


LAZY_FORMS.register("fused")(LazyForm(False, "on every k-th minibatch the penalties, weighted k times, join the "
                                             "adversarial loss in D's one step; Adam as configured"))
LAZY_FORMS.register("stylegan2")(LazyForm(True, "StyleGAN2's: on every k-th minibatch a separate D step on the "
                                                "penalties alone, weighted k times; D's Adam at lr c and betas^c, "
                                                "c = k / (k + 1) (objectives.parts.SeparateLazyStep)"))


class Adversarial:
    """D: loss.d plus the penalties, lazily every reg_interval steps with their weight times the interval (the fused
    lazy form; the StyleGAN2 form takes them in a step of their own, objectives.parts.SeparateLazyStep);
    G: loss.g, formed directly, through `unroll` Adam steps of D (Metz et al. 2017) or by feature matching (Salimans
    et al. 2016). Each micro-batch's backward is weighted micro / global batch, so ranks and micro-batches sum to the
    global batch's mean gradient (step.d_step, step.g_step)."""

    def __init__(self, loss: Any, regs: dict[str, Regularizer], reg_interval: int = 1, lambda_gp: float = 10.0,
                 unroll: int = 0, unroll_lr: float = 0.0, feature_matching: bool = False, lazy_form: str = "fused") -> None:
        self.loss, self.regs, self.reg_interval, self.lambda_gp = loss, regs, max(1, reg_interval), lambda_gp
        self.unroll, self.unroll_lr, self.feature_matching = unroll, unroll_lr, feature_matching
        self.separate = LAZY_FORMS.get(lazy_form).separate

    @classmethod
    def from_config(cls, cfg: Config) -> "Adversarial":
        return cls(build_loss(cfg.loss), {n: REGULARIZERS.get(n) for n in cfg.loss.regularizers}, cfg.loss.reg_interval,
                   cfg.loss.lambda_gp, cfg.train.unroll_steps, cfg.train.unroll_lr, cfg.loss.feature_matching,
                   cfg.loss.lazy_form)

    def penalty_weights(self, h: dict[str, float]) -> dict[str, float]:
        """Each penalty's weight on the minibatches that take it: k gamma / 2 (R3GAN eq. 5 times the lazy interval),
        k lambda_gp on interpolates."""
        return {n: self.reg_interval * (self.lambda_gp if r.on == "interp" else h["gamma"] / 2)
                for n, r in self.regs.items()}

    def d_step(self, ctx: StepContext, batches: list[Batch]) -> dict[str, torch.Tensor]:
        h, s = ctx.h, ctx.s
        fused = not self.separate and s.step % self.reg_interval == 0
        active = self.regs if fused else {}
        weights = self.penalty_weights(h) if fused else {}
        stats: dict[str, torch.Tensor] = {}
        for real, c, z in batches:
            part = d_step(ctx.G, s.D, self.loss, active, real, c, z, h["gamma"], h["aug_p"], ctx.cfg.aug, s.aug_rng,
                          real.shape[0] / ctx.cfg.train.batch, weights, h["noise_std"])
            for name, v in part.items():
                stats[name] = stats.get(name, 0.0) + v * (real.shape[0] / ctx.per)
        return stats

    def g_step(self, ctx: StepContext, batches: list[Batch]) -> dict[str, torch.Tensor]:
        h, s = ctx.h, ctx.s
        d_lr = s.opt_D.param_groups[0]["lr"]  # D's learning rate at this step: what an unrolled step takes by default
        stats: dict[str, torch.Tensor] = {}
        for real, c, z in batches:
            part = g_step(ctx.G, s.D, self.loss, real, c, z, h["aug_p"], ctx.cfg.aug, s.aug_rng,
                          real.shape[0] / ctx.cfg.train.batch, h["noise_std"], self.unroll, self.unroll_lr or d_lr,
                          self.feature_matching, s.opt_D)
            stats["loss_g"] = stats.get("loss_g", 0.0) + part["loss_g"] * (real.shape[0] / ctx.per)
        return stats
