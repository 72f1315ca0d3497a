"""Objectives: a method's whole logic, so that the training loop names no method.

An Objective is the adversarial game (objectives.adversarial: D's loss and penalties, how G's gradient is formed)
plus the parts a method adds around it (objectives.parts: weight clipping after D's step, G's reuse of D's latents,
MMA-GAN's L_div, BigGAN's orthogonal penalty, BEGAN's k_t control, PGGAN's growth). Parts are registered factories
of the config and the game (OBJECTIVE_PARTS; a factory returns None where its method is off) and run in their
declared `order`.
The loop (train.train_step) calls, per step:

    begin -> n_critic x (D's micro-batches -> d_step -> all-reduce, Adam -> after_d)
          -> g_latents -> g_step -> after_g (extra G terms, state updates) -> all-reduce, Adam, EMA
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from ..config import Config
from ..registry import Registry
from ..state import TrainState

OBJECTIVE_PARTS = Registry("objective part")

Batch = tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]  # (real images, one-hot classes or None, latents)


@dataclass
class StepContext:
    """What one training step hands its objective: the run's state, the config, the schedule's values at this step."""

    s: TrainState
    cfg: Config
    h: dict[str, float]  # train.schedule(cfg, images): lr, beta2, gamma, aug_p, ema_half_life, noise_std
    G: nn.Module  # G's forward (torch.compile'd when train.compile); s.G holds the parameters
    per: int  # this rank's share of the global batch cfg.train.batch


class Part:
    """One piece of a method's logic; every hook defaults to doing nothing."""

    def begin(self, ctx: StepContext) -> None:
        """Before the step's first batch (e.g. PGGAN's level and fade-in)."""

    def reals(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """The real batch as this step trains on it (e.g. faded to PGGAN's current level)."""
        return x

    def after_d(self, ctx: StepContext) -> None:
        """After each D optimiser step (e.g. WGAN's weight clipping)."""

    def g_latents(self, d_batches: list[Batch], g_batches: list[Batch]) -> list[Batch]:
        """The batches G's adversarial term uses (e.g. the D step's latents instead of fresh ones)."""
        return g_batches

    def after_g(self, ctx: StepContext, stats: dict[str, torch.Tensor]) -> None:
        """After G's adversarial backward, before its gradient sum: extra G terms (backward) and state updates; may add
        to stats."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Objective:
    """The adversarial game plus its parts, called by the loop through one interface; its state is the parts'."""

    def __init__(self, game: Any, parts: list[Part], n_critic: int = 1) -> None:
        self.game, self.parts, self.n_critic = game, parts, n_critic

    @property
    def penalties(self) -> list[str]:
        """The names of D's penalties, logged on the progress line."""
        return list(self.game.regs)

    def begin(self, ctx: StepContext) -> None:
        for p in self.parts:
            p.begin(ctx)

    def reals(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        for p in self.parts:
            x = p.reals(x, ctx)
        return x

    def d_step(self, ctx: StepContext, batches: list[Batch]) -> dict[str, torch.Tensor]:
        return self.game.d_step(ctx, batches)

    def after_d(self, ctx: StepContext) -> None:
        for p in self.parts:
            p.after_d(ctx)

    def g_latents(self, d_batches: list[Batch], g_batches: list[Batch]) -> list[Batch]:
        for p in self.parts:
            g_batches = p.g_latents(d_batches, g_batches)
        return g_batches

    def g_step(self, ctx: StepContext, batches: list[Batch]) -> dict[str, torch.Tensor]:
        return self.game.g_step(ctx, batches)

    def after_g(self, ctx: StepContext, stats: dict[str, torch.Tensor]) -> None:
        for p in self.parts:
            p.after_g(ctx, stats)

    def state_dict(self) -> dict[str, Any]:
        return {k: v for p in self.parts for k, v in p.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for p in self.parts:
            p.load_state_dict(state)


def build_objective(cfg: Config) -> Objective:
    """The run's objective: the adversarial game from cfg.loss and cfg.train, and every part whose factory is on."""
    from . import parts  # noqa: F401  (registers the parts)
    from .adversarial import Adversarial

    game = Adversarial.from_config(cfg)
    factories = sorted(OBJECTIVE_PARTS, key=lambda name: OBJECTIVE_PARTS.caps(name)["order"])
    built = [OBJECTIVE_PARTS.get(name)(cfg, game) for name in factories]
    return Objective(game, [p for p in built if p is not None], cfg.train.n_critic)
