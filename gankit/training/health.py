"""Keeping a long run alive: non-finite checks, graceful stop on SIGTERM/SIGINT, and fault injection for tests.

Fault injection exists so tests can prove the recovery paths on real runs. `Faults` is a step hook a test passes
to `train(..., hooks=[...])` (or the CLI builds from $GANKIT_FAULT, a comma list, for tests of real subprocesses):
`nan_at_step:K` turns step K's D loss into NaN, `kill_at_step:K` SIGKILLs the process after step K; each fires once.
`kill_in_save:N` ($GANKIT_FAULT only) SIGKILLs the process halfway through the N-th checkpoint write, and
`kill_after_save:N` just after it is complete (before the caller goes on).
"""
from __future__ import annotations

import os
import signal
from types import FrameType
from typing import Any, Iterable, Optional, Protocol

import torch
from torch import nn

_FIRED: set[str] = set()


def fault(name: str, value: int) -> bool:
    """True once per process when $GANKIT_FAULT holds `name:value` (e.g. kill_in_save:2)."""
    return Faults(os.environ.get("GANKIT_FAULT", "").split(","), fired=_FIRED).fires(name, value)


class StepHook(Protocol):
    """Called by the loop after every training step (s: the TrainState), before its statistics are checked."""

    def after_step(self, s: Any, stats: dict[str, torch.Tensor]) -> None: ...


class Faults:
    """Fault injection as a step hook: specs like "nan_at_step:5" or "kill_at_step:8", each firing once."""

    def __init__(self, specs: Iterable[str], fired: Optional[set[str]] = None) -> None:
        self.specs = {x.strip() for x in specs if x.strip()}
        self.fired = set() if fired is None else fired  # the specs that have fired (shared: once per process)

    @classmethod
    def from_env(cls) -> Optional["Faults"]:
        """The faults $GANKIT_FAULT asks for, or None."""
        faults = cls(os.environ.get("GANKIT_FAULT", "").split(","))
        return faults if faults.specs else None

    def fires(self, name: str, value: int) -> bool:
        """True the first time `name:value` is asked for, if it is one of the specs."""
        spec = f"{name}:{value}"
        if spec in self.fired or spec not in self.specs:
            return False
        self.fired.add(spec)
        return True

    def after_step(self, s: Any, stats: dict[str, torch.Tensor]) -> None:
        if self.fires("nan_at_step", s.step):
            stats["loss_d"] = stats["loss_d"] * float("nan")
        if self.fires("kill_at_step", s.step):
            kill_self()


def kill_self() -> None:
    """SIGKILL this process: no handler, no cleanup, like an out-of-memory kill or a lost node."""
    os.kill(os.getpid(), signal.SIGKILL)


def nonfinite(stats: dict[str, torch.Tensor | float]) -> list[str]:
    """Names of the statistics that are NaN or Inf: one check (and one sync) per device the values sit on, since a
    step's statistics mix CUDA tensors with host ones (the data wait, an adaptive loss's state)."""
    by_device: dict[torch.device, list[str]] = {}
    for k, v in stats.items():
        if isinstance(v, torch.Tensor):
            by_device.setdefault(v.device, []).append(k)
    bad = set()
    for names in by_device.values():
        ok = torch.isfinite(torch.stack([stats[k].float().reshape(()) for k in names])).tolist()
        bad.update(k for k, good in zip(names, ok) if not good)
    return [k for k in stats if k in bad]


@torch.no_grad()
def nonfinite_weights(modules: dict[str, nn.Module]) -> list[str]:
    """Names of the modules with a NaN or Inf parameter."""
    return [name for name, m in modules.items() if not all(bool(torch.isfinite(p).all()) for p in m.parameters())]


class StopSignal:
    """Within `with StopSignal() as stop:`, SIGTERM and SIGINT set stop.requested instead of killing the
    process, so the loop can finish its step, save and exit 0; the previous handlers come back on exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested: Optional[str] = None
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> "StopSignal":
        for s in self.SIGNALS:
            try:
                self._old[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread: signals stay with the caller
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)

