"""A 2-D convolution whose gradients are themselves convolutions of the same kind, so that R1/R2's double
backward runs at the speed of the grouped kernels.

PyTorch's own double backward of a grouped convolution computes the weight term one group at a time (a slice,
a copy and a small convolution per group: 16 per R3GAN 3x3 layer, 256 for a depthwise one). Here the three
products of a convolution y = A_w x are written as native calls that take the groups whole:

    y  = conv(x, w)              forward
    gx = A_w^T gy                input gradient   (aten.convolution_backward, input only)
    gw = W(gy, x)                weight gradient  (aten.convolution_backward, weight only)

and the backward of each is again made of them, because all three are bilinear: the adjoint of gx = A_w^T gy is
(d gy = A_w ggx = conv(ggx, w), d w = W(gy, ggx)); that of gw = W(gy, x) is (d gy = conv(x, ggw), d x = A_ggw^T gy).
Each backward computes only the gradients the running backward pass will use, so R1's autograd.grad with respect
to the images takes no weight gradients. Results equal F.conv2d's to rounding (tests/networks/test_conv_grad.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_aten = torch.ops.aten


def _used(ctx, i: int) -> bool:  # noqa: ANN001
    """Whether the running backward pass needs the gradient of input i (a leaf: it cannot be asked, so yes)."""
    node = ctx.next_functions[i][0] if ctx.needs_input_grad[i] else None
    if node is None:
        return False
    try:
        return torch._C._will_engine_execute_node(node)
    except RuntimeError:  # a leaf reached by autograd.grad: the engine does not say, compute it
        return True


def _backward(gy: torch.Tensor, x: torch.Tensor, w: torch.Tensor, stride: int, pad: int, groups: int,
              mask: list[bool]) -> tuple:
    return _aten.convolution_backward(gy, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], groups, mask)


class _Conv(torch.autograd.Function):
    """y = conv(x, w)."""

    @staticmethod
    def forward(ctx, x, w, stride, pad, groups):  # noqa: ANN001, ANN205
        ctx.save_for_backward(x, w)
        ctx.args = stride, pad, groups
        return F.conv2d(x, w, None, stride, pad, 1, groups)

    @staticmethod
    def backward(ctx, gy):  # noqa: ANN001, ANN205
        x, w = ctx.saved_tensors
        gx = _InputGrad.apply(gy, w, x, *ctx.args) if _used(ctx, 0) else None
        gw = _WeightGrad.apply(gy, x, w, *ctx.args) if _used(ctx, 1) else None
        return gx, gw, None, None, None


class _InputGrad(torch.autograd.Function):
    """gx = A_w^T gy (x_like gives gx's shape and layout; it is not differentiated)."""

    @staticmethod
    def forward(ctx, gy, w, x_like, stride, pad, groups):  # noqa: ANN001, ANN205
        ctx.save_for_backward(gy, w)
        ctx.args = stride, pad, groups
        return _backward(gy, x_like, w, stride, pad, groups, [True, False, False])[0]

    @staticmethod
    def backward(ctx, ggx):  # noqa: ANN001, ANN205
        gy, w = ctx.saved_tensors
        d_gy = _Conv.apply(ggx, w, *ctx.args) if _used(ctx, 0) else None
        d_w = _WeightGrad.apply(gy, ggx, w, *ctx.args) if _used(ctx, 1) else None
        return d_gy, d_w, None, None, None, None


class _WeightGrad(torch.autograd.Function):
    """gw = W(gy, x), the weight gradient of y = conv(x, w) (w_like gives gw's shape; it is not differentiated)."""

    @staticmethod
    def forward(ctx, gy, x, w_like, stride, pad, groups):  # noqa: ANN001, ANN205
        ctx.save_for_backward(gy, x)
        ctx.args = stride, pad, groups
        return _backward(gy, x, w_like, stride, pad, groups, [False, True, False])[1]

    @staticmethod
    def backward(ctx, ggw):  # noqa: ANN001, ANN205
        gy, x = ctx.saved_tensors
        d_gy = _Conv.apply(x, ggw, *ctx.args) if _used(ctx, 0) else None
        d_x = _InputGrad.apply(gy, ggw, x, *ctx.args) if _used(ctx, 1) else None
        return d_gy, d_x, None, None, None, None


def conv2d(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: int = 0, groups: int = 1) -> torch.Tensor:
    """F.conv2d(x, w, None, stride, padding, 1, groups) with the gradients above; under autocast, x and w are cast to
    the autocast dtype first, as F.conv2d's autocast rule does. Where nothing needs a gradient, or under
    torch.jit.trace (gankit export), it is F.conv2d itself."""
    if not (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)) or torch.jit.is_tracing():
        return F.conv2d(x, w, None, stride, padding, 1, groups)  # no gradient to take (sampling, export): the same op
    dev = x.device.type
    dtype = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else x.dtype
    w = w.to(dtype)
    if w.requires_grad and w.grad_fn is None:
        w = w.view_as(w)  # a node in front of the leaf, so backward passes can tell whether they need its gradient
    with torch.autocast(dev, enabled=False):
        return _Conv.apply(x.to(dtype), w, stride, padding, groups)


class Conv2d(nn.Conv2d):
    """nn.Conv2d (square kernel, stride, zero padding, no dilation, no bias) computed by `conv2d` above."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        if self.bias is not None or self.dilation != (1, 1) or self.padding_mode != "zeros" or \
                len(set(self.stride)) > 1 or len(set(self.padding)) > 1:
            raise ValueError("conv_grad.Conv2d takes no bias, no dilation, zero padding and square stride and padding")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(x, self.weight, self.stride[0], self.padding[0], self.groups)
