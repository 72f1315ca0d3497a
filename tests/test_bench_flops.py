"""benchmarks/bench_step.py's FLOP count, which docs/benchmarks.md and the GPU check's utilisation figures rest on."""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_step import FlopCount  # noqa: E402


def test_grouped_convolution_counts_each_product_once():
    """A 4-group 3x3 conv, 8 -> 8 channels, on 2 images of 5x5: each of the forward, the input gradient and the weight
    gradient is 2 * N * H * W * C_out * (C_in / groups) * 3 * 3 = 2 * 2 * 25 * 8 * 2 * 9 = 14,400 FLOPs (torch's own
    formula counts the grouped weight gradient 4 times too high)."""
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    w = torch.randn(8, 2, 3, 3, requires_grad=True)
    with FlopCount() as fwd:
        y = F.conv2d(x, w, padding=1, groups=4)
    with FlopCount() as bwd:
        y.sum().backward()
    assert fwd.total == 14_400
    assert bwd.total == 2 * 14_400
