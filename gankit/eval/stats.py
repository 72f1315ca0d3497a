"""Statistics files: what one pass over a source collected (Collected), and reference statistics as safetensors with
their protocol in the metadata (write_stats, read_stats), shared by the evaluation driver and the sources."""
from __future__ import annotations

import hashlib
import json
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


