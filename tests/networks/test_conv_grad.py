"""conv_grad: a convolution whose gradients are convolutions again (R1/R2's double backward without PyTorch's
per-group loop), equal to F.conv2d's to rounding, and computing only the gradients a backward pass uses."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from gankit.networks import conv_grad, layers
from gankit.networks.conv_grad import conv2d
from gankit.networks.r3gan import Discriminator

# (channels, groups, kernel, stride, padding): 1x1, R3GAN's grouped 3x3, the depthwise 4x4 basis, the 2x downsampler
CASES = [(8, 1, 1, 1, 0), (8, 4, 3, 1, 1), (8, 8, 4, 1, 0), (8, 8, 4, 2, 1)]


class Calls(TorchDispatchMode):
    """Counts aten convolution calls, and the weight gradients among convolution_backward's outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = self.weight_grads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        name = func._overloadpacket.__name__
        if name in ("convolution", "convolution_backward"):
            self.convs += 1
        if name == "convolution_backward" and args[-1][1]:
            self.weight_grads += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("c,g,k,s,p", CASES)
def test_first_and_second_derivatives_pass_gradcheck(c, g, k, s, p):
    x = torch.randn(2, c, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(c, c // g, k, k, dtype=torch.float64, requires_grad=True)
    f = lambda x, w: conv2d(x, w, s, p, g)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x, w))
    assert torch.autograd.gradgradcheck(f, (x, w))


@pytest.mark.parametrize("c,g,k,s,p", CASES)
def test_r1_style_double_backward_equals_pytorchs(c, g, k, s, p):
    """The penalty ||dL/dx||^2 and its gradients w.r.t. x and w, against F.conv2d's own double backward."""
    torch.manual_seed(0)
    x0 = torch.randn(3, c, 6, 6, dtype=torch.float64)
    w0 = torch.randn(c, c // g, k, k, dtype=torch.float64)
    out = []
    for conv in (conv2d, lambda x, w, s, p, g: F.conv2d(x, w, None, s, p, 1, g)):
        x, w = x0.clone().requires_grad_(True), w0.clone().requires_grad_(True)
        y = conv(x, w, s, p, g)
        (gx,) = torch.autograd.grad(torch.tanh(y).sum(), x, create_graph=True)
        penalty = gx.square().sum() + (gx * x.sin()).sum()
        out.append((y, gx, *torch.autograd.grad(penalty, [x, w])))
    for a, b in zip(*out):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_r1_pass_takes_no_weight_gradients_and_the_double_backward_no_per_group_convolutions():
    """The R1 pass (autograd.grad w.r.t. the images) computes no weight gradient; the training backward of a
    16-group layer's penalty makes a handful of convolution calls, where PyTorch's own makes one per group."""
    x = torch.randn(4, 32, 8, 8, requires_grad=True)
    w = torch.randn(32, 2, 3, 3, requires_grad=True)
    counts = {}
    for name, conv in (("ours", conv2d), ("pytorch", lambda x, w, s, p, g: F.conv2d(x, w, None, s, p, 1, g))):
        with Calls() as r1:
            (gx,) = torch.autograd.grad(conv(x, w, 1, 1, 16).square().sum(), x, create_graph=True)
        with Calls() as train:
            gx.square().sum().backward()
        counts[name] = (r1.weight_grads, train.convs)
    assert counts["ours"][0] == 0, counts
    assert counts["ours"][1] <= 4 and counts["pytorch"][1] >= 16, counts


def test_r3gan_d_step_gradients_equal_pytorchs_convolution(monkeypatch):
    """R3GAN's D (grouped 3x3, downsampling, depthwise basis): RpGAN + R1 + R2 gradients w.r.t. every D weight and
    both image batches, through conv_grad and through F.conv2d, in float32 (D's head is float32): equal to 1e-4."""
    def loss_grads(D, real, fake):
        real, fake = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
        lr, lf = D(real), D(fake)
        (g1,) = torch.autograd.grad(lr.sum(), real, create_graph=True)
        (g2,) = torch.autograd.grad(lf.sum(), fake, create_graph=True)
        loss = F.softplus(lf - lr) + 0.5 * (g1.square().flatten(1).sum(1) + g2.square().flatten(1).sum(1))
        return torch.autograd.grad(loss.mean(), [*D.parameters(), real, fake])

    for dtype, tol in ((torch.float32, 1e-4),):
        torch.manual_seed(0)
        D = Discriminator(16, 3, [16, 16, 8], [4, 4, 2]).to(dtype)
        with torch.no_grad():
            for p in D.parameters():  # random weights everywhere (a fresh block's last conv is zero)
                p.copy_(torch.randn_like(p) * 0.3)
        real, fake = torch.randn(4, 3, 16, 16, dtype=dtype), torch.randn(4, 3, 16, 16, dtype=dtype)
        ours = loss_grads(D, real, fake)
        native = lambda x, w, stride=1, padding=0, groups=1: F.conv2d(x, w, None, stride, padding, 1, groups)  # noqa: E731
        with monkeypatch.context() as m:
            m.setattr(conv_grad, "conv2d", native)
            m.setattr(layers, "conv2d", native)
            theirs = loss_grads(D, real, fake)
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol * b.abs().max().item())


def test_bf16_autocast_casts_like_f_conv2d():
    """With gradients on (the custom path, not the no-grad shortcut): bf16 like F.conv2d under autocast, in value and
    in the gradient's dtype. Caught: the autocast cast left out (float32 out)."""
    x, w = torch.randn(2, 8, 5, 5, requires_grad=True), torch.randn(8, 2, 3, 3, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, theirs = conv2d(x, w, 1, 1, 4), F.conv2d(x, w, None, 1, 1, 1, 4)
    assert ours.grad_fn is not None and type(ours.grad_fn).__name__ != type(theirs.grad_fn).__name__  # the custom path
    assert ours.dtype == theirs.dtype == torch.bfloat16
    assert torch.equal(ours, theirs)
    (gx,) = torch.autograd.grad(ours.float().sum(), x)
    (gx_ref,) = torch.autograd.grad(theirs.float().sum(), x)
    assert gx.dtype == torch.float32 and torch.equal(gx, gx_ref)


def test_no_gradient_is_plain_f_conv2d():
    """Sampling (no_grad) and export (torch.jit.trace, which cannot record a custom autograd function, even with a
    weight that requires grad) take F.conv2d itself."""
    x, w = torch.randn(2, 8, 5, 5), torch.randn(8, 2, 3, 3, requires_grad=True)
    with torch.no_grad():
        assert torch.equal(conv2d(x, w, 1, 1, 4), F.conv2d(x, w, None, 1, 1, 1, 4))
    m = conv_grad.Conv2d(8, 8, 3, padding=1, groups=4, bias=False)  # a parameter that requires grad, as in export
    traced = torch.jit.trace(m, (x,))
    torch.testing.assert_close(traced(x), F.conv2d(x, m.weight, None, 1, 1, 1, 4), rtol=0, atol=0)


def test_conv2d_module_refuses_what_it_does_not_compute():
    with pytest.raises(ValueError, match="no bias"):
        conv_grad.Conv2d(4, 4, 3, bias=True)


@pytest.mark.parametrize("c,px,s,p", [(8, 16, 2, 1), (4, 9, 2, 1), (6, 8, 1, 1), (4, 7, 3, 2)])
def test_bf16_depthwise_input_gradient_is_float32s_rounded(c, px, s, p):
    """On the CPU a bf16 depthwise convolution's input gradient is taken in float32 (oneDNN's bf16 kernel is 30-80x
    slower): the result is float32's gradient rounded once to bf16, in x's shape and memory format."""
    x = torch.randn(4, c, px, px).bfloat16().contiguous(memory_format=torch.channels_last)
    w = torch.randn(c, 1, 4, 4).bfloat16()
    gy = torch.randn_like(F.conv2d(x, w, None, s, p, 1, c))
    gx, gw, gb = conv_grad._backward(gy, x, w, s, p, c, [True, False, False])
    ref = torch.ops.aten.convolution_backward(gy.float(), x.float(), w.float(), None, [s] * 2, [p] * 2, [1, 1], False,
                                              [0, 0], c, [True, False, False])[0]
    assert gx.dtype == torch.bfloat16 and gx.shape == x.shape and gw is None and gb is None
    assert gx.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(gx.float(), ref.bfloat16().float(), rtol=0, atol=0)


def test_bf16_upsample_is_computed_in_float32():
    """G's depthwise transposed low-pass filter in bf16 on the CPU: float32's result rounded once (and its gradient)."""
    up = layers.Upsample2x(6)
    x = torch.randn(3, 6, 5, 5).bfloat16().requires_grad_(True)
    y = up(x)
    ref = F.conv_transpose2d(x.detach().float(), layers.lowpass_kernel().expand(6, 1, 4, 4) * 4, stride=2, padding=1,
                             groups=6)
    assert y.dtype == torch.bfloat16 and y.shape == (3, 6, 10, 10)
    torch.testing.assert_close(y.float(), ref.bfloat16().float(), rtol=0, atol=0)
    (g,) = torch.autograd.grad(y.float().square().sum(), x)
    gref = F.conv2d(2 * y.detach().float(), layers.lowpass_kernel().expand(6, 1, 4, 4) * 4, None, 2, 1, 1, 6)
    torch.testing.assert_close(g.float(), gref, rtol=1e-2, atol=1e-2)
