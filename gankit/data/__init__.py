"""Datasets: importing this package registers every set in DATASETS (see `DATASETS.names()`)."""
from . import digits, folder, mnist, toy  # noqa: F401  (registration side effects)
from .base import DATASETS, DataConfig, Dataset, InfiniteLoader, build_dataset, to_float


def nominal_shape(cfg: DataConfig) -> tuple[int, ...]:
    """The shape a dataset will have, from its config alone (for sizing networks without the data)."""
    if cfg.name in ("ring8", "grid25"):
        return (2,)
    channels = 1 if cfg.name in ("mnist", "digits") else 3
    return (channels, cfg.resolution, cfg.resolution)


__all__ = ["DATASETS", "DataConfig", "Dataset", "InfiniteLoader", "build_dataset", "nominal_shape", "to_float"]
