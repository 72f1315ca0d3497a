"""MNIST read from the four original IDX files, plain and as StackedMNIST (1000 modes, VEEGAN/PacGAN).

Placement at data.resolution: 32 pads the 28x28 digits with 2 zero pixels on each side (exact);
any other power of two >= 4 pads to 32 first, then resizes with antialiased bilinear
interpolation, so the digit fills the same fraction of the frame at every resolution.
data.subdir picks the split: "" or "train" (60k), "test" (t10k, 10k) or "all" (train then test).
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GankitError
from .base import DATASETS, DataConfig, Dataset
from .digits import StackedImages, TensorImages, resize_uint8

DEFAULT_STACKED_SIZE = 128_000
SPLITS = {"": ("train",), "train": ("train",), "test": ("t10k",), "all": ("train", "t10k")}
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
HINT = "point --data at the folder holding the four original MNIST .gz files"


def _find(folder: Path, stem: str) -> Path:
    """The file `stem` or `stem.gz` in folder (or its torchvision-style raw/ or MNIST/raw/)."""
    for d in (folder, folder / "raw", folder / "MNIST" / "raw"):
        for name in (stem + ".gz", stem):
            if (d / name).is_file():
                return d / name
    raise GankitError(f"MNIST folder {folder} has no {stem}.gz; {HINT}")


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file (gzip or plain): magic 2051 -> uint8 [N, rows, cols], 2049 -> uint8 [N]."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise GankitError(f"MNIST file {path} is corrupt ({e}); re-download it and {HINT}") from None
    ndim = 3 if magic == 2051 else 1
    head = 4 + 4 * ndim
    if len(raw) < head or int.from_bytes(raw[:4], "big") != magic:
        found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
        raise GankitError(f"MNIST file {path} is not an IDX file with magic number {magic} "
                          f"(found {found}); re-download it and {HINT}")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) != head + int(np.prod(dims)):
        raise GankitError(f"MNIST file {path} is truncated or corrupt ({len(raw) - head} data bytes "
                          f"for shape {dims}); re-download it and {HINT}")
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(dims)


def load_mnist(path: str, subdir: str, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The chosen MNIST split as uint8 [N, 1, R, R] and labels int64 [N], placed at resolution R."""
    if not path:
        raise GankitError(f"MNIST needs a folder: pass --data pointing at the folder with the "
                          f"four MNIST .gz files ({', '.join(f + '.gz' for f in FILES)})")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise GankitError(f"MNIST folder {folder} does not exist or is not a folder; {HINT}")
    if subdir not in SPLITS:
        raise GankitError(f"MNIST split (data.subdir) '{subdir}' is unknown; use train, test or all")
    if resolution < 4 or resolution & (resolution - 1):
        raise GankitError(f"MNIST resolution {resolution} is not a power of two >= 4; "
                          "use 32 (28x28 digits zero-padded, exact) or e.g. 16 or 64 (resized)")
    images, labels = [], []
    for split in SPLITS[subdir]:
        x = read_idx(_find(folder, f"{split}-images-idx3-ubyte"), 2051)
        y = read_idx(_find(folder, f"{split}-labels-idx1-ubyte"), 2049)
        if len(x) != len(y) or x.shape[1:] != (28, 28) or int(y.max(initial=0)) > 9:
            raise GankitError(f"MNIST {split} files in {folder} do not match (images {x.shape}, "
                              f"labels {y.shape}); re-download them and {HINT}")
        images.append(torch.from_numpy(x.copy()))
        labels.append(torch.from_numpy(y.astype(np.int64)))
    x = F.pad(torch.cat(images).unsqueeze(1), (2, 2, 2, 2))  # [N, 1, 32, 32], zeros around
    if resolution != 32:
        x = resize_uint8(x, resolution, antialias=True)
    return x, torch.cat(labels)


@DATASETS.register("mnist", reads_path=True, resolution=32)
def mnist(cfg: DataConfig) -> Dataset:
    """MNIST digits, 1 channel, labels 0..9; data.path = the folder of the four IDX files."""
    images, labels = load_mnist(cfg.path, cfg.subdir, cfg.resolution)
    return TensorImages(images, labels, 10, name="mnist")


@DATASETS.register("stackedmnist", reads_path=True, resolution=32)
def stackedmnist(cfg: DataConfig) -> Dataset:
    """StackedMNIST: three random MNIST digits in R, G, B, 1000 modes, cfg.size items (128k)."""
    images, labels = load_mnist(cfg.path, cfg.subdir, cfg.resolution)
    return StackedImages(images, labels, cfg.size or DEFAULT_STACKED_SIZE, cfg.seed,
                         name="stackedmnist")
