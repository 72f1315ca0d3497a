"""Feature-extraction throughput (img/s) of the evaluation extractors on uint8 images, resize included.

    python benchmarks/bench_features.py --extractor inception --resolution 32 --batch 50 --batches 4
Prints one JSON line per configuration. Random uint8 images (no dataset I/O); the first batch is warm-up.
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
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    ex = load_extractor(args.extractor, device=device)
    x = torch.randint(0, 256, (args.batch, args.channels, args.resolution, args.resolution), dtype=torch.uint8)
    ex.features(x)  # warm-up (and cudnn autotuning)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(args.batches):
        ex.features(x)
    sync()
    dt = time.perf_counter() - t
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"cpu x{torch.get_num_threads()} threads"
    print(json.dumps({"extractor": args.extractor, "device": name, "resolution": args.resolution, "batch": args.batch,
                      "images": args.batch * args.batches, "seconds": round(dt, 2),
                      "img_per_s": round(args.batch * args.batches / dt, 1)}))


if __name__ == "__main__":
    main()
