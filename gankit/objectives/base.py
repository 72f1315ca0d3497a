"""The objective's interface: the context a step hands it, the Part hooks, the Objective the loop calls."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from ..config import Config
from ..registry import Registry
from ..training.state import TrainState

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

    def after_d(self, ctx: StepContext, batches: list[Batch]) -> None:
        """After each D optimiser step, with that step's micro-batches (e.g. WGAN's weight clipping, StyleGAN2's
        separate lazy regularization step)."""

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

    def after_d(self, ctx: StepContext, batches: list[Batch]) -> None:
        for p in self.parts:
            p.after_d(ctx, batches)

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
