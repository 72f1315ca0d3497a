"""Metrics computed inside the training loop at each snapshot: mode coverage of the EMA generator."""
from __future__ import annotations

from torch import nn

from .data.base import Dataset
from .sampling import generate, to_uint8

# dataset name -> (shipped classifier, whether the set stacks one digit per channel)
CLASSIFIED_SETS = {"digits": ("digits", False), "stacked-digits": ("digits", True),
                   "mnist": ("mnist", False), "stackedmnist": ("mnist", True)}


def mode_metrics(G: nn.Module, dataset: Dataset, dataset_name: str, n: int, seed: int = 123) -> dict[str, float]:
    """Mode metrics of n samples: 2-D mixtures by nearest mode, digit sets by the shipped classifier.

    Returns {} for sets without a mode metric (e.g. image folders: FID comes with the evaluation suite).
    """
    from .classifiers import classify_channels, mode_ids
    from .metrics import class_coverage, mixture_stats, mode_stats

    if n <= 0:
        return {}
    samples = generate(G, n, seed=seed)
    if dataset.kind == "points" and hasattr(dataset, "centers"):
        return {k: float(v) for k, v in mixture_stats(samples, dataset.centers, dataset.sigma).items()}
    if dataset_name not in CLASSIFIED_SETS:
        return {}
    classifier, stacked = CLASSIFIED_SETS[dataset_name]
    # quantise as a saved image would be, then back to [-1, 1] for the classifier
    images = to_uint8(samples).float() / 127.5 - 1
    if stacked:
        stats = mode_stats(mode_ids(images, classifier), dataset.num_modes)
    else:
        stats = class_coverage(classify_channels(images, classifier)[:, 0], dataset.num_classes)
    return {k: float(v) for k, v in stats.items()}
