"""The first pieces of the stabilisation catalog: penalties on interpolates (WGAN-GP, 0-GP), weight
clipping, n_critic and TTUR, each against a case worked by hand or a property of a real run."""
import math

import pytest
import torch
from torch import nn

from gankit.augment import AugmentConfig
from gankit.checkpoint import list_checkpoints, load_checkpoint
from gankit.cli import main
from gankit.losses import LOSSES
from gankit.regularizers import REGULARIZERS, interpolates
from gankit.step import d_step

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
                 "--set", "loss.regularizers=[wgan_gp]", "--set", "loss.name=wasserstein", "--out", str(out)]) == 0
    state = load_checkpoint(list_checkpoints(out)[-1])[0]
    assert state["counters"]["images"] == 640 and state["counters"]["step"] == 2  # 5 D steps of 64 real images per G step
    d_steps = int(next(iter(state["opt_D"]["state"].values()))["step"])
    g_steps = int(next(iter(state["opt_G"]["state"].values()))["step"])
    assert (d_steps, g_steps) == (10, 2)
    lr_g, lr_d = state["opt_G"]["param_groups"][0]["lr"], state["opt_D"]["param_groups"][0]["lr"]
    assert math.isclose(lr_d, 4 * lr_g) and state["opt_D"]["param_groups"][0]["betas"][0] == 0.5


def _loss_cfg(**kw):
    from gankit.config import LossConfig
    return LossConfig(**kw)


def test_lsgan_targets_configurable_by_hand():
    from gankit.losses import build_loss

    loss = build_loss(_loss_cfg(name="lsgan", lsgan_abc=[-1.0, 1.0, 0.0]))  # Mao et al. eq. 8
    real, fake = torch.tensor([0.5]), torch.tensor([0.2])
    assert torch.allclose(loss.d(real, fake), torch.tensor([0.5 * 0.25 + 0.5 * 1.44]))
    assert torch.allclose(loss.g(None, fake), torch.tensor([0.5 * 0.04]))
    default = build_loss(_loss_cfg(name="lsgan"))
    assert torch.allclose(default.d(real, fake), torch.tensor([0.5 * 0.25 + 0.5 * 0.04]))


def test_label_smoothing_value_and_gradient_by_hand():
    from gankit.losses import build_loss

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


@pytest.mark.parametrize("kw, words", [(dict(name="rpgan", smooth_real=0.1), "use nonsaturating or minimax"),
                                       (dict(name="hinge", lsgan_abc=[-1.0, 1.0, 0.0]), "only applies to lsgan")])
def test_loss_parameters_refused_where_they_mean_nothing(kw, words):
    from gankit.errors import GankitError
    from gankit.losses import build_loss

    with pytest.raises(GankitError, match=words):
        build_loss(_loss_cfg(**kw))
