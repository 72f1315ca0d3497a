"""How dense post-hoc EMA snapshots must be: a simulated run (weights a random walk with steps shrinking as
exp(-t / (T/5)), 50 dimensions, seed 0), three profiles tracked by EDM2's eq. 3 (sigma_rel 0.05, 0.10, 0.07), the 0.07
one rebuilt from snapshots of the other two taken every N steps. Prints the largest error beside the distance from
the tracked 0.07 profile to the nearer stored one (the numbers in docs/training.md's post-hoc EMA section).

    python scripts/phema_density.py
"""
from __future__ import annotations

import numpy as np

from gankit.training.phema import sigma_rel_to_gamma, solve_mix


def main(steps: int = 200) -> None:
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=(steps + 1, 50)) * np.exp(-np.arange(steps + 1) / (steps / 5))[:, None], axis=0)
    gammas = [sigma_rel_to_gamma(s) for s in (0.05, 0.10, 0.07)]
    for every in (20, 10, 5):
        prof, snaps = [walk[1].copy() for _ in gammas], []
        for t in range(1, steps + 1):
            for i, g in enumerate(gammas):
                beta = (1 - 1 / t) ** (g + 1)
                prof[i] = beta * prof[i] + (1 - beta) * walk[t]
            if t % every == 0:
                snaps += [(t, gammas[i], prof[i].copy()) for i in range(2)]
        x = solve_mix(np.array([s[0] for s in snaps]), np.array([s[1] for s in snaps]), steps, gammas[2])
        err = np.abs(sum(c * s[2] for c, s in zip(x, snaps)) - prof[2]).max()
        near = min(np.abs(prof[0] - prof[2]).max(), np.abs(prof[1] - prof[2]).max())
        print(f"snapshots every {every:2d} steps: largest error {err:.2g} (nearer stored profile {near:.2g} away)")


if __name__ == "__main__":
    main()
