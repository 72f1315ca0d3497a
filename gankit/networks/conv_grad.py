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
    """Whether the running backward pass needs the gradient of input i (a leaf: it cannot be asked, so yes). Under
    torch.compile the graph is traced ahead of any backward pass, so every input that requires a gradient gets one."""
    if torch.compiler.is_compiling():
        return bool(ctx.needs_input_grad[i])
    node = ctx.next_functions[i][0] if ctx.needs_input_grad[i] else None
    if node is None:
        return False
    try:
        return torch._C._will_engine_execute_node(node)
    except RuntimeError:  # a leaf reached by autograd.grad: the engine does not say, compute it
        return True


def _backward(gy: torch.Tensor, x: torch.Tensor, w: torch.Tensor, stride: int, pad: int, groups: int,
              mask: list[bool]) -> tuple:
    if mask == [True, False, False] and groups > 1 and w.shape[1] == 1 and gy.dtype == torch.bfloat16 \
            and gy.device.type == "cpu":
        return _depthwise_input_grad_fp32(gy, x, w, stride, pad, groups), None, None
    return _aten.convolution_backward(gy, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], groups, mask)


def _depthwise_input_grad_fp32(gy: torch.Tensor, x: torch.Tensor, w: torch.Tensor, stride: int, pad: int,
                               groups: int) -> torch.Tensor:
    """A depthwise convolution's input gradient (the transposed convolution) in float32, returned in gy's dtype.
    On the CPU, oneDNN has no fast bf16 kernel for it: 7-8 ms against float32's 0.1-0.3 ms for R3GAN D's 4x4
    stride-2 low-pass filter at batch 32 (benchmarks/bench_recipe_step.py's bf16 rows; docs/benchmarks.md)."""
    out_pad = [x.shape[i] - ((gy.shape[i] - 1) * stride - 2 * pad + w.shape[i]) for i in (2, 3)]
    gx = F.conv_transpose2d(gy.float(), w.float(), None, stride, pad, out_pad, groups)
    cl = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return gx.to(gy.dtype).contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)


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
        gx = _Grad.apply(gy, w, x, 0, *ctx.args) if _used(ctx, 0) else None
        gw = _Grad.apply(gy, x, w, 1, *ctx.args) if _used(ctx, 1) else None
        return gx, gw, None, None, None


class _Grad(torch.autograd.Function):
    """One gradient of y = conv(x, w) from gy: which = 0 gives gx = A_w^T gy (operand w), which = 1 gives
    gw = W(gy, x) (operand x). `like` is the other factor, for the result's shape and layout; it is not differentiated.

    Backward, from the bilinear forms <ggx, A_w^T gy> = <A_w ggx, gy> and <ggw, W(gy, x)> = <conv(x, ggw), gy>:
    d gy = conv(gg, w) or conv(x, gg), and d operand = the other gradient with gg in the operand's place."""

    @staticmethod
    def forward(ctx, gy, operand, like, which, stride, pad, groups):  # noqa: ANN001, ANN205
        ctx.save_for_backward(gy, operand)
        ctx.which, ctx.args = which, (stride, pad, groups)
        x, w = (like, operand) if which == 0 else (operand, like)
        return _backward(gy, x, w, stride, pad, groups, [which == 0, which == 1, False])[which]

    @staticmethod
    def backward(ctx, gg):  # noqa: ANN001, ANN205
        gy, operand = ctx.saved_tensors
        which = ctx.which
        d_gy = None
        if _used(ctx, 0):
            d_gy = _Conv.apply(gg, operand, *ctx.args) if which == 0 else _Conv.apply(operand, gg, *ctx.args)
        d_operand = _Grad.apply(gy, gg, operand, 1 - which, *ctx.args) if _used(ctx, 1) else None
        return d_gy, d_operand, None, None, None, None, None


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
