"""Keeping a long run alive: non-finite checks, graceful stop on SIGTERM/SIGINT, and fault injection for tests.

Fault injection ($GANKIT_FAULT, comma list, each fires once per process) exists so tests can prove the
recovery paths on real runs: `nan_at_step:K` turns step K's D loss into NaN, `kill_at_step:K` SIGKILLs
the process after step K, `kill_in_save:N` SIGKILLs it halfway through the N-th checkpoint write.
"""
from __future__ import annotations

import os
import signal
from types import FrameType
from typing import Optional

import torch
from torch import nn

_FIRED: set[str] = set()


def fault(name: str, value: int) -> bool:
    """True once when $GANKIT_FAULT holds `name:value` (e.g. nan_at_step:5)."""
    spec = f"{name}:{value}"
    if spec in _FIRED or spec not in os.environ.get("GANKIT_FAULT", "").split(","):
        return False
    _FIRED.add(spec)
    return True


def kill_self() -> None:
    """SIGKILL this process: no handler, no cleanup, like an out-of-memory kill or a lost node."""
    os.kill(os.getpid(), signal.SIGKILL)


def nonfinite(stats: dict[str, torch.Tensor | float]) -> list[str]:
    """Names of the statistics that are NaN or Inf (one device sync for all tensor values)."""
    names = [k for k, v in stats.items() if isinstance(v, torch.Tensor)]
    if not names:
        return []
    ok = torch.isfinite(torch.stack([stats[k].float().reshape(()) for k in names])).tolist()
    return [k for k, good in zip(names, ok) if not good]


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

