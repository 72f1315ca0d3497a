"""Do MMA-GAN's K heads specialise on different modes of the data? Measured per mode, on real and on generated samples
separately, with D in the mode it trains in.

    python scripts/mma_heads.py EXPERIMENT_DIR [--n 4000] [--out heads.md]

For every finished cell with K > 1 heads under EXPERIMENT_DIR (a `gankit experiment` folder), loads the last
checkpoint's G and D and takes the K heads' logits on n real and n generated samples. D runs in training mode, in
batches of the run's train.batch, as in its training steps (BatchNorm on batch statistics; its running statistics are
restored after, see step.batch_stats_frozen). Each sample gets a mode: for the 2-D mixtures its nearest centre, kept
only when within 3 sigma (high quality); for stacked digits the mode id read by the digits classifier. Per cell and per
source (real, generated):

- corr: the mean pairwise Pearson correlation of the K heads' logits over the samples (1: one function K times);
- spec: do different heads fire on different modes? With R[k, m] the mean D_k = sigmoid(logit_k) over the samples of
  mode m (modes with >= 5 samples), centred per head over modes (a head's offset is not specialisation), spec is the
  share of R's variation that differs between heads: sum (R - mean over heads)^2 / sum R^2. 0: every head has the same
  profile over modes; independent random profiles give about (K - 1) / K;
- heads winning a mode: how many distinct heads have the largest centred response on some mode.

Prints one markdown row per (dataset, method, K, lambda) with mean and range over seeds, and writes them to --out.
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
from gankit.objectives.step import batch_stats_frozen

MIN_PER_MODE = 5


def modes_of(x: torch.Tensor, ds) -> torch.Tensor:
    """Mode id per sample; -1 where a 2-D sample is farther than 3 sigma from its nearest centre."""
    if hasattr(ds, "centers"):  # a Gaussian mixture (gankit.data.toy)
        d, nearest = torch.cdist(x.double(), ds.centers.double()).min(1)
        return torch.where(d <= 3 * ds.sigma, nearest, torch.full_like(nearest, -1))
    from gankit.eval.classifiers import mode_ids

    return mode_ids(x, "digits")


def head_profile(logits: torch.Tensor, modes: torch.Tensor) -> tuple[float, float, int, int]:
    """(corr, spec, heads winning a mode, modes used) of logits [N, K] with mode ids [N] (see the module docstring)."""
    corr = torch.corrcoef(logits.T.double())
    k = corr.shape[0]
    off = float((corr.sum() - corr.diagonal().sum()) / (k * (k - 1)))
    ids, counts = modes[modes >= 0].unique(return_counts=True)
    ids = ids[counts >= MIN_PER_MODE]
    if len(ids) < 2:
        return off, float("nan"), 0, len(ids)
    p = torch.sigmoid(logits.double())
    R = torch.stack([p[modes == m].mean(0) for m in ids], 1)  # [K, modes]
    R = R - R.mean(1, keepdim=True)  # a head's offset over all modes is not specialisation
    spec = float((R - R.mean(0, keepdim=True)).square().sum() / R.square().sum().clamp_min(1e-300))
    return off, spec, int(R.argmax(0).unique().numel()), len(ids)


@torch.no_grad()
def cell_stats(run: Path, n: int) -> dict[str, tuple[float, float, int, int]]:
    cfg = load_run_config(run)
    states, meta = load_checkpoint(list_checkpoints(run)[-1], only=("G", "D"))
    G, D = build_networks(cfg.model, tuple(meta["data_shape"]), int(meta["num_classes"]))
    G.load_state_dict(states["G"])
    D.load_state_dict(states["D"])
    G.eval()
    D.train()  # as in its training steps
    ds = build_dataset(cfg.data)
    real = ds.get(torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:n])[0]
    real = to_float(real) if real.dtype == torch.uint8 else real
    fake = generate(G, n, seed=1)
    out = {}
    for source, x in (("real", real), ("fake", fake)):
        with batch_stats_frozen(D):
            logits = torch.cat([D(x[i:i + cfg.train.batch]) for i in range(0, len(x), cfg.train.batch)])
        out[source] = head_profile(logits, modes_of(x, ds))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment_dir", type=Path)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--out", type=Path, help="also write the table here")
    args = ap.parse_args()
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for result in sorted(args.experiment_dir.glob("*/*/*/seed*/result.json")):
        r = json.loads(result.read_text())
        if r["status"] == "ok" and int(r.get("K") or 1) > 1:
            groups[(r["dataset"], r["method"], int(r["K"]), r.get("lambda", ""))].append(cell_stats(result.parent / "run", args.n))
    lines = [f"Head specialisation (`python scripts/mma_heads.py {args.experiment_dir.name} --n {args.n}`): mean (min to max) "
             "over seeds; D in training mode; modes with >= 5 samples.", "",
             "| dataset | method | K | lambda | seeds | corr real | corr generated | spec real | spec generated | "
             "heads winning a mode, real / generated | modes used, generated |", "|---|---|---|---|---|---|---|---|---|---|---|"]

    def span(v: list[float], f: str = ".3f") -> str:
        v = [x for x in v if x == x]
        return f"{sum(v) / len(v):{f}} ({min(v):{f}} to {max(v):{f}})" if v else "-"

    for (ds, method, k, lam), cells in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        col = lambda src, i: [c[src][i] for c in cells]  # noqa: E731
        lines.append(f"| {ds} | {method} | {k} | {lam} | {len(cells)} | {span(col('real', 0))} | {span(col('fake', 0))} | "
                     f"{span(col('real', 1))} | {span(col('fake', 1))} | {span(col('real', 2), '.1f')} / "
                     f"{span(col('fake', 2), '.1f')} | {span(col('fake', 3), '.1f')} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
