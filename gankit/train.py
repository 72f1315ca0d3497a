"""The training loop: counts images, one D step then one G step, schedules as functions of images seen.

Logging, snapshots, checkpoints and metrics are helpers beside it (run.py, sampling.py, evaluate.py).
"""
from __future__ import annotations

import copy
import json
import platform
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import __version__
from .checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from .config import Config
from .data import InfiniteLoader, build_dataset
from .errors import GankitError
from .evaluate import mode_metrics
from .losses import LOSSES
from .networks import build_networks, count_params
from .regularizers import REGULARIZERS
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


def _adam(module: nn.Module, cfg: Config) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=cfg.train.lr, betas=(0.0, float(cfg.train.beta2)), eps=1e-8)


def train(cfg: Config, out: Path, progress: Callable[[str], None] = print) -> Path:
    """Train (or resume) the run described by cfg in directory `out`; returns the run directory."""
    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    device = resolve_device(t.device)
    loss = LOSSES.get(cfg.loss.name)
    regs = {name: REGULARIZERS.get(name) for name in cfg.loss.regularizers}
    dataset = build_dataset(cfg.data)
    num_classes = dataset.num_classes if cfg.model.cond else 0
    if cfg.model.cond and num_classes == 0:
        raise GankitError(f"model.cond=true but dataset '{cfg.data.name}' has no class labels; set model.cond=false")
    if cfg.model.cond and cfg.data.classes and cfg.data.classes != num_classes:
        raise GankitError(f"data.classes={cfg.data.classes} but the data has {num_classes} classes; "
                          f"set data.classes={num_classes} or point --data at the intended set")
    if t.batch < 1 or t.kimg <= 0:
        raise GankitError("train.batch must be >= 1 and train.kimg > 0")
    torch.manual_seed(t.seed)  # network initialisation
    G, D = build_networks(cfg.model, dataset.shape, num_classes)
    ckpt = prepare_run_dir(out, cfg)
    fmt = torch.channels_last if t.channels_last and len(dataset.shape) == 3 else torch.preserve_format
    G, D = G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_G, opt_D = _adam(G, cfg), _adam(D, cfg)
    loader = InfiniteLoader(dataset, t.batch, seed=t.seed, xflip=cfg.data.xflip)
    rng = torch.Generator().manual_seed(t.seed + 1)  # latents, augmentation
    images, step = 0, 0
    if ckpt is not None:
        states, meta = load_checkpoint(ckpt)
        for module, key in ((G, "G"), (G_ema, "G_ema"), (D, "D"), (opt_G, "opt_G"), (opt_D, "opt_D"),
                            (loader, "loader")):
            module.load_state_dict(states[key])
        rng.set_state(states["rng"]["latents_aug"])
        torch.set_rng_state(states["rng"]["torch"])
        images, step = int(meta["images"]), int(meta["step"])
        progress(f"resuming {out} from {ckpt.name} at {images / 1000:.1f} kimg")
    total = int(round(t.kimg * 1000))
    if images >= total:
        progress(f"run {out} is already complete ({images / 1000:.1f} kimg); raise --kimg to train longer")
        return Path(out)
    log = MetricsLog(Path(out) / "metrics.jsonl", resume_images=images)
    info = {"gankit": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
            "dataset": dataset.describe(), "g_params": count_params(G), "d_params": count_params(D)}
    (Path(out) / "run.json").write_text(json.dumps(info, indent=2))
    log_every = t.log_kimg * 1000 or max(total / 100, t.batch)
    snap_every = t.snapshot_kimg * 1000 or max(total / 4, t.batch)
    grid_z_seed = t.seed + 7
    grid_classes = (torch.arange(t.grid) // max(1, int(t.grid ** 0.5))) % num_classes if num_classes else None
    if images == 0:
        reals, _ = next(InfiniteLoader(dataset, min(t.grid, len(dataset)), seed=t.seed + 3))
        save_samples(reals, Path(out) / "reals.png")
        if dataset.num_modes >= 1000 and dataset.shape[0] == 3:
            save_samples(reals, Path(out) / "reals-channels.png", split_channels=True)

    def snapshot() -> dict[str, float]:
        fakes = generate(G_ema, t.grid, seed=grid_z_seed, classes=grid_classes)
        reference = next(InfiniteLoader(dataset, min(2000, len(dataset)), seed=1))[0] if dataset.kind == "points" else None
        save_samples(fakes, Path(out) / f"samples-{images:09d}.png", reference)
        if dataset.num_modes >= 1000 and dataset.shape[0] == 3:  # stacked digits: each channel in grey
            save_samples(fakes, Path(out) / f"samples-{images:09d}-channels.png", split_channels=True)
        metrics = mode_metrics(G_ema, dataset, cfg.data.name, t.eval_n, seed=t.seed + 11)
        states = {"G": G.state_dict(), "G_ema": G_ema.state_dict(), "D": D.state_dict(),
                  "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(), "loader": loader.state_dict(),
                  "rng": {"latents_aug": rng.get_state(), "torch": torch.get_rng_state()}}
        meta = {"images": images, "step": step, "data_shape": list(dataset.shape),
                "num_classes": num_classes, "metrics": metrics, "config": cfg.to_dict()}
        save_checkpoint(Path(out) / "checkpoints" / f"ckpt-{images:09d}", states, meta)
        for old in list_checkpoints(Path(out))[:-KEEP_CHECKPOINTS]:
            for suffix in (".json", ".safetensors"):
                old.with_suffix(suffix).unlink(missing_ok=True)
        return metrics

    sums: dict[str, float] = {}
    n_sums, t_log, images_log, t_start, images_start = 0, time.time(), images, time.time(), images
    next_log = (images // log_every + 1) * log_every
    next_snap = (images // snap_every + 1) * snap_every
    while images < total:
        h = schedule(cfg, images)
        for opt in (opt_G, opt_D):
            for group in opt.param_groups:
                group["lr"], group["betas"] = h["lr"], (0.0, float(h["beta2"]))
        # D step: real batch i paired with fake i
        x, y = next(loader)
        c = one_hot(y, num_classes)
        z = torch.randn(t.batch, G.z_dim, generator=rng)
        opt_D.zero_grad(set_to_none=True)
        stats = d_step(G, D, loss, regs, x.to(device, memory_format=fmt), None if c is None else c.to(device), z.to(device),
                       h["gamma"], h["aug_p"], cfg.aug, rng)
        opt_D.step()
        # G step: a fresh real batch and fresh z
        x, y = next(loader)
        c = one_hot(y, num_classes)
        z = torch.randn(t.batch, G.z_dim, generator=rng)
        opt_G.zero_grad(set_to_none=True)
        stats.update(g_step(G, D, loss, x.to(device, memory_format=fmt), None if c is None else c.to(device), z.to(device),
                            h["aug_p"], cfg.aug, rng))
        opt_G.step()
        update_ema(G_ema, G, ema_beta(t.batch, h["ema_half_life"]))
        images, step = images + t.batch, step + 1
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v
        n_sums += 1
        done = images >= total
        if images >= next_log or done:
            now = time.time()
            rate = (images - images_log) / max(now - t_log, 1e-9)
            record = {"images": images, "kimg": images / 1000, "step": step,
                      **{k: v / n_sums for k, v in sums.items()}, **h, "img_per_s": rate}
            if not all(map(lambda v: v == v and abs(v) != float("inf"), record.values())):
                raise GankitError(f"non-finite loss at {images / 1000:.1f} kimg ({record}); lower train.lr or "
                                  "raise loss.gamma")
            log.write(record)
            eta = (total - images) / max((images - images_start) / max(now - t_start, 1e-9), 1e-9)
            progress(f"kimg {images / 1000:9.2f}/{total / 1000:g}  {rate:7.0f} img/s  ETA {eta / 60:6.1f} min  "
                     f"D {record['loss_d']:.3f}  G {record['loss_g']:.3f}  gap {record['logit_gap']:+.2f}"
                     + "".join(f"  {k} {record[k]:.3g}" for k in regs))
            sums, n_sums, t_log, images_log = {}, 0, now, images
            while next_log <= images:
                next_log += log_every
        if images >= next_snap or done:
            metrics = snapshot()
            if metrics:
                log.write({"images": images, "kimg": images / 1000, **metrics})
                progress("snapshot " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
            while next_snap <= images:
                next_snap += snap_every
    return Path(out)
