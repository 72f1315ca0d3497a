"""gankit.lab.stats against closed forms, scipy, and the coverage its intervals promise."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gankit.lab.stats import holm, t_interval, welch


def test_welch_by_hand() -> None:
    # v: mean 2, s^2 1; ref: mean 0, s^2 1; n 3 each: SE = sqrt(2/3), df = (2/3)^2 / (2 (1/3)^2 / 2) = 4
    c = welch([1.0, 2.0, 3.0], [-1.0, 0.0, 1.0])
    se = math.sqrt(2 / 3)
    assert c.diff == 2.0 and c.df == pytest.approx(4.0)
    assert c.lo == pytest.approx(2 - 2.7764451 * se, rel=1e-6) and c.hi == pytest.approx(2 + 2.7764451 * se, rel=1e-6)
    assert c.p == pytest.approx(stats.ttest_ind([1, 2, 3], [-1, 0, 1], equal_var=False).pvalue, rel=1e-9)
    assert c.mde == pytest.approx((2.7764451 + 0.9409646) * se, rel=1e-6)  # t_0.975(4) + t_0.8(4)


def test_welch_interval_covers_a_true_zero_95_percent_at_3_seeds() -> None:
    """Unequal spreads, no true difference: Welch's 95% interval holds 0 in 95% +- 2% of 4000 simulated studies."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(4000):
        c = welch(list(rng.normal(5, 1, 3)), list(rng.normal(5, 3, 3)))
        hits += c.lo <= 0 <= c.hi
    assert abs(hits / 4000 - 0.95) <= 0.02, hits / 4000


def test_mde_is_found_with_its_power() -> None:
    """A true difference equal to the MDE (computed from the true spread) is found about 80% of the time."""
    rng = np.random.default_rng(1)
    found = sum(welch(list(rng.normal(1.5, 1, 10)), list(rng.normal(0, 1, 10))).p < 0.05 for _ in range(2000))
    # MDE at n = 10, sd 1: (t_0.975(18) + t_0.8(18)) sqrt(0.2) = 1.35; 1.5 is a little above, so >= 80%
    assert 0.8 <= found / 2000 <= 0.95


def test_t_interval_and_holm() -> None:
    lo, hi = t_interval([1.0, 2.0, 3.0])  # mean 2, s 1, n 3: 2 +- 4.3026527 / sqrt(3)
    assert (lo, hi) == pytest.approx((2 - 4.3026527 / math.sqrt(3), 2 + 4.3026527 / math.sqrt(3)), rel=1e-6)
    assert holm([0.01, 0.04, 0.03, math.nan]) == pytest.approx([0.03, 0.06, 0.06, math.nan], nan_ok=True)
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_constant_arms_and_wording() -> None:
    same = welch([1.0, 1.0], [1.0, 1.0])
    assert same.diff == 0 and same.p == 1.0 and same.mde == 0
    assert math.isnan(welch([1.0, 1.0], [2.0, 2.0]).p)
    assert "no difference detected (detectable:" in welch([1.0, 2.0, 3.0], [1.5, 2.5, 2.0]).text()
    assert "no difference" not in welch([10.0, 11.0, 12.0], [1.0, 2.0, 3.0]).text()
    with pytest.raises(ValueError, match="at least 2 values"):
        welch([1.0], [1.0, 2.0])
