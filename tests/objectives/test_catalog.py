"""The first pieces of the stabilisation catalog: penalties on interpolates (WGAN-GP, 0-GP), weight
clipping, n_critic and TTUR, each against a case worked by hand or a property of a real run."""
import math

import pytest
import torch
from torch import nn

from gankit.augment import AugmentConfig
from gankit.checkpoint import list_checkpoints, load_checkpoint
from gankit.cli import main
from gankit.objectives.losses import LOSSES
from gankit.objectives.regularizers import REGULARIZERS, interpolates
from gankit.objectives.step import d_step
from gankit.validate import validate, validate_model

RING = ["--preset", "mlp-ring8", "--kimg", "0.64", "--set", "train.metrics=none", "--set", "train.tensorboard=false"]


class Linear(nn.Module):
    """D(x) = w . x: its input gradient is w everywhere, so every gradient penalty has a closed form."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x, c=None):
        return x @ self.w


class Shift(nn.Module):
    z_dim, num_classes = 2, 0

    def forward(self, z, c=None):
        return z + 3.0


@pytest.mark.parametrize("name, want", [("wgan_gp", (5.0 - 1.0) ** 2), ("gp0_interp", 25.0)])
def test_interpolate_penalties_closed_form(name, want):
    D = Linear([3.0, 4.0])  # |w| = 5
    regs = {name: REGULARIZERS.get(name)}
    stats = d_step(Shift(), D, LOSSES.get("wasserstein"), regs, torch.randn(6, 2), None, torch.randn(6, 2), 0.0, 0.0,
                   AugmentConfig(), torch.Generator().manual_seed(0), reg_weights={name: 10.0})
    assert abs(float(stats[name]) - want) < 1e-5
    # the D gradient carries lambda * d/dw penalty: for WGAN-GP, 10 * 2 (|w| - 1) w / |w| on top of the loss's
    D.w.grad = None
    real, z = torch.randn(6, 2), torch.randn(6, 2)
    d_step(Shift(), D, LOSSES.get("wasserstein"), regs, real, None, z, 0.0, 0.0, AugmentConfig(),
           torch.Generator().manual_seed(0), reg_weights={name: 10.0})
    w = torch.tensor([3.0, 4.0])
    loss_grad = -(real.mean(0)) + (z + 3.0).mean(0)  # d/dw mean(-D(x) + D(G(z)))
    pen_grad = 10 * (2 * (5 - 1) * w / 5 if name == "wgan_gp" else 2 * w)
    assert torch.allclose(D.w.grad, loss_grad + pen_grad, atol=1e-4)


def test_interpolates_lie_on_the_segments():
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    x = interpolates(real, fake, torch.Generator().manual_seed(1))
    eps = ((x - fake) / (real - fake)).flatten(1)
    assert torch.allclose(eps, eps[:, :1].expand_as(eps), atol=1e-4)  # one eps per sample
    assert bool(((eps >= 0) & (eps <= 1)).all()) and x.requires_grad


def test_weight_clipping_bounds_hold_after_every_step(tmp_path):
    out = tmp_path / "clip"
    assert main(["train", *RING, "--set", "loss.name=wasserstein", "--set", "loss.regularizers=[]",
                 "--set", "loss.clip=0.01", "--set", "train.n_critic=5", "--out", str(out)]) == 0
    D = load_checkpoint(list_checkpoints(out)[-1])[0]["D"]
    assert max(float(v.abs().max()) for v in D.values()) <= 0.01


def test_weight_clipping_refused_with_a_non_wasserstein_loss(tmp_path, capsys):
    assert main(["train", *RING, "--set", "loss.clip=0.01", "--out", str(tmp_path / "x")]) == 2
    assert "loss.name=wasserstein" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_n_critic_and_ttur(tmp_path):
    out = tmp_path / "ttur"
    assert main(["train", *RING, "--set", "train.n_critic=5", "--set", "train.lr_d_ratio=4", "--set", "train.beta1=0.5",
                 "--set", "train.betas_d=[0.0,0.9]",
                 "--set", "loss.regularizers=[wgan_gp]", "--set", "loss.name=wasserstein", "--out", str(out)]) == 0
    state = load_checkpoint(list_checkpoints(out)[-1])[0]
    assert state["counters"]["images"] == 640 and state["counters"]["step"] == 2  # 5 D steps of 64 real images per G step
    d_steps = int(next(iter(state["opt_D"]["state"].values()))["step"])
    g_steps = int(next(iter(state["opt_G"]["state"].values()))["step"])
    assert (d_steps, g_steps) == (10, 2)
    lr_g, lr_d = state["opt_G"]["param_groups"][0]["lr"], state["opt_D"]["param_groups"][0]["lr"]
    assert math.isclose(lr_d, 4 * lr_g) and state["opt_G"]["param_groups"][0]["betas"][0] == 0.5
    assert list(state["opt_D"]["param_groups"][0]["betas"]) == [0.0, 0.9]  # D's own betas


def _loss_cfg(**kw):
    from gankit.config import LossConfig
    return LossConfig(**kw)


def test_lsgan_targets_configurable_by_hand():
    from gankit.objectives.losses import build_loss

    loss = build_loss(_loss_cfg(name="lsgan", lsgan_abc=[-1.0, 1.0, 0.0]))  # Mao et al. eq. 8
    real, fake = torch.tensor([0.5]), torch.tensor([0.2])
    assert torch.allclose(loss.d(real, fake), torch.tensor([0.5 * 0.25 + 0.5 * 1.44]))
    assert torch.allclose(loss.g(None, fake), torch.tensor([0.5 * 0.04]))
    default = build_loss(_loss_cfg(name="lsgan"))
    assert torch.allclose(default.d(real, fake), torch.tensor([0.5 * 0.25 + 0.5 * 0.04]))


def test_label_smoothing_value_and_gradient_by_hand():
    from gankit.objectives.losses import build_loss

    loss = build_loss(_loss_cfg(name="nonsaturating", smooth_real=0.1, smooth_fake=0.05))
    real = torch.tensor([2.0], requires_grad=True)
    fake = torch.tensor([-1.0], requires_grad=True)
    val = loss.d(real, fake)
    sp = lambda t: math.log1p(math.exp(t))  # noqa: E731
    assert abs(float(val.detach()) - (sp(2.0) - 0.9 * 2.0 + sp(-1.0) - 0.05 * -1.0)) < 1e-6
    val.sum().backward()
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    assert abs(float(real.grad) - (sig(2.0) - 0.9)) < 1e-6  # D(x) is pushed to sigmoid = 0.9, not 1
    assert abs(float(fake.grad) - (sig(-1.0) - 0.05)) < 1e-6
    plain = build_loss(_loss_cfg(name="nonsaturating", smooth_real=1e-12))
    assert torch.allclose(plain.d(real.detach(), fake.detach()), LOSSES.get("nonsaturating").d(real.detach(), fake.detach()))


@pytest.mark.parametrize("kw, words", [({"loss.name": "rpgan", "loss.smooth_real": "0.1"}, "use minimax, nonsaturating"),
                                       ({"loss.name": "hinge", "loss.lsgan_abc": "[-1,1,0]"}, "only applies to lsgan")])
def test_loss_parameters_refused_where_they_mean_nothing(kw, words):
    from gankit.errors import GankitError
    from gankit.presets import resolve

    with pytest.raises(GankitError, match=words):
        validate(resolve("r3gan-tiny", kw), (3, 8, 8), 0)


def test_spectral_norm_top_singular_value_is_one_for_conv_and_linear():
    from gankit.networks import apply_spectral_norm, spectral_sigmas

    torch.manual_seed(0)
    D = apply_spectral_norm(nn.Sequential(nn.Conv2d(3, 8, 3), nn.LeakyReLU(0.2), nn.Conv2d(8, 4, 3, groups=2),
                                          nn.Flatten(), nn.Linear(4 * 4 * 4, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1)))
    with torch.no_grad():
        for m in D.modules():  # raw weights far from norm 1
            if hasattr(m, "parametrizations"):
                m.parametrizations.weight.original.mul_(7.0)
        for _ in range(50):  # one power iteration per training-mode forward
            D(torch.randn(4, 3, 8, 8))
    sig = spectral_sigmas(D)
    assert len(sig) == 4
    for name, m in D.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            top = float(torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2))  # the normalised weight
            raw = float(torch.linalg.matrix_norm(m.parametrizations.weight.original.detach().flatten(1), ord=2))
            assert abs(top - 1) < 1e-2, (name, top)
            assert abs(sig[name] - raw) < 1e-2 * raw


def test_spectral_norm_with_r3gan_is_refused(tmp_path, capsys):
    assert main(["train", "--preset", "r3gan-tiny", "--set", "model.spectral_norm=true", "--out", str(tmp_path / "x")]) == 2
    assert "Fix-up" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_spectral_norm_run_logs_each_sigma(tmp_path):
    import json
    out = tmp_path / "sn"
    assert main(["train", *RING, "--set", "model.spectral_norm=true", "--set", "loss.name=hinge",
                 "--set", "loss.regularizers=[]", "--out", str(out)]) == 0
    rec = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if '"loss_d"' in ln][-1]
    sigmas = {k: v for k, v in rec.items() if k.startswith("sn_sigma.")}
    assert len(sigmas) == 4 and all(v > 0 for v in sigmas.values())  # mlp-ring8: 3 hidden linear layers + the output one


def test_instance_noise_anneals_and_reaches_d():
    from gankit.presets import resolve
    from gankit.training.loop import schedule

    cfg = resolve("mlp-ring8", {"train.instance_noise": 0.5})
    cfg.train.horizon_kimg = cfg.train.kimg
    assert schedule(cfg, 0)["noise_std"] == 0.5 and schedule(cfg, cfg.train.horizon)["noise_std"] == 0.0
    D, G = Linear([1.0, 1.0]), Shift()
    real, z = torch.zeros(8, 2), torch.zeros(8, 2)
    quiet = d_step(G, D, LOSSES.get("nonsaturating"), {}, real, None, z, 0.0, 0.0, AugmentConfig(), torch.Generator())
    noisy = d_step(G, D, LOSSES.get("nonsaturating"), {}, real, None, z, 0.0, 0.0, AugmentConfig(),
                   torch.Generator().manual_seed(0), noise=0.5)
    assert float(quiet["logit_real"]) == 0.0 and float(noisy["logit_real"]) != 0.0


def test_orthogonal_penalty_by_hand():
    from gankit.objectives.regularizers import orthogonal_penalty

    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 1.0], [1.0, 0.0]]))  # W W^T = [[2, 1], [1, 1]]: off-diagonal 1, 1
    assert float(orthogonal_penalty(lin).detach()) == 2.0
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, -2.0]]))  # orthogonal rows, any norms: 0
    assert float(orthogonal_penalty(lin).detach()) == 0.0


def test_orthogonal_regularization_in_a_run(tmp_path):
    import json
    out = tmp_path / "ortho"
    assert main(["train", *RING, "--set", "loss.ortho_beta=1e-4", "--out", str(out)]) == 0
    rec = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if '"ortho"' in ln]
    assert rec and all(r["ortho"] > 0 for r in rec)


def _unrolled_grads(K, lr, D, G, loss, real, z, seed=0):
    from gankit.objectives.step import g_step

    G.zero_grad(set_to_none=True)
    g_step(G, D, loss, real, None, z, 0.0, AugmentConfig(), torch.Generator().manual_seed(seed), unroll=K, unroll_lr=lr)
    return [p.grad.clone() for p in G.parameters()]


def _tiny_pair():
    from gankit.networks.mlp import MLPDiscriminator, MLPGenerator

    torch.manual_seed(0)
    return MLPGenerator(2, 2, 16, 2), MLPDiscriminator(2, 16, 2)


def test_unrolled_gan_zero_steps_and_zero_lr_equal_the_plain_update():
    G, D = _tiny_pair()
    real, z = torch.randn(32, 2), torch.randn(32, 2)
    loss = LOSSES.get("nonsaturating")
    plain = _unrolled_grads(0, 0.0, D, G, loss, real, z)
    # K steps of size 0 go through the functional unroll (torch.func) and must give the very same gradient
    for got in (_unrolled_grads(1, 0.0, D, G, loss, real, z), _unrolled_grads(3, 0.0, D, G, loss, real, z)):
        assert all(torch.equal(a, b) for a, b in zip(plain, got))
    d_before = [p.clone() for p in D.parameters()]
    _unrolled_grads(5, 0.1, D, G, loss, real, z)
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters()))  # the unroll leaves D untouched


def test_unrolled_gan_gradient_flows_through_the_unrolled_d():
    G, D = _tiny_pair()
    real, z = torch.randn(32, 2), torch.randn(32, 2)
    loss = LOSSES.get("nonsaturating")
    plain = _unrolled_grads(0, 0.0, D, G, loss, real, z)
    unrolled = _unrolled_grads(3, 0.5, D, G, loss, real, z)
    assert max(float((a - b).abs().max()) for a, b in zip(plain, unrolled)) > 1e-4
    # the same K Adam steps with G's samples detached inside the unroll (D moves, but no second-order path to G)
    from torch.func import functional_call

    from gankit.objectives.step import adam_moments, unrolled_adam
    params = {n: p.detach().requires_grad_(True) for n, p in D.named_parameters()}
    moments, betas, eps = adam_moments(D, None)
    fake = G(z)
    for _ in range(3):
        dl = loss.d(functional_call(D, params, (real,)), functional_call(D, params, (fake.detach(),))).mean()
        grads = torch.autograd.grad(dl, list(params.values()))
        params, moments = unrolled_adam(params, grads, moments, 0.5, betas, eps)
        params = {n: w.detach().requires_grad_(True) for n, w in params.items()}
    G.zero_grad(set_to_none=True)
    loss.g(None, functional_call(D, params, (fake,))).mean().backward()
    first_order = [p.grad.clone() for p in G.parameters()]
    assert max(float((a - b).abs().max()) for a, b in zip(first_order, unrolled)) > 1e-6  # the unroll term matters


def test_the_unroll_takes_the_adam_steps_d_would_take():
    """Three unrolled steps from D's real Adam state (after 4 training steps) land on the parameters that
    torch.optim.Adam reaches with three real steps on the same loss (catches SGD steps, lost moments or a wrong
    step count in the bias correction)."""
    import copy

    from torch.func import functional_call

    from gankit.objectives.step import adam_moments, unrolled_adam
    G, D = _tiny_pair()
    loss = LOSSES.get("nonsaturating")
    real, z = torch.randn(32, 2), torch.randn(32, 2)
    opt = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.9), eps=1e-8)
    for _ in range(4):  # D's optimiser with moments and a step count, as in training
        opt.zero_grad()
        loss.d(D(torch.randn(32, 2)), D(G(torch.randn(32, 2)).detach())).mean().backward()
        opt.step()
    fake = G(z).detach()
    params = {n: p.detach().requires_grad_(True) for n, p in D.named_parameters()}
    moments, betas, eps = adam_moments(D, opt)
    ref, ref_opt = copy.deepcopy(D), copy.deepcopy(opt)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=2e-3, betas=(0.5, 0.9), eps=1e-8)
    ref_opt.load_state_dict(opt.state_dict())
    for _ in range(3):
        dl = loss.d(functional_call(D, params, (real,)), functional_call(D, params, (fake,))).mean()
        params, moments = unrolled_adam(params, torch.autograd.grad(dl, list(params.values())), moments, 2e-3, betas, eps)
        params = {n: w.detach().requires_grad_(True) for n, w in params.items()}
        ref_opt.zero_grad()
        loss.d(ref(real), ref(fake)).mean().backward()
        ref_opt.step()
    for (n, w), r in zip(params.items(), ref.parameters()):
        assert torch.allclose(w, r, rtol=1e-5, atol=1e-7), n
    assert any(not torch.allclose(w, p0) for (_, w), p0 in zip(params.items(), D.parameters()))  # D moved


def test_the_default_unroll_changes_gs_gradient_measurably():
    """At the catalog's ns+unrolled5 settings (mlp-ring8, K = 5 at D's learning rate, D's Adam state after 50 real
    steps), the unroll moves G's gradient by more than half its norm (measured: 181%; the SGD unroll it replaced,
    5 plain steps at the same rate: 13%, and 0.6% in the catalog's runs, where ns+unrolled5 came out as ns)."""
    from gankit.networks import build_networks
    from gankit.presets import resolve

    cfg = resolve("mlp-ring8")
    torch.manual_seed(0)
    G, D = build_networks(cfg.model, (2,), 0)
    loss = LOSSES.get("nonsaturating")
    opt = torch.optim.Adam(D.parameters(), lr=cfg.train.lr, betas=(float(cfg.train.beta1), float(cfg.train.beta2)))
    for _ in range(50):
        opt.zero_grad()
        loss.d(D(torch.randn(64, 2)), D(G(torch.randn(64, 2)).detach())).mean().backward()
        opt.step()
    real, z = torch.randn(64, 2), torch.randn(64, 2)
    from gankit.objectives.step import g_step

    def grads(k: int, d_opt=opt) -> torch.Tensor:
        G.zero_grad(set_to_none=True)
        g_step(G, D, loss, real, None, z, 0.0, AugmentConfig(), torch.Generator(), unroll=k, unroll_lr=cfg.train.lr,
               d_opt=d_opt)
        return torch.cat([p.grad.flatten() for p in G.parameters()])
    plain, unrolled, fresh = grads(0), grads(5), grads(5, None)
    assert float((unrolled - plain).norm() / plain.norm()) > 0.5
    assert float((unrolled - fresh).norm() / plain.norm()) > 0.01  # D's own moments are used, not fresh ones


def test_unrolled_gan_trains(tmp_path):
    out = tmp_path / "unrolled"
    assert main(["train", *RING, "--set", "train.unroll_steps=2", "--set", "loss.name=nonsaturating",
                 "--set", "loss.regularizers=[]", "--out", str(out)]) == 0
    assert all(torch.isfinite(v).all() for v in load_checkpoint(list_checkpoints(out)[-1])[0]["G"].values())


def test_minibatch_stddev_by_hand():
    from gankit.networks.layers import MinibatchStdDev

    h = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # one group of 2: std 1 for both features, mean 1
    assert torch.allclose(MinibatchStdDev(2)(h), torch.tensor([[0.0, 0.0, 1.0], [2.0, 2.0, 1.0]]), atol=1e-6)
    with pytest.raises(ValueError, match="multiple of its group"):
        MinibatchStdDev(4)(torch.zeros(6, 3))


def test_minibatch_discrimination_by_hand():
    from gankit.networks.layers import MinibatchDiscrimination

    layer = MinibatchDiscrimination(1, kernels=1, dim=1)
    with torch.no_grad():
        layer.T.fill_(1.0)
    h = torch.tensor([[0.0], [1.0], [3.0]])
    out = layer(h)
    e = math.exp
    want = torch.tensor([1 + e(-1) + e(-3), e(-1) + 1 + e(-2), e(-3) + e(-2) + 1])  # o_i = sum_j exp(-|h_i - h_j|)
    assert torch.allclose(out[:, 1], want, atol=1e-6) and torch.equal(out[:, :1], h)


def test_feature_matching_objective_by_hand():
    from gankit.objectives.step import g_step

    G, D = _tiny_pair()
    real, z = torch.randn(16, 2), torch.randn(16, 2)
    stats = g_step(G, D, LOSSES.get("nonsaturating"), real, None, z, 0.0, AugmentConfig(), torch.Generator(),
                   feature_matching=True)
    with torch.no_grad():
        want = (D.features(real).mean(0) - D.features(G(z)).mean(0)).square().sum()
    assert abs(float(stats["loss_g"]) - float(want)) < 1e-6
    assert all(p.grad is None for p in D.parameters()) and all(p.grad is not None for p in G.parameters())


@pytest.mark.parametrize("sets, words", [(["model.mbstd_group=4"], "r3gan discriminator has no minibatch-stddev"),
                                         (["model.mbdisc_kernels=4"], "layer of the mlp discriminator"),
                                         (["loss.feature_matching=true"], "needs D's hidden features")])
def test_batch_layers_and_feature_matching_refused_with_r3gan(tmp_path, capsys, sets, words):
    argv = ["train", "--preset", "r3gan-tiny", *sum((["--set", s] for s in sets), []), "--out", str(tmp_path / "x")]
    assert main(argv) == 2
    assert words in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_mlp_with_minibatch_layers_and_feature_matching_trains(tmp_path):
    out = tmp_path / "mb"
    assert main(["train", *RING, "--set", "model.mbstd_group=4", "--set", "model.mbdisc_kernels=8",
                 "--set", "loss.feature_matching=true", "--set", "loss.name=nonsaturating", "--set", "loss.regularizers=[]",
                 "--out", str(out)]) == 0
    state = load_checkpoint(list_checkpoints(out)[-1])[0]
    assert "batch_layers.1.T" in state["D"] and all(torch.isfinite(v).all() for v in state["G"].values())


def test_began_k_update_rule_and_losses_by_hand():
    from gankit.objectives.losses import BeganLoss

    loss = BeganLoss(gamma=0.5, lambda_k=0.1)
    out = loss.update(2.0, 0.5)  # balance = 0.5 * 2 - 0.5 = 0.5: k = 0 + 0.1 * 0.5
    assert math.isclose(loss.k, 0.05) and math.isclose(out["began_m"], 2.0 + 0.5) and out["began_k"] == loss.k
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 4.0])
    assert torch.allclose(loss.d(real, fake), real - 0.05 * fake) and torch.equal(loss.g(None, fake), fake)
    for _ in range(100):
        loss.update(10.0, 0.0)  # a large positive balance: k climbs and stops at 1
    assert loss.k == 1.0
    for _ in range(100):
        loss.update(0.0, 10.0)  # negative: down to 0, not below
    assert loss.k == 0.0
    loss.k = 0.3
    state = loss.state_dict()
    other = BeganLoss()
    other.load_state_dict(state)
    assert other.k == 0.3


def test_began_run_keeps_k_in_range(tmp_path):
    import json
    out = tmp_path / "began"
    assert main(["train", *RING, "--set", "loss.name=began", "--set", "model.arch=mlp-ae", "--set", "loss.regularizers=[]",
                 "--set", "loss.began_lambda_k=0.01", "--out", str(out)]) == 0
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if '"began_k"' in ln]
    assert lines and all(0.0 <= ln["began_k"] <= 1.0 and ln["began_m"] >= 0 for ln in lines)
    k = load_checkpoint(list_checkpoints(out)[-1])[0]["loss"]["k"]
    assert 0.0 <= k <= 1.0 and k > 0  # it moved off its start


def test_began_k_follows_the_generator_steps_loss(tmp_path):
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z_G))), 0, 1) with L(G(z_G)) the generator step's loss
    (Berthelot et al. 2017, eq. 4), checked on every logged step of a real run (catches the D step's L(G(z_D)))."""
    import json

    out = tmp_path / "began"
    assert main(["train", *RING, "--set", "loss.name=began", "--set", "model.arch=mlp-ae", "--set", "loss.regularizers=[]",
                 "--set", "loss.began_lambda_k=0.05", "--set", "train.log_kimg=0.064", "--out", str(out)]) == 0
    steps = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if '"began_k"' in ln]
    assert len(steps) == 10  # batch 64, one step per log line
    k = 0.0
    for r in steps:
        k = min(1.0, max(0.0, k + 0.05 * (0.5 * r["logit_real"] - r["loss_g"])))
        assert abs(r["began_k"] - k) < 1e-6, (r, k)
    assert any(abs(r["loss_g"] - r["logit_fake"]) > 1e-3 for r in steps)  # the two fake losses differ: the test can tell


@pytest.mark.parametrize("sets", [["loss.name=began"], ["model.arch=mlp-ae"]])
def test_began_needs_its_autoencoder_and_vice_versa(tmp_path, capsys, sets):
    argv = ["train", *RING, *sum((["--set", s] for s in sets), []), "--out", str(tmp_path / "x")]
    assert main(argv) == 2
    assert "autoencoder discriminator" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_orthogonal_init_gives_orthogonal_rows():
    from gankit.config import ModelConfig
    from gankit.networks import build_networks

    G, _ = build_networks(ModelConfig(arch="mlp", hidden=16, depth=2, z_dim=2, ortho_init=True), (2,), 0)
    for m in G.modules():
        if isinstance(m, nn.Linear):
            w = m.weight.detach()
            small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w  # the semi-orthogonal side is the identity
            assert torch.allclose(small, torch.eye(small.shape[0]), atol=1e-5)
    # BigGAN: G, D and G's shared class embedding, as BigGAN-PyTorch's init_weights('ortho') does for both networks
    # (catches an init that covers G only, or skips the embedding)
    G, D = build_networks(ModelConfig(arch="resnet", widths=[16] * 3, widths_d=[16] * 3, d_final_res=4, z_dim=18,
                                      shared_dim=8, hier=True, ortho_init=True), (3, 16, 16), 10)
    checked = 0
    for net in (G, D):
        for m in net.modules():
            w = getattr(m, "weight", None)
            if isinstance(m, (nn.Conv2d, nn.Linear)) or m is G.shared:
                w = w.detach().flatten(1)
                small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
                assert torch.allclose(small, torch.eye(small.shape[0]), atol=1e-4), type(m).__name__
                checked += 1
    assert checked > 20 and G.shared is not None
    from gankit.errors import GankitError
    with pytest.raises(GankitError, match="Fix-up"):
        validate_model(ModelConfig(arch="r3gan", widths=[8, 8], groups=[2, 2], ortho_init=True), (3, 8, 8), 0)


def test_pggan_layers_pixel_norm_and_equalized_learning_rate(tmp_path):
    """PGGAN (Karras et al. 2018, sec. 4): pixel norm by hand; every conv's stored weights N(0, 1) and its effective
    weights scaled by sqrt(2 / fan_in) (catches a missing or wrong He constant), the final dense layer's by
    1 / sqrt(fan_in) (catches a dense layer left out of the equalized learning rate); no batch norm in G or D; a real
    pggan-digits run trains through its fade-in."""
    import torch.nn.functional as F

    from gankit.errors import GankitError
    from gankit.networks import build_networks
    from gankit.networks.dcgan import PixelNorm
    from gankit.presets import resolve

    x = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
    assert torch.allclose(PixelNorm()(x).flatten(), torch.tensor([3.0, 4.0]) / math.sqrt(12.5 + 1e-8))
    cfg = resolve("pggan-digits")
    G, D = build_networks(cfg.model, (3, 16, 16), 0)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in [*G.modules(), *D.modules()])
    assert sum(isinstance(m, PixelNorm) for m in G.modules()) == 2
    convs = [m for m in [*G.modules(), *D.modules()] if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    for m in convs:
        raw = m.parametrizations.weight.original
        fan_in = (raw.shape[0] if isinstance(m, nn.ConvTranspose2d) else raw.shape[1]) * raw.shape[2] * raw.shape[3]
        assert torch.allclose(m.weight, raw * math.sqrt(2 / fan_in))
        if raw.numel() > 1000:  # N(0, 1): the sample std is within 5 of its standard errors, 1 / sqrt(2n)
            assert abs(float(raw.detach().std()) - 1) < 5 / math.sqrt(2 * raw.numel())
    dense = [m for m in D.modules() if isinstance(m, nn.Linear)]  # the logit (and class projection): gain 1
    assert dense, "PGGAN's D ends in a dense layer"
    for m in dense:
        raw = m.parametrizations.weight.original
        assert torch.allclose(m.weight, raw / math.sqrt(raw.shape[1]))
    conv = next(m for m in D.modules() if isinstance(m, nn.Conv2d))
    inp = torch.randn(2, conv.in_channels, 8, 8)
    raw = conv.parametrizations.weight.original
    want = F.conv2d(inp, raw * math.sqrt(2 / raw[0].numel()), stride=conv.stride, padding=conv.padding)
    assert torch.allclose(conv(inp), want, atol=1e-5)
    with pytest.raises(GankitError, match="PGGAN's layers"):
        validate_model(resolve("r3gan-tiny", {"model.pggan": True}).model, (3, 8, 8), 0)
    out = tmp_path / "pggan"
    assert main(["train", "--preset", "pggan-digits", "--kimg", "0.512", "--set", "train.grow_kimg=0.128", "--set",
                 "train.metrics=none", "--set", "train.tensorboard=false", "--out", str(out)]) == 0
