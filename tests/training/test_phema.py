"""Post-hoc EMA (gankit/training/phema.py): the profile algebra against closed forms and numeric integrals, and on a
real run a profile rebuilt from two stored ones equals a third tracked directly; kills resume bitwise."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.checkpoint import list_checkpoints, load_checkpoint
from gankit.cli import main
from gankit.training.phema import profile_dot, reconstruct, sigma_rel_to_gamma, solve_mix

RUN = ["train", "--preset", "mlp-grid25", "--kimg", "6.4", "--set", "train.batch=32", "--set", "train.snapshot_kimg=3.2",
       "--set", "train.phema_kimg=0.16",
       "--set", "train.metrics=none", "--set", "train.tensorboard=false", "--set", "train.threads=1"]


def test_sigma_rel_and_gamma_as_edm2_gives_them():
    """EDM2 (sec. 3.1): sigma_rel 0.05 is gamma 16.97, 0.10 is 6.94; and the width formula inverts the solve."""
    assert sigma_rel_to_gamma(0.05) == pytest.approx(16.97, abs=0.01)
    assert sigma_rel_to_gamma(0.10) == pytest.approx(6.94, abs=0.01)
    for s in (0.02, 0.07, 0.2):
        g = sigma_rel_to_gamma(s)
        assert np.sqrt((g + 1) / ((g + 2) ** 2 * (g + 3))) == pytest.approx(s, rel=1e-9)


def test_profile_inner_products_equal_the_integral():
    """<p(t_a, g_a), p(t_b, g_b)> by the closed form against a fine midpoint sum of the two densities."""
    for t_a, g_a, t_b, g_b in ((100.0, 6.9, 250.0, 17.0), (300.0, 17.0, 120.0, 3.0), (50.0, 2.0, 50.0, 2.0)):
        tau = (np.arange(200_000) + 0.5) * min(t_a, t_b) / 200_000
        pa, pb = (g_a + 1) * tau ** g_a / t_a ** (g_a + 1), (g_b + 1) * tau ** g_b / t_b ** (g_b + 1)
        numeric = (pa * pb).sum() * min(t_a, t_b) / 200_000
        assert profile_dot(np.float64(t_a), np.float64(g_a), np.float64(t_b), np.float64(g_b)) == pytest.approx(numeric, rel=1e-6)


def test_the_solve_rebuilds_a_profile_from_simulated_snapshots():
    """A random walk of weights, three profiles run by eq. 3 for 2000 steps; from snapshots of two (every 100 steps)
    the third is rebuilt to 1e-3 of the distance between the two. A solve on swapped coefficients is far off."""
    rng = np.random.default_rng(0)
    theta = np.cumsum(rng.normal(size=(2001, 50)), axis=0)
    gammas = [sigma_rel_to_gamma(s) for s in (0.05, 0.10, 0.07)]
    prof, snaps = [theta[1].copy() for _ in gammas], []
    for t in range(1, 2001):
        for i, g in enumerate(gammas):
            beta = (1 - 1 / t) ** (g + 1)
            prof[i] = beta * prof[i] + (1 - beta) * theta[t]
        if t % 100 == 0:
            snaps += [(t, gammas[i], prof[i].copy()) for i in range(2)]
    x = solve_mix(np.array([s[0] for s in snaps]), np.array([s[1] for s in snaps]), 2000, gammas[2])
    spread = np.abs(prof[0] - prof[1]).max()
    assert np.abs(sum(c * s[2] for c, s in zip(x, snaps)) - prof[2]).max() < 1e-3 * spread
    assert np.abs(sum(c * s[2] for c, s in zip(x[::-1], snaps)) - prof[2]).max() > 0.5 * spread


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phema") / "run"
    assert main([*RUN, "--set", "train.phema=0.05,0.10,0.07", "--out", str(out)]) == 0
    return out


def test_a_rebuilt_profile_equals_one_tracked_in_the_same_run(run):
    """200 steps of a real run, the profiles stored every 5 steps; the 0.07 profile rebuilt from the 0.05 and 0.10
    snapshots (40 each) against the 0.07 profile the run tracked: far closer than either stored profile is to it."""
    states, meta = load_checkpoint(list_checkpoints(run)[-1])
    tracked = states["phema"]
    rebuilt, rec = reconstruct(run, 0.07, sigma_rels=(0.05, 0.10), at_step=float(meta["step"]))
    assert rec["snapshots"] == 80 and rec["stored_sigma_rels"] == [0.05, 0.1]

    def dist(a: dict, b: dict) -> float:
        return max((a[k] - b[k]).abs().max().item() for k in rebuilt)
    nearest = min(dist(tracked["p0"], tracked["p2"]), dist(tracked["p1"], tracked["p2"]))
    assert dist(rebuilt, tracked["p2"]) < 0.05 * nearest, (dist(rebuilt, tracked["p2"]), nearest)


def test_the_phema_verb_writes_a_run_that_generates(run, tmp_path, capsys):
    out = tmp_path / "ph"
    assert main(["phema", str(run), "--sigma-rel", "0.08", "--out", str(out)]) == 0
    assert main(["generate", "--run", str(out), "--n", "16", "--out", str(tmp_path / "s.npz")]) == 0
    states, _ = load_checkpoint(list_checkpoints(out)[-1])
    src, _ = load_checkpoint(list_checkpoints(run)[-1])
    assert not torch.equal(states["G_ema"]["net.0.weight"], src["G_ema"]["net.0.weight"])  # G_ema replaced
    assert torch.equal(states["G"]["net.0.weight"], src["G"]["net.0.weight"])  # the rest as it was
    capsys.readouterr()
    for argv, words in ((["phema", str(run), "--sigma-rel", "0.5", "--out", str(tmp_path / "x")], "outside what"),
                        (["phema", str(run), "--sigma-rel", "0.08", "--out", str(out)], "exists"),
                        (["train", *RUN[1:], "--set", "train.phema=0.3", "--out", str(tmp_path / "y")], "(0, 0.28)")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and "\n" not in err, err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_damaged_snapshot_is_named_in_one_line(run, tmp_path, capsys):
    """A profile snapshot cut short (a disk fault, a copy interrupted) stops the rebuild with its name, not a
    traceback, and nothing is written."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    victim = sorted((copy / "phema").glob("phema-*.safetensors"))[3]
    victim.write_bytes(victim.read_bytes()[:100])
    capsys.readouterr()
    assert main(["phema", str(copy), "--sigma-rel", "0.08", "--out", str(tmp_path / "ph")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"cannot read post-hoc EMA snapshot {victim}" in err and "\n" not in err, err
    assert not (tmp_path / "ph").exists()


def test_foreign_or_incomplete_snapshots_are_refused_in_one_line(run, tmp_path, capsys):
    """A snapshot of another network (other tensors) or without its solve's metadata would silently bias the average:
    each is refused by name."""
    import shutil

    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    for case in ("foreign", "no-meta"):
        copy = tmp_path / case
        shutil.copytree(run, copy)
        victim = sorted((copy / "phema").glob("phema-*.safetensors"))[5]
        with safe_open(str(victim), "pt") as h:
            meta = h.metadata()
        tensors = load_file(str(victim))
        if case == "foreign":
            tensors["extra.weight"] = torch.zeros(3)
        else:
            meta = {k: v for k, v in meta.items() if k != "gamma"}
        save_file(tensors, str(victim), metadata=meta)
        capsys.readouterr()
        assert main(["phema", str(copy), "--sigma-rel", "0.08", "--out", str(tmp_path / f"{case}-out")]) == 2
        err = capsys.readouterr().err.strip()
        assert str(victim) in err and "\n" not in err and "Traceback" not in err, err
        assert not (tmp_path / f"{case}-out").exists()


def test_phema_on_a_run_without_profiles_is_one_line(tmp_path, capsys):
    plain = tmp_path / "plain"
    assert main([*RUN[:4], "0.064", *RUN[5:], "--out", str(plain)]) == 0
    capsys.readouterr()
    assert main(["phema", str(plain), "--sigma-rel", "0.08"]) == 2
    assert "trained without post-hoc EMA profiles" in capsys.readouterr().err


def test_profiles_resume_bitwise_after_a_kill(run, tmp_path):
    env = {**os.environ, "GANKIT_FAULT": "kill_at_step:77", "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "gankit", *RUN, "--set", "train.phema=0.05,0.10,0.07", "--out", str(tmp_path / "k")]
    assert subprocess.run(argv, env=env, capture_output=True).returncode == -signal.SIGKILL
    p = subprocess.run(argv, env={**env, "GANKIT_FAULT": ""}, capture_output=True, text=True)
    assert p.returncode == 0 and "resuming" in p.stdout, p.stderr
    a, _ = load_checkpoint(list_checkpoints(run)[-1])
    b, _ = load_checkpoint(list_checkpoints(tmp_path / "k")[-1])
    for i in range(3):
        for k in a["phema"][f"p{i}"]:
            assert torch.equal(a["phema"][f"p{i}"][k], b["phema"][f"p{i}"][k]), (i, k)
    from safetensors import safe_open

    files = sorted(p.name for p in (run / "phema").glob("*.safetensors"))
    assert files == sorted(p.name for p in (tmp_path / "k" / "phema").glob("*.safetensors")) and len(files) == 120
    for name in files:  # each snapshot, rewritten after the kill or not, holds the same tensors and metadata
        with safe_open(str(run / "phema" / name), "pt") as x, safe_open(str(tmp_path / "k" / "phema" / name), "pt") as y:
            assert x.metadata() == y.metadata() and all(torch.equal(x.get_tensor(k), y.get_tensor(k)) for k in x.keys())
