"""The training loop: counts images, one D step then one G step, schedules as functions of images seen.

Snapshots, checkpoints, metrics, logging, health checks and distributed helpers live beside it
(snapshot.py, checkpoint.py, evaluate.py, monitor.py, health.py, distributed.py).
"""
from __future__ import annotations

import copy
import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .. import distributed as dist
from ..checkpoint import DAMAGED, list_checkpoints, load_checkpoint, load_latest, remove_stale_temporaries
from ..config import Config, apply_overrides, phema_sigmas
from ..data import DATASETS, Dataset, InfiniteLoader, build_dataset
from ..data.prefetch import prefetching
from ..errors import GankitError
from ..files import write_json
from .health import StepHook, StopSignal, nonfinite, nonfinite_weights
from .monitor import Monitor
from ..objectives import Batch, Objective, StepContext, build_objective
from ..networks import build_networks, precision_for, set_bf16, spectral_sigmas
from ..run import check_same_data, load_run_config, prepare_run_dir, run_precision, set_aside
from ..runlock import RunLock
from .phema import PowerEMA
from .probe import DProbe
from .cores import Threads
from .memory import plan_micro_batch
from .schedules import ema_beta, schedule  # noqa: F401  (schedule: public here too)
from .snapshot import best_key, check_metric_files, metric_names, save_state, update_best, write_run_info, write_snapshot
from .state import TrainState
from ..objectives.step import one_hot
from ..validate import validate


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """p_ema = lerp(p, p_ema, beta); buffers are copied."""
    for pe, p in zip(G_ema.parameters(), G.parameters()):
        pe.copy_(p.lerp(pe, beta))
    for be, b in zip(G_ema.buffers(), G.buffers()):
        be.copy_(b)


def set_optimizers(s: TrainState, cfg: Config, h: dict[str, float]) -> None:
    """Both Adams' lr and betas from the schedule at this step; TTUR: D's lr scaled and optionally its own betas."""
    t = cfg.train
    betas = (float(t.beta1), float(h["beta2"]))
    for opt, ratio, b in ((s.opt_G, 1.0, betas), (s.opt_D, t.lr_d_ratio, tuple(map(float, t.betas_d)) or betas)):
        for group in opt.param_groups:
            group["lr"], group["betas"] = h["lr"] * s.lr_scale * ratio, b


def train_step(s: TrainState, cfg: Config, obj: Objective, num_classes: int, fmt: torch.memory_format,
               G_fwd: nn.Module) -> dict[str, torch.Tensor]:
    """n_critic D steps, then one G step, each on a fresh real batch and fresh z; the objective does the method's part.

    Each rank runs its slice of the global batch in micro-batches of train.batch_gpu; gradients are summed over
    micro-batches and ranks (losses weighted micro / global batch), then Adam steps, then G_ema follows G."""
    t, h = cfg.train, schedule(cfg, s.images)
    set_optimizers(s, cfg, h)
    per, waited = t.batch // dist.world(), [0.0]  # waited: seconds spent waiting for batches (decoding, prefetch)
    ctx = StepContext(s, cfg, h, G_fwd, per)
    obj.begin(ctx)

    def micro_batches() -> list[Batch]:
        t0 = time.perf_counter()
        x, y = next(s.loader)  # this rank's slice
        waited[0] += time.perf_counter() - t0
        x, c, mb = obj.reals(x, ctx), one_hot(y, num_classes), t.batch_gpu or per
        z = torch.randn(t.batch, s.G.z_dim, generator=s.rng)[dist.rank() * per:(dist.rank() + 1) * per]  # global stream
        return [(x[i:i + mb].to(s.device, memory_format=fmt, non_blocking=True),
                 None if c is None else c[i:i + mb].to(s.device, non_blocking=True), z[i:i + mb].to(s.device))
                for i in range(0, per, mb)]

    stats: dict[str, torch.Tensor] = {}
    for _ in range(obj.n_critic):
        s.opt_D.zero_grad(set_to_none=True)
        d_batches = micro_batches()
        for name, v in obj.d_step(ctx, d_batches).items():
            stats[name] = stats.get(name, 0.0) + v / obj.n_critic
        dist.all_reduce_grads(s.D.parameters())
        s.opt_D.step()
        obj.after_d(ctx, d_batches)
    s.opt_G.zero_grad(set_to_none=True)
    stats.update(obj.g_step(ctx, obj.g_latents(d_batches, micro_batches())))
    obj.after_g(ctx, stats)
    dist.all_reduce_grads(s.G.parameters())
    s.opt_G.step()
    update_ema(s.G_ema, s.G, ema_beta(t.batch, h["ema_half_life"]))
    if s.phema is not None:
        s.phema.update(s.G, s.step + 1)
    s.images, s.step = s.images + t.batch * obj.n_critic, s.step + 1  # real images shown to D
    stats["data_s"] = torch.tensor(waited[0])
    return stats


def set_numerics(cfg: Config, device: torch.device, out: Path | None = None) -> str:
    """TF32 on CUDA as train.tf32 says (R3GAN's loop turns it off), and each network's bf16 stages; returns the precision
    (a resumed run's recorded one: run_precision)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.train.tf32
        torch.backends.cudnn.allow_tf32 = cfg.train.tf32
    return precision_for(cfg, device) if out is None else run_precision(out, cfg, device)


def seed_everything(seed: int, rank: int) -> None:
    """Each rank's global torch, numpy and python RNGs from (seed, rank); checkpoints carry their states."""
    import random

    import numpy as np

    s = seed * 1000 + rank
    torch.manual_seed(s)
    np.random.seed(s)
    random.seed(s)


def _check(cfg: Config, dataset: Dataset, world: int, device: torch.device) -> int:
    """Refuse settings that cannot run, before anything is written (validate.validate, then the snapshot metrics);
    returns num_classes."""
    num_classes = validate(cfg, dataset.shape, dataset.num_classes, cfg.data.name, world, device)
    names = metric_names(cfg, dataset)
    best_key(cfg, names)  # an unknown train.best_metric, before the run trains to its first snapshot
    check_metric_files(names)
    return num_classes


def _prepare(out: Path, cfg: Config, lock: RunLock, restart: bool, from_best: bool, data: dict) -> Config:
    """Rank 0 checks the run directory (its checkpoints load, its data are these), locks it and prepares it;
    every rank gets its config or its error."""
    result: Any = None
    if dist.rank() == 0:
        try:
            if from_best and not (out / "checkpoints" / "best.json").exists():
                raise GankitError(f"--from-best: {out} has no checkpoints/best (it is written at the snapshots of a run "
                                  "with metrics); resume without --from-best")
            if not restart:
                check_same_data(out, data)
            if not (restart or from_best):
                _check_resumable(out)
            result = prepare_run_dir(out, cfg, lock, restart)[0]
            remove_stale_temporaries(out)
        except GankitError as e:
            result = e
    result = dist.gather_objects(result)[0]
    if isinstance(result, GankitError):
        raise result
    return result if dist.rank() == 0 else load_run_config(out)


def rollback(s: TrainState, cfg: Config, out: Path, reason: str, monitor: Monitor) -> None:
    """Restore the newest loadable checkpoint after a non-finite value; lower the lr or skip the batch; stop after N."""
    t = cfg.train
    s.rollbacks += 1
    where = f"{reason} at step {s.step} ({s.images / 1000:.2f} kimg)"
    if t.on_nonfinite == "stop" or s.rollbacks > t.max_rollbacks:  # diverged: recorded, then the run stops
        monitor.event("diverged", s.images, f"non-finite {where}", step=s.step, rollbacks=s.rollbacks - 1)
        raise GankitError(f"non-finite {where}, rollback {s.rollbacks} of at most {t.max_rollbacks} (train.on_nonfinite="
                          f"{t.on_nonfinite}); the checkpoints are intact. Resume this run with more tries: the same command with "
                          f"--set train.max_rollbacks={t.max_rollbacks + 3} (or --set train.on_nonfinite=skip); or start "
                          "over (--restart, or another --out) with a lower train.lr or a higher loss.gamma")
    rollbacks, scale = s.rollbacks, s.lr_scale
    latest = load_latest(out, warn=monitor.progress, apply=lambda states, meta: s.load_state_dict(states))
    if latest is None:
        raise GankitError(f"non-finite {where} and no checkpoint to roll back to; start over (--restart, or another "
                          "--out) with a lower train.lr")
    s.rollbacks, s.lr_scale = rollbacks, scale * (t.nonfinite_lr_factor if t.on_nonfinite == "lower_lr" else 1.0)
    if t.on_nonfinite == "skip":  # a different batch and different noise than the ones that failed
        s.loader.skip()
        s.rng.manual_seed(t.seed + 1 + 7919 * rollbacks)
    monitor.truncate(s.images)
    monitor.event("rollback", s.images, f"non-finite {where}; restored {latest[2].name}, "
                  f"{'lr x' + format(s.lr_scale, 'g') if t.on_nonfinite == 'lower_lr' else 'skipping the batch'}",
                  rollbacks=rollbacks, lr_scale=s.lr_scale)


def _check_resumable(out: Path) -> None:
    """Before any write: a run whose checkpoints all fail to read stops, its files untouched (restarting it
    silently would truncate its log and let pruning delete what is left), naming the ways out."""
    ckpts = list_checkpoints(out)
    for p in reversed(ckpts):
        try:
            load_checkpoint(p, only=("counters",))
            return
        except DAMAGED:
            pass
    if not ckpts:
        return
    best, hint = out / "checkpoints" / "best", ""
    if best.with_suffix(".json").exists():
        try:
            hint = f" checkpoints/best ({load_checkpoint(best, only=('counters',))[1]['images'] / 1000:g} kimg) loads: add --from-best to resume from it;"
        except DAMAGED:
            pass
    raise GankitError(f"no checkpoint of {out} loads ({', '.join(p.name for p in ckpts)}); nothing was changed.{hint} "
                      f"add --restart to start over (the old files move to {out}/aside-<time>/)")


def _resume_point(out: Path, from_best: bool, warn: Callable[[str], None],
                  apply: Callable[[dict, dict], None]) -> tuple[dict, dict, Path] | None:
    """(states, meta, path) the run now holds (apply: load them into it): the newest checkpoint that loads and
    fits, or checkpoints/best with from_best."""
    ckpts = list_checkpoints(out)
    best = out / "checkpoints" / "best"
    if from_best:
        states, meta = load_checkpoint(best)  # an unreadable or damaged best is a one-line error
        try:
            apply(states, meta)
        except DAMAGED as e:
            raise GankitError(f"checkpoints/best of {out} does not fit this run ({type(e).__name__}: {e}); "
                              "resume without --from-best or --restart") from None
        if dist.rank() == 0:  # the checkpoints after it, and the log as it was, are kept aside, not deleted
            newer = [p.with_suffix(x) for p in ckpts if int(p.name.split("-")[1]) > meta["images"] for x in (".json", ".safetensors")]
            aside = set_aside(out, newer)
            if (out / "metrics.jsonl").exists():
                shutil.copy2(out / "metrics.jsonl", aside / "metrics.jsonl")
            warn(f"resuming from checkpoints/best; the {len(newer) // 2} checkpoints after it and a copy of metrics.jsonl "
                 f"are in {aside}")
        dist.gather_objects(None)  # a barrier: the other ranks wait for rank 0's move
        return states, meta, best
    latest = load_latest(out, warn=warn, apply=apply)
    if latest is None and ckpts:  # readable headers but no loadable state: refuse, never restart silently
        raise GankitError(f"no checkpoint of {out} loads ({', '.join(p.name for p in ckpts)}); add --from-best to "
                          f"resume from checkpoints/best, or --restart to start over (the old files move aside)")
    return latest


def train(cfg: Config, out: Path, progress: Callable[[str], None] = print, restart: bool = False,
          from_best: bool = False, hooks: Sequence[StepHook] = (), notes: dict[str, Any] | None = None) -> Path:
    """Train (or resume) the run described by cfg in directory `out`; returns the run directory.

    Under torchrun every process calls this; rank 0 locks the directory, logs and writes. SIGTERM/SIGINT: finish
    the step, save, return. restart: the run's files move to OUT/aside-<time>/ and a new run starts; from_best:
    resume from checkpoints/best (the checkpoints after it move aside). notes: {file name: JSON-able} written into the
    run directory once it is prepared (e.g. recipe.json: how `gankit train --data DIR` sized the run).
    """
    if restart and from_best:
        raise GankitError("--restart and --from-best exclude each other: start over, or resume from the best checkpoint")
    reads = DATASETS.caps(cfg.data.name).get("reads_path")  # a set that reads no path refuses --data itself
    if reads and cfg.data.path and Path(out).resolve().is_relative_to(Path(cfg.data.path).expanduser().resolve()):
        raise GankitError(f"--out {out} lies inside --data {cfg.data.path}: the run's PNGs would join the training data; "
                          "put the run outside the data folder")
    lock = RunLock(Path(out), warn=progress)
    try:
        return _train(cfg, Path(out), progress, lock, restart, from_best, hooks, notes or {})
    finally:
        lock.release()


def _train(cfg: Config, out: Path, progress: Callable[[str], None], lock: RunLock, restart: bool,
           from_best: bool, hooks: Sequence[StepHook] = (), notes: dict[str, Any] | None = None) -> Path:
    rank, world, device = dist.init(cfg.train.device)
    threads = Threads(cfg.train.threads, device, progress if rank == 0 else (lambda m: None))  # before any timing
    dataset = build_dataset(cfg.data)
    num_classes = _check(cfg, dataset, world, device)
    obj = build_objective(cfg)
    torch.manual_seed(cfg.train.seed)  # network initialisation, identical on every rank
    G, D = build_networks(cfg.model, dataset.shape, num_classes)
    seed_everything(cfg.train.seed, rank)
    precision = set_numerics(cfg, device, None if restart else out)  # a resumed run's recorded precision: run_precision
    cfg = plan_micro_batch(cfg, G, D, obj.game, dataset.shape, num_classes, device, world, progress, precision)
    cfg = _prepare(out, cfg, lock, restart, from_best, dataset.describe())  # the first write: everything above has been checked
    for name, note in (notes or {}).items():
        if rank == 0:
            write_json(out / name, note)
    t = cfg.train
    fmt = torch.channels_last if t.channels_last and len(dataset.shape) == 3 else torch.preserve_format
    G, D = G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)
    set_bf16(cfg.model.arch, precision == "bf16", G, D)

    def adam(m: nn.Module) -> torch.optim.Adam:  # lr and betas are set from the schedule at every step
        return torch.optim.Adam(m.parameters(), lr=t.lr, betas=(float(t.beta1), float(t.beta2)), eps=1e-8)

    G_ema = copy.deepcopy(G).eval().requires_grad_(False)  # with G's bf16 stages, as the authors' G_ema
    s = TrainState(G, G_ema, D, adam(G), adam(D),
                   prefetching(InfiniteLoader(dataset, t.batch, seed=t.seed, xflip=cfg.data.xflip, shard=(rank, world)),
                               t.prefetch, device),
                   torch.Generator().manual_seed(t.seed + 1), torch.Generator().manual_seed(t.seed * 1000 + 17 + rank), device,
                   objective=obj, phema=PowerEMA(G, phema_sigmas(t.phema)) if t.phema else None)
    latest = _resume_point(out, from_best, progress if rank == 0 else (lambda m: None),
                           lambda states, meta: s.load_state_dict(states))
    if latest is not None:
        if rank == 0:
            progress(f"resuming {out} from {latest[2].name} at {s.images / 1000:.2f} kimg")
            # a kill may have come between this checkpoint and its copy to best
            update_best(cfg, metric_names(cfg, dataset), out, latest[2], latest[1].get("metrics", {}))
    else:  # a checkpoint at 0 images: a non-finite value before the first snapshot has somewhere to roll back to
        save_state(s, cfg, out, dataset, num_classes)
    total = int(round(t.kimg * 1000))
    if s.images >= total:
        if rank == 0:
            progress(f"run {out} is already complete ({s.images / 1000:.1f} kimg); raise --kimg to train longer")
        return out
    monitor = Monitor(out, s.images, total, enabled=rank == 0, tensorboard=t.tensorboard, progress=progress)
    if rank == 0:
        write_run_info(out, s, cfg, dataset, device, world, precision)
    if latest is not None:  # where this stretch of training starts: run_time() counts each stretch from here
        monitor.event("resume", s.images, f"from {latest[2].name} at {s.images / 1000:.2f} kimg", echo=False)
    threads.event = lambda images, message: monitor.event("threads", images, message)
    G_fwd = torch.compile(G) if t.compile else G
    probe = DProbe(dataset, t.d_probe, t.seed + 23, num_classes, G.z_dim, device) if t.d_probe else None
    try:
        with StopSignal() as stop:
            _loop(s, cfg, out, dataset, obj, num_classes, fmt, G_fwd, monitor, stop, total, [threads, *hooks], probe)
    finally:
        monitor.close()
        s.loader.close()
    return out


def _loop(s: TrainState, cfg: Config, out: Path, dataset: Dataset, obj: Objective,
          num_classes: int, fmt: torch.memory_format, G_fwd: nn.Module, monitor: Monitor, stop: StopSignal, total: int,
          hooks: Sequence[StepHook] = (), probe: DProbe | None = None) -> None:
    t = cfg.train
    log_every = t.log_kimg * 1000 or max(total / 100, t.batch)
    snap_every = t.snapshot_kimg * 1000 or max(total / 4, t.batch)
    ckpt_every = t.checkpoint_kimg * 1000 or math.inf  # checkpoints alone between snapshots (cheap: no samples, no metrics)

    def marks(resumed: bool = False) -> tuple[float, float, float]:
        """Next log and snapshot points after s.images; the log accumulators emptied (after a rollback), or kept as
        the checkpoint had them (at a start)."""
        if not resumed:
            s.log_sums, s.log_counts = {}, {}
        return (s.images // log_every + 1) * log_every, (s.images // snap_every + 1) * snap_every, time.time()

    next_log, next_snap, t_log = marks(resumed=True)
    images_log = s.images  # the throughput counts this process's own images and time
    next_ckpt = (s.images // ckpt_every + 1) * ckpt_every
    phema_every = t.phema_kimg * 1000 or snap_every / 8  # the rebuild is only as good as the snapshots are dense
    next_phema = (s.images // phema_every + 1) * phema_every
    while s.images < total:
        stats = train_step(s, cfg, obj, num_classes, fmt, G_fwd)
        for hook in hooks:  # e.g. a test's fault injection (health.Faults)
            hook.after_step(s, stats)
        bad = nonfinite(stats)
        flags = dist.all_reduce_sum(torch.tensor([float(bool(bad)), float(stop.requested is not None)], device=s.device))
        if flags[0] > 0:
            rollback(s, cfg, out, ", ".join(bad) or "values on another rank", monitor)
            next_log, next_snap, t_log = marks()
            images_log = s.images
            continue
        sums, counts = s.log_sums, s.log_counts
        for k, v in stats.items():
            sums[k], counts[k] = sums.get(k, 0.0) + v, counts.get(k, 0) + 1
        if flags[1] > 0:
            path = save_state(s, cfg, out, dataset, num_classes)
            monitor.event("stop", s.images, f"{stop.requested or 'stop on another rank'}: saved {path.name}; "
                          "run the same command to resume")
            return
        done = s.images >= total
        if s.phema is not None and (s.images >= next_phema or done) and dist.rank() == 0:
            s.phema.save(out / "phema", s.images, s.step)  # a kill before the next checkpoint redoes it, bitwise
        if s.images >= next_phema:
            next_phema += phema_every * (1 + (s.images - next_phema) // phema_every)
        if s.images >= next_log or done:
            bad_w = nonfinite_weights({"G": s.G, "D": s.D})
            if dist.all_reduce_sum(torch.tensor([float(bool(bad_w))], device=s.device))[0] > 0:
                rollback(s, cfg, out, "weights of " + (", ".join(bad_w) or "another rank"), monitor)
                next_log, next_snap, t_log = marks()
                images_log = s.images
                continue
            keys = sorted(sums)
            means = dist.all_reduce_sum(torch.stack([torch.as_tensor(sums[k] / counts[k], device=s.device).float()
                                                     for k in keys])) / dist.world()
            record = {"images": s.images, "kimg": s.images / 1000, "step": s.step, **dict(zip(keys, means.tolist()))}
            record["logit_gap"] = record["logit_real"] - record["logit_fake"]
            record.update({k: float(v) for k, v in schedule(cfg, s.images).items()})
            record["lr"] *= s.lr_scale
            if cfg.model.spectral_norm:  # each layer's largest singular value as the power iteration sees it
                record.update({f"sn_sigma.{k}": v for k, v in spectral_sigmas(s.D).items()})
            if probe is not None:  # D's gradient norms on reals and fakes, its memorisation gap (training.probe)
                record.update(probe(s.G, s.D))
            now = time.time()
            record["img_per_s"] = (s.images - images_log) / max(now - t_log, 1e-9)
            # the share of wall time the steps waited for their batches (rank mean)
            record["data_wait"] = record.pop("data_s") * counts["data_s"] / max(now - t_log, 1e-9)
            monitor.scalars(record)
            monitor.line(record, s.images, "".join(f"  {k} {record[k]:.3g}" for k in obj.penalties if k in record))
            s.log_sums, s.log_counts, images_log, t_log = {}, {}, s.images, now
            next_log += log_every * (1 + (s.images - next_log) // log_every)
        if s.images >= next_snap or done:
            t_snap = time.time()  # the record carries the metrics' cost (run_time() takes it out of the training time)
            metrics = write_snapshot(s, cfg, dataset, out, num_classes,
                                     warn=lambda m: monitor.event("metric_error", s.images, m),
                                     record=lambda m: monitor.scalars({"images": s.images, "kimg": s.images / 1000, **m,
                                                                       "snapshot_s": round(time.time() - t_snap, 3)}))
            if metrics:
                monitor.info("snapshot " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
            next_snap += snap_every * (1 + (s.images - next_snap) // snap_every)
            next_ckpt = (s.images // ckpt_every + 1) * ckpt_every  # the snapshot's checkpoint stands for this one
        elif s.images >= next_ckpt:
            save_state(s, cfg, out, dataset, num_classes)
            next_ckpt = (s.images // ckpt_every + 1) * ckpt_every
