"""Lazy regularization in its two forms: fused (the penalties join D's adversarial step every k minibatches) and
StyleGAN2's (a D step of their own every k minibatches, D's Adam at lr c and betas^c, c = k / (k + 1)). The
hand-worked cases use a linear D, whose input gradient is its weight: R1 = R2 = ||w||^2 per sample."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gankit.augment import AugmentConfig
from gankit.cli import main
from gankit.errors import GankitError
from gankit.objectives import build_objective
from gankit.objectives.parts import SeparateLazyStep
from gankit.presets import resolve
from gankit.validate import validate


class Linear(torch.nn.Module):
    """D(x, c) = w . x, so dD/dx = w for every sample."""

    def __init__(self, w: list[float]) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))

    def forward(self, x, c=None):
        return x @ self.w


def context(D, opt, step, k, gamma, batch=4, per=4):
    game = build_objective(resolve("mlp-ring8", {"loss.reg_interval": str(k), "loss.lazy_form": "stylegan2"})).game
    s = SimpleNamespace(D=D, opt_D=opt, step=step, aug_rng=torch.Generator().manual_seed(0))
    ctx = SimpleNamespace(s=s, h={"gamma": gamma, "aug_p": 0.0, "noise_std": 0.0}, G=lambda z, c: z,
                          cfg=SimpleNamespace(aug=AugmentConfig(), train=SimpleNamespace(batch=batch)), per=per)
    return SeparateLazyStep(game), ctx


def test_stylegan2_corrects_d_adams_lr_and_betas_by_k_over_k_plus_1():
    D = Linear([3.0, -4.0])
    opt = torch.optim.Adam(D.parameters(), lr=0.01, betas=(0.5, 0.99))
    part, ctx = context(D, opt, step=1, k=4, gamma=0.5)
    part.begin(ctx)
    group = opt.param_groups[0]
    # c = 4 / 5: lr 0.01 * 0.8 = 0.008; 0.5^0.8 = exp(0.8 ln 0.5) = 0.574349177; 0.99^0.8 = exp(0.8 ln 0.99) = 0.991991971
    assert group["lr"] == pytest.approx(0.008, rel=1e-12)
    assert group["betas"][0] == pytest.approx(0.574349177, rel=1e-8)
    assert group["betas"][1] == pytest.approx(0.991991971, rel=1e-8)


def test_stylegan2_separate_step_on_every_kth_minibatch_weighted_k_gamma_over_2():
    D = Linear([3.0, -4.0])
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    real, fake_z = torch.ones(4, 2), torch.full((4, 2), 2.0)
    batches = [(real[:2], None, fake_z[:2]), (real[2:], None, fake_z[2:])]  # two micro-batches of a batch of 4
    part, ctx = context(D, opt, step=1, k=4, gamma=0.5)
    for step in (1, 2, 3, 5):  # not a multiple of k: no regularization step
        ctx.s.step = step
        part.after_d(ctx, batches)
    assert D.w.tolist() == [3.0, -4.0] and part.stats == {}
    D.w.grad = torch.full((2,), 100.0)  # the adversarial step's gradient, already applied: must not be stepped again
    ctx.s.step = 8
    part.after_d(ctx, batches)
    # the step's loss: k gamma / 2 (R1 + R2) = 4 * 0.5 / 2 * (25 + 25); its gradient in w: 1 * (2w + 2w) = 4w;
    # SGD: w - 0.1 * 4w = 0.6 w = (1.8, -2.4)
    assert D.w.tolist() == pytest.approx([1.8, -2.4], rel=1e-6)
    stats = {}
    part.after_g(ctx, stats)
    assert float(stats["r1"]) == pytest.approx(25.0) and float(stats["r2"]) == pytest.approx(25.0)
    part.after_g(ctx, stats := {})
    assert stats == {}  # logged once, on the step that had them


def test_fused_form_takes_no_separate_step_and_stylegan2_none_in_the_adversarial_step():
    fused = build_objective(resolve("r3gan-tiny", {"loss.reg_interval": "4"}))
    sep = build_objective(resolve("r3gan-tiny", {"loss.reg_interval": "4", "loss.lazy_form": "stylegan2"}))
    assert [type(p).__name__ for p in fused.parts] == [] and not fused.game.separate
    assert [type(p).__name__ for p in sep.parts] == ["SeparateLazyStep"] and sep.game.separate
    assert sep.game.penalty_weights({"gamma": 0.1}) == pytest.approx({"r1": 4 * 0.1 / 2, "r2": 4 * 0.1 / 2})


def test_stylegan2_form_trains_with_the_reg_step_every_k(tmp_path, monkeypatch):
    import gankit.objectives.adversarial as adv
    import gankit.objectives.parts as parts

    d_regs, reg_calls = [], []
    real_d, real_reg = adv.d_step, parts.reg_step
    monkeypatch.setattr(adv, "d_step", lambda *a: d_regs.append(sorted(a[3])) or real_d(*a))
    monkeypatch.setattr(parts, "reg_step", lambda *a: reg_calls.append(sorted(a[2])) or real_reg(*a))
    out = tmp_path / "sg2"
    assert main(["train", "--preset", "r3gan-tiny", "--kimg", "0.128", "--set", "train.threads=1", "--set",
                 "loss.reg_interval=2", "--set", "loss.lazy_form=stylegan2", "--set", "train.metrics=none",
                 "--out", str(out)]) == 0
    steps = len(d_regs)
    assert steps >= 4 and d_regs == [[]] * steps  # the adversarial step never carries the penalties
    assert reg_calls == [["r1", "r2"]] * ((steps + 1) // 2)  # steps 0, 2, 4, ...: one micro-batch each


@pytest.mark.parametrize("sets, words", [
    ({"loss.lazy_form": "styelgan2"}, "unknown lazy form 'styelgan2'; valid lazy form names: fused, stylegan2"),
    ({"loss.gamma": "0"}, "loss.gamma=0.0 weights r1, r2 by nothing: it must lie in (0, inf)"),
    ({"loss.gamma_final": "-1"}, "loss.gamma_final"),
])
def test_unknown_lazy_form_and_gamma_outside_0_inf_refused(sets, words):
    with pytest.raises(GankitError, match=words.replace("(", r"\(").replace(")", r"\)")):
        validate(resolve("r3gan-tiny", sets), (3, 16, 16), 0)


def test_gamma_zero_without_gamma_weighted_penalties_is_allowed():
    validate(resolve("r3gan-tiny", {"loss.gamma": "0", "loss.gamma_final": "0", "loss.regularizers": "[]"}), (3, 16, 16), 0)
