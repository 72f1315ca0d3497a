"""Any preset's networks sized to the minutes: the classics' arms of an equal-time study get the recipe's rule.

The recipe (plan.py) picks R3GAN's widths as the widest that shows TARGET_IMAGES real images in the minutes. A
baseline at its paper's width can see far fewer in the same minutes (SNGAN's CIFAR-10 ResNet: 9.5 img/s on one
thread, 34k images an hour), so an equal-time comparison that kept paper widths would compare against an
untrained baseline. `fit_widths` applies the same rule to any architecture: its widths (G's and D's) halved until
the network shows the target, never wider than the paper's, never below MIN_WIDTH.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config import Config, apply_overrides

SCALES = (1, 2, 4, 8, 16)  # the paper's widths divided by these, widest first
MIN_WIDTH = 8  # no stage narrower than this


def scaled(cfg: Config, divisor: int) -> Config:
    """cfg with every stage width of G and D divided by `divisor` (at least MIN_WIDTH); R3GAN's groups follow at the
    paper's 16 channels per group on the 2x hidden width."""
    div = lambda ws: [max(MIN_WIDTH, w // divisor) for w in ws]  # noqa: E731
    sets = {"model.widths": div(cfg.model.widths), "model.widths_d": div(cfg.model.widths_d)}
    if cfg.model.arch == "r3gan":
        sets["model.groups"] = [max(1, w // 8) for w in sets["model.widths"]]
    return apply_overrides(cfg, sets)


@dataclass
class Fit:
    divisor: int  # the paper's widths over the chosen ones
    cfg: Config
    img_per_s: float
    images: float  # real images shown in the seconds at that rate
    tried: list[tuple[int, float]]  # (divisor, img/s) of every timed candidate


def fit_widths(cfg: Config, seconds: float, target: float, rate: Callable[[Config], float]) -> Fit:
    """The widest of cfg / SCALES whose measured img/s shows `target` images in `seconds` (else the narrowest)."""
    tried: list[tuple[int, float]] = []
    for d in SCALES:
        cand = scaled(cfg, d)
        v = rate(cand)
        tried.append((d, v))
        if v * seconds >= target or d == SCALES[-1] or min(cand.model.widths) == MIN_WIDTH:
            return Fit(d, cand, v, v * seconds, tried)
    raise AssertionError("unreachable: the last scale returns")
