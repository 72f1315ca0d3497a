"""DINOv2 ViT-L/14 (Oquab et al. 2023): the CLS token after the final LayerNorm, 1024-d, the features of FD-DINOv2.

gankit's own port of the register-free "dinov2_vitl14" backbone of facebookresearch/dinov2: 14 px patches, width
1024, depth 24, 16 heads, MLP ratio 4 with exact GELU, qkv biases, LayerScale on both residual branches, pre-norm
LayerNorms with eps 1e-6 and a final one. Parameter names are the official checkpoint's, so
dinov2_vitl14_pretrain.pth loads with strict=True. The positional embedding is learnt on a 37 x 37 grid (518 px);
for another grid it is resized bicubically (no antialias) with the scale factor (grid + 0.1) / 37, as the official
code does, so a 224 px input (16 x 16 patches) gives the official features. dgm-eval, torch-fidelity and EDM2 take
the same CLS feature for FD-DINOv2.

Preprocessing (EDM2's calculate_metrics.py "torch" mode, its fast form of dgm-eval's): uint8 [N, C, H, W] -> float
/ 255, grey repeated to 3 channels, bicubic resize to 224 x 224 with antialias=True (PIL's a = -0.5 kernel,
widened when shrinking; no clamp, no rounding back to uint8, no centre crop), then (x - mean) / std with ImageNet's
mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).

Weights, first found wins: a file the caller names (`weights`, --dinov2-weights) or $GANKIT_DINOV2_WEIGHTS; the
official file in gankit's cache (cache_dir() / dinov2_vitl14_pretrain.pth); else, online, one download of the
official URL into that cache. Files are read with torch.load(weights_only=True): tensors only, no pickled code.
"""
from __future__ import annotations

import http.client
import os
import sys
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import GankitError
from ...files import write_atomic
from .inception import cache_dir, state_hash

URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
FILE = "dinov2_vitl14_pretrain.pth"
ENV = "GANKIT_DINOV2_WEIGHTS"
INPUT_SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
ARCH = dict(embed_dim=1024, depth=24, heads=16, patch=14, grid=37)  # ViT-L/14, trained at 518 px = 37 x 37 patches
POS_OFFSET = 0.1  # the official code's offset in the positional embedding's resize factor (facebookresearch/dino#8)


class Attention(nn.Module):
    """Multi-head self-attention: one qkv linear, softmax(q k^T / sqrt(d_head)) v in each head, an output linear."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)  # [N, heads, T, d_head]; default scale 1 / sqrt(d_head)
        return self.proj(y.transpose(1, 2).reshape(n, t, c))


class LayerScale(nn.Module):
    """A learnt per-channel gain on a residual branch (Touvron et al. 2021, CaiT)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    """fc1 -> exact (erf) GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + ls1(attn(norm1(x))), then that + ls2(mlp(norm2(that)))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn, self.ls1 = Attention(dim, heads), LayerScale(dim)
        self.mlp, self.ls2 = Mlp(dim, dim * mlp_ratio), LayerScale(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Non-overlapping patches by a stride-p conv: [N, 3, H, W] -> tokens [N, (H / p) (W / p), D], row-major."""

    def __init__(self, patch: int, dim: int, in_chans: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoV2(nn.Module):
    """Images [N, 3, H, W] (H, W multiples of the patch), normalised -> CLS token after the final norm [N, D].

    The defaults are ViT-L/14; width, depth, heads, patch and grid are arguments so tests can build it tiny.
    """

    def __init__(self, embed_dim: int = 1024, depth: int = 24, heads: int = 16, patch: int = 14, grid: int = 37,
                 mlp_ratio: int = 4) -> None:
        super().__init__()
        self.patch, self.grid = patch, grid
        self.patch_embed = PatchEmbed(patch, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))  # masked-token training only; kept for a strict load
        self.blocks = nn.ModuleList(Block(embed_dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)

    def pos_embed_for(self, gh: int, gw: int) -> Tensor:
        """The positional embedding [1, 1 + gh gw, D] for a gh x gw patch grid: as learnt at the training grid, else
        its patch part resized bicubically (align_corners=False, no antialias) by (g + 0.1) / grid, in float32."""
        if (gh, gw) == (self.grid, self.grid):
            return self.pos_embed
        d, m = self.pos_embed.shape[-1], self.grid
        pos = self.pos_embed.float()
        grid = pos[:, 1:].reshape(1, m, m, d).permute(0, 3, 1, 2)
        scale = ((gh + POS_OFFSET) / m, (gw + POS_OFFSET) / m)
        grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", align_corners=False)
        if grid.shape[-2:] != (gh, gw):
            raise GankitError(f"positional embedding resized to {tuple(grid.shape[-2:])}, not {(gh, gw)}")
        patches = grid.permute(0, 2, 3, 1).reshape(1, gh * gw, d)
        return torch.cat([pos[:, :1], patches], 1).to(self.pos_embed.dtype)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h % self.patch or w % self.patch:
            raise GankitError(f"DINOv2 input {h}x{w} is not a multiple of its {self.patch} px patches; use preprocess()")
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], 1)
        tokens = tokens + self.pos_embed_for(h // self.patch, w // self.patch).to(tokens.dtype)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]


def preprocess(x: Tensor, size: int = INPUT_SIZE) -> Tensor:
    """uint8 [N, 1 or 3, H, W] -> float [N, 3, size, size]: / 255, bicubic resize (antialias=True, no clamp), grey
    repeated to RGB, (x - ImageNet mean) / ImageNet std."""
    x = x.float() / 255
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# --------------------------------------------------------------------------- weights


def _how_to_get() -> str:
    return (f"download {URL} and pass it with --dinov2-weights FILE or ${ENV}, or put it at {cache_dir() / FILE} "
            "($GANKIT_CACHE moves the cache)")


def _brief(e: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"


def _fetch(url: str) -> bytes:
    """The bytes at `url`; raises OSError (URLError, timeout) when the machine is offline."""
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def download(dest: Path) -> Path:
    """The official checkpoint fetched once into `dest`, written atomically; offline: one GankitError line."""
    print(f"gankit: downloading the DINOv2 ViT-L/14 weights (1.2 GB) from {URL} to {dest}", file=sys.stderr, flush=True)
    try:
        data = _fetch(URL)
    except (OSError, http.client.HTTPException) as e:
        raise GankitError(f"DINOv2 weights not found at {dest} and {URL} could not be downloaded "
                          f"({_brief(e)}); {_how_to_get()}") from None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(dest, data)
    except OSError as e:
        raise GankitError(f"cannot write gankit's cache {dest.parent} ({_brief(e)}); set $GANKIT_CACHE to a writable folder, "
                          f"or pass the downloaded file with --dinov2-weights FILE or ${ENV}") from None
    del data
    try:
        read_weights(dest)  # a proxy's error page is not left in the cache to fail every later run
    except GankitError:
        dest.unlink(missing_ok=True)
        raise
    return dest


def locate_weights(path: str | Path | None = None) -> Path:
    """The file named by `path` or $GANKIT_DINOV2_WEIGHTS, else the cached official file (downloaded once)."""
    path = path or os.environ.get(ENV)
    if path:
        return Path(path).expanduser()
    cached = cache_dir() / FILE
    return cached if cached.is_file() else download(cached)


def _some(keys: list[str]) -> str:
    return f"{len(keys)}, e.g. {keys[0]}"


def check_state(state: object, path: Path) -> dict[str, Tensor]:
    """`state` if it is a ViT-L/14 state dict (names and shapes of ARCH), else one GankitError line naming the problem."""
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise GankitError(f"{path} holds a {type(state).__name__}, not a state dict of tensors; {_how_to_get()}")
    with torch.device("meta"):
        expected = {k: v.shape for k, v in DinoV2(**ARCH).state_dict().items()}
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    shapes = [f"{k} {list(state[k].shape)} vs {list(s)}" for k, s in expected.items() if k in state and state[k].shape != s]
    problems = ([f"missing keys {_some(missing)}"] if missing else []) + \
               ([f"unexpected keys {_some(extra)}"] if extra else []) + ([f"wrong shapes {_some(shapes)}"] if shapes else [])
    if problems:
        raise GankitError(f"{path} is not the DINOv2 ViT-L/14 checkpoint ({'; '.join(problems)}); use the "
                          f"register-free {FILE}: {_how_to_get()}")
    return state


def read_weights(path: Path) -> dict[str, Tensor]:
    """The checked state dict in `path` (torch.load with weights_only=True); one GankitError line when unreadable."""
    if not path.is_file():
        raise GankitError(f"DINOv2 weights file {path} does not exist; {_how_to_get()}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, or pickled objects beyond tensors
        raise GankitError(f"cannot read DINOv2 weights {path} ({_brief(e)}): truncated or not a "
                          f"torch checkpoint; {_how_to_get()}") from None
    return check_state(state, path)


def load_dinov2(path: str | Path | None = None, device: str | torch.device = "cpu") -> tuple[DinoV2, str, str]:
    """(network in eval mode, weights' sha256 per inception.state_hash, the file it came from)."""
    src = locate_weights(path)
    state = {k: v.float() for k, v in read_weights(src).items()}
    with torch.device("meta"):  # no random init of 300M parameters: the loaded tensors become the parameters
        net = DinoV2(**ARCH)
    net.load_state_dict(state, strict=True, assign=True)
    return net.eval().requires_grad_(False).to(device), state_hash(state), str(src)


__all__ = ["DinoV2", "load_dinov2", "preprocess", "locate_weights", "read_weights", "URL", "FILE", "ENV"]
