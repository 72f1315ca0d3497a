"""A training step's peak memory, measured before the first step, and the micro-batch that fits.

A process that outgrows the machine is killed by the kernel without a word (R3GAN's CIFAR-10 preset, batch 512 in
one pass at width 768 with R1 + R2's double backward: 24 GiB, exit 137). So before anything is written, gankit runs
one D step and one G step of the run's game on copies of the networks at two small micro-batches (its own RNG, the
training streams untouched), reads the peak memory of each (CPU: Linux's resident high-water mark VmHWM, reset
through /proc/self/clear_refs; CUDA: the allocator's peak), and scales linearly, bytes(m) = a + b m, with a margin.
Against the memory it may use (train.memory_gib, else what the machine has available) it keeps the micro-batch the
run would take, lowers it to the largest divisor that fits where the network is batch-independent (the same
gradients: step.d_step weights each micro-batch), or refuses in one line with the estimate.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from .. import distributed as dist
from ..config import Config, apply_overrides
from ..errors import GankitError
from ..networks import NETWORKS, micro_batch_for, set_bf16
from ..objectives.step import d_step, g_step, one_hot

MARGIN = 1.25  # the estimate times this must fit: allocator slack, the optimiser's step, the loader's batches
GIB = 1 << 30
MEASURED = (2, 8)  # the micro-batches measured; runs whose micro-batch is at most the larger are not measured


def _size(n: float) -> str:
    """Bytes as GiB, or MiB below one GiB."""
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / (1 << 20):.0f} MiB"


def _status(key: str) -> int:
    """A /proc/self/status field in bytes (VmRSS, VmHWM)."""
    return int(re.search(key + r":\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024


def _cgroup_room() -> Optional[int]:
    """Bytes this process's cgroup still allows (v2 memory.max - memory.current, or v1), None where unlimited."""
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            cap = Path(limit).read_text().strip()
            if cap != "max" and int(cap) < 1 << 60:
                return int(cap) - int(Path(usage).read_text())
        except (OSError, ValueError):
            continue
    return None


def usable_bytes(device: torch.device, limit_gib: float = 0.0) -> Optional[int]:
    """What a step may take beyond what the process holds now: limit_gib (train.memory_gib) when set, else the
    machine's available memory (and the cgroup's room); None where it cannot be read (then nothing is refused)."""
    if limit_gib > 0:
        return int(limit_gib * GIB)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        avail = int(re.search(r"MemAvailable:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) * 1024
    except (OSError, AttributeError):
        return None
    room = _cgroup_room()
    return min(avail, room) if room is not None else avail


def _trim() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim), so that memory an earlier part of the
    process freed but kept (decoding a dataset, say) is not silently reused by the piece being measured."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMeter:
    """Peak memory of pieces of work, each as bytes above what the process held when the meter was made (CPU:
    resident, Linux's VmHWM reset through /proc/self/clear_refs before each piece; CUDA: allocated). The C heap's
    free pages are handed back before the baseline and before each piece (_trim): otherwise memory freed earlier
    but kept by the heap is reused unseen and the piece is under-counted."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.ok = device, True
        if device.type == "cpu":
            _trim()
        try:
            self.base = torch.cuda.memory_allocated(device) if device.type == "cuda" else _status("VmRSS")
        except (OSError, AttributeError):
            self.ok = False

    def __call__(self, fn: Callable[[], Any]) -> Optional[int]:
        """fn()'s peak above the baseline, or None where it cannot be measured."""
        if not self.ok:
            return None
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            fn()
            return torch.cuda.max_memory_allocated(self.device) - self.base
        _trim()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS now (Linux >= 4.0)
        except OSError:
            return None
        fn()
        return _status("VmHWM") - self.base


def step_peaks(cfg: Config, G: nn.Module, D: nn.Module, game: Any, shape: tuple[int, ...], num_classes: int,
               sizes: list[int], device: torch.device, precision: str) -> list[Optional[int]]:
    """Peak bytes of one D step and one G step of `game` at each micro-batch size, on copies of G and D in the run's
    precision, under fork_rng (no training stream moves), in increasing order."""
    G2, D2 = copy.deepcopy(G).to(device), copy.deepcopy(D).to(device)
    set_bf16(cfg.model.arch, precision == "bf16", G2, D2)  # the run's numerics: bf16 halves activations
    meter, out = PeakMeter(device), []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for m in sorted(sizes):
            g = torch.Generator().manual_seed(0)

            def step() -> None:
                real = (torch.rand((m, *shape), generator=g) * 2 - 1).to(device)
                c = one_hot(torch.zeros(m, dtype=torch.long), num_classes)
                c = None if c is None else c.to(device)
                z = torch.randn(m, G2.z_dim, generator=g).to(device)
                d_step(G2, D2, game.loss, game.regs, real, c, z, cfg.loss.gamma, cfg.train.aug_p, cfg.aug, g, 1.0)
                g_step(G2, D2, game.loss, real, c, z, cfg.train.aug_p, cfg.aug, g, 1.0, 0.0, game.unroll,
                       game.unroll_lr or 1e-3, game.feature_matching)
                G2.zero_grad(set_to_none=True), D2.zero_grad(set_to_none=True)
            out.append(meter(step))
    return out


def choose_micro(per: int, micro: int, a: float, b: float, room: int, splittable: bool) -> tuple[int, bool]:
    """(micro-batch, lowered?) for a per-process batch `per` run in micro-batches of `micro` (0: all at once): as
    asked when MARGIN x (a + b m) fits `room`, else the largest divisor of per that fits where splittable; a
    GankitError otherwise."""
    m = micro or per
    need = lambda k: MARGIN * (a + b * k)  # noqa: E731
    if need(m) <= room:
        return micro, False
    fits = [d for d in range(1, m) if per % d == 0 and need(d) <= room]
    if splittable and fits:
        return max(fits), True
    gib = f"about {_size(need(m))} for a step at {m} images (measured and scaled, x{MARGIN} margin), " \
          f"{_size(room)} usable"
    if not splittable:
        raise GankitError(f"the run would not fit in memory: {gib}; this network's batch statistics make micro-batches "
                          f"change its results, so lower train.batch (or the widths), or raise train.memory_gib if "
                          "more memory is free")
    raise GankitError(f"the run would not fit in memory: {gib}, and even one image per micro-batch needs about "
                      f"{_size(need(1))}: lower the widths or the resolution, or raise train.memory_gib if "
                      "more memory is free")


def fit_micro_batch(cfg: Config, G: nn.Module, D: nn.Module, game: Any, shape: tuple[int, ...], num_classes: int,
                    device: torch.device, per: int, micro: int, splittable: bool, precision: str) -> tuple[int, str]:
    """(micro-batch, what was measured) for this run on this device: see the module's docstring. The note is empty
    where the run's own micro-batch fits."""
    room = usable_bytes(device, cfg.train.memory_gib)
    m = micro or per
    m1, m2 = MEASURED
    if room is None or m <= m2:
        return micro, ""
    (p1,) = step_peaks(cfg, G, D, game, shape, num_classes, [m1], device, precision)
    if p1 is None or MARGIN * p1 / m1 * m <= room:  # a + b m <= (a + b m1) m / m1 for m >= m1: fits, one cheap step
        return micro, ""
    p1, p2 = step_peaks(cfg, G, D, game, shape, num_classes, [m1, m2], device, precision)
    if p1 is None or p2 is None:
        return micro, ""
    b = max(p2 - p1, 0) / (m2 - m1)
    a = max(p1 - b * m1, 0.0)
    chosen, lowered = choose_micro(per, micro, a, b, room, splittable)
    if not lowered:
        return micro, ""
    return chosen, (f"memory: a step at {m} images needs about {_size(MARGIN * (a + b * m))} (measured at {m1} and "
                    f"{m2}, scaled, x{MARGIN} margin), {_size(room)} usable: micro-batches of {chosen}")


def plan_micro_batch(cfg: Config, G: nn.Module, D: nn.Module, game: Any, shape: tuple[int, ...], num_classes: int,
                     device: torch.device, world: int, progress: Callable[[str], None], precision: str) -> Config:
    """The run's config with train.batch_gpu as it will train: the CPU default (networks.micro_batch_for), then
    lowered to what fits in memory at the run's precision (fit_micro_batch); rank 0 measures and every rank takes its
    answer or error."""
    micro = micro_batch_for(cfg, device, world)
    result: Any = (micro, "")
    if dist.rank() == 0:
        try:
            result = fit_micro_batch(cfg, G, D, game, shape, num_classes, device, cfg.train.batch // world, micro,
                                     bool(NETWORKS.caps(cfg.model.arch).get("batch_independent")), precision)
        except GankitError as e:
            result = e
    result = dist.gather_objects(result)[0]
    if isinstance(result, GankitError):
        raise result
    micro, note = result
    if note:
        progress(f"{note} (the same gradients: each micro-batch weighted by its share)")
    elif micro != cfg.train.batch_gpu:
        progress(f"CPU: batch {cfg.train.batch} in micro-batches of {micro} (train.batch_gpu={micro}: the same gradients, "
                 "memory as at that batch; set train.batch_gpu to change it)")
    return apply_overrides(cfg, {"train.batch_gpu": micro}) if micro != cfg.train.batch_gpu else cfg
