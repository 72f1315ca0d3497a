"""Objectives: the config picks a method's parts, each part does its one job, the loop calls every hook and names no
method. (That the refactor into objectives changed no result is tests/training/test_bitwise.py.)"""
from __future__ import annotations

import ast
import inspect

import pytest
import torch

from gankit.training import loop as train_module
from gankit.objectives import OBJECTIVE_PARTS, Part, build_objective
from gankit.objectives.parts import KControl, ReuseLatents, WeightClip
from gankit.presets import resolve


def parts_of(preset: str, **sets: str) -> list[str]:
    return [type(p).__name__ for p in build_objective(resolve(preset, sets)).parts]


@pytest.mark.parametrize("preset, sets, parts", [
    ("r3gan-tiny", {}, []),
    ("mlp-ring8", {"loss.name": "mma", "model.heads": "4", "loss.mma_lambda": "0.5", "train.g_reuse_z": "true"},
     ["ReuseLatents", "ModeCoverage"]),
    ("mlp-ring8", {"loss.name": "mma", "model.heads": "4", "loss.mma_lambda": "0"}, []),  # heads alone: no part
    ("mlp-ring8", {"loss.name": "wasserstein", "loss.clip": "0.01", "train.n_critic": "5"}, ["WeightClip"]),
    ("mlp-ring8", {"loss.name": "began", "model.arch": "mlp-ae", "loss.regularizers": "[]"}, ["KControl"]),
    ("biggan-digits", {}, []),  # orthogonal init only
    ("biggan-digits", {"loss.ortho_beta": "1e-4"}, ["Orthogonal"]),
    ("pggan-digits", {}, ["Growth"]),
])
def test_the_config_picks_the_parts(preset, sets, parts):
    assert parts_of(preset, **sets) == parts


def test_n_critic_penalties_and_state_come_from_the_objective():
    obj = build_objective(resolve("mlp-ring8", {"loss.name": "wasserstein", "loss.regularizers": "[wgan_gp]",
                                                "train.n_critic": "5"}))
    assert obj.n_critic == 5 and obj.penalties == ["wgan_gp"] and obj.state_dict() == {}
    began = build_objective(resolve("mlp-ring8", {"loss.name": "began", "model.arch": "mlp-ae", "loss.regularizers": "[]"}))
    began.game.loss.k = 0.25
    state = began.state_dict()
    assert state == {"k": 0.25}  # the checkpoint's "loss" entry, as before objectives existed
    began.game.loss.k = 0.0
    began.load_state_dict(state)
    assert began.game.loss.k == 0.25


def test_weight_clip_reuse_and_k_control_do_their_one_job():
    class Ctx:  # the one field these parts read
        class s:
            D = torch.nn.Linear(3, 2)
    with torch.no_grad():
        Ctx.s.D.weight.fill_(0.5)
    WeightClip(0.01).after_d(Ctx, [])
    assert float(Ctx.s.D.weight.detach().abs().max()) == pytest.approx(0.01) and float(Ctx.s.D.bias.detach().abs().max()) <= 0.01
    d = [(torch.zeros(1), None, torch.full((1,), 1.0))]
    g = [(torch.ones(1), None, torch.full((1,), 2.0))]
    (real, c, z), = ReuseLatents().g_latents(d, g)
    assert float(real) == 1.0 and float(z) == 1.0  # G's fresh reals, the D step's latents
    loss = build_objective(resolve("mlp-ring8", {"loss.name": "began", "model.arch": "mlp-ae",
                                                 "loss.regularizers": "[]"})).game.loss
    stats = {"logit_real": torch.tensor(2.0), "loss_g": torch.tensor(0.5)}
    KControl(loss).after_g(None, stats)
    # k_1 = clip(0 + lambda_k (gamma L(x) - L(G(z)))) = 0.001 * (0.5 * 2 - 0.5) = 0.0005; M = 2 + |0.5| = 2.5
    assert float(stats["began_k"]) == pytest.approx(0.0005) and float(stats["began_m"]) == pytest.approx(2.5)


def test_the_loop_calls_every_hook_of_a_new_part(tmp_path):
    """A part registered from outside gankit joins every run's objective; the loop calls its hooks in step order."""
    calls: list[str] = []

    class Recorder(Part):
        def begin(self, ctx):
            calls.append("begin")

        def reals(self, x, ctx):
            calls.append("reals")
            return x

        def after_d(self, ctx, batches):
            calls.append("after_d")

        def g_latents(self, d_batches, g_batches):
            calls.append("g_latents")
            return g_batches

        def after_g(self, ctx, stats):
            calls.append("after_g")
            stats["recorded"] = torch.tensor(1.0)

    OBJECTIVE_PARTS.register("recorder", order=99)(lambda cfg, game: Recorder())
    try:
        cfg = resolve("mlp-ring8", {"train.kimg": "0.128", "train.n_critic": "2", "train.metrics": "none",
                                    "train.tensorboard": "false", "data.size": "1000"})
        train_module.train(cfg, tmp_path / "run", progress=lambda m: None)
    finally:
        OBJECTIVE_PARTS._items.pop("recorder"), OBJECTIVE_PARTS._caps.pop("recorder")
    step = ["begin", "reals", "after_d", "reals", "after_d", "reals", "g_latents", "after_g"]  # n_critic = 2
    assert calls == step * 1  # 128 images at batch 64 with 2 D steps each: one training step
    assert "recorded" in (tmp_path / "run" / "metrics.jsonl").read_text()


def test_train_step_names_no_method():
    """The loop's step is method-agnostic: no hasattr probe, no method's config field, no method's name."""
    tree = ast.parse(inspect.getsource(train_module.train_step))
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | \
            {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
            {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    method_words = {"hasattr", "loss", "clip", "mma_lambda", "mma_batch", "g_reuse_z", "unroll_steps", "feature_matching",
                    "ortho_beta", "progressive", "grow_kimg", "reg_interval", "lambda_gp", "mma", "began", "wgan", "pggan"}
    assert not names & method_words, names & method_words
    assert "t.n_critic" not in inspect.getsource(train_module.train_step)  # the objective's n_critic, not the config's
    assert len(inspect.getsource(train_module.train_step).splitlines()) <= 42
