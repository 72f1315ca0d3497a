"""Statistics files: what one pass over a source collected (Collected), reference statistics as safetensors with
their protocol in the metadata (write_stats, read_stats), shared by the evaluation driver and the sources, and a
reference pass's features saved as it goes (PartialFeatures)."""
from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from torch import Tensor

from ..data.base import Dataset
from ..errors import GankitError
from ..files import write_atomic
from .metrics import RunningMoments


@dataclass
class Collected:
    """What one pass over a source produced."""

    n: int = 0
    images_sha256: str = ""
    moments: Optional[RunningMoments] = None
    features: Optional[Tensor] = None
    probs: Optional[Tensor] = None
    digits: Optional[Tensor] = None
    digit_conf: Optional[Tensor] = None  # the classifier's probability of each channel's digit
    lpips: object = None
    points: Optional[Tensor] = None
    dataset: Optional[Dataset] = None
    protocols: dict = field(default_factory=dict)  # per need ("features", "probs", "digits"): the extractor's protocol
    lpips_sha: str = ""
    seconds: dict = field(default_factory=dict)  # wall time of the pass: "source" (generating or decoding), "extract"
    knn: dict = field(default_factory=dict)  # k -> k-NN radii of the features (pr, dc): a kept reference pays once per run



def stats_key(images_sha256: str, protocol: dict) -> str:
    return hashlib.sha256(json.dumps([images_sha256, protocol], sort_keys=True).encode()).hexdigest()[:32]


def write_stats(path: Path, c: Collected, protocol: dict) -> None:
    """Reference statistics as safetensors: moments (float64), features (float32); protocol in the metadata."""
    from safetensors.torch import save

    st = c.moments.state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, save({"n": st["n"], "mean": st["mean"], "m2": st["m2"], "features": c.features.contiguous()},
                            metadata={"protocol": json.dumps(protocol), "images_sha256": c.images_sha256,
                                      "gankit": "reference-stats"}))


def read_stats(path: Path) -> dict:
    """{"collected": Collected, "protocol": dict} from write_stats' file; a clear error for other files."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if meta.get("gankit") != "reference-stats":
                raise GankitError(f"{path} is not a gankit statistics file; write one with `gankit eval ... --save-ref {path}`")
            t = {k: f.get_tensor(k) for k in f.keys()}
    except GankitError:
        raise
    except Exception as e:
        raise GankitError(f"cannot read statistics {path} ({type(e).__name__}: {e}); recompute them") from None
    m = RunningMoments()
    m.load_state_dict(t)
    c = Collected(n=int(t["n"]), images_sha256=meta["images_sha256"], moments=m, features=t["features"])
    return {"collected": c, "protocol": json.loads(meta["protocol"])}




class PartialFeatures:
    """A reference pass's features saved as it goes, one file per `every` batches, so that a pass killed after hours
    resumes where it stopped (CIFAR-10's 50,000 images through Inception take about 3 h on 2 AVX2 cores). The folder
    is named by the statistics key (the images' hash and the extractor's protocol), the batch size and the device, so
    only the same pass over the same images resumes; a batch's features do not depend on the batches before it. Each
    saved batch must have its expected rows (`batch`, fewer for the last of `n` images) and one feature width."""

    def __init__(self, stats_dir: Path, key: str, *, batch: int, device: str, n: int, every: int) -> None:
        self.key, self.every, self.batch, self.n = key, every, batch, n
        self.folder = stats_dir / f"{key}.partial-b{batch}-{str(device).replace(':', '')}"  # e.g. <key>.partial-b100-cpu
        self.pending, self.first, self.failed = [], 0, False

    def _fits(self, fs: list[Tensor], first: int, width: Optional[int]) -> bool:
        """Whether batches first, first + 1, ... of the pass could be `fs`: 2-D, their rows, one width."""
        return len(fs) == self.every and all(
            f.ndim == 2 and f.shape[0] == min(self.batch, self.n - (first + j) * self.batch) > 0
            and f.shape[1] == (width or fs[0].shape[1]) for j, f in enumerate(fs))

    def load(self) -> list[Tensor]:
        """The batches already extracted, in order: whole chunks from the first on, up to a missing or damaged one."""
        from safetensors.torch import load_file

        done: list[Tensor] = []
        try:
            while (path := self.folder / f"{len(done):07d}.safetensors").is_file():
                try:
                    chunk = load_file(str(path))
                except Exception:  # a chunk cut short (a disk fault): recomputed from here
                    break
                fs = [chunk[k] for k in sorted(chunk)]
                if not self._fits(fs, len(done), done[0].shape[1] if done else None):  # not this pass's: recomputed
                    break
                done.extend(fs)
        except OSError:  # an unreadable folder: the pass starts over
            done = []
        self.first = len(done)
        return done

    def add(self, f: Tensor) -> None:
        """The next batch's features; every `every` batches the pending ones go to disk as one chunk."""
        from safetensors.torch import save

        self.pending.append(f)
        if len(self.pending) == self.every and not self.failed:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                write_atomic(self.folder / f"{self.first:07d}.safetensors",
                             save({f"{k:06d}": t.contiguous() for k, t in enumerate(self.pending)}))
            except OSError as e:  # saving only spares a rerun: say so once and go on
                warnings.warn(f"could not save the reference pass's progress in {self.folder} ({e}); the result is "
                              "unaffected, but a killed pass will start over", stacklevel=2)
                self.failed = True
            self.first += len(self.pending)
            self.pending = []

    def clear(self) -> None:
        """Remove the chunks once the whole pass is in the statistics cache, with those of the same statistics left by
        passes at another batch size or on another device (they can never be resumed now)."""
        for folder in self.folder.parent.glob(f"{self.key}.partial-*"):
            shutil.rmtree(folder, ignore_errors=True)
