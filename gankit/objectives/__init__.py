"""Objectives: a method's whole logic, so that the training loop names no method.

An Objective is the adversarial game (objectives.adversarial: D's loss and penalties, how G's gradient is formed)
plus the parts a method adds around it (objectives.parts: weight clipping after D's step, G's reuse of D's latents,
MMA-GAN's L_div, BigGAN's orthogonal penalty, BEGAN's k_t control, PGGAN's growth). Parts are registered factories
of the config and the game (OBJECTIVE_PARTS; a factory returns None where its method is off) and run in their
declared `order`.
The loop (training.loop.train_step) calls, per step:

    begin -> n_critic x (D's micro-batches -> d_step -> all-reduce, Adam -> after_d)
          -> g_latents -> g_step -> after_g (extra G terms, state updates) -> all-reduce, Adam, EMA
"""
from __future__ import annotations

from ..config import Config
from . import parts  # noqa: F401  (registers the parts)
from .adversarial import Adversarial
from .base import OBJECTIVE_PARTS, Batch, Objective, Part, StepContext

__all__ = ["OBJECTIVE_PARTS", "Batch", "Objective", "Part", "StepContext", "build_objective"]


def build_objective(cfg: Config) -> Objective:
    """The run's objective: the adversarial game from cfg.loss and cfg.train, and every part whose factory is on."""
    game = Adversarial.from_config(cfg)
    factories = sorted(OBJECTIVE_PARTS, key=lambda name: OBJECTIVE_PARTS.caps(name)["order"])
    built = [OBJECTIVE_PARTS.get(name)(cfg, game) for name in factories]
    return Objective(game, [p for p in built if p is not None], cfg.train.n_critic)
