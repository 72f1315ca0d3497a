"""Train the shipped mode-counting classifiers and write their weights, reproducibly.

    python scripts/train_classifiers.py                   # both
    python scripts/train_classifiers.py --only digits     # sklearn digits, 8x8   (~30 s)
    python scripts/train_classifiers.py --only mnist --mnist /path/to/mnist   # 28x28 (~3 min)

Writes gankit/weights/{name}-classifier.safetensors and {name}-classifier.json (architecture
args, command, seed, threads, test accuracy, sha256 of the weights). Fixed seeds, deterministic
algorithms and a fixed thread count (default 1) make reruns on the same machine and torch
version bit-identical.

"digits": sklearn load_digits; the last 360 samples are the test set (gankit.classifiers.
digits_split). Augmentation: random +-1 px shifts and, for half the batch, a bilinear round trip
8 -> 16 -> 8 (area down), so a GAN's 16x16 samples downsampled by area still classify well.
"mnist": the four IDX .gz files from --mnist (default ../shared/data/mnist relative to the repo
root); augmentation: random +-2 px shifts. Tested on the 10000 t10k images.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from gankit.eval.classifiers import (  # noqa: E402
    WEIGHTS_DIR, build_classifier, digits_split, load_mnist, sha256_file, to_unit, weight_paths,
)

DEFAULT_MNIST = ROOT.parent / "shared" / "data" / "mnist"

# name -> (architecture args, epochs, batch, peak lr, weight decay)
RECIPES = {
    "digits": ({"width": 32, "hidden": 128, "dropout": 0.3}, 120, 64, 3e-3, 1e-4),
    "mnist": ({"widths": [16, 32, 64], "hidden": 128, "dropout": 0.3}, 8, 128, 3e-3, 1e-4),
}


def seed_all(seed: int) -> torch.Generator:
    """Seed every RNG and return a generator for the data pipeline."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    return torch.Generator().manual_seed(seed)


def random_shift(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """Shift each image by an integer offset in [-pad, pad]^2, filling with background (-1)."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), value=-1.0)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).view(n, 1, h, 1).expand(n, 1, h, w + 2 * pad)
    xp = xp.gather(2, rows)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).view(n, 1, 1, w).expand(n, 1, h, w)
    return xp.gather(3, cols)


def augment_digits(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """+-1 px shifts; half the samples take a bilinear 8 -> 16 then area 16 -> 8 round trip."""
    x = random_shift(x, 1, g)
    trip = torch.rand(len(x), generator=g) < 0.5
    if trip.any():
        up = F.interpolate(x[trip], size=(16, 16), mode="bilinear", align_corners=False)
        x = x.clone()
        x[trip] = F.interpolate(up, size=(8, 8), mode="area")
    return x


def augment_mnist(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """+-2 px shifts."""
    return random_shift(x, 2, g)


@torch.no_grad()
def accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    net.eval()
    hits = 0
    for i in range(0, len(x), batch):
        hits += int((net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return hits / len(x)


def train(name: str, x_tr: torch.Tensor, y_tr: torch.Tensor, x_te: torch.Tensor, y_te: torch.Tensor,
          seed: int, augment) -> tuple[torch.nn.Module, float, dict]:
    """Adam + one-cycle schedule with label smoothing; returns (net, test accuracy, recipe)."""
    arch, epochs, batch, lr, wd = RECIPES[name]
    g = seed_all(seed)
    net = build_classifier(name, arch)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=wd)
    steps_per_epoch = (len(x_tr) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    x_tr, x_te = to_unit(x_tr), to_unit(x_te)
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x_tr), generator=g)
        total = 0.0
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            xb, yb = augment(x_tr[idx], g), y_tr[idx]
            loss = F.cross_entropy(net(xb), yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if name == "mnist" or (epoch + 1) % 20 == 0 or epoch + 1 == epochs:
            print(f"  [{name}] epoch {epoch + 1}/{epochs} loss {total / len(x_tr):.4f} "
                  f"test acc {accuracy(net, x_te, y_te):.4f}", flush=True)
    net.eval().requires_grad_(False)
    recipe = {"epochs": epochs, "batch": batch, "optimizer": "AdamW", "lr": lr, "weight_decay": wd,
              "schedule": "OneCycleLR", "label_smoothing": 0.05, "augment": augment.__doc__.strip()}
    return net, accuracy(net, x_te, y_te), recipe


def write(name: str, net: torch.nn.Module, out: Path, meta: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    st_path, js_path = weight_paths(name, out)
    state = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
    save_file(state, str(st_path))
    os.chmod(st_path, 0o644)  # safetensors writes 0600; the file ships with the package
    meta = dict(meta, sha256=sha256_file(st_path), num_params=sum(p.numel() for p in net.parameters()),
                file_bytes=st_path.stat().st_size)
    js_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"  wrote {st_path} ({st_path.stat().st_size} bytes) and {js_path.name}; sha256 {meta['sha256']}")
    return st_path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", choices=["digits", "mnist", "all"], default="all")
    p.add_argument("--mnist", default=str(DEFAULT_MNIST), help="folder with the four MNIST .gz files")
    p.add_argument("--out", default=str(WEIGHTS_DIR), help="where to write the weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (fixed for reproducibility; 1 is also fastest on a busy 2-core box)")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    names = ["digits", "mnist"] if args.only == "all" else [args.only]
    for name in names:
        t0 = time.time()
        if name == "digits":
            x_tr, y_tr, x_te, y_te = digits_split()
            augment, test_desc = augment_digits, "sklearn load_digits, last 360 samples (digits_split)"
            target = 0.97
        else:
            x_tr, y_tr = load_mnist(args.mnist, "train")
            x_te, y_te = load_mnist(args.mnist, "test")
            augment, test_desc = augment_mnist, "MNIST t10k (10000 images)"
            target = 0.99
        print(f"training '{name}' on {len(x_tr)} images, testing on {len(x_te)} "
              f"({args.threads} threads, seed {args.seed})", flush=True)
        net, acc, recipe = train(name, x_tr, y_tr, x_te, y_te, args.seed, augment)
        secs = time.time() - t0
        cmd = f"python scripts/train_classifiers.py --only {name} --seed {args.seed} --threads {args.threads}"
        if name == "mnist" and Path(args.mnist).resolve() != DEFAULT_MNIST.resolve():
            cmd += f" --mnist {shlex.quote(args.mnist)}"
        meta = {
            "name": name, "class": type(net).__name__, "arch": RECIPES[name][0],
            "input_size": type(net).input_size, "input_range": "[-1, 1] (uint8 v -> v/127.5 - 1)",
            "command": cmd, "seed": args.seed, "threads": args.threads, "deterministic": True,
            "torch_version": torch.__version__, "train": recipe, "train_size": len(x_tr),
            "test_set": test_desc, "test_accuracy": round(acc, 6), "train_seconds": round(secs, 1),
        }
        write(name, net, Path(args.out), meta)
        flag = "" if acc >= target else f"  (BELOW the {target:.0%} target)"
        print(f"'{name}' test accuracy {acc:.4f}{flag}; {secs:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
