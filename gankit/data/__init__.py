"""Datasets: importing this package registers every set in DATASETS (see `DATASETS.names()`)."""
from . import digits, folder, mnist, toy  # noqa: F401  (registration side effects)
from .base import DATASETS, DataConfig, Dataset, InfiniteLoader, build_dataset, to_float

__all__ = ["DATASETS", "DataConfig", "Dataset", "InfiniteLoader", "build_dataset", "to_float"]
