"""Training schedules as pure functions of the number of images seen (R3GAN's cosine ramps)."""
from __future__ import annotations

import math


def cosine_ramp(t: float, horizon: float, base: float, final: float) -> float:
    """v = base + (1 - decay) * (final - base), decay = (1 + cos(pi * min(t, T) / T)) / 2."""
    if horizon <= 0:
        return final
    decay = 0.5 * (1.0 + math.cos(math.pi * min(t, horizon) / horizon))
    return base + (1.0 - decay) * (final - base)


def ema_beta(batch: int, half_life_images: float) -> float:
    """Per-step EMA decay for a half-life in images: 0.5 ** (batch / half_life)."""
    return 0.5 ** (batch / max(half_life_images, 1e-8))
