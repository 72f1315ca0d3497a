"""gankit's R3GAN step against the authors' (brownvc/R3GAN), side by side in one process on the CPU.

    R3GAN_SRC=/path/to/R3GAN python benchmarks/bench_authors.py [--width 256 --groups 16 --res 32 --batch 32]

One step is a D step (RpGAN + R1 + R2 on every step, gamma 0.05) and a G step, each with its Adam update, on random
reals of the shape, no augmentation, no EMA. The authors' step is their `AdversarialTraining` on their networks with
their pure-PyTorch reference ops (what runs on a CPU), in float32 (their bf16 stages are CUDA-only). Configurations take
turns step by step, so drift on the machine hits them alike; the figure is the median over --steps steps after one
warm-up step each. R3GAN_SRC is a checkout of https://github.com/brownvc/R3GAN; none of its code enters gankit.
Also prints this CPU's float32 and bf16 GEMM rates, so a step's TFLOP/s can be read against what the machine does.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_step import FlopCount, pytorch_grads  # noqa: E402
from gankit.config import AugmentConfig  # noqa: E402
from gankit.networks.r3gan import Discriminator, Generator  # noqa: E402
from gankit.objectives.losses import LOSSES  # noqa: E402
from gankit.objectives.regularizers import REGULARIZERS  # noqa: E402
from gankit.objectives.step import d_step, g_step  # noqa: E402

GAMMA = 0.05


def authors_networks(src: Path):
    """The authors' wrappers (training.networks) around R3GAN.Networks; their code needs pkg_resources.parse_version."""
    if "pkg_resources" not in sys.modules:
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)
    sys.path.insert(0, str(src))
    import R3GAN.Trainer as trainer
    import training.networks as networks

    return networks, trainer


def adam(m: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.0, 0.99), eps=1e-8)


def authors_step(src: Path, a: argparse.Namespace, channels_last: bool):
    networks, trainer = authors_networks(src)
    kw = dict(c_dim=0, img_resolution=a.res, FP16Stages=[])
    n = len(range(2, a.res.bit_length() - 1)) + 1  # stages from 4x4
    G = networks.Generator(NoiseDimension=a.z, WidthPerStage=[a.width] * n, CardinalityPerStage=[a.groups] * n,
                           BlocksPerStage=[2] * n, ExpansionFactor=2, **kw)
    D = networks.Discriminator(WidthPerStage=[a.width] * n, CardinalityPerStage=[a.groups] * n,
                               BlocksPerStage=[2] * n, ExpansionFactor=2, **kw)
    G, D = (m.to(memory_format=torch.channels_last) if channels_last else m for m in (G, D))
    game, oG, oD = trainer.AdversarialTraining(G, D), adam(G), adam(D)
    real = torch.randn(a.batch, 3, a.res, a.res).to(memory_format=torch.channels_last if channels_last else
                                                   torch.contiguous_format)
    c = torch.zeros(a.batch, 0)

    def step() -> None:
        z = torch.randn(a.batch, a.z)
        D.requires_grad_(True), G.requires_grad_(False)
        oD.zero_grad(set_to_none=True)
        game.AccumulateDiscriminatorGradients(z, real, c, GAMMA)
        oD.step()
        D.requires_grad_(False), G.requires_grad_(True)
        oG.zero_grad(set_to_none=True)
        game.AccumulateGeneratorGradients(torch.randn(a.batch, a.z), real, c)
        oG.step()

    return step


def gankit_step(a: argparse.Namespace, bf16: bool, before: bool):
    G = Generator(a.res, 3, a.z, [a.width], [a.groups])
    D = Discriminator(a.res, 3, [a.width], [a.groups])
    if before:
        G, D = pytorch_grads(G), pytorch_grads(D)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    G, D = G.to(memory_format=fmt), D.to(memory_format=fmt)
    G.bf16 = D.bf16 = bf16
    oG, oD = adam(G), adam(D)
    loss, regs = LOSSES.get("rpgan"), {n: REGULARIZERS.get(n) for n in ("r1", "r2")}
    real = torch.randn(a.batch, 3, a.res, a.res).to(memory_format=fmt)
    rng, aug = torch.Generator().manual_seed(0), AugmentConfig()

    def step() -> None:
        oD.zero_grad(set_to_none=True)
        d_step(G, D, loss, regs, real, None, torch.randn(a.batch, a.z), GAMMA, 0.0, aug, rng)
        oD.step()
        oG.zero_grad(set_to_none=True)
        g_step(G, D, loss, real, None, torch.randn(a.batch, a.z), 0.0, aug, rng)
        oG.step()

    return step


def gemm_tflops(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    x, y = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    x @ y
    t = time.perf_counter()
    for _ in range(reps):
        x @ y
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--groups", type=int, default=16, help="groups (the authors' cardinality) of each 3x3 conv")
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--z", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-channels-last", dest="channels_last", action="store_false", help="gankit in NCHW")
    ap.add_argument("--only", nargs="*", default=["authors-fp32", "authors-fp32-cl", "gankit-fp32", "gankit-bf16"],
                    help="authors-fp32: their code as it runs (NCHW); authors-fp32-cl: given channels_last, as gankit; "
                         "gankit-fp32-before, gankit-bf16-before: convolutions differentiated by PyTorch (no conv_grad)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    src = os.environ.get("R3GAN_SRC")
    steps = {}
    torch.manual_seed(0)
    for name in a.only:
        if name.startswith("authors"):
            if not src or not Path(src, "R3GAN", "Networks.py").is_file():
                raise SystemExit("set R3GAN_SRC to a checkout of https://github.com/brownvc/R3GAN "
                                 "(or leave authors-fp32 out of --only)")
            steps[name] = authors_step(Path(src), a, channels_last=name.endswith("-cl"))
        else:
            steps[name] = gankit_step(a, bf16="bf16" in name, before=name.endswith("-before"))
    flops = {}
    for name, step in steps.items():  # warm-up step, FLOPs counted
        with FlopCount() as counter:
            step()
        flops[name] = counter.total
    times: dict[str, list[float]] = {n: [] for n in steps}
    for _ in range(a.steps):
        for name, step in steps.items():
            t = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t)
    base = statistics.median(times[a.only[0]])
    rates = {"gemm_fp32_tflops": round(gemm_tflops(torch.float32), 3), "gemm_bf16_tflops": round(gemm_tflops(torch.bfloat16), 3)}
    for name in steps:
        med = statistics.median(times[name])
        print(json.dumps({"config": name, "width": a.width, "groups": a.groups, "res": a.res, "batch": a.batch,
                          "threads": a.threads,
                          "channels_last": name.endswith("-cl") or (name.startswith("gankit") and a.channels_last), "s_per_step_median": round(med, 3),
                          "s_per_step": [round(t, 3) for t in times[name]], f"speedup_vs_{a.only[0]}": round(base / med, 2),
                          "gflop_per_step": round(flops[name] / 1e9, 1), "tflops": round(flops[name] / med / 1e12, 3), **rates}))


if __name__ == "__main__":
    main()
