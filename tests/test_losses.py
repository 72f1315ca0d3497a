"""The R3GAN loss against hand-made discriminators with closed-form gradients."""
import torch
import torch.nn.functional as F

from gankit.augment import AugmentConfig
from gankit.losses import LOSSES
from gankit.regularizers import REGULARIZERS
from gankit.step import d_step, g_step


class QuadraticD(torch.nn.Module):
    """D(x) = a * sum(x^2) + b . x : grad = 2 a x + b, known exactly."""

    def __init__(self, dim):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.3))
        self.b = torch.nn.Parameter(torch.linspace(-1, 1, dim))

    def forward(self, x, c=None):
        x = x.flatten(1)
        return self.a * x.square().sum(1) + x @ self.b


class FixedG(torch.nn.Module):
    """G(z) = z reshaped; lets the test know the fakes."""

    z_dim = 12
    num_classes = 0

    def __init__(self):
        super().__init__()
        self.s = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, z, c=None):
        return (self.s * z).view(-1, 3, 2, 2)


def test_rpgan_values_by_hand():
    loss = LOSSES.get("rpgan")
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 1.0])
    assert torch.allclose(loss.d(real, fake), torch.log1p(torch.exp(fake - real)))
    assert torch.allclose(loss.g(real, fake), torch.log1p(torch.exp(real - fake)))
    assert abs(loss.d(torch.zeros(1), torch.zeros(1)).item() - 0.6931471805599453) < 1e-7


def test_r1_r2_analytic_and_d_step():
    torch.manual_seed(0)
    D, G = QuadraticD(12), FixedG()
    real, z = torch.randn(4, 3, 2, 2), torch.randn(4, 12)
    fake = z.view(-1, 3, 2, 2)
    gamma = 0.7
    regs = {n: REGULARIZERS.get(n) for n in ("r1", "r2")}
    stats = d_step(G, D, LOSSES.get("rpgan"), regs, real, None, z, gamma, 0.0, AugmentConfig(), torch.Generator())
    a, b = D.a.detach(), D.b.detach()

    def gp(x):  # ||2 a x + b||^2 per sample
        return (2 * a * x.flatten(1) + b).square().sum(1)

    def logit(x):
        return a * x.flatten(1).square().sum(1) + x.flatten(1) @ b

    assert abs(stats["r1"] - gp(real).mean().item()) < 1e-5
    assert abs(stats["r2"] - gp(fake).mean().item()) < 1e-5
    assert abs(stats["loss_d"] - F.softplus(logit(fake) - logit(real)).mean().item()) < 1e-6
    # the penalty's gradient reaches D: compare with autograd on the closed-form total
    a_, b_ = D.a.detach().clone().requires_grad_(), D.b.detach().clone().requires_grad_()
    lr = a_ * real.flatten(1).square().sum(1) + real.flatten(1) @ b_
    lf = a_ * fake.flatten(1).square().sum(1) + fake.flatten(1) @ b_
    pen = (2 * a_ * real.flatten(1) + b_).square().sum(1) + (2 * a_ * fake.flatten(1) + b_).square().sum(1)
    (F.softplus(lf - lr) + gamma / 2 * pen).mean().backward()
    assert torch.allclose(D.a.grad, a_.grad, atol=1e-5) and torch.allclose(D.b.grad, b_.grad, atol=1e-5)
    assert G.s.grad is None  # fakes are detached in the D step


def test_g_step_freezes_d_and_uses_softplus():
    torch.manual_seed(1)
    D, G = QuadraticD(12), FixedG()
    real, z = torch.randn(4, 3, 2, 2), torch.randn(4, 12)
    stats = g_step(G, D, LOSSES.get("rpgan"), real, None, z, 0.0, AugmentConfig(), torch.Generator())
    with torch.no_grad():
        expect = F.softplus(D(real) - D(z.view(-1, 3, 2, 2))).mean().item()
    assert abs(stats["loss_g"] - expect) < 1e-6
    assert D.a.grad is None and D.b.grad is None and G.s.grad is not None
    assert all(p.requires_grad for p in D.parameters())


def test_penalty_taken_before_augmentation():
    """With augmentation on, R1 is the gradient w.r.t. the un-augmented reals (a linear D: grad = b)."""
    torch.manual_seed(2)
    D, G = QuadraticD(12), FixedG()
    with torch.no_grad():
        D.a.zero_()
    regs = {"r1": REGULARIZERS.get("r1")}
    cfg = AugmentConfig(**{k: 0.0 for k in ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
                                             "contrast", "lumaflip", "hue", "saturation", "cutout")})
    stats = d_step(G, D, LOSSES.get("rpgan"), regs, torch.randn(4, 3, 2, 2), None, torch.randn(4, 12), 1.0,
                   1.0, cfg, torch.Generator().manual_seed(0))
    assert abs(stats["r1"] - D.b.detach().square().sum().item()) < 1e-5  # brightness shifts do not change it


def test_registry_unknown_names_list_valid():
    import pytest

    from gankit.errors import GankitError
    with pytest.raises(GankitError, match="valid loss names: nonsaturating, rpgan"):
        LOSSES.get("hinge2")
    with pytest.raises(GankitError, match="r1, r2"):
        REGULARIZERS.get("r3")
