"""Post-hoc EMA (Karras et al. 2024, EDM2, sec. 3): track a few power-function EMA profiles of G while training,
snapshot them, and afterwards rebuild G averaged with any EMA length as a least-squares mix of the snapshots.

A power-function profile with exponent gamma averages the weights seen up to step t with density proportional to
tau^gamma (eq. 2); its relative width sigma_rel = sqrt((gamma + 1) / ((gamma + 2)^2 (gamma + 3))) is the std of
tau / t under that density. The running form is theta_hat_t = beta_t theta_hat_{t-1} + (1 - beta_t) theta_t with
beta_t = (1 - 1/t)^(gamma + 1) (eq. 3, t the step, from 1). Profiles p(t_i, gamma_i) are functions of tau; their
inner products are integrals of products of powers, so the mix x that best matches a wanted profile solves
A x = b with A_ij = <p_i, p_j> and b_i = <p_i, p_out> (sec. 3.2); G's weights are then sum_i x_i theta_hat_i.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..config import phema_sigmas
from ..errors import GankitError


def sigma_rel_to_gamma(sigma_rel: float) -> float:
    """The exponent gamma whose profile has relative width sigma_rel (the larger real root of the cubic
    sigma^2 (gamma + 2)^2 (gamma + 3) = gamma + 1; EDM2: 0.05 -> 16.97, 0.10 -> 6.94)."""
    s2 = sigma_rel ** 2
    roots = np.roots([s2, 7 * s2, 16 * s2 - 1, 12 * s2 - 1])  # s2 (g^3 + 7g^2 + 16g + 12) - g - 1
    real = [r.real for r in roots if abs(r.imag) < 1e-9 and r.real > -1]
    if not real:
        raise GankitError(f"sigma_rel {sigma_rel} is wider than a power-function EMA can be; use a value in (0, 0.28)")
    return float(max(real))


def profile_dot(t_a: np.ndarray, g_a: np.ndarray, t_b: np.ndarray, g_b: np.ndarray) -> np.ndarray:
    """<p(t_a, g_a), p(t_b, g_b)> = int_0^min (g_a+1) tau^g_a / t_a^(g_a+1) (g_b+1) tau^g_b / t_b^(g_b+1) dtau,
    written as C / t_max (t_min / t_max)^g_of_the_longer so that no power of t overflows."""
    c = (g_a + 1) * (g_b + 1) / (g_a + g_b + 1)
    shorter_a = t_a <= t_b
    return np.where(shorter_a, c / t_b * (t_a / t_b) ** g_b, c / t_a * (t_b / t_a) ** g_a)


def solve_mix(t_in: np.ndarray, g_in: np.ndarray, t_out: float, g_out: float) -> np.ndarray:
    """Least-squares coefficients x of the stored profiles (t_in, g_in) for the profile (t_out, g_out)."""
    t_in, g_in = np.asarray(t_in, np.float64), np.asarray(g_in, np.float64)
    A = profile_dot(t_in[:, None], g_in[:, None], t_in[None, :], g_in[None, :])
    b = profile_dot(t_in, g_in, np.float64(t_out), np.float64(g_out))
    return np.linalg.lstsq(A, b, rcond=None)[0]


class PowerEMA:
    """The tracked profiles of G (float32 copies of its floating-point state), updated after every step."""

    def __init__(self, G: nn.Module, sigma_rels: tuple[float, ...]) -> None:
        self.sigma_rels = tuple(float(s) for s in sigma_rels)
        self.gammas = [sigma_rel_to_gamma(s) for s in self.sigma_rels]
        self.profiles = [{k: v.detach().float().clone() for k, v in G.state_dict().items() if v.is_floating_point()}
                         for _ in self.sigma_rels]

    @torch.no_grad()
    def update(self, G: nn.Module, step: int) -> None:
        """Fold G's weights after `step` (1, 2, ...) into every profile (eq. 3)."""
        state = G.state_dict()
        for gamma, prof in zip(self.gammas, self.profiles):
            beta = (1 - 1 / step) ** (gamma + 1)
            for k, v in prof.items():
                v.lerp_(state[k].float(), 1 - beta)

    def save(self, folder: Path, images: int, step: int) -> None:
        """One safetensors file per profile at this point (phema-IMAGES-K), with step, gamma and sigma_rel."""
        from safetensors.torch import save

        from ..files import write_atomic

        folder.mkdir(parents=True, exist_ok=True)
        for i, (s, gamma, prof) in enumerate(zip(self.sigma_rels, self.gammas, self.profiles)):
            meta = {"step": str(step), "images": str(images), "gamma": repr(gamma), "sigma_rel": repr(s)}
            write_atomic(folder / f"phema-{images:09d}-{i}.safetensors",
                         save({k: v.contiguous() for k, v in prof.items()}, metadata=meta))

    def state_dict(self) -> dict[str, Any]:
        return {"sigma_rels": list(self.sigma_rels), **{f"p{i}": p for i, p in enumerate(self.profiles)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if [float(s) for s in state["sigma_rels"]] != list(self.sigma_rels):
            raise GankitError(f"the checkpoint tracks post-hoc EMA profiles {state['sigma_rels']}, this run "
                              f"{list(self.sigma_rels)}; train.phema cannot change during a run")
        for i, p in enumerate(self.profiles):
            for k, v in state[f"p{i}"].items():
                p[k].copy_(v)


def _open_snapshot(f: Path, read: Callable[[Any], Any]) -> Any:
    """read(handle) on one stored profile snapshot; a damaged file is named in one line, never a traceback."""
    from safetensors import safe_open

    try:
        with safe_open(str(f), "pt") as h:
            return read(h)
    except Exception as e:  # noqa: BLE001
        raise GankitError(f"cannot read post-hoc EMA snapshot {f} ({type(e).__name__}); delete it or restore "
                          "it, then re-run") from None


def snapshot_index(run_dir: Path, sigma_rels: tuple[float, ...] | None = None) -> list[tuple[dict, Path]]:
    """(metadata, file) of every stored profile snapshot of a run (only the given sigma_rels, if any); the
    metadata alone is read, so a run's snapshots are never all in memory at once."""
    files = sorted((Path(run_dir) / "phema").glob("phema-*.safetensors"))
    if not files:
        raise GankitError(f"{run_dir} has no post-hoc EMA snapshots (RUN/phema/); train with --set "
                          "train.phema=0.05,0.10 to keep them")
    def read_meta(h: Any) -> dict:
        meta = {k: float(v) for k, v in (h.metadata() or {}).items()}
        if not {"sigma_rel", "step", "gamma"} <= set(meta):
            raise KeyError("sigma_rel, step, gamma")  # an incomplete record: named like a damaged file
        return meta

    out = []
    for f in files:
        meta = _open_snapshot(f, read_meta)
        if sigma_rels is None or any(math.isclose(meta["sigma_rel"], s) for s in sigma_rels):
            out.append((meta, f))
    return out


def reconstruct(run_dir: Path, sigma_rel: float, sigma_rels: tuple[float, ...] | None = None,
                at_step: float | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """G's floating-point state averaged with profile sigma_rel at the last snapshot (or at_step), from the stored
    snapshots (of sigma_rels only, if given), and a record of the solve; summed one file at a time (memory: the
    float64 sum plus one snapshot, whatever their number)."""
    snaps = snapshot_index(run_dir, sigma_rels)
    t_in = np.array([m["step"] for m, _ in snaps])
    g_in = np.array([m["gamma"] for m, _ in snaps])
    t_out = float(at_step if at_step is not None else t_in.max())
    x = solve_mix(t_in, g_in, t_out, sigma_rel_to_gamma(sigma_rel))
    acc: dict[str, torch.Tensor] = {}
    for xi, (_, f) in zip(x, snaps):
        part = _open_snapshot(f, lambda h: {k: h.get_tensor(k) for k in h.keys()})
        if acc and (part.keys() != acc.keys() or any(part[k].shape != acc[k].shape for k in acc)):
            raise GankitError(f"post-hoc EMA snapshot {f} holds other tensors than {snaps[0][1].name} (another "
                              "network?); move the foreign snapshots out of RUN/phema/, then re-run")
        for k, v in part.items():
            acc[k] = acc[k] + float(xi) * v.double() if k in acc else float(xi) * v.double()
    state = {k: v.float() for k, v in acc.items()}
    record = {"sigma_rel": sigma_rel, "step": t_out, "snapshots": len(snaps),
              "stored_sigma_rels": sorted({m["sigma_rel"] for m, _ in snaps}), "coefficient_sum": float(x.sum())}
    return state, record


def write_phema_run(run_dir: Path, sigma_rel: float, out: Path) -> dict[str, Any]:
    """A new run directory `out`: run_dir's config and latest checkpoint with G_ema rebuilt at sigma_rel (phema.json
    records the solve). Refuses a sigma_rel the stored profiles cannot reach and an existing `out`."""
    from ..checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
    from ..files import new_folder, write_atomic, write_json
    from ..run import load_run_config

    cfg = load_run_config(run_dir)
    stored = phema_sigmas(cfg.train.phema) if cfg.train.phema else ()
    if not stored:
        raise GankitError(f"{run_dir} was trained without post-hoc EMA profiles (train.phema is empty); train with "
                          "--set train.phema=0.05,0.10 to keep them")
    lo, hi = min(stored) / 2, max(stored) * 2  # reconstructions stay close within about this span (EDM2, fig. 3)
    if not lo <= sigma_rel <= hi:
        raise GankitError(f"--sigma-rel {sigma_rel:g} lies outside what the stored profiles {list(stored)} can rebuild "
                          f"({lo:g} to {hi:g}); pick one inside, or train with wider profiles in train.phema")
    if out.exists():
        raise GankitError(f"--out {out} exists; name a new directory")
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise GankitError(f"{run_dir} has no checkpoint yet")
    states, meta = load_checkpoint(ckpts[-1])
    g, record = reconstruct(run_dir, sigma_rel, at_step=float(meta["step"]))
    states["G_ema"] = {**states["G_ema"], **g}
    with new_folder(out) as build:  # the same whole-folder write as an import
        save_checkpoint(build / "checkpoints" / ckpts[-1].name, states, meta)
        write_atomic(build / "config.json", cfg.to_json().encode())
        write_json(build / "phema.json", {"source": str(Path(run_dir).resolve()), "checkpoint": ckpts[-1].name, **record})
    return record
