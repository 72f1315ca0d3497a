"""Image sources for evaluation: a generator, a dataset, an image folder or archive, an .npz, or statistics.

A Source streams uint8 images [B, C, H, W] (or float points [B, D] for 2-D sets) in batches; sets are
read in a seeded random order, so consecutive items are random pairs (LPIPS diversity relies on it).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch import Tensor, nn

from ..data.base import Dataset
from ..errors import GankitError

QUANTISATION = "uint8 = (x * 127.5 + 128).clamp(0, 255)"


@dataclass
class Source:
    """A finite stream of uint8 images [B, C, H, W] (kind "image") or float points [B, D] (kind "points")."""

    describe: dict
    n: int
    batches: Callable[[int], Iterator[Tensor]]
    kind: str = "image"
    dataset: Optional[Dataset] = None  # for mode metrics: the set's classifier, centers, num_modes
    dataset_name: str = ""
    stats: Optional[dict] = None  # a reference given as cached statistics (no images)


def generator_source(G: nn.Module, n: int, seed: int = 0, dataset: Optional[Dataset] = None,
                     dataset_name: str = "", describe: Optional[dict] = None, truncation: float = 0.0,
                     psi: float = 1.0, classes: Optional[Tensor] = None) -> Source:
    """n samples of G from latents(n, z_dim, seed), quantised to uint8; a conditional G's classes are
    `classes` (int64 [n]) or 0, 1, 2, ... cycled; truncation / psi as in sampling.iter_samples (recorded
    in the description when used)."""
    from ..sampling import iter_samples, to_uint8

    def batches(b: int) -> Iterator[Tensor]:
        for x in iter_samples(G, n, seed=seed, classes=classes, batch=b, truncation=truncation, psi=psi):
            yield x if x.dim() == 2 else to_uint8(x)

    describe = dict(describe or {"kind": "generator", "seed": seed})
    if truncation:
        describe["truncation"] = truncation
    if psi != 1:
        describe["psi"] = psi

    kind = dataset.kind if dataset is not None else ("points" if next(iter_samples(G, 1, seed)).dim() == 2 else "image")
    return Source(describe, n, batches, kind, dataset, dataset_name)


def dataset_source(ds: Dataset, n: int, seed: int = 0, name: str = "", describe: Optional[dict] = None) -> Source:
    """min(n, len(ds)) items of ds in a seeded random order (all of them, shuffled, when n >= len)."""
    if n > len(ds):
        warnings.warn(f"{name or 'the set'} has {len(ds)} items, fewer than the {n} asked for; using all of them", stacklevel=2)
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]

    def batches(b: int) -> Iterator[Tensor]:
        for i in range(0, len(idx), b):
            yield ds.get(idx[i:i + b])[0]

    info = {"kind": "dataset", "name": name, "seed": seed, **(describe or {})}
    return Source(info, len(idx), batches, ds.kind, ds, name)


class ArrayDataset(Dataset):
    """uint8 images held in memory (an .npz's array)."""

    def __init__(self, images: Tensor) -> None:
        self.images, self.shape = images, tuple(images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def get(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        return self.images[idx], torch.zeros(idx.shape, dtype=torch.long)


def load_npz(path: Path) -> Tensor:
    """uint8 [N, C, H, W] from an .npz (key 'samples', else its only array; NHWC or NCHW, C in 1/3)."""
    try:
        with np.load(path) as z:
            key = "samples" if "samples" in z.files else (z.files[0] if len(z.files) == 1 else None)
            if key is None:
                raise GankitError(f"{path} holds arrays {z.files}; name the images array 'samples'")
            arr = z[key]
    except (OSError, ValueError) as e:
        raise GankitError(f"cannot read {path} as .npz ({e}); write it with numpy.savez") from None
    if arr.dtype != np.uint8:
        raise GankitError(f"{path}: images must be uint8 in 0..255, got {arr.dtype}; quantise as {QUANTISATION}")
    if arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise GankitError(f"{path}: images must be [N, H, W, C] or [N, C, H, W] with C = 1 or 3, got {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def _native_resolution(path: Path, subdir: str) -> int:
    """The shorter side every image of a folder or archive shares (each file's header is read; a centre crop to a
    square happens later). Files whose header cannot be read are counted in a warning; sides that differ are refused,
    naming two files, since no single size is the images' own."""
    import io
    import warnings

    from PIL import Image

    from ..data.folder import _select, _Source

    root = path / subdir if subdir and path.is_dir() else path
    src = _Source(root)
    names, _ = _select(src, "" if root is not path else subdir)
    if not names:
        raise GankitError(f"no images found in {root}; point at a folder or archive of .png/.jpg files")
    sides: dict[int, str] = {}
    bad: list[str] = []
    for name in names:
        try:  # a folder's file opens by path (PIL reads the header only); an archive member from its bytes
            with Image.open(root / name if src.kind == "folder" else io.BytesIO(src.read(name))) as im:
                sides.setdefault(min(im.size), name)
        except Exception:  # noqa: BLE001  empty, not an image, a decompression bomb, an encrypted zip member
            bad.append(name)
    if not sides:
        raise GankitError(f"no image in {root} can be read (first: {names[0]}); check the files")
    if bad:
        warnings.warn(f"{len(bad)} of {len(names)} files in {root} have no readable image header (first: {bad[0]}); "
                      "they are skipped", stacklevel=3)
    if len(sides) > 1:
        (a, fa), (b, fb) = sorted(sides.items())[0], sorted(sides.items())[-1]
        raise GankitError(f"images in {root} differ in size ({fa}: {a} px, {fb}: {b} px); pass --resolution to "
                          "resize them all to one")
    return next(iter(sides))


def resolve_source(spec: str, n: int, seed: int, data_path: str = "", subdir: str = "", resolution: int = 0,
                   allow_stats: bool = False) -> Source:
    """DATASET name | .npz | image folder or archive | (reference only) a .safetensors statistics file."""
    from ..data import DATASETS, DataConfig, build_dataset

    path = Path(spec).expanduser()
    if spec in DATASETS.names() and not path.exists():
        cfg = DataConfig(name=spec, path=data_path, subdir=subdir)
        # --resolution, else the size the dataset's benchmark is counted at (StackedMNIST: 32 px), else data's default
        cfg.resolution = resolution or DATASETS.caps(spec).get("resolution", cfg.resolution)
        return dataset_source(build_dataset(cfg), n, seed, spec, {"config": cfg.__dict__})
    if not path.exists():
        raise GankitError(f"'{spec}' is neither an existing path nor a dataset ({', '.join(DATASETS.names())})")
    if path.suffix == ".safetensors":
        if not allow_stats:
            raise GankitError(f"{path} is a statistics file; it can only be a reference (--ref)")
        from .stats import read_stats

        return Source({"kind": "stats", "path": str(path)}, 0, lambda b: iter(()), stats=read_stats(path))
    if path.suffix == ".npz":
        return dataset_source(ArrayDataset(load_npz(path)), n, seed, path.name, {"path": str(path)})
    from ..data.folder import ImageFolder

    res = resolution or _native_resolution(path, subdir)
    ds = ImageFolder(str(path), subdir, res, "auto") if res >= 4 and not res & (res - 1) else None
    if ds is None:
        raise GankitError(f"images in {path} are {res} px; pass --resolution with a power of two to resize them")
    return dataset_source(ds, n, seed, path.name, {"path": str(path), "subdir": subdir, "resolution": res})
