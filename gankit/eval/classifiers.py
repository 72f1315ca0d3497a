"""Small shipped digit classifiers that count the modes a GAN covers.

Two single-channel CNNs, each mapping ONE channel in [-1, 1] to one of 10 digits:

* ``"digits"``: 8x8 input, trained on sklearn's ``load_digits`` (used for stacked digits);
* ``"mnist"``: 28x28 input, trained on MNIST (used for StackedMNIST).

Their weights live in ``gankit/weights/{name}-classifier.safetensors`` next to a JSON file
with the architecture args, the training command and seed, the test accuracy and the sha256
of the weights; ``scripts/train_classifiers.py`` regenerates both, reproducibly.

Pixel convention: a uint8 value ``v`` maps to ``v / 127.5 - 1``. sklearn digits are 0..16, so
they are first scaled to 0..255 with ``round(v * 255 / 16)`` (see :func:`digits_split`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.base import to_float
from ..errors import GankitError
from ..registry import Registry

CLASSIFIERS = Registry("classifier")

#: Folder of the shipped weights; tests may point it elsewhere.
WEIGHTS_DIR: Path = Path(__file__).resolve().parents[1] / "weights"

#: The script that writes the weights (named in the error for missing files).
TRAIN_SCRIPT = "scripts/train_classifiers.py"

#: How many held-out sklearn digits (the last ones of ``load_digits``) form the test split.
DIGITS_TEST_SIZE = 360

_CACHE: dict[tuple[str, str, str], nn.Module] = {}


# --------------------------------------------------------------------------- networks


@CLASSIFIERS.register("digits")
class DigitsNet(nn.Module):
    """CNN for one 8x8 channel in [-1, 1] -> 10 digit logits.

    conv3x3(w) -> conv3x3(w) -> maxpool (4x4) -> conv3x3(2w) -> maxpool (2x2) -> MLP(hidden) -> 10.
    Every conv is followed by BatchNorm and ReLU.
    """

    input_size: int = 8

    def __init__(self, width: int = 32, hidden: int = 128, dropout: float = 0.3) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * w * 4, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, 10),
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: float [B, 1, 8, 8] in [-1, 1] -> logits [B, 10]."""
        return self.head(self.features(x))


@CLASSIFIERS.register("mnist")
class MnistNet(nn.Module):
    """CNN for one 28x28 channel in [-1, 1] -> 10 digit logits.

    conv5x5(w0) -> maxpool (14) -> conv5x5(w1) -> maxpool (7) -> conv3x3(w2) -> maxpool (3)
    -> MLP(hidden) -> 10. Every conv is followed by BatchNorm and ReLU.
    """

    input_size: int = 28

    def __init__(self, widths: tuple[int, int, int] | list[int] = (16, 32, 64), hidden: int = 128,
                 dropout: float = 0.3) -> None:
        super().__init__()
        a, b, c = (int(v) for v in widths)
        self.features = nn.Sequential(
            nn.Conv2d(1, a, 5, padding=2, bias=False), nn.BatchNorm2d(a), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(a, b, 5, padding=2, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(b, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * 9, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, 10),
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: float [B, 1, 28, 28] in [-1, 1] -> logits [B, 10]."""
        return self.head(self.features(x))


# --------------------------------------------------------------------------- data helpers


def digits_split() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """sklearn digits as uint8 [N, 1, 8, 8] in 0..255: (x_train, y_train, x_test, y_test).

    The split is fixed: the last ``DIGITS_TEST_SIZE`` (360) samples of ``load_digits`` are the
    test set, the first 1437 the training set. Shared by the training script and the tests.
    """
    from ..data.digits import load_digits_base

    x, y = load_digits_base(8)
    k = len(y) - DIGITS_TEST_SIZE
    return x[:k], y[:k], x[k:], y[k:]


def load_mnist(folder: str | Path, split: str = "train") -> tuple[Tensor, Tensor]:
    """MNIST from the four standard .gz files in `folder`: (uint8 [N, 1, 28, 28], int64 [N]).

    split: "train" (60000) or "test" (the t10k set, 10000). Reads through gankit.data.mnist.
    """
    from ..data.mnist import load_mnist as load_padded

    x, y = load_padded(str(folder), split, 32)
    return x[..., 2:-2, 2:-2].contiguous(), y  # undo the dataset's 2-pixel zero padding


to_unit = to_float  # uint8 0..255 -> float32 in [-1, 1]


# --------------------------------------------------------------------------- loading


def weight_paths(name: str, folder: str | Path | None = None) -> tuple[Path, Path]:
    """(safetensors path, json path) of classifier `name`."""
    folder = Path(WEIGHTS_DIR if folder is None else folder)
    return folder / f"{name}-classifier.safetensors", folder / f"{name}-classifier.json"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_classifier(name: str, arch: dict[str, Any] | None = None) -> nn.Module:
    """An untrained classifier `name` with architecture args `arch` (defaults when None)."""
    return CLASSIFIERS.get(name)(**(arch or {}))


def load_classifier(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped classifier `name` with its trained weights, in eval mode, requires_grad False.

    Cached per process (per name, weights folder and device). Missing or corrupt weight files
    raise GankitError naming the script that regenerates them.
    """
    net_cls = CLASSIFIERS.get(name)  # unknown name -> GankitError listing valid names
    device = torch.device(device)
    key = (name, str(WEIGHTS_DIR), str(device))
    if key in _CACHE:
        return _CACHE[key]
    st_path, js_path = weight_paths(name)
    fix = f"regenerate them with `python {TRAIN_SCRIPT} --only {name}`"
    for p in (st_path, js_path):
        if not p.is_file():
            raise GankitError(f"classifier weights file {p} is missing; {fix}")
    try:
        meta = json.loads(js_path.read_text())
    except (OSError, ValueError) as e:
        raise GankitError(f"cannot read {js_path} ({e}); {fix}") from e
    want = meta.get("sha256")
    if want and sha256_file(st_path) != want:
        raise GankitError(f"{st_path} does not match the sha256 in {js_path.name}; {fix}")
    from safetensors.torch import load_file

    with torch.random.fork_rng(devices=[]):  # random init, overwritten by the weights: no training RNG moves
        net = net_cls(**meta.get("arch", {}))
    try:
        net.load_state_dict(load_file(str(st_path)))
    except RuntimeError as e:
        raise GankitError(f"{st_path} does not fit the architecture in {js_path.name} ({e}); {fix}") from e
    net.eval().requires_grad_(False)
    net.to(device)
    _CACHE[key] = net
    return net


def clear_cache() -> None:
    """Forget every loaded classifier (tests use it after moving WEIGHTS_DIR)."""
    _CACHE.clear()


# --------------------------------------------------------------------------- classification


def resize_for(x: Tensor, name: str) -> Tensor:
    """Single-channel images [B, 1, H, W] -> the classifier's input size.

    "digits": area downsampling (F.interpolate mode="area") from any size (e.g. 16x16) to 8x8.
    "mnist": 32x32 is centre-cropped to 28x28 (StackedMNIST is MNIST zero-padded by 2 px);
    other sizes are resized to 28x28 bilinearly with antialiasing.
    """
    size = CLASSIFIERS.get(name).input_size
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    if name == "mnist":
        if (h, w) == (32, 32):
            return x[..., 2:30, 2:30]
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return F.interpolate(x, size=(size, size), mode="area")


def classify_channels(images: Tensor, name: str, batch: int = 1024,
                      with_confidence: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The digit in each channel: images float [N, C, H, W] in [-1, 1] -> int64 [N, C].

    Each channel is classified on its own by classifier `name` after :func:`resize_for`.
    Runs in batches of `batch` channels under no_grad on the images' device. with_confidence also
    returns the classifier's probability of each digit, float [N, C].
    """
    if images.dim() != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    net = load_classifier(name, images.device)
    flat = images.reshape(n * c, 1, h, w)
    out = torch.empty(n * c, dtype=torch.long, device=images.device)
    conf = torch.empty(n * c, dtype=torch.float32, device=images.device)
    with torch.no_grad():
        for i in range(0, n * c, batch):
            x = resize_for(flat[i:i + batch].float(), name)
            conf[i:i + batch], out[i:i + batch] = torch.softmax(net(x).float(), 1).max(1)
    return (out.view(n, c), conf.view(n, c)) if with_confidence else out.view(n, c)


def digits_to_modes(digits: Tensor) -> Tensor:
    """Per-channel digits int64 [N, C] -> mode ids sum_c d_c * 10^(C-1-c) (100*d0 + 10*d1 + d2 for RGB), [N]."""
    c = digits.shape[1]
    return (digits * 10 ** torch.arange(c - 1, -1, -1, device=digits.device, dtype=torch.long)).sum(1)


def mode_ids(images: Tensor, name: str) -> Tensor:
    """Mode id of each image from its classified channels (see digits_to_modes) -> int64 [N]."""
    return digits_to_modes(classify_channels(images, name))
