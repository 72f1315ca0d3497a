"""Real StackedMNIST against the mode metrics: what a perfect generator would score, and where the excess comes from.

    python scripts/stackedmnist_reference.py --data ../shared/data/mnist [--seeds 5]

For each resolution (32, the benchmark's; 16, the size the reference was once counted at) and sample count
(10,000 and 26,000, PacGAN's and the R3GAN paper's count), draws N items of the 128,000-triple StackedMNIST
(the training set of `r3gan-stackedmnist`) under --seeds seeds and prints, as means over the seeds:
  - KL and modes as the `modes` metric reads them (the shipped MNIST classifier, channel by channel);
  - the KL of the same items' true labels (no classifier): the composition's and the draw's share;
  - KL(floor) = (K - 1) / (2N), a perfect generator's mean KL at this N;
  - the share of items whose classifier reading differs from the true triple, and the high-quality share.
"""
from __future__ import annotations

import argparse

import torch

from gankit.data import DataConfig, build_dataset
from gankit.eval.classifiers import classify_channels, digits_to_modes
from gankit.eval.evaluate import HQ_CONFIDENCE
from gankit.eval.metrics.modes import kl_floor, mode_stats


def row(res: int, n: int, seeds: int, path: str) -> dict:
    ds = build_dataset(DataConfig(name="stackedmnist", path=path, resolution=res))
    out: dict = {"kl": [], "kl_true": [], "modes": [], "misread": [], "hq": []}
    for seed in range(seeds):
        idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]
        x, labels = ds.get(idx)
        digits, conf = classify_channels(x.float() / 127.5 - 1, "mnist", with_confidence=True)
        read = digits_to_modes(digits)
        s = mode_stats(read, 1000)
        out["kl"].append(s["kl"]), out["modes"].append(s["modes"])
        out["kl_true"].append(mode_stats(labels, 1000)["kl"])
        out["misread"].append(float((read != labels).float().mean()))
        out["hq"].append(float((conf.min(1).values >= HQ_CONFIDENCE).float().mean()))
    return {k: (sum(v) / len(v), (sum((a - sum(v) / len(v)) ** 2 for a in v) / max(len(v) - 1, 1)) ** 0.5)
            for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the folder of MNIST's four IDX files")
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(f"mean +- sd over {a.seeds} draws; K = 1000 modes")
    print("| px | N | modes | KL (classifier) | KL (true labels) | KL floor (K-1)/2N | items misread | hq |")
    print("|---|---|---|---|---|---|---|---|")
    for res in (32, 16):
        for n in (10000, 26000):
            r = row(res, n, a.seeds, a.data)
            f = lambda k, p=4: f"{r[k][0]:.{p}f} +- {r[k][1]:.{p}f}"  # noqa: E731
            print(f"| {res} | {n:,} | {f('modes', 1)} | {f('kl')} | {f('kl_true')} | {kl_floor(1000, n):.4f} | "
                  f"{f('misread')} | {f('hq', 3)} |", flush=True)


if __name__ == "__main__":
    main()
