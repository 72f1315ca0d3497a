"""Check gankit's DINOv2 ViT-L/14 port against facebookresearch/dinov2's own model: the same random weights in both
(every tensor filled, seeded), written to a .pth and read back through gankit's loader (strict, weights_only), then
the CLS features after the final norm on the same preprocessed images.

    DINOV2_SRC=/path/to/dinov2 python scripts/check_dinov2.py [--n 4] [--threads 1]

DINOV2_SRC is a checkout of https://github.com/facebookresearch/dinov2, built as their hub's dinov2_vitl14 (img_size
518, init_values 1.0, block_chunks 0, no registers, interpolate_offset 0.1) on its pure-PyTorch path (xFormers off);
none of their code enters gankit. Prints one JSON line: max abs difference, the features' scale, seconds per model.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gankit.eval.metrics import dinov2 as d2  # noqa: E402


def official_vitl14(src: Path) -> torch.nn.Module:
    """Their ViT-L/14 exactly as dinov2.hub.backbones builds dinov2_vitl14, without the download."""
    os.environ["XFORMERS_DISABLED"] = "1"  # their pure-PyTorch attention (scaled_dot_product_attention)
    sys.path.insert(0, str(src))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from dinov2.models.vision_transformer import vit_large

    return vit_large(patch_size=14, img_size=518, init_values=1.0, ffn_layer="mlp", block_chunks=0,
                     num_register_tokens=0, interpolate_antialias=False, interpolate_offset=0.1)


def randomise(net: torch.nn.Module, seed: int) -> None:
    """Every tensor random and non-degenerate: matrices ~ N(0, 1 / fan_in), norm gains 1 + N(0, 0.1^2), the rest
    (biases, LayerScale, tokens, positions) N(0, 0.1^2)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            z = torch.randn(p.shape, generator=g)
            if p.dim() >= 2 and name not in ("cls_token", "pos_embed", "mask_token"):
                p.copy_(z * (p[0].numel() ** -0.5))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * z)
            else:
                p.copy_(0.1 * z)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4, help="images (half 32x32 upsampled, half 224x224 as they are)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    src = os.environ.get("DINOV2_SRC")
    if not src or not Path(src, "dinov2", "models", "vision_transformer.py").is_file():
        raise SystemExit("set DINOV2_SRC to a checkout of https://github.com/facebookresearch/dinov2")
    if args.threads:
        torch.set_num_threads(args.threads)
    theirs = official_vitl14(Path(src)).eval()
    randomise(theirs, args.seed)
    g = torch.Generator().manual_seed(args.seed + 1)
    small = torch.randint(0, 256, (args.n // 2, 3, 32, 32), generator=g, dtype=torch.uint8)
    large = torch.randint(0, 256, (args.n - args.n // 2, 3, 224, 224), generator=g, dtype=torch.uint8)
    x = torch.cat([d2.preprocess(small), d2.preprocess(large)])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / d2.FILE
        torch.save(theirs.state_dict(), path)
        ours, sha, _ = d2.load_dinov2(path)  # strict load of every key, through gankit's checks
    with torch.no_grad():
        t0 = time.perf_counter()
        f_theirs = theirs(x)
        t1 = time.perf_counter()
        f_ours = ours(x)
        t2 = time.perf_counter()
    commit = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(json.dumps({"dinov2_commit": commit, "images": args.n, "threads": torch.get_num_threads(),
                      "features": list(f_ours.shape), "max_abs_diff": float((f_ours - f_theirs).abs().max()),
                      "feature_max_abs": float(f_theirs.abs().max()), "feature_std": float(f_theirs.std()),
                      "seconds_theirs": round(t1 - t0, 2), "seconds_ours": round(t2 - t1, 2),
                      "ours_img_per_s": round(args.n / (t2 - t1), 2), "weights_sha256": sha, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
