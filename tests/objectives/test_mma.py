"""MMA-GAN (K sigmoid heads + mode-coverage loss) against its formulas, and the experiment runner."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gankit.cli import main
from gankit.lab.experiment import EXPERIMENTS, Experiment, Method, cells, run_experiment
from gankit.objectives.losses import LOSSES, mode_coverage

EPS = 1e-12


def _by_formula(r: torch.Tensor, f: torch.Tensor, eps: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The proposal's L_D and L_G per sample, written with probabilities: log(p + eps)."""
    pr, pf = torch.sigmoid(r), torch.sigmoid(f)
    ld = -(torch.log(pr + eps).mean(1) + torch.log(1 - pf + eps).mean(1))
    lg = -torch.log(pf + eps).mean(1)
    return ld, lg


def test_mma_losses_equal_the_formulas_on_hand_made_outputs():
    loss = LOSSES.get("mma")
    r = torch.tensor([[2.0, -1.0, 0.5, 0.0], [0.3, 1.2, -2.0, 4.0]], dtype=torch.float64)
    f = torch.tensor([[-1.5, 0.2, 3.0, -0.7], [0.0, -3.0, 1.0, 2.5]], dtype=torch.float64)
    ld, lg = _by_formula(r, f)
    assert torch.allclose(loss.d(r, f), ld, atol=1e-12) and torch.allclose(loss.g(None, f), lg, atol=1e-12)
    # first row by hand: -(1/4) sum_k [log s(r_k) + log(1 - s(f_k))]
    s = torch.sigmoid
    by_hand = -sum(torch.log(s(r[0, k])) + torch.log(1 - s(f[0, k])) for k in range(4)) / 4
    assert abs(float(loss.d(r, f)[0] - by_hand)) < 1e-12
    # log(p + eps) agrees where eps is negligible ...
    ld_eps, lg_eps = _by_formula(r, f, EPS)
    assert torch.allclose(loss.d(r, f), ld_eps, rtol=1e-9) and torch.allclose(loss.g(None, f), lg_eps, rtol=1e-9)
    # ... and saturates where it is not: at logit -40, -log(p + eps) is stuck near -log(eps) = 27.6, log-sigmoid gives 40
    far = torch.tensor([[-40.0]], dtype=torch.float64)
    assert abs(float(loss.g(None, far)) - 40.0) < 1e-9
    assert abs(float(_by_formula(far, far, EPS)[1]) - 27.63) < 0.01


def test_k1_mma_is_the_non_saturating_gan_and_heads_are_averaged():
    """K = 1 against the non-saturating GAN written out here in float64 (-log s(r) - log(1 - s(f)), -log s(f)), not
    against gankit's nonsaturating loss, which MMA calls internally; and K identical heads give the K = 1 value
    (catches a sum over heads instead of the mean, and a head axis read as the batch)."""
    g = torch.Generator().manual_seed(3)
    r, f = torch.randn(64, dtype=torch.float64, generator=g), torch.randn(64, dtype=torch.float64, generator=g)
    mma = LOSSES.get("mma")
    s = torch.sigmoid
    assert torch.allclose(mma.d(r[:, None], f[:, None]), -torch.log(s(r)) - torch.log(1 - s(f)), atol=1e-12)
    assert torch.allclose(mma.g(None, f[:, None]), -torch.log(s(f)), atol=1e-12)
    assert torch.allclose(mma.d(r.repeat(3, 1).T, f.repeat(3, 1).T), mma.d(r[:, None], f[:, None]), atol=1e-12)
    assert mma.d(r.repeat(3, 1).T, f.repeat(3, 1).T).shape == (64,)


def test_mode_coverage_is_zero_above_tau_and_flows_only_through_low_heads():
    logits = torch.tensor([[3.0, -2.0, 0.0], [2.0, -1.0, 0.2]], requires_grad=True)  # A = (0.92, 0.18, 0.52)
    l_div, a = mode_coverage(logits, tau=0.5)
    assert torch.allclose(a, torch.sigmoid(logits).mean(0))
    assert abs(float(l_div.detach()) - float(0.5 - a[1].detach())) < 1e-7  # only head 1 is below tau
    l_div.backward()
    assert torch.all(logits.grad[:, [0, 2]] == 0) and torch.all(logits.grad[:, 1] < 0)
    l_zero, _ = mode_coverage(logits.detach(), tau=0.15)  # every A_k >= tau
    assert float(l_zero) == 0.0


def _train(tmp_path, name: str, sets: list[str], reuse: bool = True) -> dict:
    out = tmp_path / name
    argv = ["train", "--preset", "mlp-grid25", "--kimg", "0.64", "--out", str(out), "--set", "train.metrics=none",
            "--set", "train.tensorboard=false", "--set", "train.log_kimg=0.064", "--set", f"train.g_reuse_z={reuse}",
            "--set", "loss.regularizers=[]", "--set", "train.ema_kimg=0", "--set", "train.threads=1"]  # fixed: bitwise arms
    assert main(argv + sum((["--set", s] for s in sets), [])) == 0
    ckpt = sorted((out / "checkpoints").glob("ckpt-*.safetensors"))[-1]
    return load_file(ckpt)


def test_k1_lambda0_mma_step_equals_the_standard_gan_step_and_reuse_is_live(tmp_path):
    """MMA-GAN with K = 1 and lambda = 0 trains bitwise like the non-saturating GAN with the same latent reuse; and
    the reuse flag itself changes training (a GAN with reuse off ends elsewhere), so the equality is not two arms
    that ignore it."""
    mma = _train(tmp_path, "mma", ["loss.name=mma", "model.heads=1", "loss.mma_lambda=0"])
    gan = _train(tmp_path, "gan", ["loss.name=nonsaturating"])
    fresh = _train(tmp_path, "fresh", ["loss.name=nonsaturating"], reuse=False)
    weights = [k for k in mma if k.startswith(("G.", "D.", "opt_"))]
    assert weights and all(torch.equal(mma[k], gan[k]) for k in weights)
    assert any(not torch.equal(gan[k], fresh[k]) for k in weights if k.startswith("G."))


def test_mma_run_logs_every_heads_activation(tmp_path):
    _train(tmp_path, "mma4", ["loss.name=mma", "model.heads=4", "loss.mma_lambda=0.5", "loss.mma_tau=0.5"])
    rows = [json.loads(line) for line in (tmp_path / "mma4" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss_d" in r]  # one step per log line (batch 64, log every 0.064 kimg)
    assert len(steps) == 10
    for r in steps:  # L_div = sum_k max(0, tau - A_k) from the logged A_k: catches logits logged for probabilities
        # or an A_k that is not the one L_div was computed from
        assert abs(r["l_div"] - sum(max(0.0, 0.5 - r[f"head{k}_div"]) for k in range(4))) < 1e-5, r
    last = steps[-1]
    assert len({round(last[f"head{k}_real"], 6) for k in range(4)}) == 4  # four heads, not one repeated


@pytest.mark.parametrize("sets, words", [(["model.heads=4"], "MMA-GAN's"), (["loss.mma_lambda=1"], "MMA-GAN's"),
                                         (["loss.name=mma", "loss.mma_tau=1.5"], "0 < loss.mma_tau < 1"),
                                         (["loss.name=mma", "model.arch=r3gan", "model.heads=4"], "not r3gan")])
def test_mma_settings_are_checked_before_anything_is_written(tmp_path, capsys, sets, words):
    argv = ["train", "--preset", "r3gan-tiny", "--out", str(tmp_path / "x"), *sum((["--set", s] for s in sets), [])]
    if "model.arch=r3gan" not in sets:
        argv[2] = "dcgan-digits"
    assert main(argv) == 2
    assert words in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_runner_resumes_a_partly_finished_grid(tmp_path, capsys):
    name = "test-tiny-grid"
    base = {"train.kimg": 0.256, "train.snapshot_kimg": 0.256, "train.metrics": "modes", "train.eval_n": 200,
            "train.tensorboard": False, "loss.regularizers": [], "train.ema_kimg": 0.0}
    EXPERIMENTS._items.pop(name, None)
    EXPERIMENTS.register(name)(Experiment(
        "two methods, one swept", {"grid25": ("mlp-grid25", base)},
        [Method("gan", {"loss.name": "nonsaturating"}),
         Method("mma", {"loss.name": "mma", "train.g_reuse_z": True}, {"model.heads": [2, 3]}, {"model.heads": "K"})],
        ["modes", "modes_hq_fraction"], seeds=[42, 43], plot=("modes", "modes_hq_fraction")))
    root = tmp_path / "exp"
    all_cells = cells(EXPERIMENTS.get(name))
    assert len(all_cells) == 6
    summary = run_experiment(name, root, progress=lambda m: None)
    paths = [c.path(root / name) for c in all_cells]
    assert all((p / "result.json").exists() for p in paths)
    assert {(r["method"], r.get("K", "")) for r in summary} == {("gan", ""), ("mma", 2), ("mma", 3)}
    # a partly finished grid: one cell lost its result (as if killed after its checkpoint), one never ran
    (paths[1] / "result.json").unlink()
    for f in (paths[5] / "run" / "checkpoints").glob("*"):
        f.unlink()
    (paths[5] / "result.json").unlink()
    before = {p: ((p / "result.json").stat().st_mtime_ns if (p / "result.json").exists() else None,
                  (p / "train.log").read_text()) for p in paths}
    ran = []
    run_experiment(name, root, progress=ran.append)
    assert ran[0].startswith(f"experiment {name}: 4 of 6 cells finished, 2 to run")
    for i, p in enumerate(paths):
        if i in (1, 5):
            assert (p / "result.json").exists() and (p / "train.log").read_text() != before[p][1]
        else:  # finished cells are not touched
            assert (p / "result.json").stat().st_mtime_ns == before[p][0] and (p / "train.log").read_text() == before[p][1]
    assert "resuming" in (paths[1] / "train.log").read_text()  # the interrupted cell continued from its checkpoint
    rows = list(csv.DictReader(open(root / name / "summary.csv")))
    assert len(rows) == 3 and all(r["seeds"] == "2" for r in rows)
    r = json.loads((paths[0] / "result.json").read_text())
    assert r["status"] == "ok" and 0 <= r["modes"] <= 25
    md = (root / name / "summary.md").read_text()
    assert "| grid25 | mma | 2 | 2 | 0 | 0 |" in md and "+-" in md
    assert (root / name / "grid25.png").read_bytes()[:4] == b"\x89PNG"
    EXPERIMENTS._items.pop(name)


@pytest.mark.parametrize("name", ["mma-ring8", "mma-grid25", "mma-digits", "mma-cifar10-cpu", "mma-stackedmnist", "mma-cifar10"])
def test_declared_experiments_resolve_to_valid_configs(name):
    from gankit.presets import resolve

    exp = EXPERIMENTS.get(name)
    grid = cells(exp)
    assert len({c.path(Path("x")) for c in grid}) == len(grid)  # one directory per cell
    for c in grid:
        cfg = resolve(c.preset, {k: f"[{','.join(map(str, v))}]" if isinstance(v, list) else str(v) for k, v in c.sets.items()})
        assert cfg.train.seed == c.seed and (cfg.loss.name == "mma") == c.method.startswith("mma")
    mma = [c for c in grid if c.method == "mma-gan"]
    assert len(mma) == len(exp.seeds) * len(exp.datasets) * len({tuple(c.params.items()) for c in mma})


def test_l_div_sees_what_the_adversarial_term_sees_and_leaves_bn_statistics_alone():
    """div_step augments (and noises) its samples like the adversarial term, and D's BatchNorm running statistics
    are the same after it as before (catches L_div on raw samples while D trains on augmented ones, and a G-side
    term moving a frozen D's statistics)."""
    from gankit.augment import AUGMENTS, AugmentConfig
    from gankit.config import ModelConfig
    from gankit.networks import build_networks
    from gankit.objectives.step import div_step

    torch.manual_seed(0)
    G, D = build_networks(ModelConfig(arch="dcgan", widths=[16, 8], z_dim=8, heads=4), (3, 16, 16), 0)
    G.train(), D.train()
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    seen = []
    D.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    cfg = AugmentConfig(**{k: 0.0 for k in AUGMENTS})
    cfg.brightness = 1.0
    z = torch.randn(16, 8)
    before = {n: b.clone() for n, b in D.named_buffers()}
    div_step(G, D, z, 0.5, 0.5, 1.0, 1.0, cfg, torch.Generator().manual_seed(1))
    after = dict(D.named_buffers())
    assert all(torch.equal(before[n], after[n]) for n in before), [n for n in before if not torch.equal(before[n], after[n])]
    with torch.no_grad():
        raw = G(z)
    assert not torch.allclose(seen[-1], raw)  # augmented, as in the adversarial term
    div_step(G, D, z, 0.5, 0.5, 1.0, 0.0, cfg, torch.Generator().manual_seed(1))
    assert torch.allclose(seen[-1], raw, atol=1e-6)  # p = 0: the samples as they are
