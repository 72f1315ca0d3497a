"""The dataset interface, the dataset registry and the infinite, resumable batch loader."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterator, Optional

import torch

from ..errors import GankitError
from ..registry import Registry

# Field metadata of a config key that may change between a run and its resumption (bookkeeping, not the experiment):
# run.config_diff ignores these keys (config.resume_safe_keys lists them).
RESUMABLE = {"resume": True}

DATASETS = Registry("dataset")


@dataclass
class DataConfig:
    """Which data to train on; every field is settable as `--set data.FIELD=VALUE`."""

    name: str = "stacked-digits"  # dataset registry name
    path: str = field(default="", metadata=RESUMABLE)  # folder, archive or file for datasets read from disk
    resolution: int = 16  # image side in pixels (power of two >= 4); ignored by 2-D sets
    xflip: bool = False  # double the set with mirrored images (StyleGAN-style x-flips)
    size: int = 0  # synthetic sets: number of samples (0: the dataset's default)
    sigma: float = 0.05  # 2-D mixtures: standard deviation of each mode
    seed: int = 0  # seed of the synthetic sets' composition (which digits are stacked)
    subdir: str = ""  # image folders/archives: use only this sub-folder (e.g. "train")
    in_memory: str = field(default="auto", metadata=RESUMABLE)  # image folders: "auto" (by size), "yes" or "no" (stream from disk)
    classes: int = 0  # expected number of classes for conditional models (0: as found in the data)


class Dataset:
    """A finite, indexable set. `get(idx)` is deterministic in `idx`.

    kind: "image" (uint8 [B, C, H, W] in 0..255) or "points" (float32 [B, D]).
    labels: int64 [B] in [0, num_classes); num_classes = 0 when the set has no labels.
    num_modes: how many modes the set has by construction (0 when not known), e.g. 1000 for
    StackedMNIST, 25 for the Gaussian grid; mode metrics use it.
    """

    kind: str = "image"
    shape: tuple[int, ...] = ()
    num_classes: int = 0
    num_modes: int = 0

    def __len__(self) -> int:
        raise NotImplementedError

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def labels_at(self, idx: torch.Tensor) -> torch.Tensor:
        """Labels int64 [B] of items idx, without decoding images where the set can (metric protocols draw 50k)."""
        return self.get(idx)[1]

    def held_out(self, n: int, seed: int) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
        """n items of the same distribution that are not in the set (images, labels), for measuring how much a
        discriminator memorises its training items; None where the set has no such items."""
        return None

    def content(self) -> Iterator[bytes]:
        """What the fingerprint hashes: every item and label (cheap for sets held in memory); sets that stream
        from disk override it with something cheaper."""
        for lo in range(0, len(self), 4096):
            x, y = self.get(torch.arange(lo, min(lo + 4096, len(self))))
            yield x.contiguous().numpy().tobytes()
            yield y.contiguous().numpy().tobytes()

    def fingerprint(self) -> str:
        """A content hash of size, shape, classes and content(); a resume checks it, so a run never continues
        on other data by mistake. Computed once per dataset object."""
        if getattr(self, "_fingerprint", None) is None:
            h = hashlib.sha256(repr((len(self), tuple(self.shape), self.num_classes)).encode())
            for part in self.content():
                h.update(part)
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def describe(self) -> dict:
        """A JSON-able summary written into the run directory."""
        return {"kind": self.kind, "shape": list(self.shape), "size": len(self),
                "num_classes": self.num_classes, "num_modes": self.num_modes, "fingerprint": self.fingerprint()}


def build_dataset(cfg: DataConfig) -> Dataset:
    """Look up `cfg.name` in the registry and build the set; a path given to a set that reads none is refused."""
    if cfg.path and not DATASETS.caps(cfg.name).get("reads_path"):
        readers = ", ".join(n for n in DATASETS.names() if DATASETS.caps(n).get("reads_path"))
        raise GankitError(f"dataset '{cfg.name}' reads no files, so --data {cfg.path} (data.path) would be ignored; "
                          f"pick a dataset that reads it (--set data.name=folder, or one of: {readers}) or drop --data")
    return DATASETS.get(cfg.name)(cfg)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 -> float32 in [-1, 1] (the generator's range)."""
    return x.to(torch.float32) / 127.5 - 1.0


class InfiniteLoader:
    """Shuffled batches forever, epoch after epoch, seeded; its position is resumable.

    With xflip the index space is doubled and indices >= len(dataset) are mirrored.
    Yields (x, labels): images as float32 in [-1, 1], points as float32. `batch` is the global batch;
    with shard=(rank, world) every rank walks the same order and loads only its slice of each batch.
    """

    def __init__(self, dataset: Dataset, batch: int, seed: int = 0, xflip: bool = False,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self.dataset, self.batch, self.seed, self.xflip = dataset, batch, seed, xflip
        self.shard = shard
        self.n = len(dataset) * (2 if xflip else 1)
        if self.n == 0:
            raise ValueError("the dataset is empty")
        self.epoch, self.pos = 0, 0
        self._perm = self._permutation()

    def _permutation(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=g)

    def next_indices(self) -> torch.Tensor:
        out = []
        need = self.batch
        while need > 0:
            take = self._perm[self.pos : self.pos + need]
            out.append(take)
            need -= len(take)
            self.pos += len(take)
            if self.pos >= self.n:
                self.epoch, self.pos = self.epoch + 1, 0
                self._perm = self._permutation()
        return torch.cat(out)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def skip(self) -> None:
        """Pass over one batch without loading it (a rollback's 'skip the batch')."""
        self.next_indices()

    def close(self) -> None:
        """Nothing to release (the Prefetcher's counterpart stops its thread)."""

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.load(self.next_indices())

    def load(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of global indices `idx`: this rank's slice, decoded, as float, mirrored where flipped."""
        rank, world = self.shard
        if world > 1:
            per = self.batch // world
            idx = idx[rank * per:(rank + 1) * per]
        n = len(self.dataset)
        flip = idx >= n
        x, y = self.dataset.get(idx % n)
        if self.dataset.kind == "image":
            x = to_float(x)
            if flip.any():
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        return x, y

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch, self.pos = int(state["seed"]), int(state["epoch"]), int(state["pos"])
        self._perm = self._permutation()
