"""CPU threads on a machine the run may share: the cores it may use, the load other processes put on them, and a
thread count that follows that load while the run goes on.

Why: OpenMP threads wait for each other at every operator's barrier, so two threads on two cores beside one busy
process ran at a quarter of their quiet rate, while one thread kept nearly all of its own (issue 29,
docs/benchmarks.md#shared). `train.threads=0` (the default) therefore uses the usable cores that other processes leave
free, re-checked every few seconds; a fixed `train.threads` stays fixed (bitwise reproducible), with a warning where
it exceeds the usable cores.
"""
from __future__ import annotations

import math
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import torch

RECHECK_S = 10.0  # seconds between load checks during a run
SAMPLE_S = 0.25  # the load sample at the start, taken while this process is idle
CPUINFO = Path("/proc/cpuinfo")


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota where one is set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def cpu_name() -> str:
    """The CPU's model name and the kernels torch picked for it (e.g. 'AMD EPYC (AVX2)'): runs rerun bitwise only on
    the same kernels, since another instruction set rounds sums in another order."""
    name = ""
    try:
        name = next((line.split(":", 1)[1].strip() for line in CPUINFO.read_text().splitlines()
                     if line.startswith("model name")), "")
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"  # ARM's cpuinfo has no model name
    return f"{name} ({torch.backends.cpu.get_cpu_capability()})"


class OtherLoad:
    """Cores kept busy by other processes between two calls: the machine's busy CPU time (/proc/stat, all but idle
    and iowait) minus this process's own (/proc/self/stat: utime + stime of all its threads), per wall second."""

    def __init__(self, stat: str = "/proc/stat", own: str = "/proc/self/stat") -> None:
        self.stat, self.own = stat, own
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.last = self._sample()

    def _sample(self) -> Optional[tuple[int, int, float]]:
        try:
            with open(self.stat) as f:
                cpu = [int(v) for v in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
            with open(self.own) as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
            return sum(cpu) - cpu[3] - cpu[4], int(fields[11]) + int(fields[12]), time.monotonic()
        except (OSError, ValueError, IndexError):  # no /proc (macOS, Windows): the load is unknown
            return None

    def busy(self) -> Optional[float]:
        """Other processes' busy cores since the last call (None where /proc cannot be read)."""
        now, last = self._sample(), self.last
        self.last = now
        if now is None or last is None or now[2] <= last[2]:
            return None
        return max(0.0, ((now[0] - last[0]) - (now[1] - last[1])) / self.hz / (now[2] - last[2]))


def threads_for(cores: int, busy: Optional[float]) -> int:
    """The cores other processes leave free, at least 1 (all of them where the load is unknown)."""
    return cores if busy is None else max(1, min(cores, round(cores - busy)))


class Threads:
    """train.threads for a CPU run: a fixed count is set once; 0 follows the load (a step hook, so the loop needn't
    know): measured at the start, re-checked every RECHECK_S seconds, each change reported as a run event."""

    def __init__(self, requested: int, device: torch.device, report: Callable[[str], None] = lambda m: None) -> None:
        self.cores = usable_cores()
        self.adaptive = requested == 0 and device.type == "cpu"
        self.event: Callable[[int, str], None] = lambda images, message: None
        if requested:
            if requested > self.cores:
                warnings.warn(f"train.threads={requested} exceeds the {self.cores} usable cores: threads beyond the cores "
                              "wait at every operator's barrier (2 threads on 2 cores beside one busy process ran at 25% "
                              f"of their quiet rate); set train.threads={self.cores} or 0 (follow the load)", stacklevel=2)
            torch.set_num_threads(requested)
            return
        if not self.adaptive:
            return
        self.load = OtherLoad()
        time.sleep(SAMPLE_S)
        busy = self.load.busy()
        n = threads_for(self.cores, busy)
        torch.set_num_threads(n)
        self.checked = time.monotonic()
        if n < self.cores:
            report(f"busy machine: other processes use {busy:.1f} of the {self.cores} usable cores; training on {n} "
                   f"thread{'s' * (n > 1)} (train.threads=0 follows the load; set it to fix the count)")

    def after_step(self, s: Any, stats: dict) -> None:
        """Every RECHECK_S seconds: the threads other processes leave free, and a run event where that changed."""
        if not self.adaptive or time.monotonic() - self.checked < RECHECK_S:
            return
        self.checked = time.monotonic()
        old, busy = torch.get_num_threads(), self.load.busy()
        n = threads_for(self.cores, busy)
        if n != old:
            torch.set_num_threads(n)
            self.event(s.images, f"threads {old} -> {n}: other processes use {busy:.1f} of {self.cores} cores")


__all__ = ["OtherLoad", "Threads", "threads_for", "usable_cores"]
