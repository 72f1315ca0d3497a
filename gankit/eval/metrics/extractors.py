"""Feature extractors for the evaluation suite: a registry of networks that map uint8 images to features.

Each extractor declares its input size and preprocessing, carries the sha256 of its weights (both go
into every result's protocol), and maps uint8 images [N, C, H, W] in 0..255 to float32 features
[N, D]; `probs` gives class probabilities for the Inception Score where the network has a classifier.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ...errors import GankitError
from ...registry import Registry

EXTRACTORS = Registry("feature extractor")
FEATURE_PRECISIONS = Registry("feature precision")
FEATURE_PRECISIONS.register("exact")("float32 throughout: the default, and the only precision for final numbers")
FEATURE_PRECISIONS.register("fast")(
    "the network under bf16 autocast (resize and normalisation in float32): faster on CPUs with AMX and on GPUs; "
    "for in-loop snapshots and where asked, its results stamped 'fast' (docs/evaluation.md)")


def check_images(x: Tensor, what: str = "images", channels: tuple[int, ...] = (1, 3)) -> Tensor:
    """`x` if it is uint8 [N, C, H, W] with C in `channels`, else a GankitError naming the fix."""
    if not isinstance(x, Tensor):
        raise GankitError(f"{what} must be a torch tensor, got {type(x).__name__}")
    if x.dtype != torch.uint8:
        hint = " (floats in [-1, 1]: quantise with gankit.sampling.to_uint8)" if x.is_floating_point() else ""
        raise GankitError(f"{what} must be uint8 in 0..255, got {x.dtype}{hint}")
    if x.dim() != 4 or x.shape[1] not in channels:
        raise GankitError(f"{what} must be [N, C, H, W] with C in {channels}, got shape {tuple(x.shape)}; "
                          "NHWC arrays need .permute(0, 3, 1, 2)")
    return x


class Extractor:
    """A frozen network with its protocol; subclasses define `_features` and optionally `_probs`."""

    name = ""
    input_size = ""
    preprocessing = ""

    has_fast = False  # whether the network can run under bf16 autocast (FEATURE_PRECISIONS "fast")
    precision = "exact"  # set_precision changes it per instance

    def __init__(self, weights_sha256: str, source: str, device: torch.device) -> None:
        self.weights_sha256, self.source, self.device = weights_sha256, source, device

    def set_precision(self, precision: str) -> "Extractor":
        """Run the network at FEATURE_PRECISIONS[precision]. An extractor without a fast path (the small digit
        classifiers) stays exact, and its protocol says so by carrying no precision stamp."""
        FEATURE_PRECISIONS.get(precision)
        self.precision = precision if self.has_fast else "exact"
        return self

    def _net_precision(self) -> contextlib.AbstractContextManager:
        """The context the network runs in: bf16 autocast for "fast", nothing for "exact"."""
        if self.precision != "fast":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def protocol(self) -> dict:
        """What a number computed from these features depends on ("precision" appears only for the fast path, so
        exact protocols, and statistics saved with them, stay as they were)."""
        out = {"extractor": self.name, "weights_sha256": self.weights_sha256, "input_size": self.input_size,
               "preprocessing": self.preprocessing}
        if self.precision != "exact":
            out["precision"] = f"{self.precision}: {FEATURE_PRECISIONS.get(self.precision)}"
        return out

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        """uint8 [N, C, H, W] -> float32 features [N, D] on the CPU."""
        return self._checked(self._features(check_images(x).to(self.device)))

    @torch.no_grad()
    def probs(self, x: Tensor) -> Tensor:
        """uint8 [N, C, H, W] -> class probabilities float64 [N, K] (for the Inception Score)."""
        return self._probs(check_images(x).to(self.device)).double().cpu()

    @torch.no_grad()
    def features_and_probs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Both of the above; an extractor whose classifier sits on its features overrides this with one pass."""
        return self.features(x), self.probs(x)

    def _checked(self, f: Tensor) -> Tensor:
        f = f.float().cpu()
        if not bool(torch.isfinite(f).all()):
            raise GankitError(f"{self.name} produced NaN/Inf features; check the images and the weights in {self.source}")
        return f

    def _features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _probs(self, x: Tensor) -> Tensor:
        raise GankitError(f"extractor {self.name} has no classifier for the Inception Score")


class InceptionExtractor(Extractor):
    """Inception-v3 pool3: TF1 bilinear resize to 299 on 0..255 floats, then (x - 128) / 128; gray -> RGB."""

    name = "inception"
    input_size = "299x299"
    preprocessing = "uint8 -> float, gray repeated to RGB, TF1 bilinear resize to 299 (no half-pixel), (x - 128) / 128"

    def __init__(self, weights: str | None, device: torch.device) -> None:
        from .inception import load_inception

        self.net, sha, src = load_inception(weights, device)
        self.net = self.net.to(memory_format=torch.channels_last)
        super().__init__(sha, src, device)

    def _input(self, x: Tensor) -> Tensor:
        from .inception import tf_resize

        x = x.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return ((tf_resize(x) - 128) / 128).contiguous(memory_format=torch.channels_last)

    has_fast = True

    def _pool3(self, x: Tensor) -> Tensor:
        inp = self._input(x)  # the resize stays float32: in bf16 it alone moved the features by 11%
        with self._net_precision():
            return self.net(inp).float()

    def _features(self, x: Tensor) -> Tensor:
        return self._pool3(x)

    def _probs(self, x: Tensor) -> Tensor:
        return self._softmax(self._pool3(x))

    def _softmax(self, pool3: Tensor) -> Tensor:
        return F.softmax(self.net.logits(pool3), 1)  # over all 1008, as the original and torch-fidelity

    @torch.no_grad()
    def features_and_probs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """FID's pool3 features and IS's probabilities from one Inception pass (the logits are pool3 @ W): half the
        cost of two passes, and bitwise the same as features(x) and probs(x)."""
        f = self._pool3(check_images(x).to(self.device))
        return self._checked(f), self._softmax(f).double().cpu()


class DinoV2Extractor(Extractor):
    """DINOv2 ViT-L/14 CLS token after the final norm, 1024-d (FD-DINOv2; Stein et al. 2023). No classifier."""

    name = "dinov2"
    input_size = "224x224"
    preprocessing = ("uint8 / 255, bicubic resize to 224 (antialias=True, no clamp, no crop), gray repeated to RGB, "
                     "ImageNet mean/std; CLS token after the final LayerNorm")

    def __init__(self, weights: str | None, device: torch.device) -> None:
        from .dinov2 import load_dinov2

        self.net, sha, src = load_dinov2(weights, device)
        super().__init__(sha, src, device)

    has_fast = True

    def _features(self, x: Tensor) -> Tensor:
        from .dinov2 import preprocess

        inp = preprocess(x)
        with self._net_precision():
            return self.net(inp).float()

    def _probs(self, x: Tensor) -> Tensor:
        raise GankitError("the Inception Score needs Inception's ImageNet classifier and DINOv2 has none; score `is` "
                          "with --classifier inception (the default) or a digit classifier")


class DigitExtractor(Extractor):
    """A shipped digit classifier per channel: features are the concatenated penultimate activations."""

    def __init__(self, classifier: str, device: torch.device) -> None:
        from ..classifiers import load_classifier, sha256_file, weight_paths

        self.net = load_classifier(classifier, device)
        self.classifier = classifier
        self.name = classifier
        size = self.net.input_size
        self.input_size = f"{size}x{size} per channel"
        self.preprocessing = f"each channel on its own: v / 127.5 - 1, resized for the {classifier} classifier (gankit.classifiers.resize_for)"
        super().__init__(sha256_file(weight_paths(classifier)[0]), str(weight_paths(classifier)[0]), device)

    def _channels(self, x: Tensor) -> tuple[Tensor, int]:
        from ..classifiers import resize_for

        n, c, h, w = x.shape
        return resize_for(x.reshape(n * c, 1, h, w).float() / 127.5 - 1, self.classifier), c

    def _features(self, x: Tensor) -> Tensor:
        flat, c = self._channels(x)
        h = self.net.head[:-2](self.net.features(flat))  # up to the hidden ReLU, before dropout + last linear
        return h.reshape(x.shape[0], c * h.shape[1])

    def _probs(self, x: Tensor) -> Tensor:
        """Per-channel softmax; for C channels the joint over 10^C modes as the product of the channels' probabilities."""
        flat, c = self._channels(x)
        p = F.softmax(self.net(flat).double(), 1).reshape(x.shape[0], c, 10)
        joint = p[:, 0]
        for i in range(1, c):
            joint = (joint[:, :, None] * p[:, i, None, :]).reshape(x.shape[0], -1)
        return joint

    def digits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The digit in each channel, int64 [N, C], and the classifier's probability for it, float [N, C]
        (gankit.classifiers.classify_channels)."""
        from ..classifiers import classify_channels

        d, conf = classify_channels(check_images(x).to(self.device).float() / 127.5 - 1, self.classifier,
                                    with_confidence=True)
        return d.cpu(), conf.cpu()


@EXTRACTORS.register("inception")
def _inception(weights: str | None = None, device: str | torch.device = "cpu") -> Extractor:
    """Inception-v3 pool3, 2048-d (TF 2015-12-05 weights)."""
    return InceptionExtractor(weights, torch.device(device))


@EXTRACTORS.register("dinov2")
def _dinov2(weights: str | None = None, device: str | torch.device = "cpu") -> Extractor:
    """DINOv2 ViT-L/14 CLS token, 1024-d (the official dinov2_vitl14_pretrain.pth)."""
    return DinoV2Extractor(weights, torch.device(device))


@EXTRACTORS.register("digits")
def _digits(weights: str | None = None, device: str | torch.device = "cpu") -> Extractor:
    """gankit's 8x8 sklearn-digits classifier per channel, 128-d per channel."""
    return DigitExtractor("digits", torch.device(device))


@EXTRACTORS.register("mnist")
def _mnist(weights: str | None = None, device: str | torch.device = "cpu") -> Extractor:
    """gankit's 28x28 MNIST classifier per channel, 128-d per channel."""
    return DigitExtractor("mnist", torch.device(device))


_LOADED: dict[tuple, Extractor] = {}


def load_extractor(name: str, weights: str | None = None, device: str | torch.device = "cpu",
                   precision: str = "exact") -> Extractor:
    """The registered extractor `name` at feature precision `precision`, built once per (name, weights, device,
    precision) in this process."""
    factory: Callable[..., Extractor] = EXTRACTORS.get(name)
    FEATURE_PRECISIONS.get(precision)
    key = (name, weights, str(device), precision)
    if key not in _LOADED:
        _LOADED[key] = factory(weights=weights, device=device).set_precision(precision)
    return _LOADED[key]


__all__ = ["EXTRACTORS", "FEATURE_PRECISIONS", "Extractor", "check_images", "load_extractor"]
