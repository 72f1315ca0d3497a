"""Feature-extraction throughput (img/s) of the evaluation extractors on uint8 images, resize included.

    python benchmarks/bench_features.py --extractor inception --resolution 32 --batch 50 --batches 4
    python benchmarks/bench_features.py --precision exact,fast --gemm    # the fast path beside the exact one
Prints one JSON line per configuration. Random uint8 images (no dataset I/O); the first batch is warm-up.
--gemm adds this CPU's float32 and bf16 matmul rates (2048^3): their ratio bounds what bf16 features can gain.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from gankit.eval.metrics.extractors import load_extractor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extractor", default="inception", help="inception, digits or mnist")
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="exact", help="comma list of feature precisions: exact, fast")
    ap.add_argument("--gemm", action="store_true", help="also time float32 and bf16 matmuls (the bf16 ceiling)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.gemm:
        gemm(device)
    for precision in args.precision.split(","):
        ex = load_extractor(args.extractor, device=device, precision=precision)
        x = torch.randint(0, 256, (args.batch, args.channels, args.resolution, args.resolution), dtype=torch.uint8)
        ex.features(x)  # warm-up (and cudnn autotuning)
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        sync()
        t = time.perf_counter()
        for _ in range(args.batches):
            ex.features(x)
        sync()
        dt = time.perf_counter() - t
        print(json.dumps({"extractor": args.extractor, "precision": precision, "device": where(device),
                          "resolution": args.resolution, "batch": args.batch, "images": args.batch * args.batches,
                          "seconds": round(dt, 2), "img_per_s": round(args.batch * args.batches / dt, 1)}), flush=True)


def where(device: str) -> str:
    return torch.cuda.get_device_name() if device.startswith("cuda") else f"cpu x{torch.get_num_threads()} threads"


def gemm(device: str, n: int = 2048, reps: int = 5) -> None:
    """GFLOP/s of an n^3 matmul in float32 and in bf16 on `device`."""
    out = {"gemm": f"{n}^3", "device": where(device)}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        out[f"{str(dtype).removeprefix('torch.')}_gflops"] = round(2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9)
    out["bf16_over_fp32"] = round(out["bfloat16_gflops"] / out["float32_gflops"], 2)
    print(json.dumps(out), flush=True)

if __name__ == "__main__":
    main()
