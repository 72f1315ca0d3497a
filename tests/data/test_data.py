"""Tests of the datasets: 2-D mixtures, sklearn digits, MNIST, image folders/archives, the loader."""
from __future__ import annotations

import gzip
import io
import math
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import DATASETS, DataConfig, InfiniteLoader, build_dataset, to_float
from gankit.data.toy import mixture_centers
from gankit.errors import GankitError

SHARED = Path(__file__).parents[2].parent / "shared/data"
MNIST = SHARED / "mnist"
CIFAR = SHARED / "cifar10-jpeg/cifar10-jpeg-q75_YoongiKim-CIFAR-10-images_6d04f75e.tar.gz"


def build(name: str, **kw) -> object:
    return build_dataset(DataConfig(name=name, **kw))


def test_registered_names() -> None:
    for name in ("ring8", "grid25", "digits", "stacked-digits", "mnist", "stackedmnist", "folder"):
        assert name in DATASETS
    with pytest.raises(GankitError, match="valid dataset names"):
        build("cifar-11")


# ---------------------------------------------------------------- 2-D mixtures

def test_mixture_centers_exact() -> None:
    ring = mixture_centers("ring8")
    want = [[2 * math.cos(2 * math.pi * k / 8), 2 * math.sin(2 * math.pi * k / 8)] for k in range(8)]
    assert ring.dtype == torch.float32 and ring.shape == (8, 2)
    assert torch.equal(ring, torch.tensor(want, dtype=torch.float32))
    grid = mixture_centers("grid25")
    want = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert grid.shape == (25, 2) and {tuple(p) for p in grid.tolist()} == want
    with pytest.raises(GankitError):
        mixture_centers("ring9")


@pytest.mark.parametrize("name,k", [("ring8", 8), ("grid25", 25)])
def test_mixture_samples(name: str, k: int) -> None:
    ds = build(name, sigma=0.05, seed=3)
    assert len(ds) == 100_000 and ds.kind == "points" and ds.shape == (2,)
    assert ds.num_classes == ds.num_modes == k and torch.equal(ds.centers, mixture_centers(name))
    x, y = ds.get(torch.arange(len(ds)))
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and set(y.tolist()) == set(range(k))
    for m in range(k):
        std = (x[y == m] - ds.centers[m]).std(dim=0)
        assert torch.all((std - 0.05).abs() < 0.005), (m, std)
    nearest = torch.cdist(x, ds.centers).argmin(dim=1)
    assert torch.equal(nearest, y)
    again = build(name, sigma=0.05, seed=3)
    assert torch.equal(again.get(torch.arange(100))[0], x[:100])
    assert not torch.equal(build(name, sigma=0.05, seed=4).get(torch.arange(100))[0], x[:100])


def test_mixture_options_and_errors() -> None:
    ds = build("grid25", size=1000, sigma=0.2)
    assert len(ds) == 1000 and ds.sigma == 0.2
    with pytest.raises(GankitError, match="sigma"):
        build("ring8", sigma=-1.0)
    with pytest.raises(GankitError, match="size"):
        build("ring8", size=-5)


# ---------------------------------------------------------------- sklearn digits

def test_digits() -> None:
    from sklearn.datasets import load_digits

    ds = build("digits", resolution=8)
    x, y = ds.get(torch.arange(len(ds)))
    assert len(ds) == 1797 and x.shape == (1797, 1, 8, 8) and x.dtype == torch.uint8
    assert ds.num_classes == ds.num_modes == 10 and y.dtype == torch.int64
    ref = load_digits()
    assert torch.equal(y, torch.as_tensor(ref.target))
    want = np.round(ref.images * 255 / 16).astype(np.uint8)
    assert torch.equal(x[:, 0], torch.from_numpy(want)) and int(x.max()) == 255 and int(x.min()) == 0
    x16, _ = build("digits", resolution=16).get(torch.arange(5))
    assert x16.shape == (5, 1, 16, 16) and x16.dtype == torch.uint8
    assert build("digits", resolution=32).shape == (1, 32, 32)
    for bad in (12, 4, 0):
        with pytest.raises(GankitError, match="8 .*16"):
            build("digits", resolution=bad)


def test_stacked_digits() -> None:
    base = build("digits", resolution=16)
    bx, by = base.get(torch.arange(len(base)))
    ds = build("stacked-digits", resolution=16, seed=1)
    assert len(ds) == 100_000 and ds.num_classes == ds.num_modes == 1000 and ds.shape == (3, 16, 16)
    x, y = ds.get(torch.arange(len(ds)))
    assert x.shape == (100_000, 3, 16, 16) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert len(set(y.tolist())) == 1000 and int(y.min()) >= 0 and int(y.max()) <= 999
    for i in range(0, 100_000, 997):  # each channel is a base digit whose label is that digit
        digits = (int(y[i]) // 100, int(y[i]) // 10 % 10, int(y[i]) % 10)
        for c in range(3):
            assert torch.equal(x[i, c], bx[ds.triples[i, c], 0])
            same = (bx[:, 0] == x[i, c]).flatten(1).all(dim=1)
            assert digits[c] in set(by[same].tolist())
    assert torch.equal(build("stacked-digits", resolution=16, seed=1).get(torch.arange(50))[0], x[:50])
    assert not torch.equal(build("stacked-digits", resolution=16, seed=2).get(torch.arange(50))[0],
                           x[:50])
    assert len(build("stacked-digits", resolution=8, size=500)) == 500
    with pytest.raises(GankitError, match="8 .*16"):
        build("stacked-digits", resolution=12)


# ---------------------------------------------------------------- MNIST

def needs_mnist() -> None:
    if not (MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST files not found at {MNIST}")


def raw_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    img = gzip.decompress((MNIST / f"{split}-images-idx3-ubyte.gz").read_bytes())
    lab = gzip.decompress((MNIST / f"{split}-labels-idx1-ubyte.gz").read_bytes())
    return np.frombuffer(img, np.uint8, offset=16).reshape(-1, 28, 28), np.frombuffer(lab, np.uint8, offset=8)


def test_mnist_train_and_test() -> None:
    needs_mnist()
    ds = build("mnist", path=str(MNIST), resolution=32)
    x, y = ds.get(torch.arange(len(ds)))
    assert len(ds) == 60_000 and x.shape == (60_000, 1, 32, 32) and x.dtype == torch.uint8
    assert int(y[0]) == 5 and ds.num_classes == 10 and torch.bincount(y).min() > 5000
    raw_x, raw_y = raw_mnist("train")
    assert torch.equal(x[:, 0, 2:30, 2:30], torch.from_numpy(raw_x.copy()))  # padding is exact
    assert torch.equal(y, torch.from_numpy(raw_y.astype(np.int64)))
    assert x[:, :, :2].sum() == 0 and x[:, :, 30:].sum() == 0 and x[:, :, :, :2].sum() == 0
    assert 30 < x[:, :, 2:30, 2:30].float().mean() < 37  # MNIST's mean is 0.1307 * 255 = 33.3
    test = build("mnist", path=str(MNIST), resolution=32, subdir="test")
    assert len(test) == 10_000 and int(test.get(torch.tensor([0]))[1]) == 7
    assert len(build("mnist", path=str(MNIST), resolution=32, subdir="all")) == 70_000
    x16, _ = build("mnist", path=str(MNIST), resolution=16, subdir="test").get(torch.arange(10))
    assert x16.shape == (10, 1, 16, 16) and 20 < x16.float().mean() < 50
    with pytest.raises(GankitError, match="power of two"):
        build("mnist", path=str(MNIST), resolution=28)
    with pytest.raises(GankitError, match="train, test or all"):
        build("mnist", path=str(MNIST), subdir="valid")


def test_stackedmnist() -> None:
    needs_mnist()
    ds = build("stackedmnist", path=str(MNIST), resolution=32, subdir="test", seed=0)
    assert len(ds) == 128_000 and ds.num_modes == 1000 and ds.shape == (3, 32, 32)
    x, y = ds.get(torch.arange(2000))
    raw_x, raw_y = raw_mnist("t10k")
    for i in range(0, 2000, 50):
        for c in range(3):
            j = int(ds.triples[i, c])
            assert torch.equal(x[i, c, 2:30, 2:30], torch.from_numpy(raw_x[j].copy()))
            assert int(y[i]) // 10 ** (2 - c) % 10 == raw_y[j]


def write_idx(path: Path, magic: int, arr: np.ndarray, gz: bool) -> None:
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    data = head + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def fake_mnist(folder: Path, gz: bool = True) -> None:
    folder.mkdir(exist_ok=True)
    ext = ".gz" if gz else ""
    for split, n in (("train", 6), ("t10k", 4)):
        imgs = np.arange(n * 28 * 28).reshape(n, 28, 28) % 256
        write_idx(folder / f"{split}-images-idx3-ubyte{ext}", 2051, imgs, gz)
        write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", 2049, np.arange(n) % 10, gz)


def test_mnist_bad_input(tmp_path: Path) -> None:
    fake_mnist(tmp_path / "plain", gz=False)  # un-gzipped files are accepted
    ds = build("mnist", path=str(tmp_path / "plain"), resolution=32)
    assert len(ds) == 6 and ds.get(torch.tensor([3]))[1].item() == 3
    with pytest.raises(GankitError, match="--data"):
        build("mnist", path="")
    with pytest.raises(GankitError, match="does not exist"):
        build("stackedmnist", path=str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GankitError, match="train-images-idx3-ubyte.gz"):
        build("mnist", path=str(tmp_path / "empty"))
    fake_mnist(tmp_path / "bad")
    good = (tmp_path / "bad/train-images-idx3-ubyte.gz").read_bytes()
    for content, match in ((b"\x1f\x8b garbage, not gzip", "corrupt"), (good[: len(good) // 2], "corrupt"),
                           (gzip.compress(b"\x00\x00\x08\x01" + bytes(100)), "magic number 2051"),
                           (gzip.compress(gzip.decompress(good)[:-10]), "truncated")):
        (tmp_path / "bad/train-images-idx3-ubyte.gz").write_bytes(content)
        with pytest.raises(GankitError, match=match):
            build("mnist", path=str(tmp_path / "bad"))


# ---------------------------------------------------------------- image folders and archives

def save(path: Path, size: tuple[int, int], color: tuple[int, int, int], mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).convert(mode).save(path)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    save(root / "train/cat/a.png", (40, 30), (200, 10, 10))
    save(root / "train/cat/b.jpg", (32, 32), (10, 200, 10))
    save(root / "train/cat/c.png", (20, 20), (128, 128, 128), mode="L")
    save(root / "train/dog/d.jpeg", (64, 48), (10, 10, 200))
    save(root / "train/dog/e.png", (16, 16), (50, 60, 70), mode="RGBA")
    (root / "train/dog/broken.jpg").write_bytes(b"this is not a jpeg")
    save(root / "test/cat/f.png", (16, 16), (1, 2, 3))
    return root


def test_folder_labels_resolution_and_skips(tree: Path) -> None:
    with pytest.warns(UserWarning, match=r"skipped 1 of 6 .*broken\.jpg"):
        ds = build("folder", path=str(tree), subdir="train", resolution=16)
    assert len(ds) == 5 and ds.in_memory and ds.num_classes == 2 and ds.classes == ["cat", "dog"]
    x, y = ds.get(torch.arange(5))
    assert x.shape == (5, 3, 16, 16) and x.dtype == torch.uint8 and y.tolist() == [0, 0, 0, 1, 1]
    means = x.float().mean(dim=(2, 3)).round()
    assert means[0].tolist() == [200, 10, 10] and means[2].tolist() == [128, 128, 128]
    assert means[4].tolist() == [50, 60, 70]
    with pytest.warns(UserWarning, match="skipped 1"):
        streamed = build("folder", path=str(tree), subdir="train", resolution=16, in_memory="no")
    assert not streamed.in_memory
    sx, sy = streamed.get(torch.arange(5))
    assert torch.equal(sx, x) and torch.equal(sy, y)
    assert torch.equal(streamed.get(torch.tensor([[4, 0]]))[0], x[[4, 0]].unsqueeze(0))
    with pytest.warns(UserWarning):
        both = build("folder", path=str(tree), resolution=8)
    assert both.classes == ["test", "train"] and len(both) == 6


def test_folder_center_crop_is_exact(tmp_path: Path) -> None:
    img = np.zeros((32, 48, 3), np.uint8)
    img[:, :8], img[:, 8:40], img[:, 40:] = (255, 0, 0), (0, 255, 0), (255, 0, 0)
    Image.fromarray(img).save(tmp_path / "wide.png")
    ds = build("folder", path=str(tmp_path), resolution=32)
    x, y = ds.get(torch.tensor([0]))
    assert ds.num_classes == 0 and y.tolist() == [0]
    assert torch.equal(x[0], torch.tensor([0, 255, 0], dtype=torch.uint8).view(3, 1, 1).expand(3, 32, 32))


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_folder_archives_match_the_tree(tree: Path, tmp_path: Path, kind: str) -> None:
    archive = tmp_path / f"imgs.{kind}"
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as z:
            for p in files:
                z.write(p, "imgs/" + p.relative_to(tree).as_posix())  # one wrapper folder
            z.writestr("__MACOSX/imgs/train/cat/._a.png", b"resource fork")  # ignored
    else:
        with tarfile.open(archive, "w:gz") as t:
            t.add(tree, arcname="imgs")
    with pytest.warns(UserWarning, match="skipped 1"):
        ref = build("folder", path=str(tree), subdir="train", resolution=16)
    for in_memory in ("yes", "no"):
        with pytest.warns(UserWarning, match="skipped 1"):
            ds = build("folder", path=str(archive), subdir="train", resolution=16, in_memory=in_memory)
        assert ds.classes == ["cat", "dog"] and len(ds) == 5
        assert torch.equal(ds.get(torch.arange(5))[0], ref.get(torch.arange(5))[0])
    with pytest.raises(GankitError, match="one of: test, train"):
        build("folder", path=str(archive), subdir="valid")


def test_folder_held_out_is_the_sibling_split(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    for split, red in (("train", 10), ("val", 100), ("test", 200)):
        for c, cls in enumerate(("cat", "dog")):
            for k in range(3):
                save(root / f"{split}/{cls}/{k}.png", (16, 16), (red + k, 50 * c, 0))
    with tarfile.open(tmp_path / "imgs.tar.gz", "w:gz") as t:
        t.add(root, arcname="imgs")
    reds = lambda x: set(x[:, 0].float().mean((1, 2)).round().long().tolist())  # noqa: E731
    for path in (root, tmp_path / "imgs.tar.gz"):
        ds = build("folder", path=str(path), subdir="train", resolution=8)
        x, y = ds.held_out(4, seed=0)
        assert x.shape == (4, 3, 8, 8) and reds(x) <= {200, 201, 202}  # test/ first: never a training image
        assert torch.equal(x[:, 1, 0, 0].long(), y * 50)  # each label is its image's class
        assert torch.equal(ds.held_out(4, seed=0)[0], x) and len(ds.held_out(100, seed=0)[0]) == 6
    import shutil

    ds = build("folder", path=str(root), subdir="train", resolution=8)
    shutil.rmtree(root / "test")
    assert reds(ds.held_out(6, seed=1)[0]) == {100, 101, 102}  # then val/
    shutil.rmtree(root / "val/dog")
    assert ds.held_out(6, seed=1) is None  # a split with other classes would mislabel D's inputs
    assert build("folder", path=str(root / "train"), resolution=8).held_out(2, seed=0) is None  # no split named


def test_folder_broken_pixels_in_stream_mode(tmp_path: Path) -> None:
    for k in range(3):
        save(tmp_path / f"{k}.png", (32, 32), (k * 50, 0, 0))
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)).save(buf, "PNG")
    (tmp_path / "1.png").write_bytes(buf.getvalue()[:300])  # valid header, truncated pixel data
    ds = build("folder", path=str(tmp_path), resolution=32, in_memory="no")
    assert len(ds) == 3
    with pytest.warns(UserWarning, match=r"1\.png in .* failed to decode"):
        x, _ = ds.get(torch.tensor([1]))
    assert torch.equal(x, ds.get(torch.tensor([2]))[0])  # replaced by the next good image


def test_folder_bad_input(tmp_path: Path) -> None:
    with pytest.raises(GankitError, match="does not exist"):
        build("folder", path=str(tmp_path / "missing"))
    with pytest.raises(GankitError, match="data.path"):
        build("folder", path="")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/notes.txt").write_text("no images here")
    with pytest.raises(GankitError, match=r"no images found .*\.png, \.jpg, \.jpeg"):
        build("folder", path=str(tmp_path / "empty"))
    (tmp_path / "bad").mkdir()
    for k in range(3):
        (tmp_path / f"bad/{k}.jpg").write_bytes(b"garbage")
    for in_memory in ("yes", "no"):
        with pytest.raises(GankitError, match="none of the 3 images"):
            build("folder", path=str(tmp_path / "bad"), in_memory=in_memory)
    with pytest.raises(GankitError, match="sub-folder"):
        build("folder", path=str(tmp_path / "bad"), subdir="train")
    with pytest.raises(GankitError, match="power of two"):
        build("folder", path=str(tmp_path / "bad"), resolution=24)
    with pytest.raises(GankitError, match="in_memory"):
        build("folder", path=str(tmp_path / "bad"), in_memory="maybe")
    (tmp_path / "x.rar").write_bytes(b"rar")
    with pytest.raises(GankitError, match="archive"):
        build("folder", path=str(tmp_path / "x.rar"))


def test_cifar10_archive() -> None:
    if not CIFAR.is_file():
        pytest.skip(f"CIFAR-10 archive not found at {CIFAR}")
    ds = build("folder", path=str(CIFAR), subdir="train", resolution=32)
    assert len(ds) == 50_000 and ds.num_classes == 10 and ds.shape == (3, 32, 32) and ds.in_memory
    assert ds.classes[0] == "airplane" and ds.classes[-1] == "truck"
    assert torch.bincount(ds.labels).tolist() == [5000] * 10
    x, _ = ds.get(torch.arange(0, 50_000, 100))
    assert x.dtype == torch.uint8 and 80 < x.float().mean() < 160


# ---------------------------------------------------------------- the loader

def test_infinite_loader_over_digits() -> None:
    ds = build("digits", resolution=8)
    n = len(ds)
    loader = InfiniteLoader(ds, batch=2 * n, seed=5, xflip=True)
    idx = InfiniteLoader(ds, batch=2 * n, seed=5, xflip=True).next_indices()
    x, y = next(loader)
    assert x.dtype == torch.float32 and x.shape == (2 * n, 1, 8, 8)
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    flip = idx >= n
    assert int(flip.sum()) == n  # one epoch of the doubled set: half mirrored
    plain = to_float(ds.get(idx % n)[0])
    assert torch.equal(x[~flip], plain[~flip]) and torch.equal(x[flip], plain[flip].flip(3))
    assert torch.equal(y, ds.get(idx % n)[1])
