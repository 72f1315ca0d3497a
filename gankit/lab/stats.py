"""The statistics every results page uses: Welch t intervals, the minimum detectable difference, Holm's correction.

A study here has 2-10 seeds per arm. A percentile bootstrap over so few seeds is far too narrow (at 3 seeds it
covered a true zero difference 81% of the time in a simulation); Welch's t interval, which does not assume equal
variances, covers it at its nominal rate (tests/lab/test_stats.py checks 95% +- 2% at 3 seeds). A comparison that
finds nothing reports the difference it could have found (80% power), so "no difference detected" claims no more.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class Comparison:
    """mean(v) - mean(ref) with Welch's interval, two-sided p and minimum detectable difference."""

    diff: float
    lo: float
    hi: float
    p: float
    df: float
    mde: float
    n: int
    n_ref: int

    def text(self, alpha: float = 0.05) -> str:
        """'+d [lo, hi], p x' and, where the interval holds 0, the wording that claims no more than the MDE."""
        s = f"{self.diff:+.3g} [{self.lo:+.3g}, {self.hi:+.3g}], p {self.p:.2g}"
        if not (self.p < alpha):
            s += f"; no difference detected (detectable: {self.mde:.3g})"
        return s


def welch(v: list[float], ref: list[float], level: float = 0.95, power: float = 0.8) -> Comparison:
    """Welch's t comparison of two sets of seeds (each with at least 2 values).

    SE = sqrt(s1^2/n1 + s2^2/n2) with sample variances; df by Welch-Satterthwaite; the interval diff +- t_{(1+level)/2}
    x SE; the minimum detectable difference (t_{(1+level)/2} + t_power) x SE, the true difference the two-sided test
    at 1 - level finds with probability `power`. Both sets constant: no spread to test against (p and the interval
    NaN where the means differ, exact where they agree)."""
    a, b = np.asarray(v, float), np.asarray(ref, float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's test needs at least 2 values per arm, got {len(a)} and {len(b)}")
    d = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        nan = math.nan if d else 0.0
        return Comparison(d, d if not d else nan, d if not d else nan, 1.0 if not d else math.nan, math.nan, 0.0,
                          len(a), len(b))
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    q = float(stats.t.ppf((1 + level) / 2, df))
    p = float(2 * stats.t.sf(abs(d) / se, df))
    return Comparison(d, d - q * se, d + q * se, p, float(df), (q + float(stats.t.ppf(power, df))) * se,
                      len(a), len(b))


def t_interval(v: list[float], level: float = 0.95) -> tuple[float, float]:
    """Student's t interval of the mean of v (n >= 2)."""
    x = np.asarray(v, float)
    h = float(stats.t.ppf((1 + level) / 2, len(x) - 1)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return float(x.mean()) - h, float(x.mean()) + h


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error over all the given tests; NaN stays NaN, uncounted)."""
    idx = [i for i, p in enumerate(pvalues) if math.isfinite(p)]
    m, out, running = len(idx), [math.nan] * len(pvalues), 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out
