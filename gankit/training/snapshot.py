"""Snapshots beside the loop: the sample grid, the metrics of the EMA generator, the checkpoint, the best one.

Every rank calls these (the state dict gathers per-rank RNG states); only rank 0 evaluates and writes.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Callable

import torch

from .. import __version__
from .. import distributed as dist
from ..checkpoint import copy_checkpoint, list_checkpoints, save_checkpoint
from ..config import Config
from ..data import Dataset, InfiniteLoader
from ..data.prefetch import prefetch_depth
from ..files import write_json
from ..networks import count_params
from ..errors import GankitError
from ..eval.evaluate import METRICS, POINT_METRICS, EvalOptions, default_metrics, flatten_results, snapshot_metrics
from ..sampling import generate, grid_classes, save_samples
from .cores import cpu_name
from .state import TrainState


def listed_metrics(m: str) -> list[str]:
    """The names a train.metrics string lists ("none" or "" -> []; "auto" is the caller's to resolve)."""
    m = m.strip()
    return [] if m in ("", "none", "auto") else [x.strip() for x in m.split(",") if x.strip()]


def metric_names(cfg: Config, dataset: Dataset) -> list[str]:
    """train.metrics resolved: "auto" -> the set's default (modes for digit sets and 2-D mixtures), "none" -> []."""
    from ..eval.metrics.extractors import EXTRACTORS, FEATURE_PRECISIONS

    EXTRACTORS.get(cfg.train.eval_extractor)  # an unknown extractor lists the valid ones, whatever the metrics
    FEATURE_PRECISIONS.get(cfg.train.eval_precision)  # likewise an unknown feature precision
    m = cfg.train.metrics.strip()
    if m == "auto":
        return default_metrics(dataset, cfg.data.name)
    names = listed_metrics(m)
    for n in names:
        METRICS.get(n)  # unknown names fail before training starts
    if dataset.kind == "points" and set(names) - POINT_METRICS:  # and image metrics on points, not at each snapshot
        raise GankitError(f"train.metrics has {', '.join(sorted(set(names) - POINT_METRICS))}, which 2-D point sets do "
                          f"not support; use some of {', '.join(sorted(POINT_METRICS))}")
    if "kid" in names and cfg.train.eval_n < EvalOptions.kid_subset_size:
        raise GankitError(f"train.metrics has kid, whose subsets hold {EvalOptions.kid_subset_size} samples, but "
                          f"train.eval_n is {cfg.train.eval_n}; raise train.eval_n or drop kid")
    return names


def check_metric_files(names: list[str]) -> None:
    """The files snapshot metrics read from outside the package (LPIPS's AlexNet trunk) exist: checked before training,
    since a missing one would otherwise fail every snapshot of the run, and every cell of a study, one by one."""
    if "lpips_div" in names:
        from ..eval.metrics.lpips import trunk_path

        try:
            trunk_path()
        except GankitError as e:
            raise GankitError(f"train.metrics has lpips_div: {e}; or drop lpips_div from train.metrics") from None


def best_key(cfg: Config, names: list[str]) -> tuple[str, bool]:
    """(logged key that picks the best checkpoint, higher is better) from train.best_metric; ("", True) when off."""
    name = cfg.train.best_metric.strip()
    if name in ("", "none") or not names:
        return "", True
    metric = METRICS.get(names[0] if name == "auto" else name)
    return metric.key(names[0] if name == "auto" else name), metric.higher_is_better


def save_state(s: TrainState, cfg: Config, out: Path, dataset: Dataset, num_classes: int,
               metrics: dict[str, float] | None = None) -> Path:
    """Every rank gathers the TrainState; rank 0 writes checkpoints/ckpt-<images> (the JSON meta rebuilds the
    networks: data shape, classes, config) and prunes to the last train.keep_checkpoints; returns the path."""
    state = s.state_dict()  # collective: per-rank RNG states
    path = out / "checkpoints" / f"ckpt-{s.images:09d}"
    meta = {"images": s.images, "step": s.step, "data_shape": list(dataset.shape), "num_classes": num_classes,
            "metrics": metrics or {}, "config": cfg.to_dict()}
    error = None
    if dist.rank() == 0:
        try:
            save_checkpoint(path, state, meta)
            older = [p for p in list_checkpoints(out) if p.name < path.name]  # never the one just written, nor any
            for old in older[:len(older) - (max(1, cfg.train.keep_checkpoints) - 1)]:  # later-named (unreadable) one
                for suffix in (".json", ".safetensors"):
                    old.with_suffix(suffix).unlink(missing_ok=True)
        except GankitError as e:  # e.g. a full disk: every rank stops with rank 0's message
            error = e
    error = dist.gather_objects(error)[0]
    if error is not None:
        raise error
    return path


def write_snapshot(s: TrainState, cfg: Config, dataset: Dataset, out: Path, num_classes: int,
                   warn: Callable[[str], None] = print,
                   record: Callable[[dict[str, float]], None] = lambda m: None) -> dict[str, float]:
    """Sample grid from a fixed z, metrics of the EMA generator (passed to `record` before the checkpoint is
    written: a kill in between resumes from the previous checkpoint, which drops the record and redoes the
    snapshot), the checkpoint, and checkpoints/best."""
    t = cfg.train
    metrics: dict[str, float] = {}
    names = metric_names(cfg, dataset)
    if dist.rank() == 0:
        classes, per_row = grid_classes(t.grid, num_classes)
        fakes = generate(s.G_ema, len(classes) if classes is not None else t.grid, seed=t.seed + 7, classes=classes)
        reference = dataset.get(torch.arange(min(2000, len(dataset))))[0] if dataset.kind == "points" else None
        save_samples(fakes, out / f"samples-{s.images:09d}.png", reference, nrow=per_row)
        if dataset.num_modes >= 1000 and dataset.shape[0] == 3:  # stacked digits: each channel in grey
            save_samples(fakes, out / f"samples-{s.images:09d}-channels.png", split_channels=True)
        device = str(next(s.G_ema.parameters()).device)
        try:
            metrics = flatten_results(snapshot_metrics(s.G_ema, dataset, cfg.data.name, names, t.eval_n, t.seed + 11,
                                                       device=device, extractor=t.eval_extractor,
                                                       feature_precision=t.eval_precision))
        except GankitError as e:  # a failing metric must not end a long run: report it, keep training
            warn(f"snapshot metrics failed at {s.images / 1000:.2f} kimg: {e}")
        if metrics:
            record(metrics)
    path = save_state(s, cfg, out, dataset, num_classes, metrics)
    if dist.rank() == 0:
        update_best(cfg, names, out, path, metrics)
    return metrics


def update_best(cfg: Config, names: list[str], out: Path, path: Path, metrics: dict[str, float]) -> None:
    """Copy checkpoint `path` to checkpoints/best when its metrics (of `names`, as metric_names gives them) beat
    best's. Idempotent: a resume calls it again for the checkpoint it starts from, in case a kill fell between that
    checkpoint and this copy."""
    key, higher = best_key(cfg, names)
    best = out / "checkpoints" / "best"
    if key not in metrics or path.name == best.name:
        return
    old = json.loads(best.with_suffix(".json").read_text())["meta"]["metrics"].get(key) if best.with_suffix(".json").exists() else None
    if old is None or (metrics[key] > old if higher else metrics[key] < old):
        copy_checkpoint(path, best)


def resolved(cfg: Config, dataset: Dataset, device: torch.device, precision: str) -> dict[str, str]:
    """What each automatic setting of the config became on this machine and data (run.json, shown by the report)."""
    t, names = cfg.train, metric_names(cfg, dataset)
    key = best_key(cfg, names)[0]
    return {"train.metrics": ",".join(names) or "none", "train.best_metric": key or "none",
            "train.device": str(device), "train.precision": precision,
            "train.prefetch": str(prefetch_depth(t.prefetch, device))}


def write_run_info(out: Path, s: TrainState, cfg: Config, dataset: Dataset, device: torch.device, world: int,
                   precision: str) -> None:
    """run.json (versions, device, precision, threads, dataset, parameter counts), rewritten at every start, and the
    grid of real images at the first."""
    info = {"gankit": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device), "cpu": cpu_name(),
            "precision": precision, "tf32": cfg.train.tf32 and device.type == "cuda",
            "processes": world, "threads": torch.get_num_threads(), "dataset": dataset.describe(),
            "g_params": count_params(s.G), "d_params": count_params(s.D), "resolved": resolved(cfg, dataset, device, precision)}
    write_json(out / "run.json", info)
    if s.images == 0:
        t = cfg.train
        reals = next(InfiniteLoader(dataset, min(t.grid, len(dataset)), seed=t.seed + 3))[0]
        save_samples(reals, out / "reals.png")
        if dataset.num_modes >= 1000 and dataset.shape[0] == 3:
            save_samples(reals, out / "reals-channels.png", split_channels=True)
