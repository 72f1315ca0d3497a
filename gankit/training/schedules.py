"""Training schedules as pure functions of the number of images seen (R3GAN's cosine ramps)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config


def cosine_ramp(t: float, horizon: float, base: float, final: float) -> float:
    """v = base + (1 - decay) * (final - base), decay = (1 + cos(pi * min(t, T) / T)) / 2."""
    if horizon <= 0:
        return final
    decay = 0.5 * (1.0 + math.cos(math.pi * min(t, horizon) / horizon))
    return base + (1.0 - decay) * (final - base)


def ema_beta(batch: int, half_life_images: float) -> float:
    """Per-step EMA decay for a half-life in images: 0.5 ** (batch / half_life)."""
    return 0.5 ** (batch / max(half_life_images, 1e-8))


def schedule(cfg: "Config", images: float) -> dict[str, float]:
    """Every scheduled hyperparameter at `images` seen (R3GAN: cosine ramps over the horizon T)."""
    t, T = cfg.train, cfg.train.horizon
    return {"lr": cosine_ramp(images, T, t.lr, t.lr_final),
            "beta2": cosine_ramp(images, T, t.beta2, t.beta2_final),
            "gamma": cosine_ramp(images, T, cfg.loss.gamma, cfg.loss.gamma_final),
            "aug_p": cosine_ramp(images, T, 0.0, t.aug_p),
            "ema_half_life": cosine_ramp(images, T, 0.0 if t.ema_ramp else t.ema_kimg * 1000, t.ema_kimg * 1000),
            "noise_std": cosine_ramp(images, T, t.instance_noise, 0.0)}
