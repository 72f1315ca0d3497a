"""Cosine schedules in closed form, and the generator EMA."""
import math

import torch

from gankit.presets import resolve
from gankit.training.schedules import cosine_ramp, ema_beta
from gankit.training.loop import schedule, update_ema


def test_cosine_ramp_closed_form():
    T = 20e6
    assert cosine_ramp(0, T, 2e-4, 5e-5) == 2e-4
    assert math.isclose(cosine_ramp(T / 2, T, 2e-4, 5e-5), (2e-4 + 5e-5) / 2)
    assert math.isclose(cosine_ramp(T, T, 2e-4, 5e-5), 5e-5)
    assert math.isclose(cosine_ramp(2 * T, T, 2e-4, 5e-5), 5e-5)  # holds after the horizon
    assert math.isclose(cosine_ramp(T / 4, T, 0.0, 1.0), 0.5 * (1 - math.cos(math.pi / 4)))


def test_preset_schedule_cifar10():
    cfg = resolve("r3gan-cifar10")
    T = 20e6
    for t, f in ((0, 0.0), (T / 2, 0.5), (T, 1.0), (2 * T, 1.0)):
        h = schedule(cfg, t)
        assert math.isclose(h["lr"], 2e-4 + f * (5e-5 - 2e-4))
        assert math.isclose(h["beta2"], 0.9 + f * 0.09)
        assert math.isclose(h["gamma"], 0.05 + f * (0.005 - 0.05))
        assert math.isclose(h["aug_p"], f * 0.55, abs_tol=1e-15)
        assert math.isclose(h["ema_half_life"], f * 5e6, abs_tol=1e-9)


def test_ema_beta_and_lerp():
    assert ema_beta(512, 0) == 0.0  # half-life 0: the EMA copies G
    assert math.isclose(ema_beta(512, 512), 0.5)
    assert math.isclose(ema_beta(512, 5e6), 0.5 ** (512 / 5e6))
    G, E = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    p, pe = G.weight.detach().clone(), E.weight.detach().clone()
    update_ema(E, G, 0.9)
    assert torch.allclose(E.weight, p + 0.9 * (pe - p))  # lerp(p, p_ema, beta)
