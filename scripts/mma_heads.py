"""Do MMA-GAN's K heads specialise, or collapse into one function? Correlation of the heads' logits.

    python scripts/mma_heads.py EXPERIMENT_DIR [--n 2000]

For every finished MMA-GAN cell under EXPERIMENT_DIR (a `gankit experiment` folder), loads the last
checkpoint's D and G, takes the logits of all K heads on n real and n generated samples, and reports the
mean pairwise Pearson correlation between heads (1: one function K times) and the spread of the heads'
mean activations on generated data, averaged per (dataset, K) over the other hyperparameters and seeds.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch

from gankit.checkpoint import list_checkpoints, load_checkpoint
from gankit.data import build_dataset
from gankit.data.base import to_float
from gankit.networks import build_networks
from gankit.run import load_run_config
from gankit.sampling import generate


@torch.no_grad()
def head_stats(run: Path, n: int) -> tuple[float, float]:
    """(mean off-diagonal correlation of the K heads' logits, std over heads of their mean activation on G's samples)."""
    cfg = load_run_config(run)
    states, meta = load_checkpoint(list_checkpoints(run)[-1], only=("G", "D"))
    G, D = build_networks(cfg.model, tuple(meta["data_shape"]), int(meta["num_classes"]))
    G.load_state_dict(states["G"])
    D.load_state_dict(states["D"])
    G.eval(), D.eval()
    ds = build_dataset(cfg.data)
    real = ds.get(torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:n])[0]
    real = to_float(real) if real.dtype == torch.uint8 else real  # images are stored as uint8
    fake = generate(G, n, seed=1)
    logits = torch.cat([D(real), D(fake)]).double()  # [2n, K]
    corr = torch.corrcoef(logits.T)
    k = corr.shape[0]
    off = (corr.sum() - corr.diagonal().sum()) / (k * (k - 1))
    return float(off), float(torch.sigmoid(D(fake)).mean(0).std())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment_dir", type=Path)
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    groups: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for result in sorted(args.experiment_dir.glob("*/mma-gan/*/seed*/result.json")):
        r = json.loads(result.read_text())
        if r["status"] == "ok":
            groups[(r["dataset"], r["K"])].append(head_stats(result.parent / "run", args.n))
    print("| dataset | K | cells | mean pairwise correlation of head logits | std over heads of mean D_k(G(z)) |")
    print("|---|---|---|---|---|")
    for (ds, k), v in sorted(groups.items()):
        c = torch.tensor([x[0] for x in v])
        s = torch.tensor([x[1] for x in v])
        print(f"| {ds} | {k} | {len(v)} | {c.mean():.3f} (min {c.min():.3f}) | {s.mean():.3f} (max {s.max():.3f}) |")


if __name__ == "__main__":
    main()
