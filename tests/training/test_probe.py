"""The D probe (training.probe): D's squared input-gradient norms on reals and fakes and its memorisation gap,
against a linear D worked by hand; it moves no training stream and no batch statistic; a run with it trains the
same weights as one without."""
from __future__ import annotations

import json

import pytest
import torch

from gankit.cli import main
from gankit.data import DataConfig, Dataset, build_dataset
from gankit.training.probe import DProbe


class Points(Dataset):
    """Four fixed 2-D points; held-out: all at (1, 1)."""

    kind, shape = "points", (2,)

    def __init__(self) -> None:
        self.x = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 6.0]])

    def __len__(self) -> int:
        return 4

    def get(self, idx):
        return self.x[idx], torch.zeros(len(idx), dtype=torch.long)

    def held_out(self, n, seed):
        return torch.ones(n, 2), torch.zeros(n, dtype=torch.long)


class LinearD(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([2.0, -1.0]))

    def forward(self, x, c=None):
        return x @ self.w


class NoisyG(torch.nn.Module):
    """G(z) = z + noise from the global RNG, with a BatchNorm: what a StyleGAN G in training mode does to the RNG."""

    z_dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(2)

    def forward(self, z, c=None):
        return self.bn(z) + torch.randn_like(z)


def test_linear_d_by_hand():
    probe = DProbe(Points(), 4, seed=0, num_classes=0, z_dim=2, device=torch.device("cpu"))
    r = probe(NoisyG(), LinearD())
    # dD/dx = w = (2, -1) everywhere: ||w||^2 = 5 on reals and fakes
    assert r["d_gradsq_real"] == pytest.approx(5.0) and r["d_gradsq_fake"] == pytest.approx(5.0)
    # mean D over the 4 reals: (2 + 6 - 2 - 6) / 4 = 0; over held-out (1, 1): 2 - 1 = 1; gap 0 - 1 = -1
    assert r["d_memorise"] == pytest.approx(-1.0)


def test_the_probe_moves_no_training_stream_no_batch_statistic_no_gradient():
    G, D = NoisyG(), LinearD()
    probe = DProbe(Points(), 4, seed=0, num_classes=0, z_dim=2, device=torch.device("cpu"))
    torch.manual_seed(5)
    before, running = torch.get_rng_state(), G.bn.running_mean.clone()
    probe(G, D)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(G.bn.running_mean, running) and int(G.bn.num_batches_tracked) == 0
    assert D.w.grad is None


def test_stacked_held_out_items_are_new_triples_of_the_same_digits():
    ds = build_dataset(DataConfig(name="stacked-digits", size=300, resolution=8))
    x, labels = ds.held_out(500, seed=7)
    pool = {tuple(t) for t in ds.triples.tolist()}
    held = ds.held_out(500, seed=7)
    assert torch.equal(held[0], x)  # seeded
    triples = type(ds)(ds.base, ds.base_labels, 500, 7).triples
    assert not {tuple(t) for t in triples.tolist()} & pool
    d = ds.base_labels[triples]
    assert torch.equal(labels, d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]) and x.shape == (500, 3, 8, 8)


def test_on_an_image_folder_the_held_out_reals_are_its_test_split(tmp_path):
    from PIL import Image

    for split, red in (("train", 10), ("test", 200)):
        for cls in ("cat", "dog"):
            for k in range(3):
                (tmp_path / split / cls).mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 8), (red + k, 0, 0)).save(tmp_path / split / cls / f"{k}.png")
    ds = build_dataset(DataConfig(name="folder", path=str(tmp_path), subdir="train", resolution=8))

    class RedD(torch.nn.Module):  # D(x) = the mean of the red channel, as the loader scales it: x / 127.5 - 1
        def forward(self, x, c=None):
            return x[:, 0].mean((1, 2))

    class BlackG(torch.nn.Module):
        def forward(self, z, c=None):
            return torch.zeros(len(z), 3, 8, 8)

    r = DProbe(ds, 6, seed=0, num_classes=2, z_dim=2, device=torch.device("cpu"))(BlackG(), RedD())
    # every training image (mean red 11) against every test image (mean red 201): (11 - 201) / 127.5
    assert r["d_memorise"] == pytest.approx((11 - 201) / 127.5, abs=1e-5)


def test_a_run_with_the_probe_trains_the_same_weights_and_logs_it(tmp_path):
    from safetensors.torch import load_file

    common = ["train", "--preset", "r3gan-tiny", "--kimg", "0.128", "--set", "train.threads=1", "--set",
              "train.metrics=none", "--set", "data.size=300", "--set", "train.log_kimg=0.032"]
    assert main([*common, "--out", str(tmp_path / "off")]) == 0
    assert main([*common, "--set", "train.d_probe=32", "--out", str(tmp_path / "on")]) == 0
    last = lambda run: load_file(sorted((tmp_path / run / "checkpoints").glob("ckpt-*.safetensors"))[-1])  # noqa: E731
    off, on = last("off"), last("on")
    assert off.keys() == on.keys() and all(torch.equal(off[k], on[k]) for k in off)
    lines = [json.loads(x) for x in (tmp_path / "on" / "metrics.jsonl").read_text().splitlines()]
    probed = [x for x in lines if "d_gradsq_fake" in x]
    assert len(probed) == 4 and all(x["d_gradsq_real"] > 0 and "d_memorise" in x for x in probed)
