"""The R3GAN loss against hand-made discriminators with closed-form gradients."""
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit.augment import AugmentConfig
from gankit.objectives.losses import LOSSES
from gankit.objectives.regularizers import REGULARIZERS
from gankit.objectives.step import d_step, g_step


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
    """R1 is the gradient w.r.t. the un-augmented reals, through the augmentation: ||d D(A(x)) / dx||^2. With a
    quadratic D and contrast (which scales each image's deviations from its mean by a random c), that differs from
    the gradient w.r.t. the augmented images, ||dD/dA(x)||^2, by about c^2: the test computes both with the same
    augmentation draws and checks d_step gives the first (catches a penalty taken after augmentation)."""
    from gankit.augment import AUGMENTS, augment

    torch.manual_seed(2)
    D, G = QuadraticD(12), FixedG()
    regs = {"r1": REGULARIZERS.get("r1")}
    cfg = AugmentConfig(**{k: 0.0 for k in AUGMENTS})
    cfg.contrast = 1.0
    real, z = torch.randn(64, 3, 2, 2), torch.randn(64, 12)
    stats = d_step(G, D, LOSSES.get("rpgan"), regs, real, None, z, 1.0, 1.0, cfg, torch.Generator().manual_seed(0))
    x = real.clone().requires_grad_(True)
    y = augment(x, 1.0, cfg, torch.Generator().manual_seed(0))  # the same draws d_step made for the reals
    (before, after) = torch.autograd.grad(D(y).sum(), (x, y))
    right, wrong = before.square().flatten(1).sum(1).mean(), after.square().flatten(1).sum(1).mean()
    assert abs(float(stats["r1"]) - float(right)) < 1e-5 * float(right)
    assert abs(float(wrong) - float(right)) > 0.05 * float(right)  # the two orders are far apart here


def test_registry_unknown_names_list_valid():
    import pytest

    from gankit.errors import GankitError
    with pytest.raises(GankitError, match="valid loss names: began, hinge, lsgan, minimax, mma, nonsaturating, ragan, rpgan, rplsgan, wasserstein"):
        LOSSES.get("hinge2")
    with pytest.raises(GankitError, match="r1, r1_fd, r2, r2_fd"):
        REGULARIZERS.get("r3")


def test_catalog_losses_by_hand():
    """Values and gradients on fixed logits equal the formulas worked by hand."""
    import math
    r, f = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 1.0])

    def sp(t):
        return math.log1p(math.exp(t))

    cases = {  # name: (D loss per sample, G loss per sample)
        "nonsaturating": ([sp(-2) + sp(0.5), sp(1) + sp(1)], [sp(-0.5), sp(-1)]),
        "minimax": ([sp(-2) + sp(0.5), sp(1) + sp(1)], [-sp(0.5), -sp(1)]),
        "hinge": ([0 + 1.5, 2 + 2], [-0.5, -1.0]),
        "wasserstein": ([0.5 - 2, 1 + 1], [-0.5, -1.0]),
        "lsgan": ([0.5 * 1 + 0.5 * 0.25, 0.5 * 4 + 0.5 * 1], [0.5 * 0.25, 0.0]),
        # means: E D(x) = 0.5, E D(G(z)) = 0.75
        "ragan": ([sp(-(2 - 0.75)) + sp(0.5 - 0.5), sp(-(-1 - 0.75)) + sp(1 - 0.5)],
                  [sp(-(0.5 - 0.5)) + sp(2 - 0.75), sp(-(1 - 0.5)) + sp(-1 - 0.75)]),
        # paired: D(x) - D(G(z)) = 1.5 and -2; D: (1.5 - 1)^2, (-2 - 1)^2; G: (-1.5 - 1)^2, (2 - 1)^2
        "rplsgan": ([0.25, 9.0], [6.25, 1.0]),
    }
    for name, (d_ref, g_ref) in cases.items():
        loss = LOSSES.get(name)
        g_real = r if loss.g_needs_real else None
        assert torch.allclose(loss.d(r, f), torch.tensor(d_ref), atol=1e-6), name
        assert torch.allclose(loss.g(g_real, f), torch.tensor(g_ref), atol=1e-6), name
    # gradients: hinge D is flat once the margin is met; Wasserstein's are the constants -1 / +1
    rr, ff = r.clone().requires_grad_(), f.clone().requires_grad_()
    LOSSES.get("hinge").d(rr, ff).sum().backward()
    assert rr.grad.tolist() == [0.0, -1.0] and ff.grad.tolist() == [1.0, 1.0]
    rr, ff = r.clone().requires_grad_(), f.clone().requires_grad_()
    LOSSES.get("wasserstein").d(rr, ff).sum().backward()
    assert rr.grad.tolist() == [-1.0, -1.0] and ff.grad.tolist() == [1.0, 1.0]
    ff = f.clone().requires_grad_()
    LOSSES.get("lsgan").g(None, ff).sum().backward()
    assert torch.allclose(ff.grad, f - 1)


def test_pggan_drift_adds_eps_times_the_square_of_d_on_reals():
    """PGGAN's D loss (Karras et al. 2018, A.1): WGAN's D(G(z)) - D(x) plus eps_drift D(x)^2. Real logits 2 and -1, fake
    0.5 and 1, eps 0.001: 0.5 - 2 + 0.004 = -1.496 and 1 + 1 + 0.001 = 2.001; d/dD(x) = -1 + 2 eps D(x) = -0.996 and
    -1.002; G's loss is unchanged. Refused with a loss that has no drift capability."""
    import pytest

    from gankit.config import Config
    from gankit.errors import GankitError
    from gankit.objectives.losses import build_loss
    from gankit.presets import resolve
    from gankit.validate import validate

    cfg = Config()
    cfg.loss.name, cfg.loss.drift = "wasserstein", 0.001
    loss = build_loss(cfg.loss)
    rr, ff = torch.tensor([2.0, -1.0], requires_grad=True), torch.tensor([0.5, 1.0])
    d = loss.d(rr, ff)
    assert torch.allclose(d, torch.tensor([-1.496, 2.001]), atol=1e-7)
    d.sum().backward()
    assert torch.allclose(rr.grad, torch.tensor([-0.996, -1.002]), atol=1e-7)
    assert torch.equal(loss.g(None, ff), -ff)
    with pytest.raises(GankitError, match=r"loss.drift .* use wasserstein or loss.drift=0"):
        validate(resolve("r3gan-tiny", {"loss.drift": "0.001"}), (3, 8, 8), 0)
    validate(resolve("r3gan-tiny", {"loss.drift": "0.001", "loss.name": "wasserstein"}), (3, 8, 8), 0)


def test_saturating_loss_vanishes_where_nonsaturating_does_not():
    """As D(G(z)) = sigmoid(logit) -> 0, d/dlogit of the minimax G loss -> 0, the NS one -> -1."""
    logits = torch.tensor([-2.0, -6.0, -12.0], requires_grad=True)
    LOSSES.get("minimax").g(None, logits).sum().backward()
    sat = logits.grad.clone()  # = -sigmoid(logit)
    logits.grad = None
    LOSSES.get("nonsaturating").g(None, logits).sum().backward()
    ns = logits.grad.clone()  # = -(1 - sigmoid(logit))
    assert torch.allclose(sat, -torch.sigmoid(logits.detach()))
    assert torch.allclose(ns, torch.sigmoid(logits.detach()) - 1)
    assert abs(sat[-1]) < 1e-5 and abs(ns[-1] + 1) < 1e-5
    assert (sat.abs()[1:] < sat.abs()[:-1]).all()  # shrinks as D(G(z)) -> 0


def test_every_loss_trains_a_step():
    """Each registered loss runs a D step (with R1 + R2) and a G step on small MLPs, finitely."""
    from gankit.config import ModelConfig
    from gankit.networks import build_networks

    for name in LOSSES.names():
        torch.manual_seed(0)
        G, D = build_networks(ModelConfig(arch="mlp", z_dim=4, hidden=16, depth=2), (2,), 0)
        regs = {n: REGULARIZERS.get(n) for n in ("r1", "r2")}
        loss, rng = LOSSES.get(name), torch.Generator()
        real = torch.randn(8, 2)
        d = d_step(G, D, loss, regs, real, None, torch.randn(8, 4), 0.1, 0.0, AugmentConfig(), rng)
        g = g_step(G, D, loss, real, None, torch.randn(8, 4), 0.0, AugmentConfig(), rng)
        assert all(torch.isfinite(v) for v in {**d, **g}.values()), name
        grads = [p.grad for p in [*G.parameters(), *D.parameters()]]
        assert all(gr is not None and torch.isfinite(gr).all() for gr in grads), name


def test_finite_difference_r1_is_unbiased_for_the_penalty_and_its_gradient():
    """r1_fd on a quadratic D (grad = 2 a x + b, curvature 2a): over many Rademacher directions, the mean of
    ((D(x + h v) - D(x)) / h)^2 equals ||grad||^2 up to (a h d)^2, and the mean gradient it gives D's parameters
    equals the exact R1's (the double-backward one) within the Monte-Carlo error."""
    from gankit.objectives.regularizers import FD_STEP

    torch.manual_seed(3)
    D = QuadraticD(12)
    x = torch.randn(1, 3, 2, 2).repeat(40000, 1, 1, 1)
    rng = torch.Generator().manual_seed(0)
    fd = REGULARIZERS.get("r1_fd").fn(x, D(x), lambda y: D(y), rng)
    g = (2 * D.a * x[0].flatten() + D.b).detach()
    exact = g.square().sum().item()
    bias = (D.a.item() * FD_STEP * 12) ** 2
    sd = (2 * (exact**2 - g.pow(4).sum().item())) ** 0.5 / len(x) ** 0.5  # Hutchinson's variance for g g^T
    assert abs(fd.mean().item() - exact - bias) < 4 * sd, (fd.mean().item(), exact, sd)
    fd.mean().backward()
    g_fd = [p.grad.clone() for p in D.parameters()]
    D.zero_grad()
    xr = x[:1].clone().requires_grad_(True)
    REGULARIZERS.get("r1").fn(xr, D(xr)).mean().backward()
    for a, b in zip(g_fd, (p.grad for p in D.parameters())):
        assert torch.allclose(a, b, rtol=0.03, atol=0.03 * b.abs().max().item()), (a, b)


def test_finite_difference_penalties_in_the_d_step():
    """r1_fd / r2_fd through d_step: no input gradient needed, the estimate near R1 / R2, and refused by the loop
    where D does not see the images as they are (augmentation) or computes in bf16."""
    import pytest

    from gankit.errors import GankitError
    from gankit.presets import resolve
    from gankit.training.loop import train

    torch.manual_seed(4)
    D, G = QuadraticD(12), FixedG()
    real, z = torch.randn(2000, 3, 2, 2), torch.randn(2000, 12)
    regs = {n: REGULARIZERS.get(n) for n in ("r1", "r2", "r1_fd", "r2_fd")}
    stats = d_step(G, D, LOSSES.get("rpgan"), regs, real, None, z, 1.0, 0.0, AugmentConfig(), torch.Generator())
    for n in ("r1", "r2"):
        assert abs(stats[n + "_fd"] / stats[n] - 1) < 0.1, (n, stats[n + "_fd"], stats[n])
    cfg = resolve("r3gan-tiny", {"loss.regularizers": "r1_fd,r2_fd", "train.aug_p": 0.2})
    with pytest.raises(GankitError, match="train.aug_p=0"):
        train(cfg, Path("/nonexistent/never-written"))
