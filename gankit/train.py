"""The training loop: counts images, one D step then one G step, schedules as functions of images seen.

Logging, snapshots, checkpoints and metrics are helpers beside it (run.py, sampling.py, evaluate.py).
"""
from __future__ import annotations

import copy
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from . import __version__
from .checkpoint import copy_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from .config import Config
from .data import Dataset, InfiniteLoader, build_dataset
from .errors import GankitError
from .evaluate import METRICS, default_metrics, flatten_results, snapshot_metrics
from .losses import LOSSES, Loss
from .networks import build_networks, count_params
from .regularizers import REGULARIZERS, Regularizer
from .run import MetricsLog, prepare_run_dir
from .sampling import generate, save_samples
from .schedules import cosine_ramp, ema_beta
from .step import d_step, g_step, one_hot

KEEP_CHECKPOINTS = 2


def schedule(cfg: Config, images: float) -> dict[str, float]:
    """Every scheduled hyperparameter at `images` seen (R3GAN: cosine ramps over the horizon T)."""
    t, T = cfg.train, cfg.train.horizon
    return {"lr": cosine_ramp(images, T, t.lr, t.lr_final),
            "beta2": cosine_ramp(images, T, t.beta2, t.beta2_final),
            "gamma": cosine_ramp(images, T, cfg.loss.gamma, cfg.loss.gamma_final),
            "aug_p": cosine_ramp(images, T, 0.0, t.aug_p),
            "ema_half_life": cosine_ramp(images, T, 0.0, t.ema_kimg * 1000)}


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """p_ema = lerp(p, p_ema, beta); buffers are copied."""
    for pe, p in zip(G_ema.parameters(), G.parameters()):
        pe.copy_(p.lerp(pe, beta))
    for be, b in zip(G_ema.buffers(), G.buffers()):
        be.copy_(b)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GankitError(f"train.device={name} but no CUDA device is visible; use train.device=cpu")
    return torch.device(name)


@dataclass
class TrainState:
    """Everything a run changes while it trains; its state_dict() is the checkpoint."""

    G: nn.Module
    G_ema: nn.Module
    D: nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    loader: InfiniteLoader
    rng: torch.Generator  # latents and augmentation
    images: int = 0
    step: int = 0

    def state_dict(self) -> dict[str, Any]:
        return {"G": self.G.state_dict(), "G_ema": self.G_ema.state_dict(), "D": self.D.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
                "loader": self.loader.state_dict(), "counters": {"images": self.images, "step": self.step},
                "rng": {"latents_aug": self.rng.get_state(), "torch": torch.get_rng_state()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("G", "G_ema", "D", "opt_G", "opt_D", "loader"):
            getattr(self, name).load_state_dict(state[name])
        self.rng.set_state(state["rng"]["latents_aug"])
        torch.set_rng_state(state["rng"]["torch"])
        self.images, self.step = int(state["counters"]["images"]), int(state["counters"]["step"])


def train_step(s: TrainState, cfg: Config, loss: Loss, regs: dict[str, Regularizer], num_classes: int,
               device: torch.device, fmt: torch.memory_format) -> dict[str, torch.Tensor | float]:
    """One D step on (real i, fake i) pairs, then one G step with a fresh real batch and fresh z."""
    h = schedule(cfg, s.images)
    for opt in (s.opt_G, s.opt_D):
        for group in opt.param_groups:
            group["lr"], group["betas"] = h["lr"], (0.0, float(h["beta2"]))

    def batch() -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        x, y = next(s.loader)
        c = one_hot(y, num_classes)
        z = torch.randn(cfg.train.batch, s.G.z_dim, generator=s.rng)
        return x.to(device, memory_format=fmt), None if c is None else c.to(device), z.to(device)

    s.opt_D.zero_grad(set_to_none=True)
    stats = d_step(s.G, s.D, loss, regs, *batch(), h["gamma"], h["aug_p"], cfg.aug, s.rng)
    s.opt_D.step()
    s.opt_G.zero_grad(set_to_none=True)
    stats.update(g_step(s.G, s.D, loss, *batch(), h["aug_p"], cfg.aug, s.rng))
    s.opt_G.step()
    update_ema(s.G_ema, s.G, ema_beta(cfg.train.batch, h["ema_half_life"]))
    s.images, s.step = s.images + cfg.train.batch, s.step + 1
    return {**stats, **h}


def snapshot_metric_names(cfg: Config, dataset: Dataset) -> list[str]:
    """train.metrics resolved: "auto" -> the set's default (modes for digit sets and 2-D mixtures), "none" -> []."""
    m = cfg.train.metrics.strip()
    if m == "auto":
        return default_metrics(dataset, cfg.data.name)
    return [] if m in ("", "none") else [x.strip() for x in m.split(",") if x.strip()]


def best_key(cfg: Config, names: list[str]) -> tuple[str, bool]:
    """(logged key that picks the best checkpoint, higher is better) from train.best_metric; ("", True) when off."""
    name = cfg.train.best_metric.strip()
    if name in ("", "none") or not names:
        return "", True
    metric = METRICS.get(names[0] if name == "auto" else name)
    return metric.key(names[0] if name == "auto" else name), metric.higher_is_better


def write_snapshot(s: TrainState, cfg: Config, dataset: Dataset, out: Path, num_classes: int) -> dict[str, float]:
    """Sample grid from a fixed z, metrics of the EMA generator, the checkpoint, and the best one by train.best_metric."""
    t = cfg.train
    classes = (torch.arange(t.grid) // max(1, int(t.grid ** 0.5))) % num_classes if num_classes else None
    fakes = generate(s.G_ema, t.grid, seed=t.seed + 7, classes=classes)
    reference = dataset.get(torch.arange(min(2000, len(dataset))))[0] if dataset.kind == "points" else None
    save_samples(fakes, out / f"samples-{s.images:09d}.png", reference)
    if dataset.num_modes >= 1000 and dataset.shape[0] == 3:  # stacked digits: each channel in grey
        save_samples(fakes, out / f"samples-{s.images:09d}-channels.png", split_channels=True)
    names = snapshot_metric_names(cfg, dataset)
    device = str(next(s.G_ema.parameters()).device)
    metrics = flatten_results(snapshot_metrics(s.G_ema, dataset, cfg.data.name, names, t.eval_n, t.seed + 11, device=device))
    meta = {"images": s.images, "step": s.step, "data_shape": list(dataset.shape), "num_classes": num_classes,
            "metrics": metrics, "config": cfg.to_dict()}
    path = out / "checkpoints" / f"ckpt-{s.images:09d}"
    save_checkpoint(path, s.state_dict(), meta)
    key, higher = best_key(cfg, names)
    if key and key in metrics:
        best = out / "checkpoints" / "best"
        old = json.loads(best.with_suffix(".json").read_text())["meta"]["metrics"].get(key) if best.with_suffix(".json").exists() else None
        if old is None or (metrics[key] > old if higher else metrics[key] < old):
            copy_checkpoint(path, best)
    for old_ckpt in list_checkpoints(out)[:-KEEP_CHECKPOINTS]:
        for suffix in (".json", ".safetensors"):
            old_ckpt.with_suffix(suffix).unlink(missing_ok=True)
    return metrics


def _check_finite(record: dict[str, float]) -> None:
    bad = [k for k, v in record.items() if v != v or abs(v) == float("inf")]
    if bad:
        raise GankitError(f"non-finite {', '.join(bad)} at {record['kimg']:.1f} kimg; the last checkpoint is "
                          "intact: lower train.lr or raise loss.gamma and train again")


def train(cfg: Config, out: Path, progress: Callable[[str], None] = print) -> Path:
    """Train (or resume) the run described by cfg in directory `out`; returns the run directory."""
    out = Path(out)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    loss = LOSSES.get(cfg.loss.name)
    regs = {name: REGULARIZERS.get(name) for name in cfg.loss.regularizers}
    dataset = build_dataset(cfg.data)
    num_classes = dataset.num_classes if cfg.model.cond else 0
    if cfg.model.cond and num_classes == 0:
        raise GankitError(f"model.cond=true but dataset '{cfg.data.name}' has no class labels; set model.cond=false")
    if cfg.model.cond and cfg.data.classes and cfg.data.classes != num_classes:
        raise GankitError(f"data.classes={cfg.data.classes} but the data has {num_classes} classes; "
                          f"set data.classes={num_classes} or point --data at the intended set")
    if cfg.train.batch < 1 or cfg.train.kimg <= 0:
        raise GankitError("train.batch must be >= 1 and train.kimg > 0")
    torch.manual_seed(cfg.train.seed)  # network initialisation
    G, D = build_networks(cfg.model, dataset.shape, num_classes)
    cfg, ckpt = prepare_run_dir(out, cfg)  # the first write: everything above has been checked
    t = cfg.train
    fmt = torch.channels_last if t.channels_last and len(dataset.shape) == 3 else torch.preserve_format
    G, D = G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)

    def adam(m: nn.Module) -> torch.optim.Adam:
        return torch.optim.Adam(m.parameters(), lr=t.lr, betas=(0.0, float(t.beta2)), eps=1e-8)

    s = TrainState(G, copy.deepcopy(G).eval().requires_grad_(False), D, adam(G), adam(D),
                   InfiniteLoader(dataset, t.batch, seed=t.seed, xflip=cfg.data.xflip),
                   torch.Generator().manual_seed(t.seed + 1))
    if ckpt is not None:
        s.load_state_dict(load_checkpoint(ckpt)[0])
        progress(f"resuming {out} from {ckpt.name} at {s.images / 1000:.1f} kimg")
    total = int(round(t.kimg * 1000))
    if s.images >= total:
        progress(f"run {out} is already complete ({s.images / 1000:.1f} kimg); raise --kimg to train longer")
        return out
    log = MetricsLog(out / "metrics.jsonl", resume_images=s.images)
    info = {"gankit": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
            "threads": torch.get_num_threads(), "dataset": dataset.describe(),
            "g_params": count_params(G), "d_params": count_params(D)}
    (out / "run.json").write_text(json.dumps(info, indent=2))
    if s.images == 0:
        reals = next(InfiniteLoader(dataset, min(t.grid, len(dataset)), seed=t.seed + 3))[0]
        save_samples(reals, out / "reals.png")
        if dataset.num_modes >= 1000 and dataset.shape[0] == 3:
            save_samples(reals, out / "reals-channels.png", split_channels=True)

    log_every = t.log_kimg * 1000 or max(total / 100, t.batch)
    snap_every = t.snapshot_kimg * 1000 or max(total / 4, t.batch)
    next_log, next_snap = (s.images // log_every + 1) * log_every, (s.images // snap_every + 1) * snap_every
    sums: dict[str, torch.Tensor | float] = {}
    n, t_log, images_log, t_start, images_start = 0, time.time(), s.images, time.time(), s.images
    while s.images < total:
        for k, v in train_step(s, cfg, loss, regs, num_classes, device, fmt).items():
            sums[k] = sums.get(k, 0.0) + v
        n += 1
        done = s.images >= total
        if s.images >= next_log or done:
            now = time.time()
            record = {"images": s.images, "kimg": s.images / 1000, "step": s.step,
                      **{k: float(v) / n for k, v in sums.items()}, "img_per_s": (s.images - images_log) / (now - t_log)}
            _check_finite(record)
            log.write(record)
            eta = max(total - s.images, 0) * (now - t_start) / max(s.images - images_start, 1)
            progress(f"kimg {record['kimg']:9.2f}/{total / 1000:g}  {record['img_per_s']:7.0f} img/s  "
                     f"ETA {eta / 60:5.1f} min  D {record['loss_d']:.3f}  G {record['loss_g']:.3f}  "
                     f"gap {record['logit_gap']:+.2f}" + "".join(f"  {k} {record[k]:.3g}" for k in regs))
            sums, n, t_log, images_log = {}, 0, now, s.images
            next_log += log_every * (1 + (s.images - next_log) // log_every)
        if s.images >= next_snap or done:
            metrics = write_snapshot(s, cfg, dataset, out, num_classes)
            if metrics:
                log.write({"images": s.images, "kimg": s.images / 1000, **metrics})
                progress("snapshot " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
            next_snap += snap_every * (1 + (s.images - next_snap) // snap_every)
    return out
