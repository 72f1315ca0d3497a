"""How far the fast feature path (bf16 Inception) moves FID from the exact one, on real photos (issue 29 part 2).

    python scripts/fast_features_deviation.py --data CIFAR.tar.gz --run RUN [--n 1000] [--resolution 32]

On the same images in both precisions: CIFAR-10 training images split into two disjoint halves (real vs real) and a
trained generator's samples against the first half. Prints the features' relative error and each FID exact, fast and
their difference, as JSON lines and a Markdown table.
"""
from __future__ import annotations

import argparse
import json

import torch

from gankit.data import DataConfig, build_dataset
from gankit.eval.metrics.extractors import load_extractor
from gankit.eval.metrics.fid import fid
from gankit.run import load_generator, load_run_config
from gankit.sampling import generate, to_uint8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="CIFAR-10 (the JPEG archive or its folder)")
    ap.add_argument("--run", required=True, help="a trained run on that data: its G_ema makes the samples")
    ap.add_argument("--n", type=int, default=1000, help="images per set")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = load_run_config(args.run)
    ds = build_dataset(DataConfig(name="folder", path=args.data, subdir="train", resolution=cfg.data.resolution))
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(args.seed))[: 2 * args.n]
    a, b = ds.get(idx[: args.n])[0], ds.get(idx[args.n:])[0]
    G = load_generator(args.run)
    classes = ds.labels_at(idx[: args.n]) if cfg.model.cond else None
    g = to_uint8(generate(G, args.n, seed=args.seed + 1, classes=classes))
    feats = {}
    for precision in ("exact", "fast"):
        ex = load_extractor("inception", precision=precision)
        feats[precision] = {k: torch.cat([ex.features(x[i:i + 50]) for i in range(0, len(x), 50)])
                            for k, x in (("real A", a), ("real B", b), ("samples", g))}
    rows = []
    for name, (p, q) in {"real A vs real B": ("real A", "real B"), "samples vs real A": ("samples", "real A")}.items():
        e, f = fid(feats["exact"][p], feats["exact"][q]), fid(feats["fast"][p], feats["fast"][q])
        rows.append({"comparison": name, "n": args.n, "fid_exact": e, "fid_fast": f, "difference": f - e})
    for k in ("real A", "real B", "samples"):
        ex, fa = feats["exact"][k], feats["fast"][k]
        rel = ((fa - ex).norm(dim=1) / ex.norm(dim=1))
        rows.append({"features": k, "relative_error_mean": rel.mean().item(), "relative_error_max": rel.max().item()})
    for r in rows:
        print(json.dumps(r))
    print(f"\n| comparison ({args.n} images each, {cfg.data.resolution} px) | FID exact | FID fast | fast - exact |")
    print("|---|---|---|---|")
    for r in rows[:2]:
        print(f"| {r['comparison']} | {r['fid_exact']:.3f} | {r['fid_fast']:.3f} | {r['difference']:+.3f} |")
    print("\n| features | relative error, mean | max |\n|---|---|---|")
    for r in rows[2:]:
        print(f"| {r['features']} | {r['relative_error_mean']:.4f} | {r['relative_error_max']:.4f} |")


if __name__ == "__main__":
    main()
