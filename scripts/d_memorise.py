"""Does D memorise its training images? For checkpoints of a run on an image folder with split sub-folders (CIFAR-10's
train/ and test/), D's mean logit on n training images and on n images of the held-out split, and the gap between them
(train minus held-out; 0 for a D that generalises). A D that tells reals from fakes by remembering the training set
(ADA, Karras et al. 2020, sec. 2; R3GAN sec. 2.4) scores its training images above unseen ones of the same kind.

    python scripts/d_memorise.py /work/exp/r3gan-4h-avx2 --n 2000

Every checkpoint of the run by default (a run keeps its latest few), or those named with --ckpt. The images are drawn
once, with their own seed, and both sets go through D with their class labels.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from gankit.checkpoint import list_checkpoints, load_checkpoint
from gankit.data import to_float
from gankit.data.folder import ImageFolder
from gankit.errors import GankitError
from gankit.networks import build_networks
from gankit.objectives.step import one_hot
from gankit.run import load_run_config, named_checkpoint


def draw(ds: ImageFolder, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n images of one split (float, as D sees them in training) and their one-hot labels."""
    x, y = ds.get(torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n])
    return to_float(x), one_hot(y, ds.num_classes)


def logits(D: torch.nn.Module, x: torch.Tensor, c: torch.Tensor, batch: int = 250) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([D(x[i:i + batch], c[i:i + batch]).float().flatten() for i in range(0, len(x), batch)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--n", type=int, default=2000, help="images of each split")
    ap.add_argument("--ckpt", nargs="*", help="checkpoint names (default: all of the run's)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    cfg = load_run_config(args.run)
    train = ImageFolder(cfg.data.path, cfg.data.subdir, cfg.data.resolution, "no")
    held = train.held_out_split()  # the split the training probe (train.d_probe) compares with, too
    if held is None:
        raise SystemExit(f"{cfg.data.path} has no split beside '{cfg.data.subdir}' with the same classes (test/, val/, "
                         "valid/ or validation/); the memorisation gap needs images D never saw")
    names = (cfg.data.subdir, held.origin[1])
    sets = {names[0]: draw(train, args.n, args.seed), names[1]: draw(held, args.n, args.seed + 1)}
    try:  # "latest", "best" or names, as gankit eval --checkpoint takes them; a wrong one is one line
        if not list_checkpoints(args.run):
            raise GankitError(f"run {args.run} has no checkpoint yet; wait for its first snapshot")
        paths = [list_checkpoints(args.run)[-1] if c == "latest" else named_checkpoint(args.run, c) for c in args.ckpt] \
            if args.ckpt else list_checkpoints(args.run)
    except GankitError as e:
        raise SystemExit(f"d_memorise: {e}") from None
    print(f"| checkpoint | images | D on {names[0]} (mean +- sd) | D on {names[1]} | gap (+- 2 se) |")
    print("|---|---|---|---|---|")
    for path in paths:
        states, meta = load_checkpoint(path, only=("D",))
        _, D = build_networks(cfg.model, tuple(meta["data_shape"]), int(meta["num_classes"]))
        D.load_state_dict(states["D"])
        D.eval()
        a, b = (logits(D, *sets[s]) for s in names)
        se = math.sqrt(a.var().item() / len(a) + b.var().item() / len(b))
        print(f"| {path.name} | {meta['images']:,} | {a.mean():.3f} +- {a.std():.3f} | {b.mean():.3f} +- {b.std():.3f} "
              f"| {a.mean() - b.mean():+.3f} +- {2 * se:.3f} |", flush=True)


if __name__ == "__main__":
    main()
