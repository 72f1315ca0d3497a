"""ms/step, img/s and FLOPs of one full R3GAN iteration (D step with R1 and R2, then G step) for a preset.

    python benchmarks/bench_step.py --preset r3gan-digits --batch 64 --steps 20
    python benchmarks/bench_step.py --preset r3gan-cifar10 --batch 64 --channels-last --precision bf16 --compile  # GPU
    python benchmarks/bench_step.py --preset r3gan-cifar10 --batch 512 --batch-gpu 64 --channels-last  # float32, TF32 off
Prints one JSON line per configuration. Uses random data of the preset's shape (no dataset I/O).
"""
from __future__ import annotations

import argparse
import json
import time
import types

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gankit.config import parse_set
from gankit.data import nominal_shape
from gankit.objectives.losses import LOSSES
from gankit.networks import build_networks, count_params, set_bf16
from gankit.networks.conv_grad import Conv2d
from gankit.networks.layers import Downsample2x
from gankit.presets import resolve
from gankit.objectives.regularizers import REGULARIZERS
from gankit.objectives.step import d_step, g_step, one_hot


class FlopCount(TorchDispatchMode):
    """Counts matmul/conv FLOPs (2 per multiply-add) of every op with torch's flop formulas.

    FlopCounterMode itself cannot be used here: its module hooks reject autograd.grad (R1/R2's double backward).
    torch's formula for convolution_backward counts a grouped weight gradient as if the convolution had one group
    (groups times its FLOPs); here it is divided by the groups, so it equals the forward's count, as the arithmetic does.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
            if func._overloadpacket is torch.ops.aten.convolution_backward and args[9] > 1 and args[10][1]:
                weight = formula(*args[:10], [False, True, False], out_val=out)
                self.total -= weight - weight // args[9]
        return out


def pytorch_grads(net: torch.nn.Module) -> torch.nn.Module:
    """gankit's networks as before conv_grad: every convolution through F.conv2d and PyTorch's own double backward."""
    for m in net.modules():
        if isinstance(m, Conv2d):
            m.forward = types.MethodType(lambda self, x: F.conv2d(x, self.weight.to(x.dtype), None, self.stride,
                                                                  self.padding, 1, self.groups), m)
        elif isinstance(m, Downsample2x):
            m.forward = types.MethodType(lambda self, x: F.conv2d(x, self.kernel.to(x.dtype), None, 2, 1, 1,
                                                                  self.channels), m)
    return net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="r3gan-digits")
    ap.add_argument("--batch", type=int, default=0, help="0: the preset's batch")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: R3GAN stages above 4x4 in bf16")
    ap.add_argument("--compile", action="store_true", help="torch.compile the generator (D stays eager: double backward)")
    ap.add_argument("--peak-tflops", type=float, default=989.0,
                    help="the device's dense bf16 peak for the utilisation figure (H100 SXM: 989)")
    ap.add_argument("--batch-gpu", type=int, default=0, help="micro-batch: gradients accumulate over batch / batch-gpu passes")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in float32 matmuls and cuDNN convs (the authors: off)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
    cfg = resolve(args.preset, parse_set(args.set))
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    batch = args.batch or cfg.train.batch
    mb = args.batch_gpu or batch
    if batch % mb:
        raise SystemExit(f"--batch-gpu {mb} must divide --batch {batch}")
    shape = nominal_shape(cfg.data)
    classes = (cfg.data.classes or 10) if cfg.model.cond else 0
    torch.manual_seed(0)
    G, D = build_networks(cfg.model, shape, classes)
    G, D = G.to(device), D.to(device)
    fmt = torch.channels_last if args.channels_last and len(shape) == 3 else torch.contiguous_format
    G, D = G.to(memory_format=fmt), D.to(memory_format=fmt)
    set_bf16(cfg.model.arch, args.precision == "bf16", G, D)
    G_fwd = torch.compile(G) if args.compile else G
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.99), eps=1e-8)
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.0, 0.99), eps=1e-8)
    loss = LOSSES.get(cfg.loss.name)
    regs = {n: REGULARIZERS.get(n) for n in cfg.loss.regularizers}
    rng = torch.Generator().manual_seed(0)
    real = torch.randn(batch, *shape).to(device, memory_format=fmt)
    c = one_hot(torch.randint(0, max(classes, 1), (batch,)), classes)
    c = None if c is None else c.to(device)

    def step() -> None:  # as train_step: micro-batch losses weighted mb / batch, so the gradients sum to the batch mean
        z = torch.randn(batch, G.z_dim, device=device)
        parts = [(real[i:i + mb], None if c is None else c[i:i + mb], z[i:i + mb]) for i in range(0, batch, mb)]
        opt_D.zero_grad(set_to_none=True)
        for r, cc, zz in parts:
            d_step(G_fwd, D, loss, regs, r, cc, zz, cfg.loss.gamma, 0.0, cfg.aug, rng, mb / batch)
        opt_D.step()
        opt_G.zero_grad(set_to_none=True)
        for r, cc, zz in parts:
            g_step(G_fwd, D, loss, r, cc, zz, 0.0, cfg.aug, rng, mb / batch)
        opt_G.step()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        step()
    with FlopCount() as counter:  # FLOPs of one full step, double backward included
        step()
    flops = counter.total
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    dt = (time.perf_counter() - t0) / args.steps
    out = {"preset": args.preset, "batch": batch, "device": torch.cuda.get_device_name() if device.type == "cuda" else
           f"cpu x{torch.get_num_threads()} threads", "channels_last": args.channels_last, "ms_per_step": round(dt * 1000, 2),
           "img_per_s": round(batch / dt, 1), "g_params": count_params(G), "d_params": count_params(D),
           "batch_gpu": mb, "precision": args.precision, "tf32": args.tf32, "compile": args.compile, "gflop_per_step": round(flops / 1e9, 2),
           "achieved_tflops": round(flops / dt / 1e12, 3)}
    if device.type == "cuda":
        out["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        out["share_of_bf16_peak"] = round(flops / dt / 1e12 / args.peak_tflops, 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
