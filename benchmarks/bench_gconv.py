"""One R3GAN grouped 3x3 convolution (16 channels per group) two ways: oneDNN's grouped kernel against unfold + a
batched matmul, each through forward, backward and the double backward R1 takes, in float32 and bf16.

    python benchmarks/bench_gconv.py --threads 2

A lever for issue 29 (the step at the recipe's sizes is three quarters grouped convolutions): measured, not adopted.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F


def gconv_unfold(x: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    """conv2d(x, w, padding=1, groups=groups) as im2col and one einsum over the groups."""
    n, c, h, wd = x.shape
    o, cg = w.shape[0], c // groups
    cols = F.unfold(x, 3, padding=1).view(n, groups, cg * 9, h * wd)
    return torch.einsum("ngkp,gok->ngop", cols, w.view(groups, o // groups, cg * 9)).reshape(n, o, h, wd)


def ms(fn, x: torch.Tensor, w: torch.Tensor, reps: int) -> float:
    """Milliseconds of y = fn(x, w), gx = dL/dx with create_graph, and the backward of |gx|^2 (as R1)."""
    def step() -> None:
        (gx,) = torch.autograd.grad(fn(x, w).square().sum(), x, create_graph=True)
        gx.square().sum().backward()
    step()
    t = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - t) / reps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print("| channels | px | batch | dtype | grouped conv (channels_last) ms | unfold + einsum ms | unfold / grouped |")
    print("|---|---|---|---|---|---|---|")
    for c, px, n in ((256, 32, 32), (256, 16, 32), (128, 32, 32)):
        g = c // 16
        x0, w0 = torch.randn(n, c, px, px), torch.randn(c, 16, 3, 3) * 0.1
        assert (F.conv2d(x0, w0, padding=1, groups=g) - gconv_unfold(x0, w0, g)).abs().max() < 1e-4
        for dtype in (torch.float32, torch.bfloat16):
            w = w0.to(dtype).requires_grad_(True)
            xc = x0.to(dtype).contiguous(memory_format=torch.channels_last).requires_grad_(True)
            xu = x0.to(dtype).requires_grad_(True)
            a_ms = ms(lambda x, w: F.conv2d(x, w, padding=1, groups=g), xc, w, a.reps)
            b_ms = ms(lambda x, w: gconv_unfold(x, w, g), xu, w, a.reps)
            print(f"| {c} | {px} | {n} | {str(dtype)[6:]} | {a_ms:.0f} | {b_ms:.0f} | {b_ms / a_ms:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
