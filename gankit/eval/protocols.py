"""Named metric protocols: a metric with its sample counts, reference and class labels fixed by name.

`fid50k_full` is the protocol of StyleGAN2-ADA's metric code, used by R3GAN for every FID it reports:
FID of 50,000 generated samples against every image of the training set (x-flips excluded), with the
class of each conditional sample drawn at random from the training set's labels, so the classes follow
the data's label distribution. The training loop's snapshot metrics are the cheaper in-loop version
(train.eval_n samples, classes cycled 0, 1, 2, ...); a protocol is for the numbers one reports.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.base import Dataset
from ..registry import Registry

PROTOCOLS = Registry("metric protocol")


@dataclass(frozen=True)
class Protocol:
    """One metric at fixed counts: n_gen samples, the whole training set as reference (`full`), labels as drawn."""

    metric: str  # registry name in evaluate.METRICS
    n_gen: int
    full: bool  # reference: every training image (True) or none (metrics without a reference)
    labels: str = "dataset"  # conditional G: classes drawn from the training set's labels ("dataset")
    source: str = ""  # where the protocol comes from

    def describe(self, name: str) -> dict:
        """The protocol's fields for a result's record."""
        return {"name": name, "metric": self.metric, "n_gen": self.n_gen,
                "reference": "the whole training set" if self.full else "none",
                "labels": "drawn at random from the training set's labels" if self.labels == "dataset" else self.labels,
                "source": self.source}


_ADA = "StyleGAN2-ADA metrics/metric_main.py (as used by R3GAN)"
PROTOCOLS.register("fid50k_full")(Protocol("fid", 50000, True, source=_ADA))
PROTOCOLS.register("kid50k_full")(Protocol("kid", 50000, True, source=_ADA))
PROTOCOLS.register("pr50k3_full")(Protocol("pr", 50000, True, source=_ADA))
PROTOCOLS.register("is50k")(Protocol("is", 50000, False, source=_ADA))
PROTOCOLS.register("fid10k_full")(Protocol("fid", 10000, True, source="gankit: fid50k_full at a fifth of the samples"))


def dataset_labels(dataset: Dataset, n: int, seed: int) -> torch.Tensor:
    """n class labels drawn uniformly from the training set's items (so with its label frequencies), seeded."""
    idx = torch.randint(0, len(dataset), (n,), generator=torch.Generator().manual_seed(seed + 1))
    return dataset.labels_at(idx)
