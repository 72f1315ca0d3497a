"""fit_widths: the recipe's sizing rule on any architecture, with a rate worked out by hand."""
from __future__ import annotations

from gankit.presets import resolve
from gankit.recipe.size import MIN_WIDTH, fit_widths, scaled


def _rate(cfg) -> float:
    """A stand-in cost: img/s = 1e6 / (sum of G's widths)^2, so halving the widths gives 4x the rate."""
    return 1e6 / sum(cfg.model.widths) ** 2


def test_scaled_divides_g_and_d_and_keeps_the_floor() -> None:
    c = resolve("sngan-cifar10", {})  # G 256 x4, D 128 x4
    s = scaled(c, 4)
    assert s.model.widths == [64] * 4 and s.model.widths_d == [32] * 4
    assert scaled(c, 64).model.widths_d == [MIN_WIDTH] * 4
    r = scaled(resolve("r3gan-digits", {}), 2)  # widths 64/32/16 -> 32/16/8, groups at w // 8
    assert r.model.widths == [32, 16, 8] and r.model.groups == [4, 2, 1]


def test_fit_picks_the_widest_that_shows_the_target() -> None:
    c = resolve("sngan-cifar10", {})  # sum of widths 1024: 0.954 img/s; /2: 3.81; /4: 15.3; /8: 61.0
    fit = fit_widths(c, seconds=3600, target=50_000, rate=_rate)  # needs 13.9 img/s: /4 is the widest
    assert fit.divisor == 4 and fit.cfg.model.widths == [64] * 4
    assert [d for d, _ in fit.tried] == [1, 2, 4]
    assert abs(fit.images - 3600 * 1e6 / 256 ** 2) < 1e-6
    assert fit_widths(c, 3600, 10_000, _rate).divisor == 2  # 13.7k images at /2, 3.4k at /1
    assert fit_widths(c, 3600, 3_000, _rate).divisor == 1  # 3,433 images at the paper width


def test_fit_stops_at_the_narrowest() -> None:
    fit = fit_widths(resolve("dcgan-cifar10", {}), seconds=1, target=1e12, rate=_rate)
    assert min(fit.cfg.model.widths) == MIN_WIDTH and fit.images < 1e12
